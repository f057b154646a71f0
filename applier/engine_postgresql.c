/*
 * The PostgreSQL engine: a store's servers are the nodes of one streaming
 * replication setup, reached through psqlODBC.
 *
 * The store's databases (xds, lis) are databases inside one cluster per
 * server, and everything that matters here -- recovery, timeline, WAL
 * position, default_transaction_read_only -- belongs to the cluster, not to
 * a database.  So every statement runs on the connection's own database
 * (connection strings name Database=postgres) and the store's databases
 * are only checked to exist (pg_database).  Physical replication copies
 * the whole cluster, so a database missing on one server means that server
 * is not a copy of the others: it is reported per database ("missing").
 *
 * The probe also checks that the servers belong together: each reports
 * its cluster's system_identifier (pg_control_system(), in the same
 * statement as pg_is_in_recovery()), and a server whose identifier is not
 * the reference primary's -- or, with no primary to measure against, not
 * the one a strict majority of the reachable servers report -- is observed
 * with role unknown, so no plan promotes it; check_target refuses it too.
 *
 * The steps of a move (DESIGN.md section 5) become:
 *   fence     ALTER SYSTEM SET default_transaction_read_only = on and a
 *             reload, ALTER DATABASE ... ALLOW_CONNECTIONS false for each
 *             of the store's databases, terminate client backends, then
 *             verify that no store database takes connections and, from a
 *             second session (opened before the first change, ahead of
 *             the run when it can be: engine_preconnect, and spared),
 *             that a write is refused.
 *             default_transaction_read_only alone is advisory (any client
 *             can SET it off in its own session); a database that refuses
 *             connections cannot be written by anyone, and only its owner
 *             or a superuser can allow them again.  The catalog change
 *             replicates to the standbys (ALTER SYSTEM does not), so
 *             promote allows connections again on the new primary, and
 *             unfence undoes both halves.
 *   catch_up  the fenced primary's pg_current_wal_lsn() once, then the
 *             target's pg_last_wal_replay_lsn() every millisecond (10 ms
 *             after the first 100 ms) until it has replayed that far.
 *   promote   pg_promote(false) and our own poll of pg_is_in_recovery()
 *             at the same pace (pg_promote(true) polls at 100 ms), a
 *             reset of a fence the target may carry (the replicated
 *             ALLOW_CONNECTIONS false included), then, once it takes
 *             writes, a re-read of its role and a CHECKPOINT.
 *   demote    impossible online: the old primary stays fenced (fenced
 *             again when either half is missing) and the follow-ups say
 *             how to re-seed it.
 *
 * The write-unavailable window (engine.window_opened/closed) opens at the
 * fence's first change and closes when the new primary takes connections
 * again: checks, sessions and the CHECKPOINT are kept out of it (a target
 * that carries a fence of its own still gets its verifying session inside
 * the window).
 *
 * Privileges: ALTER SYSTEM, pg_promote(), CHECKPOINT and terminating other
 * roles' backends need a superuser (or, from PostgreSQL 15, the matching
 * GRANTs); the probe's views need pg_monitor.
 *
 * One session per server is kept in the engine's private data and reused
 * across steps; a session on which a statement failed is closed (its log
 * absorbed first) and reopened on next use, since the failure may have
 * been the connection.  Every statement moves to the engine's log as soon
 * as it ran, so that the applier journals the statements of a step in the
 * order they were sent, whichever session sent them.  Polling loops are
 * journaled as one entry ("... -- polled N times") whose duration is the
 * whole wait.
 */
#include "applier/engine.h"
#include "common/buf.h"
#include "common/util.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

/* Catch-up and promotion are looked at every millisecond for their first
 * 100 ms (a switchover's usual wait; each look is a round trip and sleep,
 * 2 to 4 ms in all on a small VM, so the promoting server keeps its CPU),
 * then every 10 ms: a long wait does not keep a session busy nor grow the
 * statement log at hundreds of looks a second. */
#define PG_POLL_FAST_MS 1
#define PG_POLL_SLOW_MS 10
#define PG_POLL_FAST_FOR_MS 100
#define PG_PROMOTE_DEFAULT_TIMEOUT_MS 60000
/* A reload reaches sessions asynchronously: how long a verification waits
 * for a new session to see it, and how often it looks. */
#define PG_RELOAD_WAIT_MS 1000
#define PG_RELOAD_POLL_MS 2
/* How long fence waits for the terminated backends to exit (a backend
 * still running after pg_terminate_backend() returns could still commit),
 * and how often it looks. */
#define PG_TERMINATE_WAIT_MS 5000
#define PG_TERMINATE_POLL_MS 2

#define SQL_IN_RECOVERY "SELECT pg_is_in_recovery()"
/* The role and the cluster's identity in one round trip: initdb draws the
 * system identifier and every streaming standby (pg_basebackup) keeps it,
 * so servers that belong together report the same one. */
#define SQL_IDENTITY "SELECT pg_is_in_recovery(), system_identifier FROM pg_control_system()"
#define SQL_SHOW_READ_ONLY "SHOW default_transaction_read_only"
#define SQL_DATABASES "SELECT datname, datallowconn FROM pg_database"
/* The timeline of the current WAL insert position: pg_control_checkpoint()
 * only shows the timeline of the last checkpoint, which lags right after a
 * promotion that was not followed by one.  The WAL file name starts with
 * the timeline in 8 hex digits. */
#define SQL_PRIMARY_POSITION \
	"SELECT lsn, pg_walfile_name(lsn) FROM pg_current_wal_lsn() AS lsn"
#define SQL_REPLICATION \
	"SELECT application_name, client_addr, state, sync_state, replay_lsn, " \
	"pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn) FROM pg_stat_replication " \
	"ORDER BY application_name"
#define SQL_STANDBY_POSITION "SELECT pg_last_wal_replay_lsn(), pg_is_wal_replay_paused()"
#define SQL_WAL_RECEIVER \
	"SELECT status, received_tli, sender_host, sender_port FROM pg_stat_wal_receiver"
#define SQL_CHECKPOINT_TIMELINE "SELECT timeline_id FROM pg_control_checkpoint()"
#define SQL_CURRENT_LSN "SELECT pg_current_wal_lsn()"
#define SQL_REPLAY_LSN "SELECT pg_last_wal_replay_lsn()"
#define SQL_REPLAY_PAUSED "SELECT pg_is_wal_replay_paused()"
#define SQL_READ_ONLY_OVERRIDES \
	"SELECT d.datname, r.rolname, c FROM pg_db_role_setting s " \
	"LEFT JOIN pg_database d ON d.oid = s.setdatabase " \
	"LEFT JOIN pg_roles r ON r.oid = s.setrole, unnest(s.setconfig) AS c " \
	"WHERE c LIKE 'default_transaction_read_only=%'"
#define SQL_FENCE "ALTER SYSTEM SET default_transaction_read_only = on"
#define SQL_UNFENCE "ALTER SYSTEM RESET default_transaction_read_only"
#define SQL_RELOAD "SELECT pg_reload_conf()"
#define SQL_CURRENT_DATABASE "SELECT current_database()"
#define SQL_SESSION_READ_WRITE "SET default_transaction_read_only = off"
/* Back to the server's own setting once the catalog changes are made: the
 * session goes on reading roles (SHOW default_transaction_read_only) for
 * the later steps, which must see what any client sees. */
#define SQL_SESSION_RESET "RESET default_transaction_read_only"
/* The fence's catalog changes commit locally: with a synchronous standby
 * that froze or is cut off, a commit waiting for it would hold the fence
 * (or its undo) until the deadline cut the session. */
#define SQL_LOCAL_COMMIT "SET synchronous_commit = local"
/* Every client session but cmsctl's own two: the one that fences and the
 * verifier (its pid, %s), opened before the fence. */
#define SQL_TERMINATE \
	"SELECT pid, pg_terminate_backend(pid) FROM pg_stat_activity " \
	"WHERE pid <> pg_backend_pid() AND pid <> %s AND backend_type = 'client backend'"
/* The same sessions counted, before the window: a backend's first look
 * at pg_stat_activity fills its caches of the view's catalog entries
 * (5 to 8 ms measured on a local server, against 1 to 2 ms for the next
 * look), which the terminate inside the window then finds filled. */
#define SQL_SESSIONS_TO_END \
	"SELECT count(*) FROM pg_stat_activity " \
	"WHERE pid <> pg_backend_pid() AND pid <> %s AND backend_type = 'client backend'"
#define SQL_BACKEND_PID "SELECT pg_backend_pid()"
/* A write attempt: every CREATE is refused in a read-only transaction
 * ("cannot execute CREATE TABLE in a read-only transaction", SQLSTATE
 * 25006), temporary tables included.  Should the fence not have taken,
 * the table lives only as long as the verification session.  (Assigning a
 * transaction id, txid_current(), is no test: PostgreSQL 15 allows it in
 * a read-only transaction, refusing it only during recovery.) */
#define SQL_WRITE_PROBE "CREATE TEMP TABLE cmsctl_fence_probe ()"
#define SQL_PROMOTE "SELECT pg_promote(false)"
#define SQL_CHECKPOINT "CHECKPOINT"

struct pg_node {
	const struct server *srv; /* borrowed from the store (same index: engine_session) */
	bool known;               /* the fields below hold a probe's or a step's reading */
	bool reachable;
	bool in_recovery;
	bool has_lsn;
	uint64_t lsn;             /* last known WAL position (insert or replay) */
	const char *lsn_what;     /* where lsn came from, for follow-ups */
	/* check_target readies a standby for its promotion while it is idle,
	 * before the window opens: ready_db is the session it did so on (NULL:
	 * not done, or the session was dropped since), ready_ro what SHOW
	 * default_transaction_read_only said there. */
	struct db *ready_db;
	bool ready_ro;
	/* The fence left its session's own read-only override set: RESET
	 * outside the window (node_session, once the window has closed). */
	bool reset_pending;
	/* catch_up saw this standby replay everything the fenced primary had */
	bool caught_up;
};

