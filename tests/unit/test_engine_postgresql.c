/*
 * Unit tests of the PostgreSQL engine (applier/engine_postgresql.c) over
 * the scripted fake session: each test pins the exact statements a step
 * sends, in order (a golden transcript read back from the engine's log),
 * and what the engine makes of the answers -- psqlODBC's 1/0 booleans,
 * 'X/Y' WAL positions, missing databases, unreachable servers.
 *
 * A connect function hands out one scripted session per connection: a
 * server's scripts are used in order (the fence's verification opens a
 * second session), and a server without a script left is unreachable.
 * The statements were checked against real PostgreSQL 15 clusters
 * through psqlODBC (tests/integration/).
 */
#include "tests/unit/db_fake.h"
#include "applier/engine.h"
#include "common/util.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#define C(...) ((const char *const[]){ __VA_ARGS__ })
#define NCELLS(...) (sizeof(C(__VA_ARGS__)) / sizeof(const char *))
/* One value (one row, one column). */
#define VAL(sql, v) { sql, NULL, 1, C("v"), 1, C(v) }
/* A statement without a result set. */
#define DONE(sql) { sql, NULL, 0, NULL, 0, NULL }
#define FAIL(sql, msg) { sql, msg, 0, NULL, 0, NULL }
/* ncols columns named by cols, and the cells row by row. */
#define ROWS(sql, ncols, cols, ...) \
	{ sql, NULL, ncols, cols, NCELLS(__VA_ARGS__) / (ncols), C(__VA_ARGS__) }
#define NOROWS(sql, ncols, cols) { sql, NULL, ncols, cols, 0, NULL }

#define SQL_IN_RECOVERY "SELECT pg_is_in_recovery()"
#define SQL_IDENTITY "SELECT pg_is_in_recovery(), system_identifier FROM pg_control_system()"
/* The probe's and check_target's first statement: the role and the
 * cluster's system identifier, which every server of a store shares. */
#define ID(rec, sysid) ROWS(SQL_IDENTITY, 2, idcols, rec, sysid)
#define SYSID "7301456789012345678"
#define OTHER_SYSID "7299887766554433221"
#define SQL_SHOW_RO "SHOW default_transaction_read_only"
#define SQL_DATABASES "SELECT datname, datallowconn FROM pg_database"
#define SQL_CURRENT_DATABASE "SELECT current_database()"
#define SQL_SESSION_RW "SET default_transaction_read_only = off"
#define SQL_LOCAL_COMMIT "SET synchronous_commit = local"
#define SQL_SESSION_RESET "RESET default_transaction_read_only"
#define SQL_TO_CLOSE "SELECT datname FROM pg_database WHERE datallowconn <> false AND datname IN ('xds', 'lis') ORDER BY datname"
#define SQL_TO_OPEN "SELECT datname FROM pg_database WHERE datallowconn <> true AND datname IN ('xds', 'lis') ORDER BY datname"
#define SQL_OPEN_LEFT "SELECT count(*) FROM pg_database WHERE datallowconn <> false AND datname IN ('xds', 'lis')"
#define SQL_CLOSED_LEFT "SELECT count(*) FROM pg_database WHERE datallowconn <> true AND datname IN ('xds', 'lis')"
#define SQL_CLOSE(db) "ALTER DATABASE \"" db "\" WITH ALLOW_CONNECTIONS false"
#define SQL_OPEN(db) "ALTER DATABASE \"" db "\" WITH ALLOW_CONNECTIONS true"
#define SQL_PRIMARY_POSITION "SELECT lsn, pg_walfile_name(lsn) FROM pg_current_wal_lsn() AS lsn"
#define SQL_REPLICATION                                                                  \
	"SELECT application_name, client_addr, state, sync_state, replay_lsn, "            \
	"pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn) FROM pg_stat_replication " \
	"ORDER BY application_name"
#define SQL_STANDBY_POSITION "SELECT pg_last_wal_replay_lsn(), pg_is_wal_replay_paused()"
#define SQL_WAL_RECEIVER "SELECT status, received_tli, sender_host, sender_port FROM pg_stat_wal_receiver"
#define SQL_CHECKPOINT_TIMELINE "SELECT timeline_id FROM pg_control_checkpoint()"
#define SQL_OVERRIDES                                                    \
	"SELECT d.datname, r.rolname, c FROM pg_db_role_setting s "     \
	"LEFT JOIN pg_database d ON d.oid = s.setdatabase "             \
	"LEFT JOIN pg_roles r ON r.oid = s.setrole, unnest(s.setconfig) AS c " \
	"WHERE c LIKE 'default_transaction_read_only=%'"
#define SQL_FENCE "ALTER SYSTEM SET default_transaction_read_only = on"
#define SQL_UNFENCE "ALTER SYSTEM RESET default_transaction_read_only"
#define SQL_RELOAD "SELECT pg_reload_conf()"
#define SQL_TERMINATE                                                            \
	"SELECT pid, pg_terminate_backend(pid) FROM pg_stat_activity "          \
	"WHERE pid <> pg_backend_pid() AND pid <> 4300 AND backend_type = 'client backend'"
/* The verifier's pid, read before the fence changes anything. */
#define SQL_BACKEND_PID "SELECT pg_backend_pid()"
/* The same sessions counted before the window opens (warms the view). */
#define SQL_SESSIONS_TO_END                                                     \
	"SELECT count(*) FROM pg_stat_activity "                               \
	"WHERE pid <> pg_backend_pid() AND pid <> 4300 AND backend_type = 'client backend'"
#define SQL_BACKENDS_LEFT "SELECT count(*) FROM pg_stat_activity WHERE pid IN (4242, 4243)"
#define SQL_WRITE_PROBE "CREATE TEMP TABLE cmsctl_fence_probe ()"
#define READ_ONLY_REFUSAL                                                              \
	"statement failed on server 'pool-a': [25006] native 7: ERROR: cannot execute " \
	"CREATE TABLE in a read-only transaction (in 'CREATE TEMP TABLE cmsctl_fence_probe ()')"

static const char *const idcols[] = { "pg_is_in_recovery", "system_identifier" };
static const char *const dbcols[] = { "datname" };
static const char *const namecols[] = { "datname" };
static const char *const poscols[] = { "lsn", "pg_walfile_name" };
static const char *const repcols[] = { "application_name", "client_addr", "state", "sync_state",
				       "replay_lsn", "pg_wal_lsn_diff" };
static const char *const sbcols[] = { "pg_last_wal_replay_lsn", "pg_is_wal_replay_paused" };
static const char *const rcvcols[] = { "status", "received_tli", "sender_host", "sender_port" };
static const char *const ovcols[] = { "datname", "rolname", "c" };
static const char *const termcols[] = { "pid", "pg_terminate_backend" };

/* ---- the fake world: scripted sessions per server ---- */

struct session_script {
	const char *server;
	const struct db_fake_reply *script;
	size_t n;
	bool used;
};

struct world {
	struct session_script sessions[8];
	size_t nsessions;
	const char *refusal; /* a server without a session: what its connect says */
	char *databases[3];
	struct server servers[3];
	struct store store;
};

static int fake_connect(struct db **out, const struct store *store, const struct server *srv,
			void *ctx, struct cms_error *err)
{
	struct world *w = ctx;
	size_t i;

	(void)store;
	*out = NULL;
	for (i = 0; i < w->nsessions; i++) {
		if (!w->sessions[i].used && strcmp(w->sessions[i].server, srv->name) == 0) {
			w->sessions[i].used = true;
			*out = db_fake_new(srv->name, w->sessions[i].script, w->sessions[i].n);
			return 0;
		}
	}
	return cms_error_set(err, CMS_ERROR, "cannot connect to server '%s': %s", srv->name,
			     w->refusal ? w->refusal : "connection refused");
}

#define SESSION(w, name, script) \
	((w)->sessions[(w)->nsessions++] = (struct session_script){ name, script, ARRAY_SIZE(script), false })

static void world_init(struct world *w)
{
	static const char *const names[] = { "pool-a", "pool-b", "dublin-dr" };
	static const char *const conns[] = {
		"Driver={PostgreSQL Unicode};Server=127.0.0.1;Port=5432;Database=postgres;Uid=cmsctl",
		"Driver={PostgreSQL Unicode};Server=127.0.0.1;Port=5433;Database=postgres;Uid=cmsctl",
		"Driver={PostgreSQL Unicode};Server={10.0.0.9};Database=postgres;Uid=cmsctl",
	};
	static const enum server_role roles[] = { SERVER_ROLE_PRIMARY, SERVER_ROLE_MIRROR, SERVER_ROLE_BACKUP };
	size_t i;

	memset(w, 0, sizeof(*w));
	w->databases[0] = "xds";
	w->databases[1] = "lis";
	for (i = 0; i < 3; i++) {
		w->servers[i].name = (char *)names[i];
		w->servers[i].connection = (char *)conns[i];
		w->servers[i].role = roles[i];
	}
	w->store.name = "redmond";
	w->store.engine = ENGINE_POSTGRESQL;
	w->store.databases = w->databases;
	w->store.ndatabases = 2;
	w->store.servers = w->servers;
	w->store.nservers = 3;
	w->store.location.primary = "pool-a";
	w->store.location.mirror = "pool-b";
	w->store.policy.catch_up_timeout_ms = 30000;
}

static struct engine *open_engine(struct world *w)
{
	struct cms_error err = CMS_ERROR_INIT;
	struct engine *e = NULL;

