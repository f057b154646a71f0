/*
 * The PostgreSQL state backend (state/backend.h), for teams: several
 * machines share one state, one serial per store and one set of locks,
 * through libpq.  Same semantics as the SQLite backend, same tables, kept
 * in their own schema `cmsctl` so that the database may hold other things.
 *
 * Identity and versions: the table cmsctl.meta holds one row, the
 * application ('cmsctl-state') and the schema version.  A schema `cmsctl`
 * that has tables but no such row, another application, or a newer version
 * is refused and never modified.  Migrations run in one transaction each,
 * under a transaction-scoped advisory lock, re-reading the version first so
 * that concurrent first runs agree.
 *
 * Decisions that read before they write (lock, commit, consume, load) take
 * the same advisory lock in their transaction: PostgreSQL's equivalent of
 * SQLite's BEGIN IMMEDIATE, so two runners cannot interleave them.
 * Every statement is bounded by statement_timeout and lock_timeout, and
 * the connection by connect_timeout, unless the connection string says
 * otherwise: a wait has a deadline cmsctl sets.
 *
 * The password (from the config's password_env/password_file) is handed to
 * libpq at connect time and not kept; messages show the connection string,
 * which the config loader guarantees holds no password.
 */
#include "state/backend.h"
#include "common/buf.h"
#include "common/util.h"

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdbool.h>
#include <libpq-fe.h>

#include "common/lib_pq.h"
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PG_APPLICATION "cmsctl-state"
#define PG_LOCK_KEY "7236057946113147956" /* advisory lock: "cmsctlst" as an int64 */
#define PG_MAX_PARAMS 12

/* Migrations: migrations[i] takes the schema from version i to i + 1.
 * Append only; a released step is never edited. */
static const char *const migrations[] = {
	/* 1: the initial schema, as the SQLite backend's, plus an order for runs */
	"CREATE TABLE cmsctl.stores (\n"
	"	name text PRIMARY KEY,\n"
	"	lineage text NOT NULL,\n"
	"	serial bigint NOT NULL CHECK (serial >= 0),\n"
	"	primary_server text NOT NULL,\n"
	"	mirror_server text,\n"
	"	updated_at text NOT NULL\n"
	");\n"
	"CREATE TABLE cmsctl.runs (\n"
	"	seq bigserial NOT NULL UNIQUE,\n"
	"	id text PRIMARY KEY,\n"
	"	store text NOT NULL,\n"
	"	plan_id text,\n"
	"	kind text NOT NULL,\n"
	"	operator text NOT NULL,\n"
	"	started_at text NOT NULL,\n"
	"	finished_at text,\n"
	"	outcome text NOT NULL\n"
	");\n"
	"CREATE INDEX runs_by_store ON cmsctl.runs (store, outcome, seq);\n"
	"CREATE TABLE cmsctl.steps (\n"
	"	run_id text NOT NULL REFERENCES cmsctl.runs (id),\n"
	"	n integer NOT NULL,\n"
	"	action text NOT NULL,\n"
	"	server text,\n"
	"	status text NOT NULL CHECK (status IN\n"
	"		('pending', 'running', 'done', 'failed', 'skipped', 'undone')),\n"
	"	detail text,\n"
	"	started_at text,\n"
	"	finished_at text,\n"
	"	duration_ms bigint,\n"
	"	PRIMARY KEY (run_id, n)\n"
	");\n"
	"CREATE TABLE cmsctl.locks (\n"
	"	store text PRIMARY KEY,\n"
	"	id text NOT NULL UNIQUE,\n"
	"	holder text NOT NULL,\n"
	"	reason text,\n"
	"	acquired_at bigint NOT NULL,\n"
	"	lease_until bigint NOT NULL\n"
	");\n"
	"CREATE TABLE cmsctl.approvals (\n"
	"	plan_id text NOT NULL,\n"
	"	store text NOT NULL,\n"
	"	approver text NOT NULL,\n"
	"	approved_at text NOT NULL,\n"
	"	PRIMARY KEY (plan_id, approver)\n"
	");\n"
	"CREATE TABLE cmsctl.consumed_plans (\n"
	"	plan_id text PRIMARY KEY,\n"
	"	store text NOT NULL,\n"
	"	run_id text,\n"
	"	consumed_at text NOT NULL\n"
	");\n",
	/* 2: the history branch tip as of the last history commit (audit) */
	"CREATE TABLE cmsctl.history_tip (\n"
	"	id integer PRIMARY KEY CHECK (id = 1),\n"
	"	commit_id text NOT NULL,\n"
	"	recorded_at text NOT NULL\n"
	");\n",
	/* 3: a run's kind and outcome are one of the known names (state.h) */
	"ALTER TABLE cmsctl.runs\n"
	"	ADD CONSTRAINT runs_kind_known CHECK (kind IN ('apply', 'restore')),\n"
	"	ADD CONSTRAINT runs_outcome_known CHECK (outcome IN\n"
	"		('running', 'ok', 'failed', 'rolled_back', 'interrupted', 'restored'));\n",
	/* 4: a lock's holder in columns (state.h, struct lock_holder): holder
	 * keeps the name, the process gets its own; the text of older rows is
	 * split by migrate_lock_holders */
	"ALTER TABLE cmsctl.locks\n"
	"	ADD COLUMN holder_pid bigint CHECK (holder_pid > 0),\n"
	"	ADD COLUMN holder_host text,\n"
	"	ADD COLUMN holder_pid_ns text;\n",
};

#define PG_SCHEMA_VERSION ((int)ARRAY_SIZE(migrations))

struct pg_state;
static int migrate_lock_holders(struct pg_state *st, struct cms_error *err);

/* What a migration step rewrites beyond its SQL (by step, NULL for none),
 * after its SQL and in its transaction. */
static int (*const migration_rows[ARRAY_SIZE(migrations)])(struct pg_state *st,
							  struct cms_error *err) = {
	[3] = migrate_lock_holders,
};

struct pg_state {
	struct state base; /* first: the handle state.h hands out */
	PGconn *conn;
	char *name; /* "postgresql: <connection>", for messages */
	bool lost;  /* a statement passed its deadline: the session is given up */
};

/* How long cmsctl waits for the state server to answer one statement, on
 * its own clock: longer than the statement_timeout the session sets (60
 * s), so that only a server that does not answer at all (frozen, cut off)
 * reaches it.  A test build may shorten it (CMSCTL_TEST_STATE_DEADLINE_MS). */
#define PG_STATE_DEADLINE_MS 70000

static int64_t state_deadline_ms(void)
{
#ifdef CMSCTL_TEST_BUILD
	const char *v = getenv("CMSCTL_TEST_STATE_DEADLINE_MS");

	if (v && *v && strtoll(v, NULL, 10) > 0)
		return strtoll(v, NULL, 10);
#endif
	return PG_STATE_DEADLINE_MS;
}

/* Sends sql (with n parameters when params) and waits for its results
 * until the deadline, never longer: libpq's own waits have none, and a
 * frozen server would hold cmsctl, and the store's fence, forever.  The
 * last result, as PQexec returns it; NULL with st->lost set when the
 * server did not answer in time (the session is then given up), NULL
 * with libpq's message otherwise. */