struct pg_priv {
	struct pg_node *nodes;    /* one per store server, config order */
	size_t nnodes;
	/* The cluster the last probe found the store in: the system
	 * identifier of its reference server (whose it is, for messages), or
	 * NULL when no probe ran or no reference could be told; split when
	 * the servers disagree with neither a primary nor a majority. */
	char *ref_sysid;
	const char *ref_whose;
	bool split;
	/* Between a fence's first change and the promoted target taking
	 * writes: node_session leaves pending tidying for later. */
	bool in_window;
	/* A fence by this engine verified every database of the store closed
	 * to connections on the old primary. */
	bool fenced_all;
};

/* ---- small parsers: every value from a server is checked ---- */

/* psqlODBC renders booleans as 1/0 (BoolsAsChar); psql and SHOW as t/f,
 * on/off. */
static int parse_bool(const char *s, bool *out)
{
	static const char *const yes[] = { "1", "t", "true", "on" };
	static const char *const no[] = { "0", "f", "false", "off" };
	size_t i;

	if (!s)
		return -1;
	for (i = 0; i < ARRAY_SIZE(yes); i++) {
		if (strcasecmp(s, yes[i]) == 0) {
			*out = true;
			return 0;
		}
		if (strcasecmp(s, no[i]) == 0) {
			*out = false;
			return 0;
		}
	}
	return -1;
}

static int parse_hex32(const char *s, size_t n, uint32_t *out)
{
	uint32_t v = 0;
	size_t i;

	if (n == 0 || n > 8)
		return -1;
	for (i = 0; i < n; i++) {
		char c = s[i];
		uint32_t d;

		if (c >= '0' && c <= '9')
			d = (uint32_t)(c - '0');
		else if (c >= 'a' && c <= 'f')
			d = (uint32_t)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			d = (uint32_t)(c - 'A' + 10);
		else
			return -1;
		v = (v << 4) | d;
	}
	*out = v;
	return 0;
}

/* "16/B374D848" -> 0x16B374D848. */
static int parse_lsn(const char *s, uint64_t *out)
{
	const char *slash;
	uint32_t hi, lo;

	if (!s || !(slash = strchr(s, '/')))
		return -1;
	if (parse_hex32(s, (size_t)(slash - s), &hi) < 0 ||
	    parse_hex32(slash + 1, strlen(slash + 1), &lo) < 0)
		return -1;
	*out = ((uint64_t)hi << 32) | lo;
	return 0;
}

static void format_lsn(char out[24], uint64_t lsn)
{
	snprintf(out, 24, "%" PRIX32 "/%" PRIX32, (uint32_t)(lsn >> 32), (uint32_t)lsn);
}

static int parse_timeline(const char *s, int64_t *out)
{
	char *end;
	unsigned long long v;

	if (!s || *s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end || v == 0 || v > UINT32_MAX)
		return -1;
	*out = (int64_t)v;
	return 0;
}

/* pg_control_system().system_identifier: a bigint, as decimal digits. */
static bool valid_sysid(const char *s)
{
	if (!s)
		return false;
	if (*s == '-')
		s++;
	return *s && strspn(s, "0123456789") == strlen(s) && strlen(s) <= 20;
}

/* The timeline of a WAL file name: its first 8 of 24 hex digits. */
static int parse_walfile_timeline(const char *s, int64_t *out)
{
	uint32_t tli, ignored;

	if (!s || strlen(s) != 24 || parse_hex32(s, 8, &tli) < 0 ||
	    parse_hex32(s + 8, 8, &ignored) < 0 || parse_hex32(s + 16, 8, &ignored) < 0 || tli == 0)
		return -1;
	*out = tli;
	return 0;
}



/* The value of keyword key (case-insensitive) in an ODBC connection string,
 * braces removed; NULL when absent.  Caller frees. */
static char *conn_attr(const char *connstr, const char *key)
{
	size_t klen = strlen(key);
	const char *p = connstr;

	while (p && *p) {
		const char *eq, *end;
		struct buf v = BUF_INIT;

		while (*p == ';' || *p == ' ')
			p++;
		eq = strchr(p, '=');
		if (!eq)
			return NULL;
		if (*eq && eq[1] == '{') {
			for (end = eq + 2; *end; end++) {
				if (*end == '}' && end[1] == '}') {
					buf_addch(&v, '}');
					end++;
					continue;
				}
				if (*end == '}')
					break;
				buf_addch(&v, *end);
			}
			if (*end)
				end++;
		} else {
			end = strchr(eq + 1, ';');
			if (!end)
				end = eq + strlen(eq);
			buf_add(&v, eq + 1, (size_t)(end - eq - 1));
		}
		if ((size_t)(eq - p) == klen && strncasecmp(p, key, klen) == 0)
			return buf_detach(&v, NULL);
		buf_free(&v);
		p = strchr(end, ';');
	}
	return NULL;
}

/* Whether server srv is the one listening at host:port, by its connection
 * string (psqlODBC: Server/Servername, Port, default 5432). */
static bool server_listens_at(const struct server *srv, const char *host, const char *port)
{
	char *h, *p;
	bool match;

	if (!srv->connection || !host)
		return false;
	h = conn_attr(srv->connection, "Server");
	if (!h)
		h = conn_attr(srv->connection, "Servername");
	p = conn_attr(srv->connection, "Port");
	match = h && strcasecmp(h, host) == 0 &&
		strcmp(p && *p ? p : "5432", port && *port ? port : "5432") == 0;
	free(h);
	free(p);
	return match;
}

/* ---- sessions ---- */

static struct pg_node *find_node(struct engine *e, const char *name, struct cms_error *err)
{
	struct pg_priv *pp = e->priv;
	size_t i;

	for (i = 0; name && i < pp->nnodes; i++) {
		if (strcmp(pp->nodes[i].srv->name, name) == 0)
			return &pp->nodes[i];
	}
	cms_error_set(err, CMS_ERROR, "server '%s' is not a server of store '%s'",
		      name ? name : "", e->store->name);
	return NULL;
}

/* A node's session (engine_session: its server's, reused until dropped),
 * and its closing, keeping its statements in the engine's log. */
static void drop_session(struct engine *e, struct pg_node *n)
{
	struct pg_priv *pp = e->priv;

	if (n) {
		engine_session_drop(e, (size_t)(n - pp->nodes));
		n->ready_db = NULL;
		n->reset_pending = false; /* a new session starts without the override */
	}
}

static int run(struct engine *e, struct db *db, const char *sql, struct db_result **out,
	       struct cms_error *err);
static int prepare_writes(struct engine *e, struct db *db, struct cms_error *err);

/* Resets cmsctl's own read-write setting of db, n's session, which what
 * (a step) set: the session then reads roles as any client does. */
static int reset_own_setting(struct engine *e, struct pg_node *n, struct db *db, const char *what,
			     struct cms_error *err)
{
	int rc = run(e, db, SQL_SESSION_RESET, NULL, err);

	if (rc < 0)
		cms_error_prefix(err, "cannot reset cmsctl's own read-write setting of its session "
				 "to server '%s' after %s", n->srv->name, what);
	return rc;
}

static int node_session(struct engine *e, struct pg_node *n, struct db **out, struct cms_error *err)
{
	struct pg_priv *pp = e->priv;
	int rc;

	if ((rc = engine_session(e, (size_t)(n - pp->nodes), out, err)) < 0)
		return rc;
	if (n->reset_pending && !pp->in_window) {
		if ((rc = reset_own_setting(e, n, *out, "the fence", err)) < 0)
			return rc;
		n->reset_pending = false;
	}
	return 0;
}

/* Runs one statement and moves it to the engine's log at once, so that
 * the journal keeps the order statements were sent in across sessions
 * (and a session dropped later has nothing left to reorder). */
static int run(struct engine *e, struct db *db, const char *sql, struct db_result **out,
	       struct cms_error *err)
{
	return engine_exec(e, db, NULL, sql, out, err);
}

/* run() for a statement that acts on one database of the store. */
static int run_on(struct engine *e, struct db *db, const char *database, const char *sql,
		  struct cms_error *err)
{
	return engine_exec(e, db, database, sql, NULL, err);
}

static int run_value(struct engine *e, struct db *db, const char *sql, char **out,
		     struct cms_error *err)
{
	return engine_query_value(e, db, sql, out, err);
}

static int64_t poll_interval(int64_t start)
{
	return cms_monotonic_ms() - start < PG_POLL_FAST_FOR_MS ? PG_POLL_FAST_MS : PG_POLL_SLOW_MS;
}

/* Replaces the engine's log entries from index from on (all the same
 * polled statement) with one entry whose duration is the whole wait. */
static void collapse_polls(struct engine *e, size_t from, int64_t waited_ms)
{
	struct db_stmt_log *first;
	size_t count, i;
	char *sql;

	if (e->nlog <= from + 1)
		return;
	count = e->nlog - from;
	first = &e->log[from];
	sql = xasprintf("%s -- polled %zu times", first->sql, count);
	free(first->sql);
	first->sql = sql;
	first->duration_ms = waited_ms;
	first->ok = e->log[e->nlog - 1].ok;
	for (i = from + 1; i < e->nlog; i++) {
		free(e->log[i].label);
		free(e->log[i].database);
		free(e->log[i].sql);
	}
	e->nlog = from + 1;
}

static int query_bool(struct engine *e, struct db *db, const char *sql, bool *out, struct cms_error *err)
{
	char *v = NULL;
	int rc;

	if ((rc = run_value(e, db, sql, &v, err)) < 0)
		return rc;
	if (parse_bool(v, out) < 0)
		rc = cms_error_set(err, CMS_ERROR, "server '%s' answered '%s' to '%s', not a boolean",
				   db->label, v ? v : "NULL", sql);
	free(v);
	return rc;
}

