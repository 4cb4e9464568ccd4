-- Full-text index over every text of live content, kept in sync by the import, archive and restore transactions.
-- Plain-text renderings are indexed; ids are stored unindexed so a hit can be served without a join.
CREATE VIRTUAL TABLE `search_index` USING fts5(
	`kind` UNINDEXED,
	`module_id` UNINDEXED,
	`item_id` UNINDEXED,
	`title`,
	`body`,
	tokenize = 'porter unicode61 remove_diacritics 2',
	prefix = '2 3'
);
--> statement-breakpoint
INSERT INTO `search_index` (`kind`, `module_id`, `item_id`, `title`, `body`)
SELECT 'module', `id`, `id`, `title_text`, coalesce(`summary_text`, '') FROM `modules` WHERE `archived_at` IS NULL;
--> statement-breakpoint
INSERT INTO `search_index` (`kind`, `module_id`, `item_id`, `title`, `body`)
SELECT 'takeaway', t.`module_id`, t.`id`, t.`title_text`, t.`body_text`
FROM `takeaways` t JOIN `modules` m ON m.`id` = t.`module_id` WHERE m.`archived_at` IS NULL;
--> statement-breakpoint
INSERT INTO `search_index` (`kind`, `module_id`, `item_id`, `title`, `body`)
SELECT 'flashcard', f.`module_id`, f.`id`, f.`question_text`, f.`answer_text`
FROM `flashcards` f JOIN `modules` m ON m.`id` = f.`module_id` WHERE m.`archived_at` IS NULL AND f.`archived_at` IS NULL;
--> statement-breakpoint
INSERT INTO `search_index` (`kind`, `module_id`, `item_id`, `title`, `body`)
SELECT 'cheatSheetRow', r.`module_id`, r.`id`, coalesce(json_extract(r.`cells_text`, '$[0]'), ''),
	(SELECT group_concat(c.`value`, ' ') FROM json_each(r.`cells_text`) c WHERE c.`key` > 0)
FROM `cheat_sheet_rows` r JOIN `modules` m ON m.`id` = r.`module_id` WHERE m.`archived_at` IS NULL;
--> statement-breakpoint
INSERT INTO `search_index` (`kind`, `module_id`, `item_id`, `title`, `body`)
SELECT 'revisionItem', i.`module_id`, i.`id`, i.`term_text`, i.`definition_text`
FROM `revision_items` i JOIN `modules` m ON m.`id` = i.`module_id` WHERE m.`archived_at` IS NULL;