static PGresult *exec_bounded(struct pg_state *st, const char *sql, int n,
			      const char *const *values, bool params)
{
	int64_t deadline = cms_monotonic_ms() + state_deadline_ms();
	PGresult *res, *last = NULL;

	if (st->lost)
		return NULL;
	if (!(params ? PQsendQueryParams(st->conn, sql, n, NULL, values, NULL, NULL, 0)
		     : PQsendQuery(st->conn, sql)))
		return NULL;
	for (;;) {
		while (PQisBusy(st->conn)) {
			struct pollfd pfd = { .fd = PQsocket(st->conn), .events = POLLIN };
			int64_t left = deadline - cms_monotonic_ms();
			int prc;

			if (left <= 0) {
				st->lost = true;
				PQclear(last);
				return NULL;
			}
			prc = poll(&pfd, 1, left > 1000 ? 1000 : (int)left);
			if (prc < 0 && errno != EINTR) {
				PQclear(last);
				return NULL;
			}
			if (prc > 0 && !PQconsumeInput(st->conn)) {
				PQclear(last);
				return NULL;
			}
		}
		res = PQgetResult(st->conn);
		if (!res)
			break;
		PQclear(last);
		last = res;
	}
	return last;
}

static const struct state_backend pg_backend;

/* --- libpq helpers ----------------------------------------------------- */

/* The message of a result or the connection, without its trailing
 * newline and without libpq's "ERROR:  " prefix. */
static void pg_message(struct pg_state *st, const PGresult *res, struct buf *out)
{
	const char *m = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
	size_t len;

	if ((!m || !*m) && st->lost)
		m = "the server did not answer within the deadline cmsctl keeps (the session is given up)";
	if (!m || !*m)
		m = PQerrorMessage(st->conn);
	if (!m || !*m)
		m = "unknown error";
	len = strlen(m);
	while (len && (m[len - 1] == '\n' || m[len - 1] == ' '))
		len--;
	buf_add(out, m, len);
}

static int pg_failf(struct pg_state *st, const PGresult *res, struct cms_error *err,
		    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* Wraps the server's diagnostic once, with what was being done. */
static int pg_failf(struct pg_state *st, const PGresult *res, struct cms_error *err,
		    const char *fmt, ...)
{
	struct buf what = BUF_INIT, why = BUF_INIT;
	va_list ap;

	va_start(ap, fmt);
	buf_vaddf(&what, fmt, ap);
	va_end(ap);
	pg_message(st, res, &why);
	cms_error_set(err, CMS_ERROR, "%s in state database '%s': %s", what.ptr, st->name, why.ptr);
	buf_free(&what);
	buf_free(&why);
	return CMS_ERROR;
}

/* Runs sql with the variadic parameters, by type letter: 's' const char *
 * (NULL is SQL NULL), 'i' int64_t, 'n' int64_t that is NULL when negative,
 * 'd' int.  Returns the result (the caller PQclear()s it), or NULL when the
 * statement failed: then *failed holds the failed result or NULL. */
static PGresult *pg_query(struct pg_state *st, PGresult **failed, const char *sql,
			  const char *types, ...)
{
	char nums[PG_MAX_PARAMS][24];
	const char *values[PG_MAX_PARAMS];
	PGresult *res;
	ExecStatusType status;
	va_list ap;
	int i, n = (int)strlen(types);

	*failed = NULL;
	if (n > PG_MAX_PARAMS)
		return NULL;
	va_start(ap, types);
	for (i = 0; i < n; i++) {
		switch (types[i]) {
		case 's':
			values[i] = va_arg(ap, const char *);
			break;
		case 'i':
			snprintf(nums[i], sizeof(nums[i]), "%" PRId64, va_arg(ap, int64_t));
			values[i] = nums[i];
			break;
		case 'n': {
			int64_t v = va_arg(ap, int64_t);

			snprintf(nums[i], sizeof(nums[i]), "%" PRId64, v);
			values[i] = v < 0 ? NULL : nums[i];
			break;
		}
		default:
			snprintf(nums[i], sizeof(nums[i]), "%d", va_arg(ap, int));
			values[i] = nums[i];
			break;
		}
	}
	va_end(ap);
	res = exec_bounded(st, sql, n, values, true);
	status = PQresultStatus(res);
	if (status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK)
		return res;
	*failed = res;
	return NULL;
}

/* Runs statements without parameters or results (several, separated by
 * ';', in one round trip); 0 or CMS_ERROR. */
static int pg_exec(struct pg_state *st, const char *sql, struct cms_error *err, const char *what)
{
	PGresult *res = exec_bounded(st, sql, 0, NULL, false);
	ExecStatusType status = PQresultStatus(res);
	int ret = 0;

	if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK)
		ret = pg_failf(st, res, err, "cannot %s", what);
	PQclear(res);
	return ret;
}

static char *col_dup(const PGresult *res, int row, int col)
{
	return PQgetisnull(res, row, col) ? NULL : xstrdup(PQgetvalue(res, row, col));
}

static int64_t col_i64(const PGresult *res, int row, int col)
{
	return PQgetisnull(res, row, col) ? -1 : strtoll(PQgetvalue(res, row, col), NULL, 10);
}

/* Begins a transaction that holds the state's write lock until it ends. */
static int begin_locked(struct pg_state *st, struct cms_error *err, const char *what)
{
	if (pg_exec(st, "BEGIN", err, what) < 0)
		return CMS_ERROR;
	return pg_exec(st, "SELECT pg_advisory_xact_lock(" PG_LOCK_KEY ")", err, what);
}

static int commit_tx(struct pg_state *st, struct cms_error *err, const char *what)
{
	return pg_exec(st, "COMMIT", err, what);
}

/* Ends a transaction left open by an error; its own failure is not
 * reported (the error that led here is the one that matters). */
static void rollback(struct pg_state *st)
{
	PGresult *res;

	if (st && st->conn && !st->lost && PQtransactionStatus(st->conn) != PQTRANS_IDLE) {
		res = exec_bounded(st, "ROLLBACK", 0, NULL, false);
		PQclear(res);
	}
}

/* --- opening ----------------------------------------------------------- */

/* The core never prints: the server's notices are not for the terminal. */
static void ignore_notice(void *arg, const char *message)
{
	(void)arg;
	(void)message;
}

/* Reads what identifies the schema: *version (0 when fresh), *fresh when
 * there is no cmsctl schema or it is empty. */
static int check_identity(struct pg_state *st, int64_t *version, bool *fresh,
			  struct cms_error *err)
{
	PGresult *bad = NULL, *res = NULL;
	char *app = NULL;
	int ret = 0;

	*version = 0;
	*fresh = false;
	res = pg_query(st, &bad,
		       "SELECT (SELECT count(*) FROM pg_catalog.pg_class c"
		       "  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"
		       "  WHERE n.nspname = 'cmsctl' AND c.relkind IN ('r', 'p', 'v', 'm')),"
		       " to_regclass('cmsctl.meta') IS NOT NULL", "");
	if (!res) {
		ret = pg_failf(st, bad, err, "cannot read the schema");
		goto done;
	}
	if (strtoll(PQgetvalue(res, 0, 0), NULL, 10) == 0) {
		*fresh = true;
		goto done;
	}
	if (strcmp(PQgetvalue(res, 0, 1), "t") != 0) {
		ret = cms_error_set(err, CMS_ERROR, "'%s' is not a cmsctl state database (its "
				    "schema 'cmsctl' has tables but no cmsctl.meta)", st->name);
		cms_error_hint(err, "nothing was changed; check the connection string");
		goto done;
	}
	PQclear(res);
	res = pg_query(st, &bad, "SELECT application, schema_version FROM cmsctl.meta", "");
	if (!res) {
		ret = pg_failf(st, bad, err, "cannot read cmsctl.meta");
		goto done;
	}
	if (PQntuples(res) != 1) {
		ret = cms_error_set(err, CMS_ERROR, "'%s' is not a cmsctl state database "
				    "(cmsctl.meta has %d rows, expected 1)", st->name,
				    PQntuples(res));
		cms_error_hint(err, "nothing was changed; check the connection string");
		goto done;
	}
	app = col_dup(res, 0, 0);
	*version = col_i64(res, 0, 1);
	if (!app || strcmp(app, PG_APPLICATION) != 0) {
		ret = cms_error_set(err, CMS_ERROR, "'%s' is not a cmsctl state database "
				    "(application '%s', expected '%s')", st->name,
				    app ? app : "", PG_APPLICATION);
		cms_error_hint(err, "nothing was changed; check the connection string");
	} else if (*version > PG_SCHEMA_VERSION) {
		ret = cms_error_set(err, CMS_ERROR, "state database '%s' has schema version %" PRId64
				    ", newer than this cmsctl (%d); upgrade cmsctl", st->name,
				    *version, PG_SCHEMA_VERSION);
	} else if (*version < 1) {
		ret = cms_error_set(err, CMS_ERROR, "'%s' is not a cmsctl state database "
				    "(schema version %" PRId64 ")", st->name, *version);
	}
done:
	free(app);
	PQclear(res);
	PQclear(bad);
	return ret;
}

