CREATE TABLE `changes` (
	`seq` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`entity` text NOT NULL,
	`entity_id` text NOT NULL,
	`module_slug` text NOT NULL,
	`op` text NOT NULL,
	`version` integer NOT NULL,
	`created_at` text NOT NULL
);
--> statement-breakpoint
CREATE INDEX `changes_module_slug_idx` ON `changes` (`module_slug`,`seq`);--> statement-breakpoint
ALTER TABLE `module_versions` ADD `ids` text;--> statement-breakpoint
-- Content that predates the feed appears in it once, so a client reading from the beginning sees everything.
INSERT INTO `changes` (`entity`, `entity_id`, `module_slug`, `op`, `version`, `created_at`)
SELECT 'module', `id`, `slug`, CASE WHEN `archived_at` IS NULL THEN 'upsert' ELSE 'archive' END, `version`, `updated_at` FROM `modules` ORDER BY `updated_at`, `slug`;
--> statement-breakpoint
INSERT INTO `changes` (`entity`, `entity_id`, `module_slug`, `op`, `version`, `created_at`)
SELECT 'flashcard', f.`id`, m.`slug`, CASE WHEN f.`archived_at` IS NULL THEN 'upsert' ELSE 'archive' END, m.`version`, m.`updated_at`
FROM `flashcards` f JOIN `modules` m ON m.`id` = f.`module_id` ORDER BY m.`updated_at`, m.`slug`, f.`position`;