/* *out is 0 and *isnull true for SQL NULL. */
static int query_lsn(struct engine *e, struct db *db, const char *sql, uint64_t *out, bool *isnull,
		     struct cms_error *err)
{
	char *v = NULL;
	int rc;

	*out = 0;
	*isnull = false;
	if ((rc = run_value(e, db, sql, &v, err)) < 0)
		return rc;
	if (!v)
		*isnull = true;
	else if (parse_lsn(v, out) < 0)
		rc = cms_error_set(err, CMS_ERROR, "server '%s' answered '%s' to '%s', not a WAL position",
				   db->label, v, sql);
	free(v);
	return rc;
}

/* SQL_IDENTITY: whether n is in recovery, and its cluster's system
 * identifier (*sysid, caller frees). */
static int query_identity(struct engine *e, struct db *db, bool *in_recovery, char **sysid,
			  struct cms_error *err)
{
	struct db_result *res = NULL;
	const char *rec, *id;
	int rc;

	*sysid = NULL;
	if ((rc = run(e, db, SQL_IDENTITY, &res, err)) < 0)
		return rc;
	rec = res->nrows && res->ncols >= 2 ? db_result_get(res, 0, 0) : NULL;
	id = res->nrows && res->ncols >= 2 ? db_result_get(res, 0, 1) : NULL;
	if (parse_bool(rec, in_recovery) < 0)
		rc = cms_error_set(err, CMS_ERROR, "server '%s' answered '%s' to '%s', not a boolean",
				   db->label, rec ? rec : "NULL", SQL_IDENTITY);
	else if (!valid_sysid(id))
		rc = cms_error_set(err, CMS_ERROR, "server '%s' answered '%s' as system_identifier, not a "
				   "system identifier", db->label, id ? id : "NULL");
	else
		*sysid = xstrdup(id);
	db_result_free(res);
	return rc;
}

/* Waits (up to PG_RELOAD_WAIT_MS) until session v sees
 * default_transaction_read_only == want: a reload reaches sessions
 * asynchronously, each at its next statement once its backend took the
 * signal.  *seen is what it last saw. */
static int poll_read_only(struct engine *e, struct db *v, bool want, bool *seen,
			  struct cms_error *err)
{
	int64_t start = cms_monotonic_ms();
	size_t from;
	int rc;

	from = e->nlog;
	for (;;) {
		if ((rc = query_bool(e, v, SQL_SHOW_READ_ONLY, seen, err)) < 0)
			break;
		if (*seen == want || cms_monotonic_ms() - start >= PG_RELOAD_WAIT_MS)
			break;
		engine_sleep_ms(PG_RELOAD_POLL_MS);
	}
	collapse_polls(e, from, cms_monotonic_ms() - start);
	return rc;
}

/* Opens a new session to n and polls it with poll_read_only.  *out is the
 * open session (the caller closes it with close_verifier). */
static int wait_read_only(struct engine *e, struct pg_node *n, bool want, struct db **out,
			  bool *seen, struct cms_error *err)
{
	int rc;

	*out = NULL;
	if ((rc = e->connect(out, e->store, n->srv, e->connect_ctx, err)) < 0)
		return rc;
	return poll_read_only(e, *out, want, seen, err);
}

static void close_verifier(struct engine *e, struct db *v)
{
	if (!v)
		return;
	engine_absorb_log(e, v);
	db_close(v);
}

/* Whether a failure message is PostgreSQL refusing a write in a read-only
 * transaction (SQLSTATE 25006). */
static bool is_read_only_refusal(const char *msg)
{
	return msg && (strstr(msg, "25006") || strstr(msg, "read-only transaction"));
}

/* ---- probe ---- */

static void obs_unreachable(struct server_obs *so, const struct store *st, const char *why)
{
	size_t i;

	so->reachable = false;
	so->error = xstrdup(why && *why ? why : "unreachable");
	so->role = OBS_UNKNOWN;
	so->lag_bytes = -1;
	so->ndbs = st->ndatabases;
	so->dbs = xcalloc(st->ndatabases ? st->ndatabases : 1, sizeof(*so->dbs));
	for (i = 0; i < st->ndatabases; i++) {
		so->dbs[i].name = xstrdup(st->databases[i]);
		so->dbs[i].role = OBS_UNKNOWN;
	}
}

/* What one server said, beyond what server_obs holds, for the cross-server
 * pass. */
struct pg_reading {
	bool in_recovery;
	bool paused;
	char *sysid;               /* pg_control_system().system_identifier */
	char *receiver_status;     /* pg_stat_wal_receiver.status, or NULL */
	char *sender_host, *sender_port;
	struct db_result *replication; /* pg_stat_replication on a primary */
	bool *present;             /* per store database */
};

static void reading_free(struct pg_reading *r)
{
	free(r->sysid);
	free(r->receiver_status);
	free(r->sender_host);
	free(r->sender_port);
	db_result_free(r->replication);
	free(r->present);
	memset(r, 0, sizeof(*r));
}

static int probe_primary(struct engine *e, struct db *db, struct server_obs *so, struct pg_reading *r,
			 struct cms_error *err)
{
	struct db_result *res = NULL;
	const char *lsn, *walfile;
	int rc;

	if ((rc = run(e, db, SQL_PRIMARY_POSITION, &res, err)) < 0)
		goto done;
	lsn = db_result_get(res, 0, 0);
	walfile = db_result_get(res, 0, 1);
	if (parse_lsn(lsn, &so->position) < 0 || parse_walfile_timeline(walfile, &so->epoch) < 0) {
		rc = cms_error_set(err, CMS_ERROR,
				   "server '%s' answered '%s', '%s' to '%s', not a WAL position and file",
				   db->label, lsn ? lsn : "NULL", walfile ? walfile : "NULL",
				   SQL_PRIMARY_POSITION);
		goto done;
	}
	if (e->probe_roles_only)
		goto done; /* r->replication stays NULL: no standby's state from here */
	if ((rc = run(e, db, SQL_REPLICATION, &r->replication, err)) < 0)
		goto done;
	if (r->replication->nrows && r->replication->ncols < 6) {
		rc = cms_error_set(err, CMS_ERROR, "server '%s' answered %zu columns to '%s', not 6",
				   db->label, r->replication->ncols, SQL_REPLICATION);
		goto done;
	}
done:
	db_result_free(res);
	return rc;
}

static int probe_standby(struct engine *e, struct db *db, struct server_obs *so, struct pg_reading *r,
			 struct cms_error *err)
{
	struct db_result *res = NULL;
	const char *v;
	int rc;

	if ((rc = run(e, db, SQL_STANDBY_POSITION, &res, err)) < 0)
		goto done;
	v = db_result_get(res, 0, 0);
	/* NULL: nothing replayed yet (a standby still restoring a base backup). */
	if ((v && parse_lsn(v, &so->position) < 0) || parse_bool(db_result_get(res, 0, 1), &r->paused) < 0) {
		rc = cms_error_set(err, CMS_ERROR, "server '%s' answered '%s', '%s' to '%s'",
				   db->label, v ? v : "NULL",
				   db_result_get(res, 0, 1) ? db_result_get(res, 0, 1) : "NULL",
				   SQL_STANDBY_POSITION);
		goto done;
	}
	db_result_free(res);
	res = NULL;
	/* No row while the WAL receiver is not running (primary down, or
	 * restoring from an archive). */
	if ((rc = run(e, db, SQL_WAL_RECEIVER, &res, err)) < 0)
		goto done;
	if (res->nrows > 0) {
		r->receiver_status = xstrdup(db_result_get(res, 0, 0));
		v = db_result_get(res, 0, 1);
		if (v && parse_timeline(v, &so->epoch) < 0) {
			rc = cms_error_set(err, CMS_ERROR, "server '%s' answered '%s' as received_tli, not a timeline",
					   db->label, v);
			goto done;
		}
		r->sender_host = xstrdup(db_result_get(res, 0, 2));
		r->sender_port = xstrdup(db_result_get(res, 0, 3));
	}
	if (so->epoch == 0) {
		char *tli = NULL;

		if ((rc = run_value(e, db, SQL_CHECKPOINT_TIMELINE, &tli, err)) < 0)
			goto done;
		if (parse_timeline(tli, &so->epoch) < 0)
			rc = cms_error_set(err, CMS_ERROR, "server '%s' answered '%s' as timeline_id, not a timeline",
					   db->label, tli ? tli : "NULL");
		free(tli);
	}
done:
	db_result_free(res);
	return rc;
}

/* Asks one server everything the probe needs.  Fails on the first
 * statement that fails: the server is then reported unreachable with why. */
static int probe_server(struct engine *e, struct pg_node *n, struct server_obs *so,
			struct pg_reading *r, bool *answered, struct cms_error *err)
{
	const struct store *st = e->store;
	struct db_result *dbs = NULL;
	struct db *db;
	size_t i, j;
	bool missing = false, *closed = NULL;
	int rc;

	if ((rc = node_session(e, n, &db, err)) < 0)
		return rc;
	*answered = true;
	/* A standby check_target readied for a promotion that did not come:
	 * its session's own read-write setting must not pass for the
	 * server's. */
	if (n->ready_db == db) {
		if ((rc = reset_own_setting(e, n, db, "check_target", err)) < 0)
			return rc;
		n->ready_db = NULL;
	}
	if ((rc = query_identity(e, db, &r->in_recovery, &r->sysid, err)) < 0 ||
	    (rc = query_bool(e, db, SQL_SHOW_READ_ONLY, &so->read_only, err)) < 0 ||
	    (rc = run(e, db, SQL_DATABASES, &dbs, err)) < 0)
		goto done;
	r->present = xcalloc(st->ndatabases ? st->ndatabases : 1, sizeof(bool));
	closed = xcalloc(st->ndatabases ? st->ndatabases : 1, sizeof(bool));
	for (i = 0; i < st->ndatabases; i++) {
		for (j = 0; j < dbs->nrows; j++) {
			const char *name = db_result_get(dbs, j, 0);
			const char *allow = dbs->ncols > 1 ? db_result_get(dbs, j, 1) : NULL;
			bool on = true;

			if (name && strcmp(name, st->databases[i]) == 0) {
				r->present[i] = true;
				/* A store database closed to connections: fenced. */
				if (allow && parse_bool(allow, &on) == 0 && !on)
					closed[i] = true;
			}
		}
		if (!r->present[i])
			missing = true;
	}
	if (r->in_recovery)
		rc = probe_standby(e, db, so, r, err);
	else
		rc = probe_primary(e, db, so, r, err);
	if (rc < 0)
		goto done;

