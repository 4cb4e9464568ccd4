CREATE TABLE "answers" (
	"id" text COLLATE "C" PRIMARY KEY NOT NULL,
	"user_id" text COLLATE "C" NOT NULL,
	"client_answer_id" text COLLATE "C" NOT NULL,
	"flashcard_id" text COLLATE "C" NOT NULL,
	"module_id" text COLLATE "C" NOT NULL,
	"rating" integer NOT NULL,
	"correct" integer,
	"answered_at" text COLLATE "C" NOT NULL,
	"received_at" text COLLATE "C" NOT NULL,
	"duration_ms" integer,
	"response" text COLLATE "C"
);
--> statement-breakpoint
CREATE TABLE "api_keys" (
	"id" text COLLATE "C" PRIMARY KEY NOT NULL,
	"name" text COLLATE "C" NOT NULL,
	"role" text COLLATE "C" NOT NULL,
	"token_hash" text COLLATE "C" NOT NULL,
	"user_id" text COLLATE "C",
	"created_by_key_id" text COLLATE "C",
	"created_at" text COLLATE "C" NOT NULL,
	"revoked_at" text COLLATE "C"
);
--> statement-breakpoint
CREATE TABLE "card_state_snapshots" (
	"user_id" text COLLATE "C" NOT NULL,
	"flashcard_id" text COLLATE "C" NOT NULL,
	"answered_at" text COLLATE "C" NOT NULL,
	"client_answer_id" text COLLATE "C" NOT NULL,
	"state" integer NOT NULL,
	"due" text COLLATE "C" NOT NULL,
	"stability" double precision NOT NULL,
	"difficulty" double precision NOT NULL,
	"elapsed_days" integer NOT NULL,
	"scheduled_days" integer NOT NULL,
	"learning_steps" integer NOT NULL,
	"reps" integer NOT NULL,
	"lapses" integer NOT NULL,
	"last_review" text COLLATE "C",
	CONSTRAINT "card_state_snapshots_user_id_flashcard_id_answered_at_client_answer_id_pk" PRIMARY KEY("user_id","flashcard_id","answered_at","client_answer_id")
);
--> statement-breakpoint
CREATE TABLE "card_states" (
	"user_id" text COLLATE "C" NOT NULL,
	"flashcard_id" text COLLATE "C" NOT NULL,
	"module_id" text COLLATE "C" NOT NULL,
	"state" integer NOT NULL,
	"due" text COLLATE "C" NOT NULL,
	"stability" double precision NOT NULL,
	"difficulty" double precision NOT NULL,
	"elapsed_days" integer NOT NULL,
	"scheduled_days" integer NOT NULL,
	"learning_steps" integer NOT NULL,
	"reps" integer NOT NULL,
	"lapses" integer NOT NULL,
	"last_review" text COLLATE "C",
	"last_answered_at" text COLLATE "C" NOT NULL,
	"last_client_answer_id" text COLLATE "C" NOT NULL,
	CONSTRAINT "card_states_user_id_flashcard_id_pk" PRIMARY KEY("user_id","flashcard_id")
);
--> statement-breakpoint
CREATE TABLE "changes" (
	"seq" bigint PRIMARY KEY GENERATED ALWAYS AS IDENTITY (sequence name "changes_seq_seq" INCREMENT BY 1 MINVALUE 1 MAXVALUE 9223372036854775807 START WITH 1 CACHE 1),
	"entity" text COLLATE "C" NOT NULL,
	"entity_id" text COLLATE "C" NOT NULL,
	"module_slug" text COLLATE "C" NOT NULL,
	"op" text COLLATE "C" NOT NULL,
	"version" integer NOT NULL,
	"created_at" text COLLATE "C" NOT NULL
);
--> statement-breakpoint
CREATE TABLE "cheat_sheet_rows" (
	"id" text COLLATE "C" PRIMARY KEY NOT NULL,
	"module_id" text COLLATE "C" NOT NULL,
	"position" integer NOT NULL,
	"cells_md" text COLLATE "C" NOT NULL,
	"cells_html" text COLLATE "C" NOT NULL,
	"cells_text" text COLLATE "C" NOT NULL
);
--> statement-breakpoint
CREATE TABLE "flashcards" (
	"id" text COLLATE "C" PRIMARY KEY NOT NULL,
	"module_id" text COLLATE "C" NOT NULL,
	"key" text COLLATE "C" NOT NULL,
	"position" integer NOT NULL,
	"question_md" text COLLATE "C" NOT NULL,
	"question_html" text COLLATE "C" NOT NULL,
	"question_text" text COLLATE "C" NOT NULL,
	"answer_md" text COLLATE "C" NOT NULL,
	"answer_html" text COLLATE "C" NOT NULL,
	"answer_text" text COLLATE "C" NOT NULL,
	"archived_at" text COLLATE "C"
);
--> statement-breakpoint
CREATE TABLE "module_tags" (
	"module_id" text COLLATE "C" NOT NULL,
	"tag" text COLLATE "C" NOT NULL,
	CONSTRAINT "module_tags_tag_module_id_pk" PRIMARY KEY("tag","module_id")
);
--> statement-breakpoint
CREATE TABLE "module_versions" (
	"module_id" text COLLATE "C" NOT NULL,
	"version" integer NOT NULL,
	"source" text COLLATE "C" NOT NULL,
	"changes" text COLLATE "C" NOT NULL,
	"ids" text COLLATE "C",
	"imported_by" text COLLATE "C",
	"created_at" text COLLATE "C" DEFAULT to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') NOT NULL,
	CONSTRAINT "module_versions_module_id_version_pk" PRIMARY KEY("module_id","version")
);
--> statement-breakpoint
CREATE TABLE "modules" (
	"id" text COLLATE "C" PRIMARY KEY NOT NULL,
	"slug" text COLLATE "C" NOT NULL,
	"title_md" text COLLATE "C" NOT NULL,
	"title_html" text COLLATE "C" NOT NULL,
	"title_text" text COLLATE "C" NOT NULL,
	"summary_md" text COLLATE "C",
	"summary_html" text COLLATE "C",
	"summary_text" text COLLATE "C",
	"tags" text COLLATE "C" DEFAULT '[]' NOT NULL,
	"cheat_sheet_columns_md" text COLLATE "C",
	"cheat_sheet_columns_html" text COLLATE "C",
	"cheat_sheet_columns_text" text COLLATE "C",
	"version" integer NOT NULL,
	"content_hash" text COLLATE "C" NOT NULL,
	"takeaway_count" integer NOT NULL,
	"flashcard_count" integer NOT NULL,
	"cheat_sheet_row_count" integer NOT NULL,
	"revision_item_count" integer NOT NULL,
	"created_at" text COLLATE "C" NOT NULL,
	"updated_at" text COLLATE "C" NOT NULL,
	"archived_at" text COLLATE "C"
);
--> statement-breakpoint
CREATE TABLE "revision_items" (
	"id" text COLLATE "C" PRIMARY KEY NOT NULL,
	"module_id" text COLLATE "C" NOT NULL,
	"position" integer NOT NULL,
	"term_md" text COLLATE "C" NOT NULL,
	"term_html" text COLLATE "C" NOT NULL,
	"term_text" text COLLATE "C" NOT NULL,
	"definition_md" text COLLATE "C" NOT NULL,
	"definition_html" text COLLATE "C" NOT NULL,
	"definition_text" text COLLATE "C" NOT NULL
);
--> statement-breakpoint
CREATE TABLE "search_index" (
	"kind" text COLLATE "C" NOT NULL,
	"module_id" text COLLATE "C" NOT NULL,
	"item_id" text COLLATE "C" NOT NULL,
	"title" text COLLATE "C" NOT NULL,
	"body" text COLLATE "C" NOT NULL,
	"document" "tsvector" GENERATED ALWAYS AS (setweight(to_tsvector('english', "title"), 'A') || setweight(to_tsvector('english', "body"), 'B')) STORED NOT NULL,
	CONSTRAINT "search_index_item_id_kind_pk" PRIMARY KEY("item_id","kind")
);
--> statement-breakpoint
CREATE TABLE "takeaways" (
	"id" text COLLATE "C" PRIMARY KEY NOT NULL,
	"module_id" text COLLATE "C" NOT NULL,
	"position" integer NOT NULL,
	"title_md" text COLLATE "C" NOT NULL,
	"title_html" text COLLATE "C" NOT NULL,
	"title_text" text COLLATE "C" NOT NULL,
	"body_md" text COLLATE "C" NOT NULL,
	"body_html" text COLLATE "C" NOT NULL,
	"body_text" text COLLATE "C" NOT NULL
);
--> statement-breakpoint
CREATE TABLE "users" (
	"id" text COLLATE "C" PRIMARY KEY NOT NULL,
	"external_id" text COLLATE "C" NOT NULL,
	"display_name" text COLLATE "C",
	"owner" text COLLATE "C" NOT NULL,
	"created_at" text COLLATE "C" NOT NULL
);
--> statement-breakpoint
ALTER TABLE "answers" ADD CONSTRAINT "answers_user_id_users_id_fk" FOREIGN KEY ("user_id") REFERENCES "public"."users"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "answers" ADD CONSTRAINT "answers_flashcard_id_flashcards_id_fk" FOREIGN KEY ("flashcard_id") REFERENCES "public"."flashcards"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "answers" ADD CONSTRAINT "answers_module_id_modules_id_fk" FOREIGN KEY ("module_id") REFERENCES "public"."modules"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "api_keys" ADD CONSTRAINT "api_keys_user_id_users_id_fk" FOREIGN KEY ("user_id") REFERENCES "public"."users"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "card_state_snapshots" ADD CONSTRAINT "card_state_snapshots_user_id_users_id_fk" FOREIGN KEY ("user_id") REFERENCES "public"."users"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "card_state_snapshots" ADD CONSTRAINT "card_state_snapshots_flashcard_id_flashcards_id_fk" FOREIGN KEY ("flashcard_id") REFERENCES "public"."flashcards"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "card_states" ADD CONSTRAINT "card_states_user_id_users_id_fk" FOREIGN KEY ("user_id") REFERENCES "public"."users"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "card_states" ADD CONSTRAINT "card_states_flashcard_id_flashcards_id_fk" FOREIGN KEY ("flashcard_id") REFERENCES "public"."flashcards"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "card_states" ADD CONSTRAINT "card_states_module_id_modules_id_fk" FOREIGN KEY ("module_id") REFERENCES "public"."modules"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "cheat_sheet_rows" ADD CONSTRAINT "cheat_sheet_rows_module_id_modules_id_fk" FOREIGN KEY ("module_id") REFERENCES "public"."modules"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "flashcards" ADD CONSTRAINT "flashcards_module_id_modules_id_fk" FOREIGN KEY ("module_id") REFERENCES "public"."modules"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "module_tags" ADD CONSTRAINT "module_tags_module_id_modules_id_fk" FOREIGN KEY ("module_id") REFERENCES "public"."modules"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "module_versions" ADD CONSTRAINT "module_versions_module_id_modules_id_fk" FOREIGN KEY ("module_id") REFERENCES "public"."modules"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "revision_items" ADD CONSTRAINT "revision_items_module_id_modules_id_fk" FOREIGN KEY ("module_id") REFERENCES "public"."modules"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "search_index" ADD CONSTRAINT "search_index_module_id_modules_id_fk" FOREIGN KEY ("module_id") REFERENCES "public"."modules"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "takeaways" ADD CONSTRAINT "takeaways_module_id_modules_id_fk" FOREIGN KEY ("module_id") REFERENCES "public"."modules"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE UNIQUE INDEX "answers_user_client_id_unique" ON "answers" USING btree ("user_id","client_answer_id");--> statement-breakpoint
CREATE INDEX "answers_user_answered_idx" ON "answers" USING btree ("user_id","answered_at","id");--> statement-breakpoint
CREATE INDEX "answers_user_card_idx" ON "answers" USING btree ("user_id","flashcard_id","answered_at","client_answer_id");--> statement-breakpoint
CREATE INDEX "answers_user_module_idx" ON "answers" USING btree ("user_id","module_id","answered_at");--> statement-breakpoint
CREATE UNIQUE INDEX "api_keys_token_hash_unique" ON "api_keys" USING btree ("token_hash");--> statement-breakpoint
CREATE INDEX "api_keys_user_idx" ON "api_keys" USING btree ("user_id");--> statement-breakpoint
CREATE INDEX "card_states_user_due_idx" ON "card_states" USING btree ("user_id","due");--> statement-breakpoint
CREATE INDEX "card_states_user_module_due_idx" ON "card_states" USING btree ("user_id","module_id","due");--> statement-breakpoint
CREATE INDEX "changes_module_slug_idx" ON "changes" USING btree ("module_slug","seq");--> statement-breakpoint
CREATE INDEX "cheat_sheet_rows_module_position_idx" ON "cheat_sheet_rows" USING btree ("module_id","position");--> statement-breakpoint
CREATE UNIQUE INDEX "flashcards_module_key_unique" ON "flashcards" USING btree ("module_id","key");--> statement-breakpoint
CREATE INDEX "flashcards_module_position_idx" ON "flashcards" USING btree ("module_id","position");--> statement-breakpoint
CREATE INDEX "module_tags_module_idx" ON "module_tags" USING btree ("module_id");--> statement-breakpoint
CREATE UNIQUE INDEX "modules_slug_unique" ON "modules" USING btree ("slug");--> statement-breakpoint
CREATE INDEX "revision_items_module_position_idx" ON "revision_items" USING btree ("module_id","position");--> statement-breakpoint
CREATE INDEX "search_index_module_idx" ON "search_index" USING btree ("module_id");--> statement-breakpoint
CREATE INDEX "search_index_document_idx" ON "search_index" USING gin ("document");--> statement-breakpoint
CREATE INDEX "takeaways_module_position_idx" ON "takeaways" USING btree ("module_id","position");--> statement-breakpoint
CREATE UNIQUE INDEX "users_owner_external_id_unique" ON "users" USING btree ("owner","external_id");--> statement-breakpoint
CREATE INDEX "users_external_id_idx" ON "users" USING btree ("external_id");