	assert_int_equal(engine_open(&e, &w->store, fake_connect, w, &err), 0);
	assert_non_null(e);
	assert_string_equal(e->ops->name, "postgresql");
	return e;
}

/* Every scripted session was opened: the step talked to whom it should. */
static void assert_all_sessions_used(const struct world *w)
{
	size_t i;

	for (i = 0; i < w->nsessions; i++) {
		if (!w->sessions[i].used)
			fail_msg("no session was opened for script %zu of '%s'", i, w->sessions[i].server);
	}
}

/* The golden transcript: "server: statement" in the order sent, failed
 * statements marked "!". */
static void assert_transcript(struct engine *e, const char *const *want, size_t n)
{
	struct db_stmt_log *log = NULL;
	size_t nlog = 0, i;

	engine_take_log(e, &log, &nlog);
	for (i = 0; i < nlog || i < n; i++) {
		char *got = i < nlog ? xasprintf("%s%s: %s", log[i].ok ? "" : "!", log[i].label, log[i].sql)
				     : NULL;

		if (i >= n)
			fail_msg("statement %zu not expected: %s", i, got);
		if (!got)
			fail_msg("statement %zu missing: %s", i, want[i]);
		if (strcmp(got, want[i]) != 0)
			fail_msg("statement %zu:\n  got  %s\n  want %s", i, got, want[i]);
		free(got);
	}
	db_stmt_log_free(log, nlog);
}
#define TRANSCRIPT(e, ...) assert_transcript(e, C(__VA_ARGS__), NCELLS(__VA_ARGS__))

static bool has_followup(const struct engine *e, const char *text)
{
	size_t i;

	for (i = 0; i < e->nfollowups; i++) {
		if (strstr(e->followups[i], text))
			return true;
	}
	return false;
}

/* ---- probe ---- */

static void test_probe_reads_primary_and_standbys(void **state)
{
	const struct db_fake_reply a[] = {
		ID("0", SYSID),
		VAL(SQL_SHOW_RO, "off"),
		ROWS(SQL_DATABASES, 1, dbcols, "postgres", "xds", "lis", "template1", "template0"),
		ROWS(SQL_PRIMARY_POSITION, 2, poscols, "0/5000148", "000000010000000000000005"),
		ROWS(SQL_REPLICATION, 6, repcols,
		     "dublin-dr", "10.0.0.9", "streaming", "async", "0/5000000", "328",
		     "pool-b", "127.0.0.1", "streaming", "sync", "0/5000148", "0"),
	};
	const struct db_fake_reply b[] = {
		ID("1", SYSID),
		VAL(SQL_SHOW_RO, "off"),
		ROWS(SQL_DATABASES, 1, dbcols, "postgres", "lis", "xds"),
		ROWS(SQL_STANDBY_POSITION, 2, sbcols, "0/5000148", "0"),
		ROWS(SQL_WAL_RECEIVER, 4, rcvcols, "streaming", "1", "127.0.0.1", "5432"),
	};
	/* Booleans as psql renders them, and no WAL receiver running: the
	 * timeline comes from the control file. */
	const struct db_fake_reply dr[] = {
		ID("t", SYSID),
		VAL(SQL_SHOW_RO, "off"),
		ROWS(SQL_DATABASES, 1, dbcols, "xds", "lis"),
		ROWS(SQL_STANDBY_POSITION, 2, sbcols, "0/5000000", "false"),
		NOROWS(SQL_WAL_RECEIVER, 4, rcvcols),
		VAL(SQL_CHECKPOINT_TIMELINE, "1"),
	};
	struct cms_error err = CMS_ERROR_INIT;
	struct observation obs = { 0 };
	const struct server_obs *so;
	struct world w;
	struct engine *e;

	(void)state;
	world_init(&w);
	SESSION(&w, "pool-a", a);
	SESSION(&w, "pool-b", b);
	SESSION(&w, "dublin-dr", dr);
	e = open_engine(&w);
	assert_int_equal(engine_probe(e, &obs, &err), 0);
	assert_true(obs.probed);
	assert_int_equal(obs.nservers, 3);

	so = observation_find(&obs, "pool-a");
	assert_true(so->reachable);
	assert_int_equal(so->role, OBS_PRIMARY);
	assert_int_equal(so->epoch, 1);
	assert_true(so->position == 0x5000148u);
	assert_false(so->read_only);
	assert_int_equal(so->lag_bytes, 0);
	assert_null(so->upstream);
	assert_int_equal(so->ndbs, 2);
	assert_string_equal(so->dbs[0].name, "xds");
	assert_int_equal(so->dbs[0].role, OBS_PRIMARY);
	assert_true(so->dbs[1].position == 0x5000148u);
	assert_null(so->dbs[0].state);

	so = observation_find(&obs, "pool-b");
	assert_true(so->reachable);
	assert_int_equal(so->role, OBS_MIRROR);
	assert_int_equal(so->epoch, 1);
	assert_int_equal(so->lag_bytes, 0);
	assert_string_equal(so->upstream, "pool-a"); /* 127.0.0.1:5432 is pool-a's connection */
	assert_string_equal(so->dbs[1].name, "lis");
	assert_int_equal(so->dbs[1].role, OBS_MIRROR);
	assert_string_equal(so->dbs[1].state, "streaming/sync");

	so = observation_find(&obs, "dublin-dr");
	assert_int_equal(so->role, OBS_BACKUP); /* config role backup */
	assert_int_equal(so->epoch, 1);
	assert_int_equal(so->lag_bytes, 0x148); /* from the probed positions */
	assert_null(so->upstream);
	assert_string_equal(so->dbs[0].state, "streaming/async");

	assert_all_sessions_used(&w);
	TRANSCRIPT(e,
		   "pool-a: " SQL_IDENTITY,
		   "pool-a: " SQL_SHOW_RO,
		   "pool-a: " SQL_DATABASES,
		   "pool-a: " SQL_PRIMARY_POSITION,
		   "pool-a: " SQL_REPLICATION,
		   "pool-b: " SQL_IDENTITY,
		   "pool-b: " SQL_SHOW_RO,
		   "pool-b: " SQL_DATABASES,
		   "pool-b: " SQL_STANDBY_POSITION,
		   "pool-b: " SQL_WAL_RECEIVER,
		   "dublin-dr: " SQL_IDENTITY,
		   "dublin-dr: " SQL_SHOW_RO,
		   "dublin-dr: " SQL_DATABASES,
		   "dublin-dr: " SQL_STANDBY_POSITION,
		   "dublin-dr: " SQL_WAL_RECEIVER,
		   "dublin-dr: " SQL_CHECKPOINT_TIMELINE);
	observation_free(&obs);
	engine_close(e);
}

static void test_probe_reports_unreachable_missing_and_bad_values(void **state)
{
	/* pool-a: no session (connection refused).  pool-b: lacks 'lis'.
	 * dublin-dr: answers something that is not a boolean. */
	const struct db_fake_reply b[] = {
		ID("1", SYSID),
		VAL(SQL_SHOW_RO, "off"),
		ROWS(SQL_DATABASES, 1, dbcols, "postgres", "xds"),
		ROWS(SQL_STANDBY_POSITION, 2, sbcols, "0/5000148", "1"),
		NOROWS(SQL_WAL_RECEIVER, 4, rcvcols),
		VAL(SQL_CHECKPOINT_TIMELINE, "3"),
	};
	const struct db_fake_reply dr[] = {
		ID("maybe", SYSID),
	};
	struct cms_error err = CMS_ERROR_INIT;
	struct observation obs = { 0 };
	const struct server_obs *so;
	struct world w;
	struct engine *e;

	(void)state;
	world_init(&w);
	SESSION(&w, "pool-b", b);
	SESSION(&w, "dublin-dr", dr);
	e = open_engine(&w);
	assert_int_equal(engine_probe(e, &obs, &err), 0); /* unreachable is an observation */

	so = observation_find(&obs, "pool-a");
	assert_false(so->reachable);
	assert_int_equal(so->role, OBS_UNKNOWN);
	assert_int_equal(so->lag_bytes, -1);
	assert_string_equal(so->error, "cannot connect to server 'pool-a': connection refused");
	assert_int_equal(so->ndbs, 2);
	assert_int_equal(so->dbs[0].role, OBS_UNKNOWN);
	assert_null(so->dbs[0].state);

	so = observation_find(&obs, "pool-b");
	assert_true(so->reachable);
	assert_int_equal(so->role, OBS_UNKNOWN); /* its databases disagree */
	assert_int_equal(so->epoch, 3);
	assert_int_equal(so->lag_bytes, -1);     /* no primary to measure against */
	assert_int_equal(so->dbs[0].role, OBS_MIRROR);
	assert_string_equal(so->dbs[0].state, "disconnected (replay paused)");
	assert_int_equal(so->dbs[1].role, OBS_UNKNOWN);
	assert_string_equal(so->dbs[1].state, "missing");

	so = observation_find(&obs, "dublin-dr");
	assert_false(so->reachable);
	assert_string_equal(so->error,
			    "server 'dublin-dr' answered 'maybe' to '" SQL_IDENTITY "', not a boolean");
	/* Whether any of a server answered (restore --assume-down): not the
	 * one whose connect was refused, the two that gave a session. */
	assert_false(observation_find(&obs, "pool-a")->answered);
	assert_true(observation_find(&obs, "pool-b")->answered);
	assert_true(so->answered);

	TRANSCRIPT(e,
		   "pool-b: " SQL_IDENTITY,
		   "pool-b: " SQL_SHOW_RO,
		   "pool-b: " SQL_DATABASES,
		   "pool-b: " SQL_STANDBY_POSITION,
		   "pool-b: " SQL_WAL_RECEIVER,
		   "pool-b: " SQL_CHECKPOINT_TIMELINE,
		   "dublin-dr: " SQL_IDENTITY);
	observation_free(&obs);
	engine_close(e);
}

