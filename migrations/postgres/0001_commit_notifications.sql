-- Every committed write notifies the channel mnemo_commits with the table's name (src/db/postgres-commits.ts): each
-- instance drops the in-memory rows that table fed, as SQLite's data_version tells a connection of others' commits.
-- Statement-level, so a batch of rows is one notification, and PostgreSQL folds identical ones within a transaction.
CREATE FUNCTION mnemo_notify_commit() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	PERFORM pg_notify('mnemo_commits', TG_TABLE_NAME);
	RETURN NULL;
END
$$;
--> statement-breakpoint
DO $$
DECLARE
	name text;
BEGIN
	FOREACH name IN ARRAY ARRAY['modules', 'module_tags', 'takeaways', 'flashcards', 'cheat_sheet_rows', 'revision_items',
		'module_versions', 'users', 'api_keys', 'answers', 'card_states', 'card_state_snapshots', 'changes', 'search_index']
	LOOP
		EXECUTE format('CREATE TRIGGER %I AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON %I FOR EACH STATEMENT EXECUTE FUNCTION mnemo_notify_commit()', name || '_notify_commit', name);
	END LOOP;
END
$$;
