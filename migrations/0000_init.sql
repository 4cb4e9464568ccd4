CREATE TABLE `cheat_sheet_rows` (
	`id` text PRIMARY KEY NOT NULL,
	`module_id` text NOT NULL,
	`position` integer NOT NULL,
	`cells_md` text NOT NULL,
	`cells_html` text NOT NULL,
	`cells_text` text NOT NULL,
	FOREIGN KEY (`module_id`) REFERENCES `modules`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE INDEX `cheat_sheet_rows_module_position_idx` ON `cheat_sheet_rows` (`module_id`,`position`);--> statement-breakpoint
CREATE TABLE `flashcards` (
	`id` text PRIMARY KEY NOT NULL,
	`module_id` text NOT NULL,
	`key` text NOT NULL,
	`position` integer NOT NULL,
	`question_md` text NOT NULL,
	`question_html` text NOT NULL,
	`question_text` text NOT NULL,
	`answer_md` text NOT NULL,
	`answer_html` text NOT NULL,
	`answer_text` text NOT NULL,
	`archived_at` text,
	FOREIGN KEY (`module_id`) REFERENCES `modules`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE UNIQUE INDEX `flashcards_module_key_unique` ON `flashcards` (`module_id`,`key`);--> statement-breakpoint
CREATE INDEX `flashcards_module_position_idx` ON `flashcards` (`module_id`,`position`);--> statement-breakpoint
CREATE TABLE `module_tags` (
	`module_id` text NOT NULL,
	`tag` text NOT NULL,
	PRIMARY KEY(`tag`, `module_id`),
	FOREIGN KEY (`module_id`) REFERENCES `modules`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE INDEX `module_tags_module_idx` ON `module_tags` (`module_id`);--> statement-breakpoint
CREATE TABLE `module_versions` (
	`module_id` text NOT NULL,
	`version` integer NOT NULL,
	`source` text NOT NULL,
	`changes` text NOT NULL,
	`imported_by` text,
	`created_at` text DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')) NOT NULL,
	PRIMARY KEY(`module_id`, `version`),
	FOREIGN KEY (`module_id`) REFERENCES `modules`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE TABLE `modules` (
	`id` text PRIMARY KEY NOT NULL,
	`slug` text NOT NULL,
	`title_md` text NOT NULL,
	`title_html` text NOT NULL,
	`title_text` text NOT NULL,
	`summary_md` text,
	`summary_html` text,
	`summary_text` text,
	`tags` text DEFAULT '[]' NOT NULL,
	`cheat_sheet_columns_md` text,
	`cheat_sheet_columns_html` text,
	`cheat_sheet_columns_text` text,
	`version` integer NOT NULL,
	`content_hash` text NOT NULL,
	`takeaway_count` integer NOT NULL,
	`flashcard_count` integer NOT NULL,
	`cheat_sheet_row_count` integer NOT NULL,
	`revision_item_count` integer NOT NULL,
	`created_at` text NOT NULL,
	`updated_at` text NOT NULL,
	`archived_at` text
);
--> statement-breakpoint
CREATE UNIQUE INDEX `modules_slug_unique` ON `modules` (`slug`);--> statement-breakpoint
CREATE TABLE `revision_items` (
	`id` text PRIMARY KEY NOT NULL,
	`module_id` text NOT NULL,
	`position` integer NOT NULL,
	`term_md` text NOT NULL,
	`term_html` text NOT NULL,
	`term_text` text NOT NULL,
	`definition_md` text NOT NULL,
	`definition_html` text NOT NULL,
	`definition_text` text NOT NULL,
	FOREIGN KEY (`module_id`) REFERENCES `modules`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE INDEX `revision_items_module_position_idx` ON `revision_items` (`module_id`,`position`);--> statement-breakpoint
CREATE TABLE `takeaways` (
	`id` text PRIMARY KEY NOT NULL,
	`module_id` text NOT NULL,
	`position` integer NOT NULL,
	`title_md` text NOT NULL,
	`title_html` text NOT NULL,
	`title_text` text NOT NULL,
	`body_md` text NOT NULL,
	`body_html` text NOT NULL,
	`body_text` text NOT NULL,
	FOREIGN KEY (`module_id`) REFERENCES `modules`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE INDEX `takeaways_module_position_idx` ON `takeaways` (`module_id`,`position`);