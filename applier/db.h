/*
 * A database session: the one way cmsctl talks to servers.  In production
 * it is ODBC (db_odbc.c); unit tests of an engine's statements use a
 * scripted fake (tests/unit/db_fake.c) that answers canned result sets and records the
 * statements it was sent.
 *
 * Every connection has a login timeout and every statement a query timeout.
 * Every ODBC diagnostic becomes the error object's message, with what was
 * being done, the SQLSTATE and native code; never the connection string's
 * secrets (the password is passed separately and never echoed).
 */
#ifndef CMS_APPLIER_DB_H
#define CMS_APPLIER_DB_H

#include "common/buf.h"
#include "common/error.h"

#include <stddef.h>
#include <stdint.h>
#include <stdatomic.h>

struct db;

/* A fully fetched result: rows x ncols cells, each a NUL-terminated string
 * or NULL for SQL NULL. */
struct db_result {
	size_t ncols;
	char **colnames;
	size_t nrows;
	char **cells;   /* nrows * ncols, row-major */
};
void db_result_free(struct db_result *r); /* accepts NULL; frees r too */
const char *db_result_get(const struct db_result *r, size_t row, size_t col); /* NULL if out of range or SQL NULL */

/* A statement's record, for the journal and the report. */
struct db_stmt_log {
	char *label;       /* who it was sent to (server name) */
	char *database;    /* the database it hit: the one it named, else the
			    * session's database; NULL when the driver did not say */
	char *sql;         /* the text sent (never contains a secret) */
	int64_t duration_ms;
	int ok;            /* 1 succeeded, 0 failed */
};

struct db_ops {
	int (*exec)(struct db *db, const char *sql, struct db_result **out, struct cms_error *err);
	void (*close)(struct db *db);
	/* Optional transaction control (0 begin, 1 commit, 2 rollback); when
	 * NULL, db_begin & co. send BEGIN / COMMIT / ROLLBACK as statements. */
	int (*tx)(struct db *db, int what, struct cms_error *err);
};

struct db {
	const struct db_ops *ops;
	char *label;                 /* server name, for messages and the log */
	char *database;              /* the session's current database (db_set_database), or NULL */
	struct db_stmt_log *log;     /* statements sent, in order */
	size_t nlog, alloc_log;
	int64_t deadline_ms;         /* a step's end (cms_monotonic_ms), 0: none */
};

/* The calling thread's statement guard (NULL: none): asked before every
 * statement db_exec_on() would send from this thread; when it fails, the
 * statement is not sent (nor logged) and its error is the call's.  apply
 * and restore make it their lease check, so that a run that lost the
 * store's lock (stopped past its lease in the middle of a step) sends
 * nothing more to any server.  Sessions' other threads (a connect ahead,
 * its check) are not guarded: they only read. */
void db_set_guard(int (*guard)(void *arg, struct cms_error *err), void *arg);

/* Caps every later call on db at deadline_ms (cms_monotonic_ms(); 0 lifts
 * the cap), on top of each call's own timeout: a step with a budget (a
 * catch-up) ends when its budget does, even inside a call to a server that
 * stopped answering. */
void db_set_deadline(struct db *db, int64_t deadline_ms);

/*
 * Connects with SQLDriverConnect.  connstr is the configured connection
 * string (or "DSN=name"); password, when not NULL, is appended as PWD=
 * (braced, escaped) and never appears in any message.  label names the
 * server in messages.
 */
/* Connect attempts abandoned at their deadline whose worker thread is
 * still inside the driver (a name lookup that never answers): while any
 * is, the process must end with _exit(), not exit(), so that no exit-time
 * cleanup of a library frees what that thread still uses. */
int db_odbc_abandoned_workers(void);

/* Makes flag the calling thread's cancel flag (NULL: none) for its ODBC
 * connects: once it is set, a connect not yet begun is not attempted, and
 * one in progress is cut as if its deadline had passed (its sockets shut
 * down; abandoned if the driver does not return within its grace).  For
 * connects made ahead whose sessions nobody will use
 * (engine_preconnect_drop). */
void db_odbc_cancel_flag(const atomic_int *flag);

/* Loads unixODBC (once, on the calling thread) and says whether sessions
 * may connect on several threads at once (each connect then knows its
 * own sockets: applier/db_odbc.c).  Negative when unixODBC cannot be
 * loaded. */
int db_odbc_concurrent(struct cms_error *err);

int db_connect_odbc(struct db **out, const char *label, const char *connstr,
		    const char *password, int64_t login_timeout_ms, int64_t query_timeout_ms,
		    struct cms_error *err);
/* A session to a file on this machine (the SQLite3 driver): connected and
 * used on the calling thread, without the socket watchdog, which would
 * have no socket to cut; the driver's busy timeout bounds its waits. */
int db_connect_odbc_file(struct db **out, const char *label, const char *connstr,
			 int64_t login_timeout_ms, int64_t query_timeout_ms, struct cms_error *err);

/* Runs one statement; *out (may be NULL to discard rows) gets every row.
 * The statement and its duration are appended to db->log either way. */
int db_exec(struct db *db, const char *sql, struct db_result **out, struct cms_error *err);

/* Like db_exec, for a statement that acts on one named database of the
 * server (ALTER DATABASE x ...) while the session is in another: the log
 * names database instead of the session's.  database NULL is db_exec. */
int db_exec_on(struct db *db, const char *database, const char *sql, struct db_result **out,
	       struct cms_error *err);

/* Sets the session's current database, as the log names it (NULL: not
 * known).  ODBC sessions start with what the driver reports. */
void db_set_database(struct db *db, const char *database);

/* Runs sql and returns the single value of its first row and column
 * (*out NULL for SQL NULL); no row is an error. */
int db_query_value(struct db *db, const char *sql, char **out, struct cms_error *err);

/* Moves the statement log out (caller frees with db_stmt_log_free). */
void db_take_log(struct db *db, struct db_stmt_log **out, size_t *n);
void db_stmt_log_free(struct db_stmt_log *log, size_t n);

void db_close(struct db *db); /* accepts NULL */

/* Replaces each whole-word occurrence of secret in b with "***" (never a
 * part of another word: with the secret "x", "Unexpected" stays).  A
 * no-op for a NULL or empty secret. */
void db_scrub_secret(struct buf *b, const char *secret);

/* Appends s as a standard SQL string literal ('...' with quotes doubled);
 * NULL appends ''.  Values are validated names; quoting is still exact. */
void db_add_string_literal(struct buf *b, const char *s);

/* Transactions: autocommit off until commit or rollback. */
int db_begin(struct db *db, struct cms_error *err);
int db_commit(struct db *db, struct cms_error *err);
int db_rollback(struct db *db, struct cms_error *err);

#endif