	so->reachable = true;
	so->answered = true;
	for (i = 0; !r->in_recovery && i < st->ndatabases; i++)
		if (closed[i])
			so->read_only = true;
	if (!r->in_recovery)
		so->role = so->read_only ? OBS_FENCED : OBS_PRIMARY;
	else
		so->role = n->srv->role == SERVER_ROLE_BACKUP ? OBS_BACKUP : OBS_MIRROR;
	so->ndbs = st->ndatabases;
	so->dbs = xcalloc(st->ndatabases ? st->ndatabases : 1, sizeof(*so->dbs));
	for (i = 0; i < st->ndatabases; i++) {
		struct db_obs *d = &so->dbs[i];

		d->name = xstrdup(st->databases[i]);
		d->role = r->present[i] ? so->role : OBS_UNKNOWN;
		d->epoch = so->epoch;
		d->position = so->position;
		d->read_only = so->read_only;
		if (!r->present[i])
			d->state = xstrdup("missing");
		else if (closed[i])
			d->state = xstrdup("connections refused");
	}
	/* The server's role is the consensus of its databases (observe.h):
	 * a server lacking one of them cannot hold the store. */
	if (missing)
		so->role = OBS_UNKNOWN;

	n->known = true;
	n->reachable = true;
	n->in_recovery = r->in_recovery;
	n->has_lsn = true;
	n->lsn = so->position;
	n->lsn_what = r->in_recovery ? "replayed, at probe" : "written, at probe";
done:
	free(closed);
	db_result_free(dbs);
	return rc;
}

/* The row of pg_stat_replication for standby name, or SIZE_MAX. */
static size_t replication_row(const struct db_result *rep, const char *name)
{
	size_t i;

	for (i = 0; rep && i < rep->nrows; i++) {
		const char *app = db_result_get(rep, i, 0);

		if (app && strcmp(app, name) == 0)
			return i;
	}
	return SIZE_MAX;
}

/* Picks the server standbys are measured against: the one writable
 * primary; else, during a switchover, the one fenced primary; with two
 * writable ones (split brain) the configured primary if it is one of them.
 * SIZE_MAX when there is none to trust. */
static size_t pick_reference(const struct store *st, const struct observation *obs,
			     const struct pg_reading *r)
{
	size_t i, found = SIZE_MAX, nprimary = 0, nfenced = 0, fenced = SIZE_MAX;

	for (i = 0; i < obs->nservers; i++) {
		const struct server_obs *so = &obs->servers[i];

		if (!so->reachable || r[i].in_recovery)
			continue;
		if (so->read_only) {
			nfenced++;
			fenced = i;
		} else {
			nprimary++;
			found = i;
		}
	}
	if (nprimary == 1)
		return found;
	if (nprimary == 0)
		return nfenced == 1 ? fenced : SIZE_MAX;
	for (i = 0; i < obs->nservers; i++) {
		const struct server_obs *so = &obs->servers[i];

		if (so->reachable && !r[i].in_recovery && !so->read_only && st->location.primary &&
		    strcmp(so->server, st->location.primary) == 0)
			return i;
	}
	return SIZE_MAX;
}

/* Lag, upstream and replication state: what needs more than one server. */
static void probe_relate(struct engine *e, struct observation *obs, struct pg_reading *r)
{
	struct pg_priv *pp = e->priv;
	size_t ref = pick_reference(e->store, obs, r);
	size_t i, j, row;

	for (i = 0; i < obs->nservers; i++) {
		struct server_obs *so = &obs->servers[i];
		struct buf state = BUF_INIT;

		if (!so->reachable)
			continue;
		if (i == ref) {
			so->lag_bytes = 0;
			continue;
		}
		/* Computed from our own readings rather than taken from the
		 * primary's pg_stat_replication: it needs no matching
		 * application_name, and a standby the primary no longer sees
		 * still gets a lag.  Positions on different timelines are not
		 * comparable (a standby still following a former primary):
		 * unknown. */
		if (!r[i].in_recovery || ref == SIZE_MAX || so->epoch != obs->servers[ref].epoch)
			so->lag_bytes = -1;
		else if (obs->servers[ref].position > so->position)
			so->lag_bytes = (int64_t)(obs->servers[ref].position - so->position);
		else
			so->lag_bytes = 0;
		if (!r[i].in_recovery)
			continue;

		for (j = 0; j < obs->nservers; j++) {
			if (j != i && r[i].sender_host &&
			    server_listens_at(pp->nodes[j].srv, r[i].sender_host, r[i].sender_port)) {
				so->upstream = xstrdup(pp->nodes[j].srv->name);
				break;
			}
		}
		if (!so->upstream && r[i].sender_host)
			so->upstream = xasprintf("%s:%s", r[i].sender_host,
						 r[i].sender_port ? r[i].sender_port : "5432");

		row = ref != SIZE_MAX ? replication_row(r[ref].replication, so->server) : SIZE_MAX;
		if (row != SIZE_MAX) {
			const char *s = db_result_get(r[ref].replication, row, 2);
			const char *sync = db_result_get(r[ref].replication, row, 3);

			buf_adds(&state, s ? s : "unknown");
			if (sync)
				buf_addf(&state, "/%s", sync);
		} else if (r[i].receiver_status) {
			buf_adds(&state, r[i].receiver_status);
		} else {
			buf_adds(&state, "disconnected");
		}
		if (r[i].paused)
			buf_adds(&state, " (replay paused)");
		for (j = 0; j < so->ndbs; j++) {
			if (!so->dbs[j].state)
				so->dbs[j].state = xstrdup(state.ptr);
		}
		buf_free(&state);
	}
}

/* Marks a reachable server that is not of the store's cluster: its role
 * (and each database's) becomes unknown, so no plan promotes it. */
static void mark_foreign(struct server_obs *so, const char *why)
{
	size_t j;

	so->role = OBS_UNKNOWN;
	so->lag_bytes = -1;
	free(so->error);
	so->error = xstrdup(why);
	for (j = 0; j < so->ndbs; j++) {
		so->dbs[j].role = OBS_UNKNOWN;
		free(so->dbs[j].state);
		so->dbs[j].state = xstrdup(why);
	}
}

/* Whether the servers belong together: every reachable server must report
 * the system identifier of the reference server (the primary standbys are
 * measured against).  Without one, the identifier a strict majority of the
 * reachable servers report is the store's; without a majority, no server
 * can be trusted and each reachable one is marked. */
static void probe_same_cluster(struct engine *e, struct observation *obs, struct pg_reading *r)
{
	struct pg_priv *pp = e->priv;
	size_t ref = pick_reference(e->store, obs, r);
	size_t i, j, nreach = 0, best = SIZE_MAX, nbest = 0;
	const char *whose = "the primary's";

	free(pp->ref_sysid);
	pp->ref_sysid = NULL;
	pp->ref_whose = NULL;
	pp->split = false;
	for (i = 0; i < obs->nservers; i++)
		nreach += obs->servers[i].reachable && r[i].sysid;
	if (ref == SIZE_MAX || !r[ref].sysid) {
		ref = SIZE_MAX;
		whose = "the majority's";
		for (i = 0; i < obs->nservers; i++) {
			size_t n = 0;

			if (!obs->servers[i].reachable || !r[i].sysid)
				continue;
			for (j = 0; j < obs->nservers; j++)
				n += obs->servers[j].reachable && r[j].sysid && !strcmp(r[j].sysid, r[i].sysid);
			if (n > nbest) {
				nbest = n;
				best = i;
			}
		}
		if (best != SIZE_MAX && 2 * nbest > nreach)
			ref = best;
	}
	if (ref != SIZE_MAX) {
		pp->ref_sysid = xstrdup(r[ref].sysid);
		pp->ref_whose = whose;
	} else if (nreach > 0) {
		pp->split = nbest < nreach;
	}
	for (i = 0; i < obs->nservers; i++) {
		struct server_obs *so = &obs->servers[i];
		char *why;

		if (!so->reachable || !r[i].sysid)
			continue;
		if (ref != SIZE_MAX && strcmp(r[i].sysid, r[ref].sysid) != 0)
			why = xasprintf("belongs to another cluster (system identifier %s, %s is %s)",
					r[i].sysid, whose, r[ref].sysid);
		else if (ref == SIZE_MAX && pp->split)
			why = xasprintf("cannot tell its cluster (system identifier %s): the servers "
					"disagree, with no primary and no majority", r[i].sysid);
		else
			continue;
		mark_foreign(so, why);
		free(why);
	}
}