static void test_probe_after_switchover_sees_fenced_and_new_timeline(void **state)
{
	const struct db_fake_reply a[] = {
		ID("0", SYSID),
		VAL(SQL_SHOW_RO, "on"),
		ROWS(SQL_DATABASES, 1, dbcols, "xds", "lis"),
		ROWS(SQL_PRIMARY_POSITION, 2, poscols, "0/5000148", "000000010000000000000005"),
		ROWS(SQL_REPLICATION, 6, repcols, "dublin-dr", "10.0.0.9", "streaming", "async", "0/5000148", "0"),
		/* the roles only: no pg_stat_replication */
		ID("0", SYSID),
		VAL(SQL_SHOW_RO, "on"),
		ROWS(SQL_DATABASES, 1, dbcols, "xds", "lis"),
		ROWS(SQL_PRIMARY_POSITION, 2, poscols, "0/5000148", "000000010000000000000005"),
	};
	const struct db_fake_reply b[] = {
		ID("0", SYSID),
		VAL(SQL_SHOW_RO, "off"),
		ROWS(SQL_DATABASES, 1, dbcols, "xds", "lis"),
		ROWS(SQL_PRIMARY_POSITION, 2, poscols, "0/50002D8", "000000020000000000000005"),
		NOROWS(SQL_REPLICATION, 6, repcols),
		ID("0", SYSID),
		VAL(SQL_SHOW_RO, "off"),
		ROWS(SQL_DATABASES, 1, dbcols, "xds", "lis"),
		ROWS(SQL_PRIMARY_POSITION, 2, poscols, "0/50002D8", "000000020000000000000005"),
	};
	const struct db_fake_reply dr[] = {
		ID("1", SYSID),
		VAL(SQL_SHOW_RO, "off"),
		ROWS(SQL_DATABASES, 1, dbcols, "xds", "lis"),
		ROWS(SQL_STANDBY_POSITION, 2, sbcols, "0/5000148", "0"),
		ROWS(SQL_WAL_RECEIVER, 4, rcvcols, "streaming", "1", "127.0.0.1", "5432"),
		ID("1", SYSID),
		VAL(SQL_SHOW_RO, "off"),
		ROWS(SQL_DATABASES, 1, dbcols, "xds", "lis"),
		ROWS(SQL_STANDBY_POSITION, 2, sbcols, "0/5000148", "0"),
		ROWS(SQL_WAL_RECEIVER, 4, rcvcols, "streaming", "1", "127.0.0.1", "5432"),
	};
	struct cms_error err = CMS_ERROR_INIT;
	struct observation obs = { 0 };
	const struct server_obs *so;
	struct world w;
	struct engine *e;

	(void)state;
	world_init(&w);
	SESSION(&w, "pool-a", a);
	SESSION(&w, "pool-b", b);
	SESSION(&w, "dublin-dr", dr);
	e = open_engine(&w);
	assert_int_equal(engine_probe(e, &obs, &err), 0);
	so = observation_find(&obs, "pool-a");
	assert_int_equal(so->role, OBS_FENCED);
	assert_true(so->read_only);
	assert_int_equal(so->lag_bytes, -1);
	so = observation_find(&obs, "pool-b");
	assert_int_equal(so->role, OBS_PRIMARY);
	assert_int_equal(so->epoch, 2);
	assert_int_equal(so->lag_bytes, 0);
	so = observation_find(&obs, "dublin-dr");
	assert_int_equal(so->role, OBS_BACKUP);
	assert_string_equal(so->upstream, "pool-a");
	/* Still on timeline 1 behind the fenced server: no comparable lag. */
	assert_int_equal(so->lag_bytes, -1);
	assert_string_equal(so->dbs[0].state, "streaming");
	observation_free(&obs);

	/* Re-read for the roles only (right after a promotion): the same
	 * roles, epochs and read-only settings, without pg_stat_replication
	 * (the standby's state then comes from its own receiver). */
	{
		struct db_stmt_log *l = NULL;
		size_t n = 0, i;

		engine_take_log(e, &l, &n);
		db_stmt_log_free(l, n);
		e->probe_roles_only = true;
		assert_int_equal(engine_probe(e, &obs, &err), 0);
		e->probe_roles_only = false;
		assert_all_sessions_used(&w);
		assert_int_equal(observation_find(&obs, "pool-a")->role, OBS_FENCED);
		assert_true(observation_find(&obs, "pool-a")->read_only);
		assert_int_equal(observation_find(&obs, "pool-b")->role, OBS_PRIMARY);
		assert_int_equal(observation_find(&obs, "pool-b")->epoch, 2);
		assert_false(observation_find(&obs, "pool-b")->read_only);
		assert_int_equal(observation_find(&obs, "dublin-dr")->role, OBS_BACKUP);
		engine_take_log(e, &l, &n);
		assert_int_equal(n, 13);
		for (i = 0; i < n; i++)
			assert_null(strstr(l[i].sql, "pg_stat_replication"));
		db_stmt_log_free(l, n);
		observation_free(&obs);
	}
	engine_close(e);
}

/* dublin-dr is a standby of an unrelated cluster that happens to be on
 * timeline 1 too, and its primary listens at an address of this store: by
 * role, timeline and position alone it would pass for a healthy backup.
 * Its system identifier gives it away: the probe reports it unknown (the
 * planner promotes only a mirror or a backup), and check_target refuses
 * it.  Then, with the primary down, the two standbys disagree with no
 * majority: neither can be trusted. */
