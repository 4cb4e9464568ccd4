DROP INDEX "flashcards_module_position_idx";--> statement-breakpoint
CREATE INDEX "flashcards_module_position_live_idx" ON "flashcards" USING btree ("module_id","position","archived_at","id");--> statement-breakpoint
CREATE INDEX "flashcards_id_live_idx" ON "flashcards" USING btree ("id","archived_at","module_id");