static int pg_probe(struct engine *e, struct observation *out, struct cms_error *err)
{
	struct pg_priv *pp = e->priv;
	struct pg_reading *r;
	size_t i, j;

	(void)err; /* an unreachable server is an observation, not a failure */
	/* A probe reads roles as clients see them: no window is open now. */
	pp->in_window = false;
	out->servers = xcalloc(pp->nnodes ? pp->nnodes : 1, sizeof(*out->servers));
	out->nservers = pp->nnodes;
	r = xcalloc(pp->nnodes ? pp->nnodes : 1, sizeof(*r));
	for (i = 0; i < pp->nnodes; i++) {
		struct pg_node *n = &pp->nodes[i];
		struct server_obs *so = &out->servers[i];
		struct cms_error serr = CMS_ERROR_INIT;
		bool answered = false;

		so->server = xstrdup(n->srv->name);
		so->lag_bytes = -1;
		if (probe_server(e, n, so, &r[i], &answered, &serr) < 0) {
			/* Start over from a clean entry: the failure may have
			 * come halfway through. */
			free(so->server);
			free(so->upstream);
			for (j = 0; j < so->ndbs; j++) {
				free(so->dbs[j].name);
				free(so->dbs[j].state);
			}
			free(so->dbs);
			memset(so, 0, sizeof(*so));
			so->server = xstrdup(n->srv->name);
			obs_unreachable(so, e->store, serr.message);
			/* A session connected, or a refusal from the server: up. */
			so->answered = answered || engine_error_answered(&serr);
			reading_free(&r[i]);
			n->known = true;
			n->reachable = false;
			drop_session(e, n);
		}
		cms_error_clear(&serr);
	}
	probe_relate(e, out, r);
	probe_same_cluster(e, out, r);
	for (i = 0; i < pp->nnodes; i++)
		reading_free(&r[i]);
	free(r);
	return 0;
}

/* ---- steps ---- */

static int pg_check_target(struct engine *e, const char *target, struct cms_error *err)
{
	const struct store *st = e->store;
	struct db_result *dbs = NULL;
	struct pg_node *n;
	struct buf missing = BUF_INIT;
	struct db *db;
	struct pg_priv *pp = e->priv;
	char *sysid = NULL;
	size_t i, j, nmissing = 0;
	bool in_recovery;
	int rc;

	if (!(n = find_node(e, target, err)))
		return CMS_ERROR;
	/* Reachability is a precondition of a move: a failure to connect
	 * refuses it (exit 7). */
	if ((rc = node_session(e, n, &db, err)) < 0) {
		rc = engine_refuse_unreachable(err, "target", target);
		goto done;
	}
	if ((rc = query_identity(e, db, &in_recovery, &sysid, err)) < 0)
		goto done;
	if (!in_recovery) {
		rc = cms_error_set(err, CMS_EREFUSED,
				   "server '%s' is not a standby (pg_is_in_recovery() is false): there is nothing to promote",
				   target);
		goto done;
	}
	/* Compared with the cluster the last probe found (apply probes
	 * before its first step); with no probe there is nothing to compare. */
	if (pp->ref_sysid && strcmp(sysid, pp->ref_sysid) != 0) {
		rc = cms_error_set(err, CMS_EREFUSED,
				   "server '%s' belongs to another cluster (system identifier %s, %s is %s)",
				   target, sysid, pp->ref_whose, pp->ref_sysid);
		cms_error_hint(err, "a streaming standby keeps its primary's system identifier: re-seed '%s' "
			       "from the primary (pg_basebackup), or fix its connection string", target);
		goto done;
	}
	if (pp->split) {
		rc = cms_error_set(err, CMS_EREFUSED,
				   "server '%s' cannot be told to belong to the store's cluster: the servers report "
				   "different system identifiers, with no primary and no majority", target);
		goto done;
	}
	if ((rc = run(e, db, SQL_DATABASES, &dbs, err)) < 0)
		goto done;
	for (i = 0; i < st->ndatabases; i++) {
		bool found = false;

		for (j = 0; j < dbs->nrows && !found; j++) {
			const char *name = db_result_get(dbs, j, 0);

			found = name && strcmp(name, st->databases[i]) == 0;
		}
		if (!found) {
			buf_addf(&missing, "%s'%s'", nmissing ? ", " : "", st->databases[i]);
			nmissing++;
		}
	}
	if (nmissing) {
		rc = cms_error_set(err, CMS_EREFUSED, "server '%s' lacks the store's database%s %s",
				   target, nmissing > 1 ? "s" : "", missing.ptr);
		cms_error_hint(err, "a streaming standby copies its whole primary: is '%s' a standby of another cluster?",
			       target);
		goto done;
	}
	/* What the promotion needs and can know before it, read and set now
	 * while the standby is idle and before any fence opens the window
	 * (do_promote): whether its own configuration says read-only (a
	 * server once fenced, re-seeded with it), and the session readied
	 * for the reopening (after the SHOW: it sets the session's own
	 * value). */
	if ((rc = query_bool(e, db, SQL_SHOW_READ_ONLY, &n->ready_ro, err)) < 0 ||
	    (rc = prepare_writes(e, db, err)) < 0)
		goto done;
	n->ready_db = db;
done:
	if (rc < 0)
		drop_session(e, n);
	free(sysid);
	db_result_free(dbs);
	buf_free(&missing);
	return rc;
}

/* The store's databases as an SQL list: 'xds', 'lis'. */
static void add_store_db_list(struct buf *b, const struct store *st)
{
	size_t i;

	for (i = 0; i < st->ndatabases; i++) {
		if (i)
			buf_adds(b, ", ");
		db_add_string_literal(b, st->databases[i]);
	}
}

/* Readies db's session for the catalog changes of a fence or a reopen:
 * it may have started read-only (a server fenced earlier), and ALTER
 * DATABASE is refused in a read-only transaction. */
static int prepare_writes(struct engine *e, struct db *db, struct cms_error *err)
{
	int rc;

	if ((rc = run(e, db, SQL_SESSION_READ_WRITE, NULL, err)) < 0)
		return rc;
	return run(e, db, SQL_LOCAL_COMMIT, NULL, err);
}

/* The store's databases whose ALLOW_CONNECTIONS is not allow, as
 * indexes into the store's list (*out, caller frees; *n of them): what a
 * fence or a reopen has to change.  Only reads. */
static int list_not_set(struct engine *e, struct db *db, bool allow, size_t **out, size_t *n,
			struct cms_error *err)
{
	const struct store *st = e->store;
	struct buf sql = BUF_INIT;
	struct db_result *res = NULL;
	size_t i;
	int rc;

	*out = NULL;
	*n = 0;
	buf_addf(&sql, "SELECT datname FROM pg_database WHERE datallowconn <> %s AND datname IN (",
		 allow ? "true" : "false");
	add_store_db_list(&sql, st);
	buf_adds(&sql, ") ORDER BY datname");
	if ((rc = run(e, db, sql.ptr, &res, err)) < 0)
		goto done;
	*out = xcalloc(res->nrows ? res->nrows : 1, sizeof(**out));
	for (i = 0; i < res->nrows; i++) {
		const char *name = db_result_get(res, i, 0);
		size_t k;

		for (k = 0; k < st->ndatabases && (!name || strcmp(name, st->databases[k])); k++)
			;
		if (k == st->ndatabases) {
			rc = cms_error_set(err, CMS_ERROR, "server '%s' answered '%s' for a database of "
					   "the store", db->label, name ? name : "NULL");
			free(*out);
			*out = NULL;
			*n = 0;
			goto done;
		}
		(*out)[(*n)++] = k;
	}
done:
	db_result_free(res);
	buf_free(&sql);
	return rc;
}

/* ALTER DATABASE ... ALLOW_CONNECTIONS allow, for the n databases of the
 * store at the indexes idx (list_not_set); db's session is ready for
 * writes (prepare_writes).  One statement per database, sent together:
 * one round trip and one transaction, so all of them change or none
 * (ALTER DATABASE may run in a transaction block, but for SET
 * TABLESPACE), and the report names every database it hit. */
static int alter_connections(struct engine *e, struct db *db, bool allow, const size_t *idx,
			     size_t n, struct cms_error *err)
{
	const struct store *st = e->store;
	struct buf sql = BUF_INIT, names = BUF_INIT;
	size_t i;
	int rc;

	if (n == 0)
		return 0;
	for (i = 0; i < n; i++) {
		/* Store database names are plain identifiers (config.c). */
		buf_addf(&sql, "%sALTER DATABASE \"%s\" WITH ALLOW_CONNECTIONS %s", i ? "; " : "",
			 st->databases[idx[i]], allow ? "true" : "false");
		buf_addf(&names, "%s%s", i ? ", " : "", st->databases[idx[i]]);
	}
	rc = run_on(e, db, names.ptr, sql.ptr, err);
	buf_free(&names);
	buf_free(&sql);
	return rc;
}

/* ALTER DATABASE ... ALLOW_CONNECTIONS allow, for each of the store's
 * databases not already so (a promotion of a server that was never fenced
 * sends nothing).  prepared: prepare_writes ran on db already; otherwise
 * it runs before the first change. */
static int set_connections(struct engine *e, struct db *db, bool allow, bool prepared,
			   struct cms_error *err)
{
	size_t *idx = NULL, n = 0;
	int rc;

	if ((rc = list_not_set(e, db, allow, &idx, &n, err)) == 0 && n > 0 &&
	    (prepared || (rc = prepare_writes(e, db, err)) == 0))
		rc = alter_connections(e, db, allow, idx, n, err);
	free(idx);
	return rc;
}

/* How many of the store's databases do not have ALLOW_CONNECTIONS allow:
 * 0 means the setting holds for all of them. */
static int count_not_set(struct engine *e, struct db *db, bool allow, long *out,
			 struct cms_error *err)
{
	struct buf sql = BUF_INIT;
	char *v = NULL;
	int rc;

	buf_addf(&sql, "SELECT count(*) FROM pg_database WHERE datallowconn <> %s AND datname IN (",
		 allow ? "true" : "false");
	add_store_db_list(&sql, e->store);
	buf_addch(&sql, ')');
	if ((rc = run_value(e, db, sql.ptr, &v, err)) == 0) {
		char *end = NULL;

		*out = v ? strtol(v, &end, 10) : -1;
		if (!v || !*v || *end)
			rc = cms_error_set(err, CMS_ERROR, "server '%s' answered '%s' for a count",
					   db->label, v ? v : "NULL");
	}
	free(v);
	buf_free(&sql);
	return rc;
}

/* Refuses to fence when a database or role overrides
 * default_transaction_read_only: sessions there would not see the fence. */