static void test_standby_of_another_cluster_is_refused(void **state)
{
	const struct db_fake_reply a[] = {
		ID("0", SYSID),
		VAL(SQL_SHOW_RO, "off"),
		ROWS(SQL_DATABASES, 1, dbcols, "xds", "lis"),
		ROWS(SQL_PRIMARY_POSITION, 2, poscols, "0/5000148", "000000010000000000000005"),
		ROWS(SQL_REPLICATION, 6, repcols, "pool-b", "127.0.0.1", "streaming", "sync", "0/5000148", "0"),
	};
	const struct db_fake_reply b[] = {
		ID("1", SYSID),
		VAL(SQL_SHOW_RO, "off"),
		ROWS(SQL_DATABASES, 1, dbcols, "xds", "lis"),
		ROWS(SQL_STANDBY_POSITION, 2, sbcols, "0/5000148", "0"),
		ROWS(SQL_WAL_RECEIVER, 4, rcvcols, "streaming", "1", "127.0.0.1", "5432"),
		/* check_target */
		ID("1", SYSID),
		ROWS(SQL_DATABASES, 1, dbcols, "xds", "lis"),
		VAL(SQL_SHOW_RO, "off"),
		DONE(SQL_SESSION_RW),
		DONE(SQL_LOCAL_COMMIT),
	};
	const struct db_fake_reply dr[] = {
		ID("1", OTHER_SYSID),
		VAL(SQL_SHOW_RO, "off"),
		ROWS(SQL_DATABASES, 1, dbcols, "postgres", "xds", "lis"),
		ROWS(SQL_STANDBY_POSITION, 2, sbcols, "0/5000100", "0"),
		ROWS(SQL_WAL_RECEIVER, 4, rcvcols, "streaming", "1", "127.0.0.1", "5432"),
		/* check_target */
		ID("1", OTHER_SYSID),
	};
	/* The second probe: pool-a down. */
	const struct db_fake_reply b2[] = {
		ID("1", SYSID),
		VAL(SQL_SHOW_RO, "off"),
		ROWS(SQL_DATABASES, 1, dbcols, "xds", "lis"),
		ROWS(SQL_STANDBY_POSITION, 2, sbcols, "0/5000148", "0"),
		NOROWS(SQL_WAL_RECEIVER, 4, rcvcols),
		VAL(SQL_CHECKPOINT_TIMELINE, "1"),
		/* check_target */
		ID("1", SYSID),
	};
	const struct db_fake_reply dr2[] = {
		ID("1", OTHER_SYSID),
		VAL(SQL_SHOW_RO, "off"),
		ROWS(SQL_DATABASES, 1, dbcols, "xds", "lis"),
		ROWS(SQL_STANDBY_POSITION, 2, sbcols, "0/5000100", "0"),
		NOROWS(SQL_WAL_RECEIVER, 4, rcvcols),
		VAL(SQL_CHECKPOINT_TIMELINE, "1"),
	};
	struct cms_error err = CMS_ERROR_INIT;
	struct observation obs = { 0 };
	const struct server_obs *so;
	struct world w;
	struct engine *e;

	(void)state;
	world_init(&w);
	SESSION(&w, "pool-a", a);
	SESSION(&w, "pool-b", b);
	SESSION(&w, "dublin-dr", dr);
	e = open_engine(&w);
	assert_int_equal(engine_probe(e, &obs, &err), 0);

	so = observation_find(&obs, "pool-a");
	assert_int_equal(so->role, OBS_PRIMARY);
	assert_null(so->error);
	so = observation_find(&obs, "pool-b");
	assert_int_equal(so->role, OBS_MIRROR);
	assert_int_equal(so->lag_bytes, 0);
	assert_null(so->error);
	assert_string_equal(so->dbs[0].state, "streaming/sync");

	so = observation_find(&obs, "dublin-dr");
	assert_true(so->reachable);
	assert_int_equal(so->role, OBS_UNKNOWN); /* not backup: no plan promotes it */
	assert_int_equal(so->epoch, 1);
	assert_int_equal(so->lag_bytes, -1);
	assert_string_equal(so->error, "belongs to another cluster (system identifier " OTHER_SYSID
			    ", the primary's is " SYSID ")");
	assert_int_equal(so->dbs[0].role, OBS_UNKNOWN);
	assert_int_equal(so->dbs[1].role, OBS_UNKNOWN);
	assert_string_equal(so->dbs[1].state, so->error);
	observation_free(&obs);

	assert_int_equal(e->ops->check_target(e, "dublin-dr", &err), CMS_EREFUSED);
	assert_string_equal(err.message, "server 'dublin-dr' belongs to another cluster (system identifier "
			    OTHER_SYSID ", the primary's is " SYSID ")");
	assert_non_null(err.hint);
	cms_error_clear(&err);
	assert_int_equal(e->ops->check_target(e, "pool-b", &err), 0);
	assert_null(err.message);
	assert_all_sessions_used(&w);
	TRANSCRIPT(e,
		   "pool-a: " SQL_IDENTITY,
		   "pool-a: " SQL_SHOW_RO,
		   "pool-a: " SQL_DATABASES,
		   "pool-a: " SQL_PRIMARY_POSITION,
		   "pool-a: " SQL_REPLICATION,
		   "pool-b: " SQL_IDENTITY,
		   "pool-b: " SQL_SHOW_RO,
		   "pool-b: " SQL_DATABASES,
		   "pool-b: " SQL_STANDBY_POSITION,
		   "pool-b: " SQL_WAL_RECEIVER,
		   "dublin-dr: " SQL_IDENTITY,
		   "dublin-dr: " SQL_SHOW_RO,
		   "dublin-dr: " SQL_DATABASES,
		   "dublin-dr: " SQL_STANDBY_POSITION,
		   "dublin-dr: " SQL_WAL_RECEIVER,
		   "dublin-dr: " SQL_IDENTITY,
		   "pool-b: " SQL_IDENTITY,
		   "pool-b: " SQL_DATABASES,
		   "pool-b: " SQL_SHOW_RO,
		   "pool-b: " SQL_SESSION_RW,
		   "pool-b: " SQL_LOCAL_COMMIT);
	engine_close(e);

	/* No primary, one standby of each cluster: no majority. */
	world_init(&w);
	SESSION(&w, "pool-b", b2);
	SESSION(&w, "dublin-dr", dr2);
	e = open_engine(&w);
	assert_int_equal(engine_probe(e, &obs, &err), 0);
	assert_false(observation_find(&obs, "pool-a")->reachable);
	so = observation_find(&obs, "pool-b");
	assert_int_equal(so->role, OBS_UNKNOWN);
	assert_string_equal(so->error, "cannot tell its cluster (system identifier " SYSID "): the servers "
			    "disagree, with no primary and no majority");
	so = observation_find(&obs, "dublin-dr");
	assert_int_equal(so->role, OBS_UNKNOWN);
	observation_free(&obs);
	assert_int_equal(e->ops->check_target(e, "pool-b", &err), CMS_EREFUSED);
	assert_string_equal(err.message, "server 'pool-b' cannot be told to belong to the store's cluster: the "
			    "servers report different system identifiers, with no primary and no majority");
	cms_error_clear(&err);
	assert_all_sessions_used(&w);
	engine_close(e);
}

/* ---- check_target ---- */

static void test_check_target_refuses_primary_and_missing_databases(void **state)
{
	const struct db_fake_reply a[] = {
		ID("0", SYSID),
	};
	const struct db_fake_reply b[] = {
		ID("1", SYSID),
		ROWS(SQL_DATABASES, 1, dbcols, "postgres"),
	};
	const struct db_fake_reply dr[] = {
		ID("1", SYSID),
		ROWS(SQL_DATABASES, 1, dbcols, "postgres", "lis", "xds"),
		/* readied for its promotion */
		VAL(SQL_SHOW_RO, "off"),
		DONE(SQL_SESSION_RW),
		DONE(SQL_LOCAL_COMMIT),
	};
	struct cms_error err = CMS_ERROR_INIT;
	struct world w;
	struct engine *e;

	(void)state;
	world_init(&w);
	SESSION(&w, "pool-a", a);
	SESSION(&w, "pool-b", b);
	SESSION(&w, "dublin-dr", dr);
	e = open_engine(&w);
	assert_int_equal(e->ops->check_target(e, "pool-a", &err), CMS_EREFUSED);
	assert_string_equal(err.message,
			    "server 'pool-a' is not a standby (pg_is_in_recovery() is false): there is nothing to promote");
	assert_int_equal(e->ops->check_target(e, "pool-b", &err), CMS_EREFUSED);
	assert_string_equal(err.message, "server 'pool-b' lacks the store's databases 'xds', 'lis'");
	cms_error_clear(&err);
	assert_int_equal(e->ops->check_target(e, "dublin-dr", &err), 0);
	assert_null(err.message);
	assert_int_equal(e->ops->check_target(e, "nowhere", &err), CMS_ERROR);
	assert_string_equal(err.message, "server 'nowhere' is not a server of store 'redmond'");
	TRANSCRIPT(e,
		   "pool-a: " SQL_IDENTITY,
		   "pool-b: " SQL_IDENTITY,
		   "pool-b: " SQL_DATABASES,
		   "dublin-dr: " SQL_IDENTITY,
		   "dublin-dr: " SQL_DATABASES,
		   "dublin-dr: " SQL_SHOW_RO,
		   "dublin-dr: " SQL_SESSION_RW,
		   "dublin-dr: " SQL_LOCAL_COMMIT);
	cms_error_clear(&err);
	engine_close(e);
}

/* check_target readies the standby's session for a promotion (its own
 * default_transaction_read_only off); when a probe comes instead (the
 * promotion never ran), that setting is reset before the role is read, so
 * the probe sees the server's setting, not the session's. */
static void test_probe_after_check_target_reads_the_servers_setting(void **state)
{
	const struct db_fake_reply b[] = {
		ID("1", SYSID),
		ROWS(SQL_DATABASES, 1, dbcols, "xds", "lis"),
		VAL(SQL_SHOW_RO, "on"),
		DONE(SQL_SESSION_RW),
		DONE(SQL_LOCAL_COMMIT),
		/* the probe */
		DONE(SQL_SESSION_RESET),
		ID("1", SYSID),
		VAL(SQL_SHOW_RO, "on"),
		ROWS(SQL_DATABASES, 1, dbcols, "xds", "lis"),
		ROWS(SQL_STANDBY_POSITION, 2, sbcols, "0/5000148", "0"),
		NOROWS(SQL_WAL_RECEIVER, 4, rcvcols),
		VAL(SQL_CHECKPOINT_TIMELINE, "1"),
	};
	struct cms_error err = CMS_ERROR_INIT;
	struct observation obs = { 0 };
	struct world w;
	struct engine *e;

	(void)state;
	world_init(&w);
	SESSION(&w, "pool-b", b);
	e = open_engine(&w);
	assert_int_equal(e->ops->check_target(e, "pool-b", &err), 0);
	assert_int_equal(engine_probe(e, &obs, &err), 0);
	assert_all_sessions_used(&w);
	assert_true(observation_find(&obs, "pool-b")->read_only);
	observation_free(&obs);
	engine_close(e);
}

static void test_check_target_unreachable_is_refused(void **state)
{
	struct cms_error err = CMS_ERROR_INIT;
	struct world w;
	struct engine *e;

	(void)state;
	world_init(&w);
	e = open_engine(&w);
	assert_int_equal(e->ops->check_target(e, "pool-b", &err), CMS_EREFUSED);
	assert_int_equal(err.code, CMS_EREFUSED);
	assert_string_equal(err.message, "target 'pool-b' is unreachable: cannot connect to server "
			    "'pool-b': connection refused");
	cms_error_clear(&err);
	engine_close(e);
}

/* ---- fence / unfence ---- */

