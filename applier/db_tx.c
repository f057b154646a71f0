/*
 * Transaction control over a db session: the session's own (ODBC's
 * autocommit attribute) when it has one, else plain statements, which the
 * scripted fake records like any other.
 */
#include "applier/db.h"

static int tx(struct db *db, int what, struct cms_error *err)
{
	static const char *const words[] = { "BEGIN", "COMMIT", "ROLLBACK" };

	if (db->ops->tx)
		return db->ops->tx(db, what, err);
	return db_exec(db, words[what], NULL, err);
}

int db_begin(struct db *db, struct cms_error *err)
{
	return tx(db, 0, err);
}

int db_commit(struct db *db, struct cms_error *err)
{
	return tx(db, 1, err);
}

int db_rollback(struct db *db, struct cms_error *err)
{
	return tx(db, 2, err);
}
