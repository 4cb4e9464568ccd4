CREATE TABLE "xapi_delivery" (
	"id" integer PRIMARY KEY NOT NULL,
	"delivered" bigint DEFAULT 0 NOT NULL,
	"last_error" text COLLATE "C",
	"last_error_at" text COLLATE "C"
);
--> statement-breakpoint
CREATE TABLE "xapi_outbox" (
	"answer_id" text COLLATE "C" PRIMARY KEY NOT NULL,
	"attempts" integer DEFAULT 0 NOT NULL,
	"next_attempt_at" text COLLATE "C" NOT NULL,
	"leased_until" text COLLATE "C",
	"last_error" text COLLATE "C",
	"parked_at" text COLLATE "C",
	"created_at" text COLLATE "C" NOT NULL
);
--> statement-breakpoint
ALTER TABLE "api_keys" ADD COLUMN "xapi_home_page" text COLLATE "C";--> statement-breakpoint
ALTER TABLE "xapi_outbox" ADD CONSTRAINT "xapi_outbox_answer_id_answers_id_fk" FOREIGN KEY ("answer_id") REFERENCES "public"."answers"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "xapi_outbox_due_idx" ON "xapi_outbox" USING btree ("parked_at","next_attempt_at");