static int migrate(struct pg_state *st, int64_t version, struct cms_error *err)
{
	PGresult *bad = NULL, *res;
	bool fresh;
	int ret = 0;

	while (version < PG_SCHEMA_VERSION) {
		if ((ret = begin_locked(st, err, "migrate the schema")) < 0)
			goto done;
		if ((ret = check_identity(st, &version, &fresh, err)) < 0)
			goto done;
		if (version >= PG_SCHEMA_VERSION)
			break;
		if (fresh) {
			ret = pg_exec(st, "CREATE SCHEMA IF NOT EXISTS cmsctl;"
				      " CREATE TABLE cmsctl.meta (application text NOT NULL,"
				      " schema_version integer NOT NULL);"
				      " INSERT INTO cmsctl.meta VALUES ('" PG_APPLICATION "', 0)",
				      err, "create the schema");
			if (ret < 0)
				goto done;
		}
		if ((ret = pg_exec(st, migrations[version], err, "migrate the schema")) < 0)
			goto done;
		if (migration_rows[version] && (ret = migration_rows[version](st, err)) < 0)
			goto done;
		res = pg_query(st, &bad, "UPDATE cmsctl.meta SET schema_version = $1::integer", "i",
			       version + 1);
		PQclear(res);
		if (!res) {
			ret = pg_failf(st, bad, err, "cannot migrate the schema to version %" PRId64,
				       version + 1);
			goto done;
		}
		if ((ret = commit_tx(st, err, "migrate the schema")) < 0)
			goto done;
	}
done:
	PQclear(bad);
	rollback(st);
	return ret;
}

static void pg_close(struct state *base)
{
	struct pg_state *st = (struct pg_state *)base;

	if (!st)
		return;
	if (st->conn)
		PQfinish(st->conn);
	free(st->name);
	free(st);
}

int state_pg_open(struct state **out, const struct state_target *t, bool create,
		  struct cms_error *err)
{
	/* Defaults first: the connection string overrides them, the password
	 * from the config overrides the string's (which has none). */
	const char *keys[] = { "connect_timeout", "application_name", "dbname", NULL, NULL };
	const char *values[] = { "10", "cmsctl", NULL, NULL, NULL };
	struct pg_state *st;
	int64_t version;
	bool fresh;
	int ret = 0;

	*out = NULL;
	if (!t->connection || !*t->connection)
		return cms_error_set(err, CMS_ERROR, "no connection string for the postgresql "
				     "state");
	if ((ret = cms_lib_pq_load(err)) < 0)
		return ret;
	st = xcalloc(1, sizeof(*st));
	st->base.ops = &pg_backend;
	st->name = xasprintf("postgresql: %s", t->connection);
	st->base.name = st->name;
	values[2] = t->connection;
	if (t->password) {
		keys[3] = "password";
		values[3] = t->password;
	}
	st->conn = PQconnectdbParams(keys, values, 1);
	if (!st->conn || PQstatus(st->conn) != CONNECTION_OK) {
		struct buf why = BUF_INIT;

		if (st->conn)
			pg_message(st, NULL, &why);
		ret = cms_error_set(err, CMS_ERROR, "cannot open state database '%s': %s", st->name,
				    st->conn ? why.ptr : "out of memory");
		buf_free(&why);
		goto done;
	}
	PQsetNoticeProcessor(st->conn, ignore_notice, NULL);
	/* Bounded waits, UTC and plain text, whatever the server's defaults;
	 * a user's PGOPTIONS could set them longer, never unbounded here. */
	if ((ret = pg_exec(st, "SET statement_timeout = '60s'; SET lock_timeout = '30s';"
			   " SET idle_in_transaction_session_timeout = '120s';"
			   " SET client_encoding = 'UTF8'; SET TIME ZONE 'UTC'",
			   err, "configure the session")) < 0)
		goto done;
	if ((ret = check_identity(st, &version, &fresh, err)) < 0)
		goto done;
	if (fresh && !create) {
		ret = cms_error_set(err, CMS_ENOTFOUND, "state database '%s' holds no cmsctl state",
				    st->name);
		goto done;
	}
	if ((ret = migrate(st, fresh ? 0 : version, err)) < 0)
		goto done;
	*out = &st->base;
	st = NULL;
done:
	pg_close(st ? &st->base : NULL);
	return ret;
}

static int pg_integrity_check(struct state *base, char **out_result, struct cms_error *err)
{
	struct pg_state *st = (struct pg_state *)base;
	int64_t version;
	bool fresh;
	int ret;

	*out_result = NULL;
	/* PostgreSQL checks its own pages; what can be wrong here is the
	 * identity of the schema. */
	if ((ret = check_identity(st, &version, &fresh, err)) < 0)
		return ret;
	*out_result = xstrdup("ok");
	return 0;
}

/* --- stores ------------------------------------------------------------ */

static int pg_read_store(struct state *base, const char *store, struct recorded *out,
			 struct cms_error *err)
{
	struct pg_state *st = (struct pg_state *)base;
	PGresult *bad = NULL, *res;
	int ret = 0;

	memset(out, 0, sizeof(*out));
	res = pg_query(st, &bad, "SELECT lineage, serial, primary_server, mirror_server, updated_at"
		       " FROM cmsctl.stores WHERE name = $1", "s", store);
	if (!res)
		ret = pg_failf(st, bad, err, "cannot read store '%s'", store);
	else if (PQntuples(res) == 1) {
		out->exists = true;
		out->lineage = col_dup(res, 0, 0);
		out->serial = col_i64(res, 0, 1);
		out->primary = col_dup(res, 0, 2);
		out->mirror = col_dup(res, 0, 3);
		out->updated_at = col_dup(res, 0, 4);
	}
	PQclear(res);
	PQclear(bad);
	return ret;
}

/* Collects the first column of every row (none is NULL). */
static void read_strings(const PGresult *res, struct cms_strv *out)
{
	int i, rows = PQntuples(res);

	for (i = 0; i < rows; i++)
		cms_strv_push(out, col_dup(res, i, 0));
}

static int pg_list_stores(struct state *base, struct cms_strv *names, struct cms_error *err)
{
	struct pg_state *st = (struct pg_state *)base;
	PGresult *bad = NULL, *res;
	int ret = 0;

	res = pg_query(st, &bad, "SELECT name FROM cmsctl.stores ORDER BY name COLLATE \"C\"", "");
	if (!res)
		ret = pg_failf(st, bad, err, "cannot list the stores");
	else
		read_strings(res, names);
	PQclear(res);
	PQclear(bad);
	return ret;
}

/* --- locks ------------------------------------------------------------- */

#define LOCK_COLUMNS STATE_LOCK_COLUMNS

