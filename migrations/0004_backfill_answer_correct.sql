-- Answers recorded with a rating only stored `correct` as NULL before 0.2.0; it is now derived from the rating
-- (above Again is correct), for old rows as for new ones.
UPDATE `answers` SET `correct` = CASE WHEN `rating` > 1 THEN 1 ELSE 0 END WHERE `correct` IS NULL;