static void test_fence_closes_databases_sets_reloads_terminates_and_verifies(void **state)
{
	const struct db_fake_reply a[] = {
		NOROWS(SQL_OVERRIDES, 3, ovcols),
		VAL(SQL_CURRENT_DATABASE, "postgres"),
		ROWS(SQL_TO_CLOSE, 1, namecols, "lis", "xds"),
		VAL(SQL_SESSIONS_TO_END, "0"),
		DONE(SQL_SESSION_RW),
		DONE(SQL_LOCAL_COMMIT),
		DONE(SQL_FENCE),
		VAL(SQL_RELOAD, "1"),
		DONE(SQL_CLOSE("lis") "; " SQL_CLOSE("xds")),
		ROWS(SQL_TERMINATE, 2, termcols, "4242", "1", "4243", "1"),
		/* Both signalled; one is still exiting at the first look. */
		VAL(SQL_BACKENDS_LEFT, "1"),
		VAL(SQL_BACKENDS_LEFT, "0"),
		VAL(SQL_OPEN_LEFT, "0"),
		/* after the window: the next use of the session (demote) */
		DONE(SQL_SESSION_RESET),
		VAL(SQL_IN_RECOVERY, "0"),
		VAL(SQL_SHOW_RO, "on"),
		VAL(SQL_OPEN_LEFT, "0"),
	};
	/* The reload reaches the other session on its second look. */
	const struct db_fake_reply verify[] = {
		VAL(SQL_BACKEND_PID, "4300"),
		VAL(SQL_SHOW_RO, "off"),
		VAL(SQL_SHOW_RO, "on"),
		FAIL(SQL_WRITE_PROBE, READ_ONLY_REFUSAL),
	};
	struct cms_error err = CMS_ERROR_INIT;
	struct world w;
	struct engine *e;

	(void)state;
	world_init(&w);
	SESSION(&w, "pool-a", a);
	SESSION(&w, "pool-a", verify);
	e = open_engine(&w);
	assert_int_equal(e->window_opened, 0);
	assert_int_equal(e->ops->fence(e, "pool-a", &err), 0);
	assert_null(err.message);
	/* The window opens at the first change, after the checks and the
	 * reading of what to close. */
	assert_true(e->window_opened > 0);
	TRANSCRIPT(e,
		   "pool-a: " SQL_OVERRIDES,
		   "pool-a: " SQL_CURRENT_DATABASE,
		   "pool-a: " SQL_BACKEND_PID,
		   "pool-a: " SQL_TO_CLOSE,
		   "pool-a: " SQL_SESSIONS_TO_END,
		   "pool-a: " SQL_SESSION_RW,
		   "pool-a: " SQL_LOCAL_COMMIT,
		   "pool-a: " SQL_FENCE,
		   "pool-a: " SQL_RELOAD,
		   "pool-a: " SQL_CLOSE("lis") "; " SQL_CLOSE("xds"),
		   "pool-a: " SQL_TERMINATE,
		   "pool-a: " SQL_BACKENDS_LEFT " -- polled 2 times",
		   "pool-a: " SQL_OPEN_LEFT,
		   "pool-a: " SQL_SHOW_RO " -- polled 2 times",
		   "!pool-a: " SQL_WRITE_PROBE);
	/* cmsctl's own override of the session is reset outside the window,
	 * before the session is next used to read the server's role. */
	assert_int_equal(e->ops->demote(e, "pool-a", "pool-b", &err), 0);
	assert_all_sessions_used(&w);
	engine_close(e);
}

static void test_fence_fails_when_a_write_is_accepted(void **state)
{
	const struct db_fake_reply a[] = {
		NOROWS(SQL_OVERRIDES, 3, ovcols),
		VAL(SQL_CURRENT_DATABASE, "postgres"),
		NOROWS(SQL_TO_CLOSE, 1, namecols),
		VAL(SQL_SESSIONS_TO_END, "0"),
		DONE(SQL_SESSION_RW),
		DONE(SQL_LOCAL_COMMIT),
		DONE(SQL_FENCE),
		VAL(SQL_RELOAD, "1"),
		NOROWS(SQL_TERMINATE, 2, termcols),
		VAL(SQL_OPEN_LEFT, "0"),
	};
	const struct db_fake_reply verify[] = {
		VAL(SQL_BACKEND_PID, "4300"),
		VAL(SQL_SHOW_RO, "on"),
		DONE(SQL_WRITE_PROBE),
	};
	struct cms_error err = CMS_ERROR_INIT;
	struct world w;
	struct engine *e;

	(void)state;
	world_init(&w);
	SESSION(&w, "pool-a", a);
	SESSION(&w, "pool-a", verify);
	e = open_engine(&w);
	assert_int_equal(e->ops->fence(e, "pool-a", &err), CMS_ERROR);
	assert_string_equal(err.message,
			    "fence of server 'pool-a' did not take: a write was accepted in a second session");
	cms_error_clear(&err);
	engine_close(e);
}

static void test_fence_refused_when_a_database_overrides_read_only(void **state)
{
	const struct db_fake_reply a[] = {
		ROWS(SQL_OVERRIDES, 3, ovcols,
		     "xds", NULL, "default_transaction_read_only=off",
		     NULL, "app", "default_transaction_read_only=false",
		     "lis", NULL, "default_transaction_read_only=on"),
	};
	struct cms_error err = CMS_ERROR_INIT;
	struct world w;
	struct engine *e;

	(void)state;
	world_init(&w);
	SESSION(&w, "pool-a", a);
	e = open_engine(&w);
	assert_int_equal(e->ops->fence(e, "pool-a", &err), CMS_EREFUSED);
	assert_string_equal(err.message,
			    "cannot fence server 'pool-a': default_transaction_read_only is overridden for "
			    "database 'xds', role 'app'");
	assert_non_null(err.hint);
	/* Nothing was changed. */
	TRANSCRIPT(e, "pool-a: " SQL_OVERRIDES);
	cms_error_clear(&err);
	engine_close(e);
}

/* A database still taking connections after the fence: it did not take. */
static void test_fence_fails_when_a_database_still_takes_connections(void **state)
{
	const struct db_fake_reply a[] = {
		NOROWS(SQL_OVERRIDES, 3, ovcols),
		VAL(SQL_CURRENT_DATABASE, "postgres"),
		ROWS(SQL_TO_CLOSE, 1, namecols, "xds"),
		VAL(SQL_SESSIONS_TO_END, "0"),
		DONE(SQL_SESSION_RW),
		DONE(SQL_LOCAL_COMMIT),
		DONE(SQL_FENCE),
		VAL(SQL_RELOAD, "1"),
		DONE(SQL_CLOSE("xds")),
		NOROWS(SQL_TERMINATE, 2, termcols),
		VAL(SQL_OPEN_LEFT, "1"),
	};
	const struct db_fake_reply verify[] = {
		VAL(SQL_BACKEND_PID, "4300"),
	};
	struct cms_error err = CMS_ERROR_INIT;
	struct world w;
	struct engine *e;

	(void)state;
	world_init(&w);
	SESSION(&w, "pool-a", a);
	SESSION(&w, "pool-a", verify);
	e = open_engine(&w);
	assert_int_equal(e->ops->fence(e, "pool-a", &err), CMS_ERROR);
	assert_string_equal(err.message, "fence of server 'pool-a' did not take: 1 of the store's "
			    "databases still take connections");
	cms_error_clear(&err);
	engine_close(e);
}

/* cmsctl's own session on a store database: the fence would lock it out. */
static void test_fence_refused_when_the_session_uses_a_store_database(void **state)
{
	const struct db_fake_reply a[] = {
		NOROWS(SQL_OVERRIDES, 3, ovcols),
		VAL(SQL_CURRENT_DATABASE, "xds"),
	};
	struct cms_error err = CMS_ERROR_INIT;
	struct world w;
	struct engine *e;

	(void)state;
	world_init(&w);
	SESSION(&w, "pool-a", a);
	e = open_engine(&w);
	assert_int_equal(e->ops->fence(e, "pool-a", &err), CMS_EREFUSED);
	assert_string_equal(err.message, "cannot fence server 'pool-a': cmsctl's connection uses "
			    "database 'xds', one of the store's, which the fence closes to connections");
	TRANSCRIPT(e, "pool-a: " SQL_OVERRIDES, "pool-a: " SQL_CURRENT_DATABASE);
	cms_error_clear(&err);
	engine_close(e);
}

static void test_unfence_opens_databases_resets_reloads_and_verifies(void **state)
{
	const struct db_fake_reply a[] = {
		ROWS(SQL_TO_OPEN, 1, namecols, "lis", "xds"),
		DONE(SQL_SESSION_RW),
		DONE(SQL_LOCAL_COMMIT),
		DONE(SQL_OPEN("lis") "; " SQL_OPEN("xds")),
		DONE(SQL_UNFENCE),
		VAL(SQL_RELOAD, "1"),
		VAL(SQL_CLOSED_LEFT, "0"),
		DONE(SQL_SESSION_RESET),
	};
	const struct db_fake_reply verify[] = {
		VAL(SQL_SHOW_RO, "off"),
	};
	struct cms_error err = CMS_ERROR_INIT;
	struct world w;
	struct engine *e;

	(void)state;
	world_init(&w);
	SESSION(&w, "pool-a", a);
	SESSION(&w, "pool-a", verify);
	e = open_engine(&w);
	assert_int_equal(e->ops->unfence(e, "pool-a", &err), 0);
	assert_all_sessions_used(&w);
	TRANSCRIPT(e,
		   "pool-a: " SQL_TO_OPEN,
		   "pool-a: " SQL_SESSION_RW,
		   "pool-a: " SQL_LOCAL_COMMIT,
		   "pool-a: " SQL_OPEN("lis") "; " SQL_OPEN("xds"),
		   "pool-a: " SQL_UNFENCE,
		   "pool-a: " SQL_RELOAD,
		   "pool-a: " SQL_CLOSED_LEFT,
		   "pool-a: " SQL_SHOW_RO,
		   "pool-a: " SQL_SESSION_RESET);
	engine_close(e);
}

/* ---- catch_up ---- */