static void lock_read_row(const PGresult *res, int row, struct lock_info *l)
{
	int64_t pid = col_i64(res, row, 6);

	l->store = col_dup(res, row, 0);
	l->id = col_dup(res, row, 1);
	l->holder.name = col_dup(res, row, 2);
	l->reason = col_dup(res, row, 3);
	l->acquired_at = col_i64(res, row, 4);
	l->lease_until = col_i64(res, row, 5);
	l->holder.pid = pid > 0 ? pid : 0;
	l->holder.host = col_dup(res, row, 7);
	l->holder.pid_ns = col_dup(res, row, 8);
	l->holder_text = lock_holder_text(&l->holder);
}

/* Migration 4: the holders written as text, "NAME (pid N on HOST, NS)",
 * split into their columns, once. */
static int migrate_lock_holders(struct pg_state *st, struct cms_error *err)
{
	PGresult *bad = NULL, *rows, *res;
	int i, ret = 0;

	rows = pg_query(st, &bad, "SELECT store, holder FROM cmsctl.locks", "");
	if (!rows)
		ret = pg_failf(st, bad, err, "cannot migrate the lock holders");
	for (i = 0; !ret && i < PQntuples(rows); i++) {
		struct lock_holder h;

		state_lock_holder_parse_legacy(PQgetvalue(rows, i, 1), &h);
		res = pg_query(st, &bad, "UPDATE cmsctl.locks SET holder = $2,"
			       " holder_pid = NULLIF($3::bigint, 0), holder_host = $4,"
			       " holder_pid_ns = $5 WHERE store = $1", "ssiss",
			       PQgetvalue(rows, i, 0), h.name, h.pid, h.host, h.pid_ns);
		if (!res)
			ret = pg_failf(st, bad, err, "cannot migrate the lock holders");
		PQclear(res);
		lock_holder_free(&h);
	}
	PQclear(rows);
	PQclear(bad);
	return ret;
}

static int pg_lock(struct state *base, const char *store, const struct lock_holder *holder,
		   const char *reason, int64_t lease_s, int64_t now, char **lock_id_out,
		   struct cms_error *err)
{
	struct pg_state *st = (struct pg_state *)base;
	int64_t pid = holder->pid > 0 ? holder->pid : 0; /* 0: names no process (NULL) */
	struct lock_info cur = { 0 };
	PGresult *bad = NULL, *res = NULL;
	char *id = NULL;
	int ret = 0;

	*lock_id_out = NULL;
	if (lease_s <= 0)
		return cms_error_set(err, CMS_ERROR, "cannot lock store '%s': lease of %" PRId64
				     " seconds is not positive", store, lease_s);
	id = cms_random_hex(8);
	if (!id)
		return cms_error_set(err, CMS_ERROR, "cannot lock store '%s': no random lock id",
				     store);
	if ((ret = begin_locked(st, err, "lock the store")) < 0)
		goto done;
	res = pg_query(st, &bad, "SELECT " LOCK_COLUMNS " FROM cmsctl.locks WHERE store = $1", "s",
		       store);
	if (!res) {
		ret = pg_failf(st, bad, err, "cannot lock store '%s'", store);
		goto done;
	}
	if (PQntuples(res) == 1) {
		lock_read_row(res, 0, &cur);
		if (cur.lease_until > now) {
			ret = state_lock_held(err, &cur);
			goto done;
		}
	}
	PQclear(res);
	/* No lock, or an expired one: take it over. */
	res = pg_query(st, &bad,
		       "INSERT INTO cmsctl.locks (" LOCK_COLUMNS ") VALUES ($1, $2, $3, $4,"
		       " $5::bigint, $6::bigint, NULLIF($7::bigint, 0), $8, $9)" STATE_LOCK_TAKE_OVER,
		       "ssssiiiss", store, id, holder->name, reason, now, now + lease_s, pid,
		       pid ? holder->host : NULL, pid ? holder->pid_ns : NULL);
	if (!res) {
		ret = pg_failf(st, bad, err, "cannot lock store '%s'", store);
		goto done;
	}
	if ((ret = commit_tx(st, err, "lock the store")) < 0)
		goto done;
	*lock_id_out = id;
	id = NULL;
done:
	PQclear(res);
	PQclear(bad);
	rollback(st);
	lock_info_free(&cur);
	free(id);
	return ret;
}

static int pg_lock_renew(struct state *base, const char *store, const char *lock_id,
			 int64_t lease_s, int64_t now, struct cms_error *err)
{
	struct pg_state *st = (struct pg_state *)base;
	PGresult *bad = NULL, *res;
	int ret = 0;

	if (lease_s <= 0)
		return cms_error_set(err, CMS_ERROR, "cannot renew the lock of store '%s': "
				     "lease of %" PRId64 " seconds is not positive", store,
				     lease_s);
	/* Still ours with most of the lease left: nothing to write (a write
	 * waits for the WAL flush, and apply renews before every step). */
	res = pg_query(st, &bad, "SELECT 1 FROM cmsctl.locks WHERE store = $1 AND id = $2"
		       " AND lease_until >= $3::bigint", "ssi", store, lock_id,
		       now + lease_s - lease_s / STATE_LEASE_RENEW_PART);
	if (res && PQntuples(res) == 1)
		goto done;
	PQclear(res);
	PQclear(bad);
	bad = NULL;
	res = pg_query(st, &bad, "UPDATE cmsctl.locks SET lease_until = $3::bigint"
		       " WHERE store = $1 AND id = $2", "ssi", store, lock_id, now + lease_s);
	if (!res) {
		ret = pg_failf(st, bad, err, "cannot renew the lock of store '%s'", store);
		goto done;
	}
	if (strcmp(PQcmdTuples(res), "0") != 0)
		goto done;
	PQclear(res);
	res = pg_query(st, &bad, "SELECT " LOCK_COLUMNS " FROM cmsctl.locks WHERE store = $1",
		       "s", store);
	if (!res) {
		ret = pg_failf(st, bad, err, "cannot read the lock of store '%s'", store);
	} else if (PQntuples(res) == 1) {
		struct lock_info cur = { 0 };
		char since[32];

		lock_read_row(res, 0, &cur);
		cms_format_time(since, cur.acquired_at);
		ret = cms_error_set(err, CMS_ELOCKED, "lock '%s' of store '%s' is no longer "
				    "held: %s took the store over at %s", lock_id, store,
				    cur.holder_text, since);
		lock_info_free(&cur);
	} else {
		ret = cms_error_set(err, CMS_ELOCKED, "lock '%s' of store '%s' is no longer "
				    "held: it was broken", lock_id, store);
	}
done:
	PQclear(res);
	PQclear(bad);
	return ret;
}

static int pg_unlock(struct state *base, const char *store, const char *lock_id,
		     struct cms_error *err)
{
	struct pg_state *st = (struct pg_state *)base;
	PGresult *bad = NULL, *res;
	int ret = 0;

	res = pg_query(st, &bad, "DELETE FROM cmsctl.locks WHERE store = $1 AND id = $2", "ss",
		       store, lock_id);
	if (!res)
		ret = pg_failf(st, bad, err, "cannot unlock store '%s'", store);
	else if (!strcmp(PQcmdTuples(res), "0"))
		ret = cms_error_set(err, CMS_ENOTFOUND, "store '%s' has no lock '%s'", store,
				    lock_id);
	PQclear(res);
	PQclear(bad);
	return ret;
}

static int pg_lock_list(struct state *base, struct lock_info **out, size_t *n,
			struct cms_error *err)
{
	struct pg_state *st = (struct pg_state *)base;
	PGresult *bad = NULL, *res;
	int i, rows, ret = 0;