static int check_no_overrides(struct engine *e, struct db *db, const char *server, struct cms_error *err)
{
	struct db_result *res = NULL;
	struct buf who = BUF_INIT;
	size_t i, nbad = 0;
	int rc;

	if ((rc = run(e, db, SQL_READ_ONLY_OVERRIDES, &res, err)) < 0)
		goto done;
	for (i = 0; i < res->nrows; i++) {
		const char *dat = db_result_get(res, i, 0);
		const char *rol = db_result_get(res, i, 1);
		const char *setting = db_result_get(res, i, 2);
		const char *eq = setting ? strchr(setting, '=') : NULL;
		bool on;

		if (eq && parse_bool(eq + 1, &on) == 0 && on)
			continue; /* an override to on does no harm */
		if (nbad++)
			buf_adds(&who, ", ");
		if (dat && rol)
			buf_addf(&who, "role '%s' in database '%s'", rol, dat);
		else if (dat)
			buf_addf(&who, "database '%s'", dat);
		else
			buf_addf(&who, "role '%s'", rol ? rol : "?");
	}
	if (nbad) {
		rc = cms_error_set(err, CMS_EREFUSED,
				   "cannot fence server '%s': default_transaction_read_only is overridden for %s",
				   server, who.ptr);
		cms_error_hint(err, "remove the override (ALTER DATABASE ... RESET default_transaction_read_only, "
			       "ALTER ROLE ... RESET default_transaction_read_only) so that the fence reaches every session");
	}
done:
	db_result_free(res);
	buf_free(&who);
	return rc;
}

/* The fence closes the store's databases to connections: cmsctl's own
 * sessions must be on another database (Database=postgres), or the fence
 * would lock cmsctl out of its verification and of the undo. */
static int check_session_database(struct engine *e, struct db *db, const char *server,
				  struct cms_error *err)
{
	char *cur = NULL;
	size_t i;
	int rc;

	if ((rc = run_value(e, db, SQL_CURRENT_DATABASE, &cur, err)) < 0)
		return rc;
	for (i = 0; cur && i < e->store->ndatabases; i++)
		if (!strcmp(cur, e->store->databases[i])) {
			rc = cms_error_set(err, CMS_EREFUSED, "cannot fence server '%s': cmsctl's "
					   "connection uses database '%s', one of the store's, which the "
					   "fence closes to connections", server, cur);
			cms_error_hint(err, "name another database in the connection (Database=postgres)");
			break;
		}
	free(cur);
	return rc;
}

/* The verifier: a second session to n, opened before the fence so that
 * no connection is made while writes are refused, and its backend pid
 * (*pid, caller frees), which the fence spares. */
static int open_verifier(struct engine *e, struct pg_node *n, struct db **out, char **pid,
			 struct cms_error *err)
{
	int rc;

	*pid = NULL;
	/* A session opened ahead (engine_preconnect) that no longer answers
	 * is replaced by a new one. */
	if (engine_take_spare(e, (size_t)(n - ((struct pg_priv *)e->priv)->nodes), out)) {
		struct cms_error serr = CMS_ERROR_INIT;
		int r;

		/* A session idle since before the lock may have been dropped
		 * silently on the way: it gets a connect's time to answer. */
		db_set_deadline(*out, cms_monotonic_ms() + engine_login_timeout_ms(e->store));
		r = run_value(e, *out, SQL_BACKEND_PID, pid, &serr);
		db_set_deadline(*out, 0);
		if (r == 0)
			goto got;
		cms_error_clear(&serr);
		close_verifier(e, *out);
		*out = NULL;
		free(*pid);
		*pid = NULL;
	}
	if ((rc = e->connect(out, e->store, n->srv, e->connect_ctx, err)) < 0)
		return rc;
	if ((rc = run_value(e, *out, SQL_BACKEND_PID, pid, err)) < 0)
		return rc;
got:
	if (!*pid || !**pid || strspn(*pid, "0123456789") != strlen(*pid))
		return cms_error_set(err, CMS_ERROR, "server '%s' answered '%s' for a backend pid",
				     n->srv->name, *pid ? *pid : "NULL");
	return 0;
}

/* Fences n.  What only reads or prepares (the refusals, the verifier
 * session) comes first; e->window_opened marks the first statement that
 * changes anything, where writes start to be refused. */
static int do_fence(struct engine *e, struct pg_node *n, struct cms_error *err)
{
	const char *name = n->srv->name;
	struct db_result *res = NULL;
	struct cms_error werr = CMS_ERROR_INIT;
	struct pg_priv *pp = e->priv;
	struct db *db, *v = NULL;
	struct buf sql = BUF_INIT;
	char *vpid = NULL;
	size_t *closing = NULL, nclosing = 0;
	bool seen = false;
	size_t i;
	int rc;

	if ((rc = node_session(e, n, &db, err)) < 0)
		goto done;
	if ((rc = check_no_overrides(e, db, name, err)) < 0 ||
	    (rc = check_session_database(e, db, name, err)) < 0 ||
	    (rc = open_verifier(e, n, &v, &vpid, err)) < 0 ||
	    (rc = list_not_set(e, db, false, &closing, &nclosing, err)) < 0)
		goto done;
	buf_addf(&sql, SQL_SESSIONS_TO_END, vpid);
	if ((rc = run(e, db, sql.ptr, NULL, err)) < 0 || (rc = prepare_writes(e, db, err)) < 0)
		goto done;
	buf_reset(&sql);
	e->window_opened = cms_monotonic_ms();
	pp->in_window = true;
	/* Only a catch-up after this fence has seen its changes replayed. */
	for (i = 0; i < pp->nnodes; i++)
		pp->nodes[i].caught_up = false;
	/* The reload first: every backend of the server re-reads its
	 * configuration once signalled, and does so while the databases are
	 * closed and the sessions ended, not after. */
	if ((rc = run(e, db, SQL_FENCE, NULL, err)) < 0 ||
	    (rc = run(e, db, SQL_RELOAD, NULL, err)) < 0 ||
	    (rc = alter_connections(e, db, false, closing, nclosing, err)) < 0)
		goto done;
	/* Sessions opened before the fence keep read-write transactions
	 * running: end them, and wait until each has exited, since a backend
	 * still alive after being signalled could still commit after the
	 * LSN that catch_up reads next. */
	buf_addf(&sql, SQL_TERMINATE, vpid);
	if ((rc = run(e, db, sql.ptr, &res, err)) < 0)
		goto done;
	/* pg_terminate_backend(pid, timeout) would wait in steps of 100 ms
	 * for each backend; signalling all, then polling at 2 ms, keeps the
	 * write-unavailable window short.  Each poll is its own transaction:
	 * a fresh activity snapshot. */
	if (res->nrows > 0) {
		struct buf poll = BUF_INIT;
		int64_t start = cms_monotonic_ms();
		size_t from = e->nlog;
		char *left = NULL;

		buf_adds(&poll, "SELECT count(*) FROM pg_stat_activity WHERE pid IN (");
		for (i = 0; i < res->nrows; i++) {
			const char *pid = db_result_get(res, i, 0);

			if (!pid || !*pid || strspn(pid, "0123456789") != strlen(pid)) {
				buf_free(&poll);
				rc = cms_error_set(err, CMS_ERROR, "server '%s' answered '%s' for a "
						   "backend pid", name, pid ? pid : "NULL");
				goto done;
			}
			buf_addf(&poll, "%s%s", i ? ", " : "", pid);
		}
		buf_addch(&poll, ')');
		for (;;) {
			free(left);
			left = NULL;
			if ((rc = run_value(e, db, poll.ptr, &left, err)) < 0)
				break;
			if (left && !strcmp(left, "0"))
				break;
			if (cms_monotonic_ms() - start > PG_TERMINATE_WAIT_MS) {
				rc = cms_error_set(err, CMS_ERROR,
						   "fence of server '%s' did not take: %s backend%s still "
						   "alive %ds after pg_terminate_backend()", name,
						   left ? left : "?", left && !strcmp(left, "1") ? "" : "s",
						   PG_TERMINATE_WAIT_MS / 1000);
				break;
			}
			engine_sleep_ms(PG_TERMINATE_POLL_MS);
		}
		collapse_polls(e, from, cms_monotonic_ms() - start);
		free(left);
		buf_free(&poll);
		if (rc < 0)
			goto done;
	}

	{
		long open = -1;

		if ((rc = count_not_set(e, db, false, &open, err)) < 0)
			goto done;
		if (open != 0) {
			rc = cms_error_set(err, CMS_ERROR, "fence of server '%s' did not take: %ld of the "
					   "store's databases still take connections", name, open);
			goto done;
		}
	}
	/* Verify from the other session: it never set anything itself, so
	 * the reloaded configuration reaches it as it reaches any client. */
	if ((rc = poll_read_only(e, v, true, &seen, err)) < 0)
		goto done;
	if (!seen) {
		rc = cms_error_set(err, CMS_ERROR,
				   "fence of server '%s' did not take: a second session still has default_transaction_read_only off after %ds",
				   name, PG_RELOAD_WAIT_MS / 1000);
		cms_error_hint(err, "is default_transaction_read_only set on the server's command line?");
		goto done;
	}
	if (run(e, v, SQL_WRITE_PROBE, NULL, &werr) == 0) {
		rc = cms_error_set(err, CMS_ERROR,
				   "fence of server '%s' did not take: a write was accepted in a second session", name);
		goto done;
	}
	if (!is_read_only_refusal(werr.message)) {
		rc = werr.code < 0 ? werr.code : CMS_ERROR;
		cms_error_move(err, &werr);
		cms_error_prefix(err, "cannot verify the fence of server '%s'", name);
		goto done;
	}
	/* cmsctl's own read-write override goes once the window has closed
	 * (node_session): the steps after it read roles through this session. */
	n->reset_pending = true;
	pp->fenced_all = true;
done:
	if (rc < 0)
		pp->in_window = false;
	cms_error_clear(&werr);
	close_verifier(e, v);
	db_result_free(res);
	buf_free(&sql);
	free(closing);
	free(vpid);
	return rc;
}

