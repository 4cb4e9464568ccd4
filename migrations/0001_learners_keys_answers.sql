CREATE TABLE `answers` (
	`id` text PRIMARY KEY NOT NULL,
	`user_id` text NOT NULL,
	`client_answer_id` text NOT NULL,
	`flashcard_id` text NOT NULL,
	`module_id` text NOT NULL,
	`rating` integer NOT NULL,
	`correct` integer,
	`answered_at` text NOT NULL,
	`received_at` text NOT NULL,
	`duration_ms` integer,
	`response` text,
	FOREIGN KEY (`user_id`) REFERENCES `users`(`id`) ON UPDATE no action ON DELETE cascade,
	FOREIGN KEY (`flashcard_id`) REFERENCES `flashcards`(`id`) ON UPDATE no action ON DELETE no action,
	FOREIGN KEY (`module_id`) REFERENCES `modules`(`id`) ON UPDATE no action ON DELETE no action
);
--> statement-breakpoint
CREATE UNIQUE INDEX `answers_user_client_id_unique` ON `answers` (`user_id`,`client_answer_id`);--> statement-breakpoint
CREATE INDEX `answers_user_answered_idx` ON `answers` (`user_id`,`answered_at`,`id`);--> statement-breakpoint
CREATE INDEX `answers_user_card_idx` ON `answers` (`user_id`,`flashcard_id`,`answered_at`,`client_answer_id`);--> statement-breakpoint
CREATE INDEX `answers_user_module_idx` ON `answers` (`user_id`,`module_id`,`answered_at`);--> statement-breakpoint
CREATE TABLE `api_keys` (
	`id` text PRIMARY KEY NOT NULL,
	`name` text NOT NULL,
	`role` text NOT NULL,
	`token_hash` text NOT NULL,
	`user_id` text,
	`created_by_key_id` text,
	`created_at` text NOT NULL,
	`revoked_at` text,
	FOREIGN KEY (`user_id`) REFERENCES `users`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE UNIQUE INDEX `api_keys_token_hash_unique` ON `api_keys` (`token_hash`);--> statement-breakpoint
CREATE INDEX `api_keys_user_idx` ON `api_keys` (`user_id`);--> statement-breakpoint
CREATE TABLE `card_states` (
	`user_id` text NOT NULL,
	`flashcard_id` text NOT NULL,
	`module_id` text NOT NULL,
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
	`last_answered_at` text NOT NULL,
	`last_client_answer_id` text NOT NULL,
	PRIMARY KEY(`user_id`, `flashcard_id`),
	FOREIGN KEY (`user_id`) REFERENCES `users`(`id`) ON UPDATE no action ON DELETE cascade,
	FOREIGN KEY (`flashcard_id`) REFERENCES `flashcards`(`id`) ON UPDATE no action ON DELETE no action,
	FOREIGN KEY (`module_id`) REFERENCES `modules`(`id`) ON UPDATE no action ON DELETE no action
);
--> statement-breakpoint
CREATE INDEX `card_states_user_due_idx` ON `card_states` (`user_id`,`due`);--> statement-breakpoint
CREATE INDEX `card_states_user_module_due_idx` ON `card_states` (`user_id`,`module_id`,`due`);--> statement-breakpoint
CREATE TABLE `users` (
	`id` text PRIMARY KEY NOT NULL,
	`external_id` text NOT NULL,
	`display_name` text,
	`owner` text NOT NULL,
	`created_at` text NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `users_owner_external_id_unique` ON `users` (`owner`,`external_id`);--> statement-breakpoint
CREATE INDEX `users_external_id_idx` ON `users` (`external_id`);