	*out = NULL;
	*n = 0;
	res = pg_query(st, &bad, "SELECT " LOCK_COLUMNS " FROM cmsctl.locks"
		       " ORDER BY store COLLATE \"C\"", "");
	if (!res) {
		ret = pg_failf(st, bad, err, "cannot list the locks");
		goto done;
	}
	rows = PQntuples(res);
	if (rows)
		*out = xcalloc((size_t)rows, sizeof(**out));
	for (i = 0; i < rows; i++)
		lock_read_row(res, i, &(*out)[i]);
	*n = (size_t)rows;
done:
	PQclear(res);
	PQclear(bad);
	return ret;
}

/* --- the journal ------------------------------------------------------- */

static int pg_batch(struct state *base, int what, struct cms_error *err)
{
	struct pg_state *st = (struct pg_state *)base;
	int ret;

	if (what == 2) {
		rollback(st);
		return 0;
	}
	/* A lazy batch's commit returns before the server has flushed it;
	 * the next commit that waits for its flush waits for this one too. */
	ret = pg_exec(st, what == 0 ? "BEGIN" : what == 3 ? "BEGIN; SET LOCAL synchronous_commit = off"
		      : "COMMIT", err, what == 1 ? "commit a batch of writes" : "begin a batch of writes");
	if (ret < 0)
		rollback(st);
	return ret;
}

static int pg_run_begin(struct state *base, const char *run_id, const char *store,
			const char *plan_id, const char *kind, const char *operator_name,
			int64_t now_ms, struct cms_error *err)
{
	struct pg_state *st = (struct pg_state *)base;
	PGresult *bad = NULL, *res;
	char ts[32];
	int ret = 0;

	cms_format_time_ms(ts, now_ms);
	res = pg_query(st, &bad, "INSERT INTO cmsctl.runs (id, store, plan_id, kind, operator,"
		       " started_at, outcome) VALUES ($1, $2, $3, $4, $5, $6, 'running')",
		       "ssssss", run_id, store, plan_id, kind, operator_name, ts);
	if (!res)
		ret = pg_failf(st, bad, err, "cannot record the start of run '%s'", run_id);
	PQclear(res);
	PQclear(bad);
	return ret;
}

static int pg_step_set(struct state *base, const char *run_id, int n, const char *action,
		       const char *server, enum step_status status, const char *detail_json,
		       int64_t now_ms, int64_t duration_ms, struct cms_error *err)
{
	struct pg_state *st = (struct pg_state *)base;
	const char *status_text = state_step_status_text(status);
	PGresult *bad = NULL, *res;
	char ts[32];
	int ret = 0;

	if (!status_text)
		return cms_error_set(err, CMS_ERROR, "cannot journal step %d of run '%s': invalid "
				     "status %d", n, run_id, (int)status);
	cms_format_time_ms(ts, now_ms);
	/* As in the SQLite backend: started_at when the step enters running,
	 * finished_at at an end status; NULL values keep what was there. */
	res = pg_query(st, &bad,
		       "INSERT INTO cmsctl.steps AS s (run_id, n, action, server, status, detail,"
		       " started_at, finished_at, duration_ms)"
		       " VALUES ($1, $2::integer,"
		       "  coalesce($3::text, (SELECT action FROM cmsctl.steps"
		       "   WHERE run_id = $1 AND n = $2::integer)),"
		       "  $4::text, $5::text, $6::text,"
		       "  CASE WHEN $5::text = 'running' THEN $7::text END,"
		       "  CASE WHEN $5::text IN ('done', 'failed', 'skipped', 'undone') THEN $7::text END,"
		       "  CASE WHEN $8::bigint >= 0 THEN $8::bigint END)"
		       " ON CONFLICT (run_id, n) DO UPDATE SET"
		       "  action = coalesce(excluded.action, s.action),"
		       "  server = coalesce(excluded.server, s.server),"
		       "  status = excluded.status,"
		       "  detail = coalesce(excluded.detail, s.detail),"
		       "  started_at = CASE WHEN excluded.status = 'pending' THEN NULL"
		       "   WHEN excluded.status = 'running'"
		       "   AND s.status <> 'running' THEN excluded.started_at"
		       "   ELSE s.started_at END,"
		       "  finished_at = CASE WHEN excluded.status IN ('pending', 'running') THEN NULL"
		       "   ELSE excluded.finished_at END,"
		       "  duration_ms = coalesce(excluded.duration_ms, s.duration_ms)",
		       "sdsssssi", run_id, n, action, server, status_text, detail_json, ts,
		       duration_ms);
	if (!res)
		ret = pg_failf(st, bad, err, "cannot journal step %d of run '%s'", n, run_id);
	PQclear(res);
	PQclear(bad);
	return ret;
}

static int pg_run_finish(struct state *base, const char *run_id, const char *outcome,
			 int64_t now_ms, struct cms_error *err)
{
	struct pg_state *st = (struct pg_state *)base;
	PGresult *bad = NULL, *res;
	char ts[32];
	int ret = 0;

	if (!outcome || !strcmp(outcome, "running"))
		return cms_error_set(err, CMS_ERROR, "cannot finish run '%s' with outcome '%s'",
				     run_id, outcome ? outcome : "(none)");
	cms_format_time_ms(ts, now_ms);
	res = pg_query(st, &bad, "UPDATE cmsctl.runs SET outcome = $2, finished_at = $3"
		       " WHERE id = $1", "sss", run_id, outcome, ts);
	if (!res)
		ret = pg_failf(st, bad, err, "cannot record the end of run '%s'", run_id);
	else if (!strcmp(PQcmdTuples(res), "0"))
		ret = cms_error_set(err, CMS_ENOTFOUND, "run '%s' is not in state database '%s'",
				    run_id, st->name);
	PQclear(res);
	PQclear(bad);
	return ret;
}

#define RUN_COLUMNS "id, store, plan_id, kind, operator, outcome, started_at, finished_at"

static void run_read_row(const PGresult *res, int row, struct run_info *r)
{
	r->id = col_dup(res, row, 0);
	r->store = col_dup(res, row, 1);
	r->plan_id = col_dup(res, row, 2);
	r->kind = col_dup(res, row, 3);
	r->operator_name = col_dup(res, row, 4);
	r->outcome = col_dup(res, row, 5);
	r->started_at = col_dup(res, row, 6);
	r->finished_at = col_dup(res, row, 7);
}

static int pg_run_newest(struct state *base, const char *store, bool unfinished,
			 struct run_info *out, struct cms_error *err)
{
	struct pg_state *st = (struct pg_state *)base;
	PGresult *bad = NULL, *res;
	int ret = 0;

	memset(out, 0, sizeof(*out));
	res = pg_query(st, &bad, unfinished ?
		       "SELECT " RUN_COLUMNS " FROM cmsctl.runs WHERE store = $1"
		       " AND outcome = 'running' ORDER BY seq DESC LIMIT 1" :
		       "SELECT " RUN_COLUMNS " FROM cmsctl.runs WHERE store = $1"
		       " ORDER BY seq DESC LIMIT 1", "s", store);
	if (!res)
		ret = pg_failf(st, bad, err, "cannot read the runs of store '%s'", store);
	else if (PQntuples(res) == 1)
		run_read_row(res, 0, out);
	else
		ret = cms_error_set(err, CMS_ENOTFOUND, "store '%s' has no %srun", store,
				    unfinished ? "unfinished " : "");
	PQclear(res);
	PQclear(bad);
	return ret;
}

static int step_read_row(struct pg_state *st, const PGresult *res, int row, int col,
			 struct step_info *s, const char *run_id, struct cms_error *err)
{
	const char *status = PQgetisnull(res, row, col + 3) ? NULL : PQgetvalue(res, row, col + 3);