static int pg_fence(struct engine *e, const char *server, struct cms_error *err)
{
	struct pg_node *n;
	int rc;

	if (!(n = find_node(e, server, err)))
		return CMS_ERROR;
	rc = do_fence(e, n, err);
	if (rc < 0)
		drop_session(e, n);
	return rc;
}

static int pg_unfence(struct engine *e, const char *server, struct cms_error *err)
{
	struct pg_node *n;
	struct db *db, *v = NULL;
	bool seen = true;
	int rc;

	if (!(n = find_node(e, server, err)))
		return CMS_ERROR;
	((struct pg_priv *)e->priv)->in_window = false;
	((struct pg_priv *)e->priv)->fenced_all = false;
	if ((rc = node_session(e, n, &db, err)) < 0)
		goto done;
	if ((rc = set_connections(e, db, true, false, err)) < 0 ||
	    (rc = run(e, db, SQL_UNFENCE, NULL, err)) < 0 ||
	    (rc = run(e, db, SQL_RELOAD, NULL, err)) < 0)
		goto done;
	{
		long closed = -1;

		if ((rc = count_not_set(e, db, true, &closed, err)) < 0)
			goto done;
		if (closed != 0) {
			rc = cms_error_set(err, CMS_ERROR, "unfence of server '%s' did not take: %ld of "
					   "the store's databases still refuse connections", server, closed);
			goto done;
		}
	}
	if ((rc = wait_read_only(e, n, false, &v, &seen, err)) < 0)
		goto done;
	if (seen) {
		rc = cms_error_set(err, CMS_ERROR,
				   "unfence of server '%s' did not take: a new session still has default_transaction_read_only on after %ds",
				   server, PG_RELOAD_WAIT_MS / 1000);
		cms_error_hint(err, "is default_transaction_read_only = on set in postgresql.conf or on the command line?");
		goto done;
	}
	rc = run(e, db, SQL_SESSION_RESET, NULL, err);
done:
	close_verifier(e, v);
	if (rc < 0)
		drop_session(e, n);
	return rc;
}

static int pg_catch_up(struct engine *e, const char *source, const char *target,
		       int64_t timeout_ms, struct cms_error *err)
{
	struct pg_node *src, *tgt;
	struct db *sdb = NULL, *tdb = NULL;
	uint64_t needed = 0, replayed = 0;
	bool isnull = false, paused = false, caught_up = false;
	int64_t start;
	size_t from;
	int rc;

	if (!(src = find_node(e, source, err)) || !(tgt = find_node(e, target, err)))
		return CMS_ERROR;
	if ((rc = node_session(e, src, &sdb, err)) < 0 ||
	    (rc = query_lsn(e, sdb, SQL_CURRENT_LSN, &needed, &isnull, err)) < 0)
		goto done;
	src->has_lsn = true;
	src->lsn = needed;
	src->lsn_what = "written, after the fence";
	if ((rc = node_session(e, tgt, &tdb, err)) < 0)
		goto done;
	start = cms_monotonic_ms();
	from = e->nlog;
	/* The budget holds even inside a poll to a target that stopped
	 * answering: the session is cut at its end. */
	db_set_deadline(tdb, start + timeout_ms);
	for (;;) {
		if ((rc = query_lsn(e, tdb, SQL_REPLAY_LSN, &replayed, &isnull, err)) < 0)
			break;
		if (!isnull && replayed >= needed) {
			caught_up = true;
			break;
		}
		if (cms_monotonic_ms() - start >= timeout_ms)
			break;
		engine_sleep_ms(poll_interval(start));
	}
	db_set_deadline(tdb, 0);
	collapse_polls(e, from, cms_monotonic_ms() - start);
	if (rc < 0)
		goto done;
	tgt->has_lsn = !isnull;
	tgt->lsn = replayed;
	tgt->lsn_what = "replayed, at catch-up";
	tgt->caught_up = caught_up;
	if (!caught_up) {
		char have[24], want[24], within[32];

		if ((rc = query_bool(e, tdb, SQL_REPLAY_PAUSED, &paused, err)) < 0)
			goto done;
		format_lsn(have, replayed);
		format_lsn(want, needed);
		engine_format_ms(within, timeout_ms);
		rc = cms_error_set(err, CMS_EREFUSED,
				   "standby '%s' did not catch up within %s (replayed %s, needed %s)%s",
				   target, within, isnull ? "nothing" : have, want,
				   paused ? ": WAL replay is paused there" : "");
		if (paused)
			cms_error_hint(err, "resume it with SELECT pg_wal_replay_resume() on '%s' if the pause was not deliberate",
				       target);
		goto done;
	}
done:
	if (rc < 0 && rc != CMS_EREFUSED) {
		drop_session(e, src);
		drop_session(e, tgt);
	}
	return rc;
}

/* The last WAL position cmsctl knows of each server, for the follow-up of
 * a forced promotion: what may have been lost. */
static void followup_positions(struct engine *e, const char *target)
{
	struct pg_priv *pp = e->priv;
	struct buf b = BUF_INIT;
	size_t i;

	buf_addf(&b, "forced promotion of '%s': last known WAL positions:", target);
	for (i = 0; i < pp->nnodes; i++) {
		struct pg_node *n = &pp->nodes[i];

		if (n->has_lsn) {
			char lsn[24];

			format_lsn(lsn, n->lsn);
			buf_addf(&b, "%s %s %s (%s)", i ? "," : "", n->srv->name, lsn, n->lsn_what);
		} else {
			buf_addf(&b, "%s %s unknown", i ? "," : "", n->srv->name);
		}
	}
	buf_addf(&b, "; whatever the old primary wrote past the position of '%s' is not on it", target);
	engine_add_followup(e, "%s", b.ptr);
	buf_free(&b);
}

static int do_promote(struct engine *e, struct pg_node *n, bool force, struct cms_error *err)
{
	const char *name = n->srv->name;
	int64_t limit = e->store->policy.catch_up_timeout_ms > 0 ? e->store->policy.catch_up_timeout_ms
								   : PG_PROMOTE_DEFAULT_TIMEOUT_MS;
	struct pg_priv *pp = e->priv;
	struct db *db, *v = NULL;
	bool in_recovery, isnull, promoted, ro, seen;
	size_t *reopen = NULL, nreopen = 0;
	uint64_t lsn;
	int64_t start;
	size_t from;
	bool unsent = true; /* nothing sent yet that changes the server */
	int rc;

	if ((rc = node_session(e, n, &db, err)) < 0 ||
	    (rc = query_bool(e, db, SQL_IN_RECOVERY, &in_recovery, err)) < 0)
		goto done;
	/* What does not need the promotion comes before it, while the
	 * standby is idle (right after it, the new primary is busy ending
	 * recovery and every statement waits): a server once fenced (a former
	 * primary re-seeded with its configuration) carries
	 * default_transaction_read_only = on, which its own configuration
	 * says before as after; and the session is readied for the reopening
	 * (after the SHOW: it sets the session's own value).  check_target
	 * did both on this session already, before the window opened. */
	if (n->ready_db == db) {
		ro = n->ready_ro;
		n->ready_db = NULL; /* the session's override is reset below, after the window */
	} else if ((rc = query_bool(e, db, SQL_SHOW_READ_ONLY, &ro, err)) < 0 ||
		   (rc = prepare_writes(e, db, err)) < 0) {
		goto done;
	}
	/* Which of the store's databases are closed: the fence's ALTER
	 * DATABASE replicated here, and catch-up saw it replayed.  Read on
	 * the idle standby; nothing replicates after the promotion.  (A
	 * forced promotion without catch-up may still replay a change after
	 * this reading: the reopen is checked again once the window closed.) */
	if (in_recovery && n->caught_up && pp->fenced_all) {
		/* All of them: this engine's fence closed every one on the old
		 * primary and checked it, and catch-up saw that replayed here. */
		reopen = xcalloc(e->store->ndatabases ? e->store->ndatabases : 1, sizeof(*reopen));
		for (nreopen = 0; nreopen < e->store->ndatabases; nreopen++)
			reopen[nreopen] = nreopen;
	} else if (in_recovery && (rc = list_not_set(e, db, true, &reopen, &nreopen, err)) < 0) {
		goto done;
	}
	/* Already out of recovery: a resumed apply whose promotion went
	 * through; finish the steps after it. */
	if (in_recovery) {
		if (force) {
			if ((rc = query_lsn(e, db, SQL_REPLAY_LSN, &lsn, &isnull, err)) < 0)
				goto done;
			n->has_lsn = !isnull;
			n->lsn = lsn;
			n->lsn_what = "replayed, at promotion";
			followup_positions(e, name);
		}
		unsent = false;
		if ((rc = engine_may_change(e, err)) < 0 ||
		    (rc = query_bool(e, db, SQL_PROMOTE, &promoted, err)) < 0)
			goto done;
		if (!promoted) {
			rc = cms_error_set(err, CMS_ERROR, "server '%s' refused to promote (pg_promote() returned false)",
					   name);
			goto done;
		}
		start = cms_monotonic_ms();
		from = e->nlog;
		db_set_deadline(db, start + limit);
		for (;;) {
			if ((rc = query_bool(e, db, SQL_IN_RECOVERY, &in_recovery, err)) < 0 || !in_recovery)
				break;
			if (cms_monotonic_ms() - start >= limit)
				break;
			engine_sleep_ms(poll_interval(start));
		}
		db_set_deadline(db, 0);
		collapse_polls(e, from, cms_monotonic_ms() - start);
		if (rc < 0)
			goto done;
		if (in_recovery) {
			char within[32];

			engine_format_ms(within, limit);
			rc = cms_error_set(err, CMS_ERROR,
					   "server '%s' was asked to promote but is still in recovery after %s",
					   name, within);
			cms_error_hint(err, "see the server's log; it may still finish promoting");
			goto done;
		}
	}
	unsent = false;
	if (ro) {
		if ((rc = run(e, db, SQL_UNFENCE, NULL, err)) < 0 ||
		    (rc = run(e, db, SQL_RELOAD, NULL, err)) < 0 ||
		    (rc = wait_read_only(e, n, false, &v, &seen, err)) < 0)
			goto done;
		if (seen) {
			rc = cms_error_set(err, CMS_ERROR,
					   "server '%s' was promoted but stays read-only: default_transaction_read_only is still on",
					   name);
			cms_error_hint(err, "is it set in postgresql.conf or on the command line?");
			goto done;
		}
		close_verifier(e, v);
		v = NULL;
	}
	/* The fence's ALTER DATABASE ... ALLOW_CONNECTIONS false replicated
	 * here before the promotion: allow them again.  A server found out
	 * of recovery (a resumed apply) is read now. */
	if ((rc = reopen ? alter_connections(e, db, true, reopen, nreopen, err)
					       : set_connections(e, db, true, true, err)) < 0)
		goto done;
	/* Clients can write from here on: what follows only checks and tidies. */
	e->window_closed = cms_monotonic_ms();
	pp->in_window = false;
	/* Whatever replayed after the reading above (a promotion that no
	 * catch-up after this engine's checked fence preceded) is reopened
	 * too. */
	if (reopen && !(n->caught_up && pp->fenced_all) &&
	    (rc = set_connections(e, db, true, true, err)) < 0)
		goto done;
	/* The promotion is done: a session that cannot reset its own setting
	 * is dropped (the next step connects again), not a failed step. */
	{
		struct cms_error rerr = CMS_ERROR_INIT;

		if (run(e, db, SQL_SESSION_RESET, NULL, &rerr) < 0) {
			drop_session(e, n);
			if ((rc = node_session(e, n, &db, err)) < 0)
				goto done;
		}
		cms_error_clear(&rerr);
	}
	/* Trust no return value: read the role again. */
	if ((rc = query_bool(e, db, SQL_IN_RECOVERY, &in_recovery, err)) < 0)
		goto done;
	if (in_recovery) {
		rc = cms_error_set(err, CMS_ERROR, "server '%s' is back in recovery after its promotion", name);
		goto done;
	}
	n->in_recovery = false;
	/* pg_rewind reads the timeline from the control file: without a
	 * checkpoint after the promotion it sees the new primary still on the
	 * old timeline and finds nothing to rewind. */
	{
		/* The promotion has happened: a checkpoint that fails (a slow one
		 * past the query timeout) must not turn it into a failure. */
		struct cms_error cerr2 = CMS_ERROR_INIT;

		if (run(e, db, SQL_CHECKPOINT, NULL, &cerr2) < 0)
			engine_add_followup(e, "CHECKPOINT on '%s' after promotion failed (%s): run it "
					    "before any pg_rewind from it", name,
					    cerr2.message ? cerr2.message : "?");
		cms_error_clear(&cerr2);
	}
done:
	if (rc < 0 && unsent)
		e->promote_unsent = true;
	free(reopen);
	close_verifier(e, v);
	return rc;
}