static void test_catch_up_polls_replay_until_source_position(void **state)
{
	const struct db_fake_reply a[] = {
		VAL("SELECT pg_current_wal_lsn()", "0/5000148"),
	};
	const struct db_fake_reply b[] = {
		VAL("SELECT pg_last_wal_replay_lsn()", NULL),
		VAL("SELECT pg_last_wal_replay_lsn()", "0/5000000"),
		VAL("SELECT pg_last_wal_replay_lsn()", "0/5000148"),
	};
	struct cms_error err = CMS_ERROR_INIT;
	struct world w;
	struct engine *e;

	(void)state;
	world_init(&w);
	SESSION(&w, "pool-a", a);
	SESSION(&w, "pool-b", b);
	e = open_engine(&w);
	assert_int_equal(e->ops->catch_up(e, "pool-a", "pool-b", 30000, &err), 0);
	TRANSCRIPT(e,
		   "pool-a: SELECT pg_current_wal_lsn()",
		   "pool-b: SELECT pg_last_wal_replay_lsn() -- polled 3 times");
	engine_close(e);
}

static void test_catch_up_timeout_refuses_and_names_paused_replay(void **state)
{
	const struct db_fake_reply a[] = {
		VAL("SELECT pg_current_wal_lsn()", "1A/5000148"),
	};
	/* A timeout of 0 polls exactly once. */
	const struct db_fake_reply b[] = {
		VAL("SELECT pg_last_wal_replay_lsn()", "1A/50000A0"),
		VAL("SELECT pg_is_wal_replay_paused()", "1"),
	};
	struct cms_error err = CMS_ERROR_INIT;
	struct world w;
	struct engine *e;

	(void)state;
	world_init(&w);
	SESSION(&w, "pool-a", a);
	SESSION(&w, "pool-b", b);
	e = open_engine(&w);
	assert_int_equal(e->ops->catch_up(e, "pool-a", "pool-b", 0, &err), CMS_EREFUSED);
	assert_string_equal(err.message,
			    "standby 'pool-b' did not catch up within 0ms (replayed 1A/50000A0, needed 1A/5000148): "
			    "WAL replay is paused there");
	assert_non_null(err.hint);
	TRANSCRIPT(e,
		   "pool-a: SELECT pg_current_wal_lsn()",
		   "pool-b: SELECT pg_last_wal_replay_lsn()",
		   "pool-b: SELECT pg_is_wal_replay_paused()");
	cms_error_clear(&err);
	engine_close(e);
}

/* A session that answers one polled statement the same way for as long
 * as it is asked, then follows a script: for waits whose number of polls
 * depends on the clock. */
struct polled_db {
	struct db base; /* first: db_close() frees the whole session */
	const char *poll_sql, *poll_answer;
	struct db *then; /* a scripted fake for what follows */
};

static int polled_exec(struct db *db, const char *sql, struct db_result **out, struct cms_error *err)
{
	struct polled_db *p = (struct polled_db *)db;

	if (strcmp(sql, p->poll_sql) == 0) {
		struct db_result *res = xcalloc(1, sizeof(*res));

		res->ncols = 1;
		res->nrows = 1;
		res->colnames = xcalloc(1, sizeof(char *));
		res->colnames[0] = xstrdup("v");
		res->cells = xcalloc(1, sizeof(char *));
		res->cells[0] = xstrdup(p->poll_answer);
		if (out)
			*out = res;
		else
			db_result_free(res);
		return 0;
	}
	return p->then->ops->exec(p->then, sql, out, err);
}

static void polled_close(struct db *db)
{
	db_close(((struct polled_db *)db)->then);
}

static const struct db_ops polled_ops = { .exec = polled_exec, .close = polled_close };

struct polled_world {
	struct world w;
	const struct db_fake_reply *then;
	size_t nthen;
};

static int polled_connect(struct db **out, const struct store *store, const struct server *srv,
			  void *ctx, struct cms_error *err)
{
	struct polled_world *pw = ctx;
	struct polled_db *p;

	if (strcmp(srv->name, "pool-b") != 0)
		return fake_connect(out, store, srv, &pw->w, err);
	p = xcalloc(1, sizeof(*p));
	p->base.ops = &polled_ops;
	p->base.label = xstrdup(srv->name);
	p->poll_sql = "SELECT pg_last_wal_replay_lsn()";
	p->poll_answer = "0/5000000";
	p->then = db_fake_new(srv->name, pw->then, pw->nthen);
	*out = &p->base;
	return 0;
}

static void test_catch_up_timeout_names_the_wait_in_seconds(void **state)
{
	const struct db_fake_reply a[] = {
		VAL("SELECT pg_current_wal_lsn()", "0/5000148"),
	};
	const struct db_fake_reply then[] = {
		VAL("SELECT pg_is_wal_replay_paused()", "0"),
	};
	struct cms_error err = CMS_ERROR_INIT;
	struct polled_world pw;
	struct engine *e = NULL;
	int64_t start;

	(void)state;
	world_init(&pw.w);
	SESSION(&pw.w, "pool-a", a);
	pw.then = then;
	pw.nthen = ARRAY_SIZE(then);
	assert_int_equal(engine_open(&e, &pw.w.store, polled_connect, &pw, &err), 0);
	start = cms_monotonic_ms();
	assert_int_equal(e->ops->catch_up(e, "pool-a", "pool-b", 1000, &err), CMS_EREFUSED);
	assert_true(cms_monotonic_ms() - start >= 1000);
	assert_string_equal(err.message,
			    "standby 'pool-b' did not catch up within 1s (replayed 0/5000000, needed 0/5000148)");
	assert_null(err.hint);
	cms_error_clear(&err);
	engine_close(e);
}

static void test_catch_up_stops_at_a_failed_poll(void **state)
{
	const struct db_fake_reply a[] = {
		VAL("SELECT pg_current_wal_lsn()", "0/5000148"),
	};
	const struct db_fake_reply b[] = {
		VAL("SELECT pg_last_wal_replay_lsn()", "0/5000000"),
		FAIL("SELECT pg_last_wal_replay_lsn()", "statement failed on server 'pool-b': connection lost"),
	};
	struct cms_error err = CMS_ERROR_INIT;
	struct world w;
	struct engine *e;

	(void)state;
	world_init(&w);
	SESSION(&w, "pool-a", a);
	SESSION(&w, "pool-b", b);
	e = open_engine(&w);
	assert_int_equal(e->ops->catch_up(e, "pool-a", "pool-b", 30000, &err), CMS_ERROR);
	assert_string_equal(err.message, "statement failed on server 'pool-b': connection lost");
	TRANSCRIPT(e,
		   "pool-a: SELECT pg_current_wal_lsn()",
		   "!pool-b: SELECT pg_last_wal_replay_lsn() -- polled 2 times");
	cms_error_clear(&err);
	engine_close(e);
}

/* ---- promote / demote ---- */

static void test_promote_polls_checkpoints_and_clears_old_fence(void **state)
{
	const struct db_fake_reply b[] = {
		VAL(SQL_IN_RECOVERY, "1"),
		VAL(SQL_SHOW_RO, "on"),
		DONE(SQL_SESSION_RW),
		DONE(SQL_LOCAL_COMMIT),
		/* what to reopen is read before the promotion, on the idle standby */
		ROWS(SQL_TO_OPEN, 1, namecols, "lis", "xds"),
		VAL("SELECT pg_promote(false)", "1"),
		VAL(SQL_IN_RECOVERY, "1"),
		VAL(SQL_IN_RECOVERY, "1"),
		VAL(SQL_IN_RECOVERY, "0"),
		DONE(SQL_UNFENCE),
		VAL(SQL_RELOAD, "1"),
		DONE(SQL_OPEN("lis") "; " SQL_OPEN("xds")),
		/* no catch-up vouched for the reading: looked at again, after
		 * the window */
		NOROWS(SQL_TO_OPEN, 1, namecols),
		DONE(SQL_SESSION_RESET),
		VAL(SQL_IN_RECOVERY, "0"),
		DONE("CHECKPOINT"),
	};
	const struct db_fake_reply verify[] = {
		VAL(SQL_SHOW_RO, "off"),
	};
	struct cms_error err = CMS_ERROR_INIT;
	struct world w;
	struct engine *e;

	(void)state;
	world_init(&w);
	SESSION(&w, "pool-b", b);
	SESSION(&w, "pool-b", verify);
	e = open_engine(&w);
	assert_int_equal(e->ops->promote(e, "pool-b", "pool-a", false, &err), 0);
	assert_all_sessions_used(&w);
	/* Closed once the databases took connections again, before the
	 * re-read and the CHECKPOINT. */
	assert_true(e->window_closed > 0);
	TRANSCRIPT(e,
		   "pool-b: " SQL_IN_RECOVERY,
		   "pool-b: " SQL_SHOW_RO,
		   "pool-b: " SQL_SESSION_RW,
		   "pool-b: " SQL_LOCAL_COMMIT,
		   "pool-b: " SQL_TO_OPEN,
		   "pool-b: SELECT pg_promote(false)",
		   "pool-b: " SQL_IN_RECOVERY " -- polled 3 times",
		   "pool-b: " SQL_UNFENCE,
		   "pool-b: " SQL_RELOAD,
		   "pool-b: " SQL_SHOW_RO,
		   "pool-b: " SQL_OPEN("lis") "; " SQL_OPEN("xds"),
		   "pool-b: " SQL_TO_OPEN,
		   "pool-b: " SQL_SESSION_RESET,
		   "pool-b: " SQL_IN_RECOVERY,
		   "pool-b: CHECKPOINT");
	assert_int_equal(e->nfollowups, 0);
	engine_close(e);
}

/* A switchover as apply runs it: check_target readies the standby (its
 * read-only setting read, the session set for writes) before the fence
 * opens the window; after the fence closed every database and catch-up
 * saw it replayed, the promotion reopens all of them without reading
 * which, and cmsctl's own override on the old primary is reset once the
 * window has closed. */
