CREATE TABLE `xapi_delivery` (
	`id` integer PRIMARY KEY NOT NULL,
	`delivered` integer DEFAULT 0 NOT NULL,
	`last_error` text,
	`last_error_at` text
);
--> statement-breakpoint
-- WITHOUT ROWID (added by hand; drizzle-kit does not write it): the outbox is one B-tree clustered on the time-ordered
-- answer id, not a rowid table plus an index on answer_id, so each answer's row costs one B-tree fewer to insert and
-- to delete (schema.ts, xapiOutbox).
CREATE TABLE `xapi_outbox` (
	`answer_id` text PRIMARY KEY NOT NULL,
	`attempts` integer DEFAULT 0 NOT NULL,
	`next_attempt_at` text NOT NULL,
	`leased_until` text,
	`last_error` text,
	`parked_at` text,
	`created_at` text NOT NULL,
	FOREIGN KEY (`answer_id`) REFERENCES `answers`(`id`) ON UPDATE no action ON DELETE cascade
) WITHOUT ROWID;
--> statement-breakpoint
CREATE INDEX `xapi_outbox_due_idx` ON `xapi_outbox` (`parked_at`,`next_attempt_at`);--> statement-breakpoint
ALTER TABLE `api_keys` ADD `xapi_home_page` text;