static int pg_promote(struct engine *e, const char *target, const char *old_primary, bool force,
		      struct cms_error *err)
{
	struct pg_priv *pp = e->priv;
	struct pg_node *n;
	size_t i;
	int rc;

	if (!(n = find_node(e, target, err)))
		return CMS_ERROR;
	if ((rc = do_promote(e, n, force, err)) < 0)
		goto done;
	/* Other standbys still stream the old timeline from the old primary. */
	for (i = 0; i < pp->nnodes; i++) {
		struct pg_node *o = &pp->nodes[i];

		if (o == n || (old_primary && strcmp(o->srv->name, old_primary) == 0))
			continue;
		if (o->known && o->reachable && o->in_recovery)
			engine_add_followup(e,
					    "server '%s' must be re-pointed at the new primary '%s' "
					    "(primary_conninfo, with recovery_target_timeline = 'latest') to follow its timeline",
					    o->srv->name, target);
	}
done:
	if (rc < 0)
		drop_session(e, n);
	return rc;
}

static int pg_demote(struct engine *e, const char *old_primary, const char *new_primary,
		     struct cms_error *err)
{
	struct cms_error cerr = CMS_ERROR_INIT;
	struct pg_node *n;
	struct db *db;
	bool in_recovery = false, ro = false;
	long open = -1;
	int rc = 0;

	((struct pg_priv *)e->priv)->in_window = false;

	if (!old_primary)
		return 0;
	if (!(n = find_node(e, old_primary, err)))
		return CMS_ERROR;
	/* A session kept from an earlier step may have died with its server:
	 * one fresh attempt decides whether the old primary is reachable. */
	if (node_session(e, n, &db, &cerr) < 0 ||
	    query_bool(e, db, SQL_IN_RECOVERY, &in_recovery, &cerr) < 0) {
		drop_session(e, n);
		cms_error_clear(&cerr);
		if (node_session(e, n, &db, &cerr) < 0 ||
		    query_bool(e, db, SQL_IN_RECOVERY, &in_recovery, &cerr) < 0) {
			drop_session(e, n);
			engine_add_followup(e,
					    "server '%s' was unreachable at failover: it must not be restarted as a primary; "
					    "re-seed it from '%s'",
					    old_primary, new_primary);
			goto done;
		}
	}
	if (in_recovery)
		goto done; /* already a standby: nothing to demote */
	/* PostgreSQL cannot turn a primary into a standby online.  It must
	 * at least stay read-only: two writable primaries are a split brain. */
	if ((rc = query_bool(e, db, SQL_SHOW_READ_ONLY, &ro, err)) < 0)
		goto done;
	/* Fenced means both halves: a server whose databases were opened
	 * again (an unfence by hand) is fenced again. */
	if (ro && (rc = count_not_set(e, db, false, &open, err)) < 0)
		goto done;
	if ((!ro || open != 0) && (rc = do_fence(e, n, err)) < 0)
		goto done;
	engine_add_followup(e,
			    "server '%s' is fenced (read-only) and must be re-seeded as a standby of '%s' "
			    "(pg_rewind needs wal_log_hints=on or data checksums, and the WAL since the fork kept) "
			    "before it can serve as mirror",
			    old_primary, new_primary);

done:
	cms_error_clear(&cerr);
	if (rc < 0)
		drop_session(e, n);
	return rc;
}

/* Restore, before it undoes a run whose promotion of server began:
 * pg_promote(false) only asks, and a startup process still busy (or
 * stopped) would promote after the old primary took writes again.  The
 * server's own configuration is made read-only first, so that a promotion
 * still to come ends fenced; then its role is read.  A server found out of
 * recovery took the promotion: it is fenced whole and the step fails (the
 * run is not undone; the next restore finishes it). */
static int pg_keep_copy(struct engine *e, const char *server, struct cms_error *err)
{
	struct pg_node *n;
	struct db *db, *v = NULL;
	bool in_recovery = true, seen = false;
	int rc;

	if (!(n = find_node(e, server, err)))
		return CMS_ERROR;
	if ((rc = node_session(e, n, &db, err)) < 0 ||
	    (rc = run(e, db, SQL_FENCE, NULL, err)) < 0 ||
	    (rc = run(e, db, SQL_RELOAD, NULL, err)) < 0 ||
	    (rc = wait_read_only(e, n, true, &v, &seen, err)) < 0)
		goto done;
	if (!seen) {
		rc = cms_error_set(err, CMS_ERROR,
				   "server '%s' was made read-only, but a new session still has "
				   "default_transaction_read_only off after %ds", server,
				   PG_RELOAD_WAIT_MS / 1000);
		cms_error_hint(err, "is default_transaction_read_only = off set on the server's command line?");
		goto done;
	}
	if ((rc = query_bool(e, db, SQL_IN_RECOVERY, &in_recovery, err)) < 0)
		goto done;
	if (!in_recovery) {
		if ((rc = do_fence(e, n, err)) < 0)
			goto done;
		((struct pg_priv *)e->priv)->in_window = false;
		rc = cms_error_set(err, CMS_ERROR,
				   "server '%s' left recovery: the promotion it was asked for took "
				   "after all; it is fenced now", server);
		cms_error_hint(err, "run 'cmsctl restore' again: it finishes the interrupted run");
	}
done:
	close_verifier(e, v);
	if (rc < 0)
		drop_session(e, n);
	return rc;
}

static void pg_close(struct engine *e)
{
	struct pg_priv *pp = e->priv;

	if (!pp)
		return;
	free(pp->nodes);
	free(pp->ref_sysid);
	free(pp);
	e->priv = NULL;
}

static const struct engine_ops pg_ops = {
	.name = "postgresql",
	.probe = pg_probe,
	.probe_connects_all = true,
	.fence_takes_spare = true,
	.check_target = pg_check_target,
	.fence = pg_fence,
	.unfence = pg_unfence,
	.catch_up = pg_catch_up,
	.promote = pg_promote,
	.demote = pg_demote,
	.close = pg_close,
	.keep_copy = pg_keep_copy,
};

int engine_postgresql_init(struct engine *e, struct cms_error *err)
{
	struct pg_priv *pp;
	size_t i;

	if (!e || !e->store || !e->connect)
		return cms_error_set(err, CMS_ERROR, "postgresql engine opened without a store");
	pp = xcalloc(1, sizeof(*pp));
	pp->nnodes = e->store->nservers;
	pp->nodes = xcalloc(pp->nnodes ? pp->nnodes : 1, sizeof(*pp->nodes));
	for (i = 0; i < pp->nnodes; i++)
		pp->nodes[i].srv = &e->store->servers[i];
	e->priv = pp;
	e->ops = &pg_ops;
	return 0;
}