static void test_switchover_keeps_reads_out_of_the_window(void **state)
{
	const struct db_fake_reply a[] = {
		/* fence */
		NOROWS(SQL_OVERRIDES, 3, ovcols),
		VAL(SQL_CURRENT_DATABASE, "postgres"),
		ROWS(SQL_TO_CLOSE, 1, namecols, "lis", "xds"),
		VAL(SQL_SESSIONS_TO_END, "0"),
		DONE(SQL_SESSION_RW),
		DONE(SQL_LOCAL_COMMIT),
		DONE(SQL_FENCE),
		VAL(SQL_RELOAD, "1"),
		DONE(SQL_CLOSE("lis") "; " SQL_CLOSE("xds")),
		NOROWS(SQL_TERMINATE, 2, termcols),
		VAL(SQL_OPEN_LEFT, "0"),
		/* catch_up: the override stays while the window is open */
		VAL("SELECT pg_current_wal_lsn()", "0/5000200"),
		/* demote, after the promotion */
		DONE(SQL_SESSION_RESET),
		VAL(SQL_IN_RECOVERY, "0"),
		VAL(SQL_SHOW_RO, "on"),
		VAL(SQL_OPEN_LEFT, "0"),
	};
	const struct db_fake_reply verify[] = {
		VAL(SQL_BACKEND_PID, "4300"),
		VAL(SQL_SHOW_RO, "on"),
		FAIL(SQL_WRITE_PROBE, READ_ONLY_REFUSAL),
	};
	const struct db_fake_reply b[] = {
		/* check_target */
		ID("1", SYSID),
		ROWS(SQL_DATABASES, 1, dbcols, "xds", "lis"),
		VAL(SQL_SHOW_RO, "off"),
		DONE(SQL_SESSION_RW),
		DONE(SQL_LOCAL_COMMIT),
		/* catch_up */
		VAL("SELECT pg_last_wal_replay_lsn()", "0/5000200"),
		/* promote */
		VAL(SQL_IN_RECOVERY, "1"),
		VAL("SELECT pg_promote(false)", "1"),
		VAL(SQL_IN_RECOVERY, "0"),
		DONE(SQL_OPEN("xds") "; " SQL_OPEN("lis")),
		DONE(SQL_SESSION_RESET),
		VAL(SQL_IN_RECOVERY, "0"),
		DONE("CHECKPOINT"),
	};
	struct cms_error err = CMS_ERROR_INIT;
	struct world w;
	struct engine *e;
	int64_t opened;

	(void)state;
	world_init(&w);
	SESSION(&w, "pool-b", b);
	SESSION(&w, "pool-a", a);
	SESSION(&w, "pool-a", verify);
	e = open_engine(&w);
	assert_int_equal(e->ops->check_target(e, "pool-b", &err), 0);
	assert_int_equal(e->ops->fence(e, "pool-a", &err), 0);
	opened = e->window_opened;
	assert_true(opened > 0);
	assert_int_equal(e->ops->catch_up(e, "pool-a", "pool-b", 30000, &err), 0);
	assert_int_equal(e->ops->promote(e, "pool-b", "pool-a", false, &err), 0);
	assert_true(e->window_closed >= opened);
	assert_int_equal(e->ops->demote(e, "pool-a", "pool-b", &err), 0);
	assert_null(err.message);
	assert_all_sessions_used(&w);
	TRANSCRIPT(e,
		   "pool-b: " SQL_IDENTITY,
		   "pool-b: " SQL_DATABASES,
		   "pool-b: " SQL_SHOW_RO,
		   "pool-b: " SQL_SESSION_RW,
		   "pool-b: " SQL_LOCAL_COMMIT,
		   "pool-a: " SQL_OVERRIDES,
		   "pool-a: " SQL_CURRENT_DATABASE,
		   "pool-a: " SQL_BACKEND_PID,
		   "pool-a: " SQL_TO_CLOSE,
		   "pool-a: " SQL_SESSIONS_TO_END,
		   "pool-a: " SQL_SESSION_RW,
		   "pool-a: " SQL_LOCAL_COMMIT,
		   "pool-a: " SQL_FENCE,
		   "pool-a: " SQL_RELOAD,
		   "pool-a: " SQL_CLOSE("lis") "; " SQL_CLOSE("xds"),
		   "pool-a: " SQL_TERMINATE,
		   "pool-a: " SQL_OPEN_LEFT,
		   "pool-a: " SQL_SHOW_RO,
		   "!pool-a: " SQL_WRITE_PROBE,
		   "pool-a: SELECT pg_current_wal_lsn()",
		   "pool-b: SELECT pg_last_wal_replay_lsn()",
		   "pool-b: " SQL_IN_RECOVERY,
		   "pool-b: SELECT pg_promote(false)",
		   "pool-b: " SQL_IN_RECOVERY,
		   "pool-b: " SQL_OPEN("xds") "; " SQL_OPEN("lis"),
		   "pool-b: " SQL_SESSION_RESET,
		   "pool-b: " SQL_IN_RECOVERY,
		   "pool-b: CHECKPOINT",
		   "pool-a: " SQL_SESSION_RESET,
		   "pool-a: " SQL_IN_RECOVERY,
		   "pool-a: " SQL_SHOW_RO,
		   "pool-a: " SQL_OPEN_LEFT);
	engine_close(e);
}

static void test_promote_forced_records_last_known_positions(void **state)
{
	/* A probe first: pool-a unreachable, dublin-dr's position known. */
	const struct db_fake_reply b[] = {
		ID("1", SYSID),
		VAL(SQL_SHOW_RO, "off"),
		ROWS(SQL_DATABASES, 1, dbcols, "xds", "lis"),
		ROWS(SQL_STANDBY_POSITION, 2, sbcols, "0/5000100", "0"),
		NOROWS(SQL_WAL_RECEIVER, 4, rcvcols),
		VAL(SQL_CHECKPOINT_TIMELINE, "1"),
		/* promote */
		VAL(SQL_IN_RECOVERY, "1"),
		VAL(SQL_SHOW_RO, "off"),
		DONE(SQL_SESSION_RW),
		DONE(SQL_LOCAL_COMMIT),
		NOROWS(SQL_TO_OPEN, 1, namecols),
		VAL("SELECT pg_last_wal_replay_lsn()", "0/5000148"),
		VAL("SELECT pg_promote(false)", "1"),
		VAL(SQL_IN_RECOVERY, "0"),
		NOROWS(SQL_TO_OPEN, 1, namecols),
		DONE(SQL_SESSION_RESET),
		VAL(SQL_IN_RECOVERY, "0"),
		DONE("CHECKPOINT"),
	};
	const struct db_fake_reply dr[] = {
		ID("1", SYSID),
		VAL(SQL_SHOW_RO, "off"),
		ROWS(SQL_DATABASES, 1, dbcols, "xds", "lis"),
		ROWS(SQL_STANDBY_POSITION, 2, sbcols, "0/5000000", "0"),
		NOROWS(SQL_WAL_RECEIVER, 4, rcvcols),
		VAL(SQL_CHECKPOINT_TIMELINE, "1"),
	};
	struct cms_error err = CMS_ERROR_INIT;
	struct observation obs = { 0 };
	struct world w;
	struct engine *e;

	(void)state;
	world_init(&w);
	SESSION(&w, "pool-b", b);
	SESSION(&w, "dublin-dr", dr);
	e = open_engine(&w);
	assert_int_equal(engine_probe(e, &obs, &err), 0);
	observation_free(&obs);
	assert_int_equal(e->ops->promote(e, "pool-b", "pool-a", true, &err), 0);
	assert_true(has_followup(e, "forced promotion of 'pool-b': last known WAL positions: pool-a unknown, "
				    "pool-b 0/5000148 (replayed, at promotion), dublin-dr 0/5000000 (replayed, at probe)"));
	assert_true(has_followup(e, "server 'dublin-dr' must be re-pointed at the new primary 'pool-b'"));
	engine_close(e);
}

static void test_promote_times_out_when_recovery_does_not_end(void **state)
{
	/* The wait is bounded by the policy's catch_up_timeout: with 1 ms the
	 * first poll (or, on a slow machine, the second) ends it. */
	const struct db_fake_reply b[] = {
		VAL(SQL_IN_RECOVERY, "1"),
		VAL(SQL_SHOW_RO, "off"),
		DONE(SQL_SESSION_RW),
		DONE(SQL_LOCAL_COMMIT),
		NOROWS(SQL_TO_OPEN, 1, namecols),
		VAL("SELECT pg_promote(false)", "1"),
		VAL(SQL_IN_RECOVERY, "1"),
		VAL(SQL_IN_RECOVERY, "1"),
	};
	struct cms_error err = CMS_ERROR_INIT;
	struct world w;
	struct engine *e;

	(void)state;
	world_init(&w);
	w.store.policy.catch_up_timeout_ms = 1;
	SESSION(&w, "pool-b", b);
	e = open_engine(&w);
	assert_int_equal(e->ops->promote(e, "pool-b", "pool-a", false, &err), CMS_ERROR);
	assert_string_equal(err.message, "server 'pool-b' was asked to promote but is still in recovery after 1ms");
	cms_error_clear(&err);
	engine_close(e);
}

