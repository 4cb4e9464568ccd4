-- Checkpoints of card states every N answers of a card (N = 16 by default), so that a late answer replays the
-- answers after the latest checkpoint before it rather than the card's whole history. Cards answered before this
-- migration have none until their first late answer replays them from the start and writes them.
CREATE TABLE `card_state_snapshots` (
	`user_id` text NOT NULL,
	`flashcard_id` text NOT NULL,
	`answered_at` text NOT NULL,
	`client_answer_id` text NOT NULL,
	`state` integer NOT NULL,
	`due` text NOT NULL,
	`stability` real NOT NULL,
	`difficulty` real NOT NULL,
	`elapsed_days` integer NOT NULL,
	`scheduled_days` integer NOT NULL,
	`learning_steps` integer NOT NULL,
	`reps` integer NOT NULL,
	`lapses` integer NOT NULL,
	`last_review` text,
	PRIMARY KEY(`user_id`, `flashcard_id`, `answered_at`, `client_answer_id`),
	FOREIGN KEY (`user_id`) REFERENCES `users`(`id`) ON UPDATE no action ON DELETE cascade,
	FOREIGN KEY (`flashcard_id`) REFERENCES `flashcards`(`id`) ON UPDATE no action ON DELETE no action
);