	s->n = (int)col_i64(res, row, col);
	if (state_step_status_parse(status, &s->status) < 0)
		return cms_error_set(err, CMS_ERROR, "step %d of run '%s' in state database '%s' "
				     "has an unknown status '%s'", s->n, run_id, st->name,
				     status ? status : "(null)");
	s->action = col_dup(res, row, col + 1);
	s->server = col_dup(res, row, col + 2);
	s->detail_json = col_dup(res, row, col + 4);
	s->started_at = col_dup(res, row, col + 5);
	s->finished_at = col_dup(res, row, col + 6);
	s->duration_ms = col_i64(res, row, col + 7);
	return 0;
}

#define STEP_COLUMNS "n, action, server, status, detail, started_at, finished_at, duration_ms"

static int pg_run_steps(struct state *base, const char *run_id, struct step_info **out,
			size_t *n, struct cms_error *err)
{
	struct pg_state *st = (struct pg_state *)base;
	PGresult *bad = NULL, *res;
	struct step_info *v = NULL;
	int i, rows = 0, ret = 0;

	*out = NULL;
	*n = 0;
	res = pg_query(st, &bad, "SELECT " STEP_COLUMNS " FROM cmsctl.steps WHERE run_id = $1"
		       " ORDER BY n", "s", run_id);
	if (!res) {
		ret = pg_failf(st, bad, err, "cannot read the steps of run '%s'", run_id);
		goto done;
	}
	rows = PQntuples(res);
	if (rows)
		v = xcalloc((size_t)rows, sizeof(*v));
	for (i = 0; i < rows; i++) {
		if ((ret = step_read_row(st, res, i, 0, &v[i], run_id, err)) < 0)
			goto done;
		/* Unrecorded durations read as 0, as in the SQLite backend. */
		if (v[i].duration_ms < 0)
			v[i].duration_ms = 0;
	}
	*out = v;
	*n = (size_t)rows;
	v = NULL;
done:
	step_info_list_free(v, (size_t)rows);
	PQclear(res);
	PQclear(bad);
	return ret;
}

static int pg_run_list(struct state *base, const char *store, struct run_info **out, size_t *n,
		       struct cms_error *err)
{
	struct pg_state *st = (struct pg_state *)base;
	PGresult *bad = NULL, *res;
	int i, rows, ret = 0;

	*out = NULL;
	*n = 0;
	res = pg_query(st, &bad, "SELECT " RUN_COLUMNS " FROM cmsctl.runs WHERE store = $1"
		       " ORDER BY seq", "s", store);
	if (!res) {
		ret = pg_failf(st, bad, err, "cannot read the runs of store '%s'", store);
		goto done;
	}
	rows = PQntuples(res);
	if (rows)
		*out = xcalloc((size_t)rows, sizeof(**out));
	for (i = 0; i < rows; i++)
		run_read_row(res, i, &(*out)[i]);
	*n = (size_t)rows;
done:
	PQclear(res);
	PQclear(bad);
	return ret;
}

static int pg_history_tip_set(struct state *base, const char *commit_id, int64_t now,
			      struct cms_error *err)
{
	struct pg_state *st = (struct pg_state *)base;
	PGresult *bad = NULL, *res;
	char ts[32];
	int ret = 0;

	cms_format_time(ts, now);
	res = pg_query(st, &bad, "INSERT INTO cmsctl.history_tip (id, commit_id, recorded_at)"
		       " VALUES (1, $1, $2) ON CONFLICT (id) DO UPDATE SET"
		       " commit_id = excluded.commit_id, recorded_at = excluded.recorded_at",
		       "ss", commit_id, ts);
	if (!res)
		ret = pg_failf(st, bad, err, "cannot record the history tip %s", commit_id);
	PQclear(res);
	PQclear(bad);
	return ret;
}

static int pg_history_tip(struct state *base, char **commit_id, struct cms_error *err)
{
	struct pg_state *st = (struct pg_state *)base;
	PGresult *bad = NULL, *res;
	int ret = 0;

	*commit_id = NULL;
	res = pg_query(st, &bad, "SELECT commit_id FROM cmsctl.history_tip WHERE id = 1", "");
	if (!res)
		ret = pg_failf(st, bad, err, "cannot read the recorded history tip");
	else if (PQntuples(res) == 1)
		*commit_id = col_dup(res, 0, 0);
	else
		ret = cms_error_set(err, CMS_ENOTFOUND, "no history tip recorded in the state");
	PQclear(res);
	PQclear(bad);
	return ret;
}

static int pg_history_tip_replace(struct state *base, const char *old_id, const char *new_id,
				  int64_t now, bool *replaced, struct cms_error *err)
{
	struct pg_state *st = (struct pg_state *)base;
	PGresult *bad = NULL, *res;
	char ts[32];
	int ret = 0;

	*replaced = false;
	cms_format_time(ts, now);
	res = pg_query(st, &bad, "UPDATE cmsctl.history_tip SET commit_id = $1, recorded_at = $2"
		       " WHERE id = 1 AND commit_id = $3", "sss", new_id, ts, old_id);
	if (!res)
		ret = pg_failf(st, bad, err, "cannot record the history tip %s", new_id);
	else
		*replaced = !strcmp(PQcmdTuples(res), "1");
	PQclear(res);
	PQclear(bad);
	return ret;
}

/* --- commits, consumed plans and approvals ----------------------------- */

/* Inside a locked transaction: CMS_ESTALE when plan_id was consumed by
 * another run; *mine when run_id itself consumed it already. */
static int plan_unused(struct pg_state *st, const char *plan_id, const char *run_id, bool *mine,
		       struct cms_error *err)
{
	PGresult *bad = NULL, *res;
	int ret = 0;

	*mine = false;
	res = pg_query(st, &bad, "SELECT run_id, consumed_at, store FROM cmsctl.consumed_plans"
		       " WHERE plan_id = $1", "s", plan_id);
	if (!res) {
		ret = pg_failf(st, bad, err, "cannot read the consumed plans");
	} else if (PQntuples(res) == 1) {
		const char *by = PQgetisnull(res, 0, 0) ? NULL : PQgetvalue(res, 0, 0);

		*mine = run_id && by && !strcmp(run_id, by);
		if (!*mine) {
			ret = cms_error_set(err, CMS_ESTALE, "plan '%s' was already applied "
					    "(store '%s', run '%s', %s)", plan_id,
					    PQgetvalue(res, 0, 2), by ? by : "none",
					    PQgetvalue(res, 0, 1));
			cms_error_hint(err, "a plan is used once; make a new one with "
				       "'cmsctl plan'");
		}
	}
	PQclear(res);
	PQclear(bad);
	return ret;
}

static int plan_mark_consumed(struct pg_state *st, const char *plan_id, const char *store,
			      const char *run_id, const char *ts, struct cms_error *err)
{
	PGresult *bad = NULL, *res;
	int ret = 0;

	res = pg_query(st, &bad, "INSERT INTO cmsctl.consumed_plans (plan_id, store, run_id,"
		       " consumed_at) VALUES ($1, $2, $3, $4)", "ssss", plan_id, store, run_id,
		       ts);
	if (!res)
		ret = pg_failf(st, bad, err, "cannot mark plan '%s' as used", plan_id);
	PQclear(res);
	PQclear(bad);
	return ret;
}

static int pg_commit(struct state *base, const char *store, const char *lineage,
		     int64_t expected_serial, const char *primary, const char *mirror,
		     const char *plan_id, const char *run_id, int64_t now, int64_t *new_serial,
		     struct cms_error *err)
{
	struct pg_state *st = (struct pg_state *)base;
	PGresult *bad = NULL, *res = NULL;
	char *have_lineage = NULL;
	int64_t serial = 0;
	bool exists = false, mine;
	char ts[32];
	int ret = 0;