static void test_promote_of_already_promoted_target_finishes(void **state)
{
	const struct db_fake_reply b[] = {
		VAL(SQL_IN_RECOVERY, "false"),
		VAL(SQL_SHOW_RO, "off"),
		DONE(SQL_SESSION_RW),
		DONE(SQL_LOCAL_COMMIT),
		NOROWS(SQL_TO_OPEN, 1, namecols),
		DONE(SQL_SESSION_RESET),
		VAL(SQL_IN_RECOVERY, "f"),
		DONE("CHECKPOINT"),
	};
	struct cms_error err = CMS_ERROR_INIT;
	struct world w;
	struct engine *e;

	(void)state;
	world_init(&w);
	SESSION(&w, "pool-b", b);
	e = open_engine(&w);
	assert_int_equal(e->ops->promote(e, "pool-b", "pool-a", false, &err), 0);
	TRANSCRIPT(e,
		   "pool-b: " SQL_IN_RECOVERY,
		   "pool-b: " SQL_SHOW_RO,
		   "pool-b: " SQL_SESSION_RW,
		   "pool-b: " SQL_LOCAL_COMMIT,
		   "pool-b: " SQL_TO_OPEN,
		   "pool-b: " SQL_SESSION_RESET,
		   "pool-b: " SQL_IN_RECOVERY,
		   "pool-b: CHECKPOINT");
	engine_close(e);
}

static void test_demote_leaves_fenced_and_advises_reseed(void **state)
{
	const struct db_fake_reply a[] = {
		VAL(SQL_IN_RECOVERY, "0"),
		VAL(SQL_SHOW_RO, "on"),
		VAL(SQL_OPEN_LEFT, "0"),
	};
	struct cms_error err = CMS_ERROR_INIT;
	struct world w;
	struct engine *e;

	(void)state;
	world_init(&w);
	SESSION(&w, "pool-a", a);
	e = open_engine(&w);
	assert_int_equal(e->ops->demote(e, "pool-a", "pool-b", &err), 0);
	assert_int_equal(e->nfollowups, 1);
	assert_string_equal(e->followups[0],
			    "server 'pool-a' is fenced (read-only) and must be re-seeded as a standby of 'pool-b' "
			    "(pg_rewind needs wal_log_hints=on or data checksums, and the WAL since the fork kept) "
			    "before it can serve as mirror");
	TRANSCRIPT(e, "pool-a: " SQL_IN_RECOVERY, "pool-a: " SQL_SHOW_RO, "pool-a: " SQL_OPEN_LEFT);
	engine_close(e);
}

static void test_demote_unreachable_old_primary_is_a_followup(void **state)
{
	struct cms_error err = CMS_ERROR_INIT;
	struct world w;
	struct engine *e;

	(void)state;
	world_init(&w);
	e = open_engine(&w);
	assert_int_equal(e->ops->demote(e, "pool-a", "pool-b", &err), 0);
	assert_null(err.message);
	assert_int_equal(e->nfollowups, 1);
	assert_string_equal(e->followups[0],
			    "server 'pool-a' was unreachable at failover: it must not be restarted as a primary; "
			    "re-seed it from 'pool-b'");
	engine_close(e);
}

/* Read-only, but a store database takes connections again (an unfence by
 * hand of one half): only both halves are a fence, so it is fenced again. */
static void test_demote_refences_when_a_database_was_reopened(void **state)
{
	const struct db_fake_reply a[] = {
		VAL(SQL_IN_RECOVERY, "0"),
		VAL(SQL_SHOW_RO, "on"),
		VAL(SQL_OPEN_LEFT, "1"),
		NOROWS(SQL_OVERRIDES, 3, ovcols),
		VAL(SQL_CURRENT_DATABASE, "postgres"),
		ROWS(SQL_TO_CLOSE, 1, namecols, "xds"),
		VAL(SQL_SESSIONS_TO_END, "0"),
		DONE(SQL_SESSION_RW),
		DONE(SQL_LOCAL_COMMIT),
		DONE(SQL_FENCE),
		VAL(SQL_RELOAD, "1"),
		DONE(SQL_CLOSE("xds")),
		NOROWS(SQL_TERMINATE, 2, termcols),
		VAL(SQL_OPEN_LEFT, "0"),
	};
	const struct db_fake_reply verify[] = {
		VAL(SQL_BACKEND_PID, "4300"),
		VAL(SQL_SHOW_RO, "on"),
		FAIL(SQL_WRITE_PROBE, READ_ONLY_REFUSAL),
	};
	struct cms_error err = CMS_ERROR_INIT;
	struct world w;
	struct engine *e;

	(void)state;
	world_init(&w);
	SESSION(&w, "pool-a", a);
	SESSION(&w, "pool-a", verify);
	e = open_engine(&w);
	assert_int_equal(e->ops->demote(e, "pool-a", "pool-b", &err), 0);
	assert_all_sessions_used(&w);
	assert_true(has_followup(e, "server 'pool-a' is fenced (read-only)"));
	engine_close(e);
}

static void test_demote_refences_an_unfenced_old_primary(void **state)
{
	const struct db_fake_reply a[] = {
		VAL(SQL_IN_RECOVERY, "0"),
		VAL(SQL_SHOW_RO, "off"),
		NOROWS(SQL_OVERRIDES, 3, ovcols),
		VAL(SQL_CURRENT_DATABASE, "postgres"),
		NOROWS(SQL_TO_CLOSE, 1, namecols),
		VAL(SQL_SESSIONS_TO_END, "0"),
		DONE(SQL_SESSION_RW),
		DONE(SQL_LOCAL_COMMIT),
		DONE(SQL_FENCE),
		VAL(SQL_RELOAD, "1"),
		NOROWS(SQL_TERMINATE, 2, termcols),
		VAL(SQL_OPEN_LEFT, "0"),
	};
	const struct db_fake_reply verify[] = {
		VAL(SQL_BACKEND_PID, "4300"),
		VAL(SQL_SHOW_RO, "on"),
		FAIL(SQL_WRITE_PROBE, READ_ONLY_REFUSAL),
	};
	struct cms_error err = CMS_ERROR_INIT;
	struct world w;
	struct engine *e;

	(void)state;
	world_init(&w);
	SESSION(&w, "pool-a", a);
	SESSION(&w, "pool-a", verify);
	e = open_engine(&w);
	assert_int_equal(e->ops->demote(e, "pool-a", "pool-b", &err), 0);
	assert_all_sessions_used(&w);
	assert_true(has_followup(e, "server 'pool-a' is fenced (read-only)"));
	engine_close(e);
}

/* A server that refuses the login, or is starting up, is up: it answered,
 * though it is not reachable for the probe. */
static void test_probe_refused_login_answered(void **state)
{
	static const char *const refusals[] = {
		"FATAL:  password authentication failed for user \"cmsctl\"",
		"FATAL:  the database system is starting up",
		"FATAL:  no pg_hba.conf entry for host \"10.0.0.9\"",
	};
	struct cms_error err = CMS_ERROR_INIT;
	struct observation obs;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(refusals) / sizeof(refusals[0]); i++) {
		struct world w;
		struct engine *e;
		const struct server_obs *so;

		world_init(&w);
		w.refusal = refusals[i];
		e = open_engine(&w);
		memset(&obs, 0, sizeof(obs));
		assert_int_equal(engine_probe(e, &obs, &err), 0);
		so = observation_find(&obs, "pool-a");
		assert_false(so->reachable);
		assert_true(so->answered);
		observation_free(&obs);
		engine_close(e);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_probe_reads_primary_and_standbys),
		cmocka_unit_test(test_probe_reports_unreachable_missing_and_bad_values),
		cmocka_unit_test(test_probe_refused_login_answered),
		cmocka_unit_test(test_probe_after_switchover_sees_fenced_and_new_timeline),
		cmocka_unit_test(test_standby_of_another_cluster_is_refused),
		cmocka_unit_test(test_check_target_refuses_primary_and_missing_databases),
		cmocka_unit_test(test_check_target_unreachable_is_refused),
		cmocka_unit_test(test_probe_after_check_target_reads_the_servers_setting),
		cmocka_unit_test(test_fence_closes_databases_sets_reloads_terminates_and_verifies),
		cmocka_unit_test(test_fence_fails_when_a_database_still_takes_connections),
		cmocka_unit_test(test_fence_refused_when_the_session_uses_a_store_database),
		cmocka_unit_test(test_fence_fails_when_a_write_is_accepted),
		cmocka_unit_test(test_fence_refused_when_a_database_overrides_read_only),
		cmocka_unit_test(test_unfence_opens_databases_resets_reloads_and_verifies),
		cmocka_unit_test(test_catch_up_polls_replay_until_source_position),
		cmocka_unit_test(test_catch_up_timeout_refuses_and_names_paused_replay),
		cmocka_unit_test(test_catch_up_timeout_names_the_wait_in_seconds),
		cmocka_unit_test(test_catch_up_stops_at_a_failed_poll),
		cmocka_unit_test(test_promote_polls_checkpoints_and_clears_old_fence),
		cmocka_unit_test(test_switchover_keeps_reads_out_of_the_window),
		cmocka_unit_test(test_promote_forced_records_last_known_positions),
		cmocka_unit_test(test_promote_times_out_when_recovery_does_not_end),
		cmocka_unit_test(test_promote_of_already_promoted_target_finishes),
		cmocka_unit_test(test_demote_leaves_fenced_and_advises_reseed),
		cmocka_unit_test(test_demote_unreachable_old_primary_is_a_followup),
		cmocka_unit_test(test_demote_refences_when_a_database_was_reopened),
		cmocka_unit_test(test_demote_refences_an_unfenced_old_primary),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
