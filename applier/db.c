/*
 * The generic half of a database session: what every implementation (ODBC
 * in db_odbc.c, the scripted fake of the unit tests in tests/unit/db_fake.c)
 * shares.  db_exec() times
 * each statement and appends it to the session's log whatever the outcome,
 * so that the journal and the report can show every statement that was
 * sent; implementations only run it (ops->exec) and release their own
 * resources (ops->close).
 *
 * Ownership: an implementation allocates its session with struct db as its
 * first member, sets ops and label (owned); ops->close releases what the
 * implementation added, and db_close() then frees the label, the log and
 * the memory of the session itself.
 */
#include "applier/db.h"
#include "common/buf.h"
#include "common/util.h"

#include <stdlib.h>
#include <string.h>

void db_result_free(struct db_result *r)
{
	size_t i;

	if (!r)
		return;
	for (i = 0; i < r->ncols; i++)
		free(r->colnames ? r->colnames[i] : NULL);
	free(r->colnames);
	if (r->cells) {
		for (i = 0; i < r->nrows * r->ncols; i++)
			free(r->cells[i]);
	}
	free(r->cells);
	free(r);
}

const char *db_result_get(const struct db_result *r, size_t row, size_t col)
{
	if (!r || !r->cells || row >= r->nrows || col >= r->ncols)
		return NULL;
	return r->cells[row * r->ncols + col];
}

static void db_log_append(struct db *db, const char *database, const char *sql,
			  int64_t duration_ms, int ok)
{
	struct db_stmt_log *entry;

	entry = ARRAY_PUSH(db->log, db->nlog, db->alloc_log);
	entry->label = xstrdup(db->label ? db->label : "");
	entry->database = database ? xstrdup(database) : db->database ? xstrdup(db->database) : NULL;
	entry->sql = xstrdup(sql);
	entry->duration_ms = duration_ms < 0 ? 0 : duration_ms;
	entry->ok = ok;
}

void db_set_database(struct db *db, const char *database)
{
	if (!db)
		return;
	free(db->database);
	db->database = database ? xstrdup(database) : NULL;
}

static _Thread_local int (*thread_guard)(void *arg, struct cms_error *err);
static _Thread_local void *thread_guard_arg;

void db_set_guard(int (*guard)(void *arg, struct cms_error *err), void *arg)
{
	thread_guard = guard;
	thread_guard_arg = guard ? arg : NULL;
}

int db_exec(struct db *db, const char *sql, struct db_result **out, struct cms_error *err)
{
	return db_exec_on(db, NULL, sql, out, err);
}

int db_exec_on(struct db *db, const char *database, const char *sql, struct db_result **out,
	       struct cms_error *err)
{
	struct db_result *res = NULL;
	int64_t start;
	int rc;

	if (out)
		*out = NULL;
	if (!db || !db->ops || !db->ops->exec)
		return cms_error_set(err, CMS_ERROR, "no database session to run a statement on");
	if (!sql)
		return cms_error_set(err, CMS_ERROR, "no statement to run on server '%s'", db->label);

	if (thread_guard && (rc = thread_guard(thread_guard_arg, err)) < 0)
		return rc;
	start = cms_monotonic_ms();
	rc = db->ops->exec(db, sql, out ? &res : NULL, err);
	db_log_append(db, database, sql, cms_monotonic_ms() - start, rc == 0);
	if (rc < 0) {
		db_result_free(res);
		return rc;
	}
	if (out)
		*out = res;
	else
		db_result_free(res);
	return 0;
}

int db_query_value(struct db *db, const char *sql, char **out, struct cms_error *err)
{
	struct db_result *res = NULL;
	int rc;

	*out = NULL;
	if ((rc = db_exec(db, sql, &res, err)) < 0)
		goto done;
	if (!res || res->nrows == 0 || res->ncols == 0) {
		rc = cms_error_set(err, CMS_ERROR, "statement returned no row on server '%s': %.200s",
				   db->label, sql);
		goto done;
	}
	*out = xstrdup(db_result_get(res, 0, 0));
done:
	db_result_free(res);
	return rc;
}

void db_take_log(struct db *db, struct db_stmt_log **out, size_t *n)
{
	*out = NULL;
	*n = 0;
	if (!db)
		return;
	*out = db->log;
	*n = db->nlog;
	db->log = NULL;
	db->nlog = 0;
	db->alloc_log = 0;
}

void db_stmt_log_free(struct db_stmt_log *log, size_t n)
{
	size_t i;

	if (!log)
		return;
	for (i = 0; i < n; i++) {
		free(log[i].label);
		free(log[i].database);
		free(log[i].sql);
	}
	free(log);
}

void db_close(struct db *db)
{
	if (!db)
		return;
	if (db->ops && db->ops->close)
		db->ops->close(db);
	db_stmt_log_free(db->log, db->nlog);
	free(db->label);
	free(db->database);
	free(db);
}

void db_add_string_literal(struct buf *b, const char *s)
{
	buf_addch(b, '\'');
	for (; s && *s; s++) {
		if (*s == '\'')
			buf_addch(b, '\'');
		buf_addch(b, *s);
	}
	buf_addch(b, '\'');
}

void db_set_deadline(struct db *db, int64_t deadline_ms)
{
	if (db)
		db->deadline_ms = deadline_ms;
}