	if (!plan_id || !primary)
		return cms_error_set(err, CMS_ERROR, "cannot commit store '%s': a plan id and "
				     "a primary are required", store);
	cms_format_time(ts, now);
	if ((ret = begin_locked(st, err, "commit the store")) < 0)
		goto done;
	res = pg_query(st, &bad, "SELECT serial, lineage FROM cmsctl.stores WHERE name = $1", "s",
		       store);
	if (!res) {
		ret = pg_failf(st, bad, err, "cannot commit store '%s'", store);
		goto done;
	}
	if (PQntuples(res) == 1) {
		exists = true;
		serial = col_i64(res, 0, 0);
		have_lineage = col_dup(res, 0, 1);
	}
	PQclear(res);
	res = NULL;

	if (exists && expected_serial >= 0 && serial != expected_serial) {
		ret = cms_error_set(err, CMS_ESTALE, "store '%s' is at serial %" PRId64
				    ", the plan was made against %" PRId64, store, serial,
				    expected_serial);
		goto done;
	}
	if (exists && lineage && have_lineage && strcmp(lineage, have_lineage) != 0) {
		ret = cms_error_set(err, CMS_ESTALE, "store '%s' has lineage '%s', the plan was "
				    "made against lineage '%s'", store, have_lineage, lineage);
		goto done;
	}
	if (!exists && expected_serial > 0) {
		ret = cms_error_set(err, CMS_ESTALE, "store '%s' has no recorded state, the "
				    "plan was made against serial %" PRId64, store,
				    expected_serial);
		goto done;
	}
	if (!exists && (!lineage || !*lineage)) {
		ret = cms_error_set(err, CMS_ERROR, "cannot adopt store '%s' without a lineage",
				    store);
		goto done;
	}
	if ((ret = plan_unused(st, plan_id, run_id, &mine, err)) < 0)
		goto done;
	res = pg_query(st, &bad,
		       "INSERT INTO cmsctl.stores (name, lineage, serial, primary_server,"
		       " mirror_server, updated_at) VALUES ($1, $2, $3::bigint, $4, $5, $6)"
		       " ON CONFLICT (name) DO UPDATE SET serial = excluded.serial,"
		       " primary_server = excluded.primary_server,"
		       " mirror_server = excluded.mirror_server, updated_at = excluded.updated_at",
		       "ssisss", store, exists ? have_lineage : lineage, serial + 1, primary,
		       mirror, ts);
	if (!res) {
		ret = pg_failf(st, bad, err, "cannot commit store '%s'", store);
		goto done;
	}
	if (!mine && (ret = plan_mark_consumed(st, plan_id, store, run_id, ts, err)) < 0)
		goto done;
	if ((ret = commit_tx(st, err, "commit the store")) < 0)
		goto done;
	*new_serial = serial + 1;
done:
	PQclear(res);
	PQclear(bad);
	rollback(st);
	free(have_lineage);
	return ret;
}

static int pg_plan_consumed(struct state *base, const char *plan_id, bool *out,
			    struct cms_error *err)
{
	struct pg_state *st = (struct pg_state *)base;
	PGresult *bad = NULL, *res;
	int ret = 0;

	*out = false;
	res = pg_query(st, &bad, "SELECT 1 FROM cmsctl.consumed_plans WHERE plan_id = $1", "s",
		       plan_id);
	if (!res)
		ret = pg_failf(st, bad, err, "cannot read the consumed plans");
	else
		*out = PQntuples(res) > 0;
	PQclear(res);
	PQclear(bad);
	return ret;
}

static int pg_consume_plan(struct state *base, const char *plan_id, const char *store,
			   const char *run_id, int64_t now, struct cms_error *err)
{
	struct pg_state *st = (struct pg_state *)base;
	char ts[32];
	bool mine;
	int ret;

	cms_format_time(ts, now);
	if ((ret = begin_locked(st, err, "mark the plan as used")) < 0)
		goto done;
	if ((ret = plan_unused(st, plan_id, run_id, &mine, err)) < 0)
		goto done;
	if (!mine && (ret = plan_mark_consumed(st, plan_id, store, run_id, ts, err)) < 0)
		goto done;
	ret = commit_tx(st, err, "mark the plan as used");
done:
	rollback(st);
	return ret;
}

static int pg_approve(struct state *base, const char *plan_id, const char *store,
		      const char *approver, int64_t now, struct cms_error *err)
{
	struct pg_state *st = (struct pg_state *)base;
	PGresult *bad = NULL, *res;
	char ts[32];
	int ret = 0;

	cms_format_time(ts, now);
	res = pg_query(st, &bad, "INSERT INTO cmsctl.approvals (plan_id, store, approver,"
		       " approved_at) VALUES ($1, $2, $3, $4)"
		       " ON CONFLICT (plan_id, approver) DO NOTHING", "ssss", plan_id, store,
		       approver, ts);
	if (!res)
		ret = pg_failf(st, bad, err, "cannot record the approval of plan '%s'", plan_id);
	else
		ret = strcmp(PQcmdTuples(res), "0") ? 1 : 0;
	PQclear(res);
	PQclear(bad);
	return ret;
}

static int pg_approvals(struct state *base, const char *plan_id, struct cms_strv *approvers,
			struct cms_error *err)
{
	struct pg_state *st = (struct pg_state *)base;
	PGresult *bad = NULL, *res;
	int ret = 0;

	res = pg_query(st, &bad, "SELECT approver FROM cmsctl.approvals WHERE plan_id = $1"
		       " ORDER BY approver COLLATE \"C\"", "s", plan_id);
	if (!res)
		ret = pg_failf(st, bad, err, "cannot read the approvals of plan '%s'", plan_id);
	else
		read_strings(res, approvers);
	PQclear(res);
	PQclear(bad);
	return ret;
}

/* --- dump and load ----------------------------------------------------- */

static int pg_dump(struct state *base, struct state_dump *out, struct cms_error *err)
{
	struct pg_state *st = (struct pg_state *)base;
	PGresult *bad = NULL, *res = NULL;
	int i, rows, ret = 0;

	memset(out, 0, sizeof(*out));
	/* One snapshot: a consistent picture. */
	if ((ret = pg_exec(st, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", err,
			   "read the state")) < 0)
		goto done;
#define DUMP_QUERY(sql)                                                         \
	do {                                                                    \
		PQclear(res);                                                   \
		res = pg_query(st, &bad, sql, "");                              \
		if (!res) {                                                     \
			ret = pg_failf(st, bad, err, "cannot read the state");  \
			goto done;                                              \
		}                                                               \
		rows = PQntuples(res);                                          \
	} while (0)
	DUMP_QUERY("SELECT name, lineage, serial, primary_server, mirror_server, updated_at"
		   " FROM cmsctl.stores ORDER BY name COLLATE \"C\"");
	out->stores = rows ? xcalloc((size_t)rows, sizeof(*out->stores)) : NULL;
	for (i = 0; i < rows; i++, out->nstores++) {
		struct state_store_row *r = &out->stores[i];

		r->name = col_dup(res, i, 0);
		r->rec.exists = true;
		r->rec.lineage = col_dup(res, i, 1);
		r->rec.serial = col_i64(res, i, 2);
		r->rec.primary = col_dup(res, i, 3);
		r->rec.mirror = col_dup(res, i, 4);
		r->rec.updated_at = col_dup(res, i, 5);
	}
	DUMP_QUERY("SELECT " RUN_COLUMNS " FROM cmsctl.runs ORDER BY seq");
	out->runs = rows ? xcalloc((size_t)rows, sizeof(*out->runs)) : NULL;
	for (i = 0; i < rows; i++, out->nruns++)
		run_read_row(res, i, &out->runs[i]);
	DUMP_QUERY("SELECT s.run_id, s.n, s.action, s.server, s.status, s.detail, s.started_at,"
		   " s.finished_at, s.duration_ms FROM cmsctl.steps s"
		   " JOIN cmsctl.runs r ON r.id = s.run_id ORDER BY r.seq, s.n");
	out->steps = rows ? xcalloc((size_t)rows, sizeof(*out->steps)) : NULL;
	for (i = 0; i < rows; i++, out->nsteps++) {
		struct state_step_row *r = &out->steps[i];

		r->run_id = col_dup(res, i, 0);
		if ((ret = step_read_row(st, res, i, 1, &r->step, r->run_id, err)) < 0) {
			out->nsteps++;
			goto done;
		}
	}
	DUMP_QUERY("SELECT plan_id, store, approver, approved_at FROM cmsctl.approvals"
		   " ORDER BY plan_id COLLATE \"C\", approver COLLATE \"C\"");
	out->approvals = rows ? xcalloc((size_t)rows, sizeof(*out->approvals)) : NULL;
	for (i = 0; i < rows; i++, out->napprovals++) {
		out->approvals[i].plan_id = col_dup(res, i, 0);
		out->approvals[i].store = col_dup(res, i, 1);
		out->approvals[i].approver = col_dup(res, i, 2);
		out->approvals[i].approved_at = col_dup(res, i, 3);
	}
	DUMP_QUERY("SELECT plan_id, store, run_id, consumed_at FROM cmsctl.consumed_plans"
		   " ORDER BY plan_id COLLATE \"C\"");
	out->consumed = rows ? xcalloc((size_t)rows, sizeof(*out->consumed)) : NULL;
	for (i = 0; i < rows; i++, out->nconsumed++) {
		out->consumed[i].plan_id = col_dup(res, i, 0);
		out->consumed[i].store = col_dup(res, i, 1);
		out->consumed[i].run_id = col_dup(res, i, 2);
		out->consumed[i].consumed_at = col_dup(res, i, 3);
	}
	DUMP_QUERY("SELECT " LOCK_COLUMNS " FROM cmsctl.locks ORDER BY store COLLATE \"C\"");
	out->locks = rows ? xcalloc((size_t)rows, sizeof(*out->locks)) : NULL;
	for (i = 0; i < rows; i++, out->nlocks++)
		lock_read_row(res, i, &out->locks[i]);
#undef DUMP_QUERY
	ret = commit_tx(st, err, "read the state");
done:
	PQclear(res);
	PQclear(bad);
	rollback(st);
	if (ret < 0)
		state_dump_free(out);
	return ret;
}

static int load_row(struct pg_state *st, struct cms_error *err, PGresult *res, PGresult *bad)
{
	int ret = 0;

	if (!res)
		ret = pg_failf(st, bad, err, "cannot write the migrated state");
	PQclear(res);
	PQclear(bad);
	return ret;
}

static int pg_load(struct state *base, const struct state_dump *d, struct cms_error *err)
{
	struct pg_state *st = (struct pg_state *)base;
	PGresult *bad = NULL, *res;
	size_t i;
	int ret;

	if ((ret = begin_locked(st, err, "write the migrated state")) < 0)
		goto done;
	res = pg_query(st, &bad, "SELECT (SELECT count(*) FROM cmsctl.stores)"
		       " + (SELECT count(*) FROM cmsctl.runs) + (SELECT count(*) FROM cmsctl.approvals)"
		       " + (SELECT count(*) FROM cmsctl.consumed_plans)"
		       " + (SELECT count(*) FROM cmsctl.locks)", "");
	if (!res) {
		ret = load_row(st, err, res, bad);
		goto done;
	}
	if (strcmp(PQgetvalue(res, 0, 0), "0") != 0) {
		PQclear(res);
		ret = cms_error_set(err, CMS_ERROR, "state database '%s' is not empty", st->name);
		cms_error_hint(err, "nothing was written; migrate into a new, empty state");
		goto done;
	}
	PQclear(res);
	for (i = 0; ret == 0 && i < d->nstores; i++) {
		const struct state_store_row *r = &d->stores[i];

		res = pg_query(st, &bad, "INSERT INTO cmsctl.stores (name, lineage, serial,"
			       " primary_server, mirror_server, updated_at)"
			       " VALUES ($1, $2, $3::bigint, $4, $5, $6)", "ssisss", r->name,
			       r->rec.lineage, r->rec.serial, r->rec.primary, r->rec.mirror,
			       r->rec.updated_at);
		ret = load_row(st, err, res, bad);
	}
	for (i = 0; ret == 0 && i < d->nruns; i++) {
		const struct run_info *r = &d->runs[i];

		res = pg_query(st, &bad, "INSERT INTO cmsctl.runs (id, store, plan_id, kind, operator,"
			       " started_at, finished_at, outcome)"
			       " VALUES ($1, $2, $3, $4, $5, $6, $7, $8)", "ssssssss", r->id,
			       r->store, r->plan_id, r->kind, r->operator_name, r->started_at,
			       r->finished_at, r->outcome);
		ret = load_row(st, err, res, bad);
	}
	for (i = 0; ret == 0 && i < d->nsteps; i++) {
		const struct state_step_row *r = &d->steps[i];

		res = pg_query(st, &bad, "INSERT INTO cmsctl.steps (run_id, n, action, server, status,"
			       " detail, started_at, finished_at, duration_ms)"
			       " VALUES ($1, $2::integer, $3, $4, $5, $6, $7, $8, $9::bigint)",
			       "sdssssssn", r->run_id, r->step.n, r->step.action,
			       r->step.server, state_step_status_text(r->step.status),
			       r->step.detail_json, r->step.started_at, r->step.finished_at,
			       r->step.duration_ms);
		ret = load_row(st, err, res, bad);
	}
	for (i = 0; ret == 0 && i < d->napprovals; i++) {
		const struct state_approval_row *r = &d->approvals[i];

		res = pg_query(st, &bad, "INSERT INTO cmsctl.approvals (plan_id, store, approver,"
			       " approved_at) VALUES ($1, $2, $3, $4)", "ssss", r->plan_id,
			       r->store, r->approver, r->approved_at);
		ret = load_row(st, err, res, bad);
	}
	for (i = 0; ret == 0 && i < d->nconsumed; i++) {
		const struct state_consumed_row *r = &d->consumed[i];

		res = pg_query(st, &bad, "INSERT INTO cmsctl.consumed_plans (plan_id, store, run_id,"
			       " consumed_at) VALUES ($1, $2, $3, $4)", "ssss", r->plan_id,
			       r->store, r->run_id, r->consumed_at);
		ret = load_row(st, err, res, bad);
	}
	if (ret == 0)
		ret = commit_tx(st, err, "write the migrated state");
done:
	rollback(st);
	return ret;
}

static const struct state_backend pg_backend = {
	.version = STATE_BACKEND_VERSION,
	.name = "postgresql",
	.close = pg_close,
	.integrity_check = pg_integrity_check,
	.list_stores = pg_list_stores,
	.read_store = pg_read_store,
	.lock = pg_lock,
	.lock_renew = pg_lock_renew,
	.unlock = pg_unlock,
	.lock_list = pg_lock_list,
	.batch = pg_batch,
	.run_begin = pg_run_begin,
	.step_set = pg_step_set,
	.run_finish = pg_run_finish,
	.run_newest = pg_run_newest,
	.run_steps = pg_run_steps,
	.run_list = pg_run_list,
	.history_tip_set = pg_history_tip_set,
	.history_tip = pg_history_tip,
	.history_tip_replace = pg_history_tip_replace,
	.commit = pg_commit,
	.plan_consumed = pg_plan_consumed,
	.consume_plan = pg_consume_plan,
	.approve = pg_approve,
	.approvals = pg_approvals,
	.dump = pg_dump,
	.load = pg_load,
};
