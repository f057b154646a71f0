/*
 * The SQL Server engine against scripted sessions: every mirroring role
 * and state it reads (PRINCIPAL / MIRROR, SYNCHRONIZED / SYNCHRONIZING /
 * SUSPENDED / DISCONNECTED, SAFETY FULL / OFF, with and without a witness,
 * not mirrored, restoring backups), availability group replicas, every
 * refusal, and the exact statements, in order, of a switchover, a forced
 * service, an availability group failover (planned and forced) and a
 * recovery of restored copies.
 *
 * No SQL Server runs here: these tests pin what the engine sends and how
 * it reads answers shaped like SQL Server's.  A custom engine_connect_fn
 * hands out one fake session per server, each with its own script; a
 * server can also be made unreachable.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "applier/db.h"
#include "tests/unit/db_fake.h"
#include "applier/engine.h"
#include "applier/engine_mssql.h"
#include "applier/restore_decide.h"
#include "common/buf.h"
#include "common/util.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- canned answers ----------------------------------------------------- */

#define Q_DBS "SELECT d.name, d.state_desc, d.is_read_only, m.mirroring_role_desc, " \
	"m.mirroring_state_desc, m.mirroring_safety_level_desc, m.mirroring_partner_name, " \
	"m.mirroring_witness_name, m.mirroring_witness_state_desc, m.mirroring_role_sequence, " \
	"m.mirroring_failover_lsn, m.mirroring_end_of_log_lsn, d.is_in_standby " \
	"FROM sys.databases d LEFT JOIN sys.database_mirroring m ON m.database_id = d.database_id " \
	"WHERE d.name IN (N'xds', N'lis')"

#define Q_AG "SELECT d.name, d.state_desc, d.is_read_only, ars.role_desc, " \
	"drs.synchronization_state_desc, drs.synchronization_health_desc, drs.is_suspended, " \
	"c.is_failover_ready, drs.log_send_queue_size, drs.redo_queue_size, drs.last_hardened_lsn " \
	"FROM sys.availability_groups g " \
	"JOIN sys.dm_hadr_availability_replica_states ars ON ars.group_id = g.group_id AND ars.is_local = 1 " \
	"JOIN sys.dm_hadr_database_replica_states drs ON drs.replica_id = ars.replica_id AND drs.is_local = 1 " \
	"JOIN sys.databases d ON d.database_id = drs.database_id " \
	"LEFT JOIN sys.dm_hadr_database_replica_cluster_states c " \
	"ON c.replica_id = drs.replica_id AND c.group_database_id = drs.group_database_id " \
	"WHERE g.name = N'cms_ag' AND d.name IN (N'xds', N'lis')"

static const char *const dbs_cols[] = {
	"name", "state_desc", "is_read_only", "mirroring_role_desc", "mirroring_state_desc",
	"mirroring_safety_level_desc", "mirroring_partner_name", "mirroring_witness_name",
	"mirroring_witness_state_desc", "mirroring_role_sequence", "mirroring_failover_lsn",
	"mirroring_end_of_log_lsn", "is_in_standby",
};
static const char *const ag_cols[] = {
	"name", "state_desc", "is_read_only", "role_desc", "synchronization_state_desc",
	"synchronization_health_desc", "is_suspended", "is_failover_ready", "log_send_queue_size",
	"redo_queue_size", "last_hardened_lsn",
};

#define PA "TCP://sql-a.litwareinc.com:5022"
#define PB "TCP://sql-b.litwareinc.com:5022"
#define PC "TCP://sql-c.litwareinc.com:5022"
#define WIT "TCP://witness.litwareinc.com:5022"
#define LSN_X "36000000012300001"
#define LSN_L "36000000045600001"

/* A mirrored database: name, state_desc, role, state, safety, partner,
 * witness, witness state, role sequence, LSN. */
#define MIR(n, st, role, ms, safety, partner, wit, ws, seq, lsn) \
	n, st, "0", role, ms, safety, partner, wit, ws, seq, lsn, lsn, "0"
/* A database outside mirroring: every mirroring_ column NULL. */
#define NOMIR(n, st) n, st, "0", NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, "0"
/* A copy restored WITH STANDBY: ONLINE, read-only, outside mirroring. */
#define STANDBY(n) n, "ONLINE", "1", NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, "1"
/* An availability database of the local replica. */
#define AGDB(n, st, role, sync, health, susp, ready, send, redo) \
	n, st, "0", role, sync, health, susp, ready, send, redo, LSN_X

#define DBS(cells) { Q_DBS, NULL, 13, dbs_cols, ARRAY_SIZE(cells) / 13, cells }
#define AG(cells) { Q_AG, NULL, 11, ag_cols, ARRAY_SIZE(cells) / 11, cells }
#define STMT(sql) { sql, NULL, 0, NULL, 0, NULL }
#define Q_CLUSTER MSSQL_AG_CLUSTER_SQL_HEAD "cms_ag''')"
static const char *const cluster_cols[] = { "" };
static const char *const cluster_wsfc[] = { "WSFC" };
static const char *const cluster_external[] = { "EXTERNAL" };
static const char *const cluster_none[] = { "NONE" };
#define CLUSTER_WSFC { Q_CLUSTER, NULL, 1, cluster_cols, 1, cluster_wsfc }
#define CLUSTER_EXTERNAL { Q_CLUSTER, NULL, 1, cluster_cols, 1, cluster_external }
#define CLUSTER_NONE { Q_CLUSTER, NULL, 1, cluster_cols, 1, cluster_none }
#define FAILS(sql, msg) { sql, msg, 0, NULL, 0, NULL }

/* pool-a, principal of both databases, pool-b its synchronous partner */
static const char *const a_principal[] = {
	MIR("xds", "ONLINE", "PRINCIPAL", "SYNCHRONIZED", "FULL", PB, NULL, "UNKNOWN", "3", LSN_X),
	MIR("lis", "ONLINE", "PRINCIPAL", "SYNCHRONIZED", "FULL", PB, NULL, "UNKNOWN", "3", LSN_L),
};
static const char *const a_principal_synchronizing[] = {
	MIR("xds", "ONLINE", "PRINCIPAL", "SYNCHRONIZED", "FULL", PB, NULL, "UNKNOWN", "3", LSN_X),
	MIR("lis", "ONLINE", "PRINCIPAL", "SYNCHRONIZING", "FULL", PB, NULL, "UNKNOWN", "3", LSN_L),
};
static const char *const a_principal_safety_off[] = {
	MIR("xds", "ONLINE", "PRINCIPAL", "SYNCHRONIZED", "OFF", PB, NULL, "UNKNOWN", "3", LSN_X),
	MIR("lis", "ONLINE", "PRINCIPAL", "SYNCHRONIZED", "OFF", PB, NULL, "UNKNOWN", "3", LSN_L),
};
static const char *const a_principal_suspended[] = {
	MIR("xds", "ONLINE", "PRINCIPAL", "SUSPENDED", "FULL", PB, NULL, "UNKNOWN", "3", LSN_X),
	MIR("lis", "ONLINE", "PRINCIPAL", "SYNCHRONIZED", "FULL", PB, NULL, "UNKNOWN", "3", LSN_L),
};
static const char *const a_principal_other_partner[] = {
	MIR("xds", "ONLINE", "PRINCIPAL", "SYNCHRONIZED", "FULL", PC, NULL, "UNKNOWN", "3", LSN_X),
	MIR("lis", "ONLINE", "PRINCIPAL", "SYNCHRONIZED", "FULL", PB, NULL, "UNKNOWN", "3", LSN_L),
};
static const char *const a_mirror[] = {
	MIR("xds", "RESTORING", "MIRROR", "SYNCHRONIZED", "FULL", PB, NULL, "UNKNOWN", "4", LSN_X),
	MIR("lis", "RESTORING", "MIRROR", "SYNCHRONIZED", "FULL", PB, NULL, "UNKNOWN", "4", LSN_L),
};
static const char *const a_mirror_suspended[] = {
	MIR("xds", "RESTORING", "MIRROR", "SUSPENDED", "FULL", PB, NULL, "UNKNOWN", "4", LSN_X),
	MIR("lis", "RESTORING", "MIRROR", "SUSPENDED", "FULL", PB, NULL, "UNKNOWN", "4", LSN_L),
};
static const char *const a_standalone[] = {
	NOMIR("xds", "ONLINE"),
	NOMIR("lis", "ONLINE"),
};
static const char *const a_offline[] = {
	NOMIR("xds", "OFFLINE"),
	NOMIR("lis", "OFFLINE"),
};
static const char *const a_mixed_roles[] = {
	MIR("xds", "ONLINE", "PRINCIPAL", "SYNCHRONIZED", "FULL", PB, NULL, "UNKNOWN", "3", LSN_X),
	MIR("lis", "RESTORING", "MIRROR", "SYNCHRONIZED", "FULL", PB, NULL, "UNKNOWN", "3", LSN_L),
};
static const char *const a_bad_sequence[] = {
	MIR("xds", "ONLINE", "PRINCIPAL", "SYNCHRONIZED", "FULL", PB, NULL, "UNKNOWN", "abc", LSN_X),
	MIR("lis", "ONLINE", "PRINCIPAL", "SYNCHRONIZED", "FULL", PB, NULL, "UNKNOWN", "3", LSN_L),
};
static const char *const a_only_xds[] = {
	NOMIR("xds", "ONLINE"),
};

/* pool-b in every state a mirror can be in */
static const char *const b_mirror[] = {
	MIR("xds", "RESTORING", "MIRROR", "SYNCHRONIZED", "FULL", PA, NULL, "UNKNOWN", "3", LSN_X),
	MIR("lis", "RESTORING", "MIRROR", "SYNCHRONIZED", "FULL", PA, NULL, "UNKNOWN", "3", LSN_L),
};
static const char *const b_mirror_synchronizing[] = {
	MIR("xds", "RESTORING", "MIRROR", "SYNCHRONIZED", "FULL", PA, NULL, "UNKNOWN", "3", LSN_X),
	MIR("lis", "RESTORING", "MIRROR", "SYNCHRONIZING", "FULL", PA, NULL, "UNKNOWN", "3", LSN_L),
};
static const char *const b_mirror_pending[] = {
	MIR("xds", "RESTORING", "MIRROR", "PENDING_FAILOVER", "FULL", PA, NULL, "UNKNOWN", "3", LSN_X),
	MIR("lis", "RESTORING", "MIRROR", "PENDING_FAILOVER", "FULL", PA, NULL, "UNKNOWN", "3", LSN_L),
};
static const char *const b_mirror_suspended[] = {
	MIR("xds", "RESTORING", "MIRROR", "SYNCHRONIZED", "FULL", PA, NULL, "UNKNOWN", "3", LSN_X),
	MIR("lis", "RESTORING", "MIRROR", "SUSPENDED", "FULL", PA, NULL, "UNKNOWN", "3", LSN_L),
};
static const char *const b_mirror_disconnected[] = {
	MIR("xds", "RESTORING", "MIRROR", "DISCONNECTED", "FULL", PA, NULL, "UNKNOWN", "3", LSN_X),
	MIR("lis", "RESTORING", "MIRROR", "DISCONNECTED", "FULL", PA, NULL, "UNKNOWN", "3", LSN_L),
};
static const char *const b_mirror_safety_off[] = {
	MIR("xds", "RESTORING", "MIRROR", "SYNCHRONIZING", "OFF", PA, NULL, "UNKNOWN", "3", LSN_X),
	MIR("lis", "RESTORING", "MIRROR", "SYNCHRONIZING", "OFF", PA, NULL, "UNKNOWN", "3", LSN_L),
};
static const char *const b_mirror_witness[] = {
	MIR("xds", "RESTORING", "MIRROR", "SYNCHRONIZED", "FULL", PA, WIT, "CONNECTED", "3", LSN_X),
	MIR("lis", "RESTORING", "MIRROR", "SYNCHRONIZED", "FULL", PA, WIT, "CONNECTED", "3", LSN_L),
};
static const char *const b_mirror_disconnected_witness_connected[] = {
	MIR("xds", "RESTORING", "MIRROR", "DISCONNECTED", "FULL", PA, WIT, "CONNECTED", "3", LSN_X),
	MIR("lis", "RESTORING", "MIRROR", "DISCONNECTED", "FULL", PA, WIT, "CONNECTED", "3", LSN_L),
};
static const char *const b_mirror_disconnected_witness_lost[] = {
	MIR("xds", "RESTORING", "MIRROR", "DISCONNECTED", "FULL", PA, WIT, "DISCONNECTED", "3", LSN_X),
	MIR("lis", "RESTORING", "MIRROR", "DISCONNECTED", "FULL", PA, WIT, "DISCONNECTED", "3", LSN_L),
};
static const char *const b_mirror_no_state[] = {
	MIR("xds", "RESTORING", "MIRROR", NULL, NULL, NULL, NULL, NULL, "3", LSN_X),
	MIR("lis", "RESTORING", "MIRROR", NULL, NULL, NULL, NULL, NULL, "3", LSN_L),
};
static const char *const b_principal[] = {
	MIR("xds", "ONLINE", "PRINCIPAL", "SYNCHRONIZED", "FULL", PA, NULL, "UNKNOWN", "4", LSN_X),
	MIR("lis", "ONLINE", "PRINCIPAL", "SYNCHRONIZED", "FULL", PA, NULL, "UNKNOWN", "4", LSN_L),
};
static const char *const b_principal_half[] = {
	MIR("xds", "ONLINE", "PRINCIPAL", "SYNCHRONIZED", "FULL", PA, NULL, "UNKNOWN", "4", LSN_X),
	MIR("lis", "RESTORING", "MIRROR", "SYNCHRONIZED", "FULL", PA, NULL, "UNKNOWN", "3", LSN_L),
};
static const char *const b_principal_forced[] = {
	MIR("xds", "ONLINE", "PRINCIPAL", "DISCONNECTED", "FULL", PA, NULL, "UNKNOWN", "4", LSN_X),
	MIR("lis", "ONLINE", "PRINCIPAL", "DISCONNECTED", "FULL", PA, NULL, "UNKNOWN", "4", LSN_L),
};
static const char *const b_missing_lis[] = {
	MIR("xds", "RESTORING", "MIRROR", "SYNCHRONIZED", "FULL", PA, NULL, "UNKNOWN", "3", LSN_X),
};
static const char *const b_standalone[] = {
	NOMIR("xds", "ONLINE"),
	NOMIR("lis", "ONLINE"),
};
static const char *const b_restoring[] = {
	NOMIR("xds", "RESTORING"),
	NOMIR("lis", "RESTORING"),
};

/* dublin-dr, the backup with restored copies */
static const char *const dr_restoring[] = {
	NOMIR("xds", "RESTORING"),
	NOMIR("lis", "RESTORING"),
};
static const char *const dr_online[] = {
	NOMIR("xds", "ONLINE"),
	NOMIR("lis", "ONLINE"),
};
/* an end-of-log LSN beyond 2^64: 10^23 + 1 */
static const char *const dr_big_lsn[] = {
	"xds", "RESTORING", "1", NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, "100000000000000000000001", "0",
	NOMIR("lis", "RESTORING"),
};

/* availability group cms_ag */
static const char *const ag_primary[] = {
	AGDB("xds", "ONLINE", "PRIMARY", "SYNCHRONIZED", "HEALTHY", "0", "1", NULL, NULL),
	AGDB("lis", "ONLINE", "PRIMARY", "SYNCHRONIZED", "HEALTHY", "0", "1", NULL, NULL),
};
static const char *const ag_secondary_ready[] = {
	AGDB("xds", "ONLINE", "SECONDARY", "SYNCHRONIZED", "HEALTHY", "0", "1", "0", "0"),
	AGDB("lis", "ONLINE", "SECONDARY", "SYNCHRONIZED", "HEALTHY", "0", "1", "0", "0"),
};
static const char *const ag_secondary_lagging[] = {
	AGDB("xds", "ONLINE", "SECONDARY", "SYNCHRONIZED", "HEALTHY", "0", "1", "0", "0"),
	AGDB("lis", "ONLINE", "SECONDARY", "SYNCHRONIZING", "PARTIALLY_HEALTHY", "0", "0", "10", "5"),
};
static const char *const ag_secondary_suspended[] = {
	AGDB("xds", "ONLINE", "SECONDARY", "NOT SYNCHRONIZING", "NOT_HEALTHY", "1", "0", "0", "0"),
	AGDB("lis", "ONLINE", "SECONDARY", "SYNCHRONIZED", "HEALTHY", "0", "1", "0", "0"),
};
static const char *const ag_secondary_not_synchronizing[] = {
	AGDB("xds", "ONLINE", "SECONDARY", "NOT SYNCHRONIZING", "NOT_HEALTHY", "0", "0", NULL, NULL),
	AGDB("lis", "ONLINE", "SECONDARY", "NOT SYNCHRONIZING", "NOT_HEALTHY", "0", "0", NULL, NULL),
};
static const char *const ag_secondary_reverting[] = {
	AGDB("xds", "ONLINE", "SECONDARY", "REVERTING", "NOT_HEALTHY", "0", "0", NULL, NULL),
	AGDB("lis", "ONLINE", "SECONDARY", "NOT SYNCHRONIZING", "NOT_HEALTHY", "0", "0", NULL, NULL),
};
static const char *const ag_resolving[] = {
	AGDB("xds", "ONLINE", "RESOLVING", "NOT SYNCHRONIZING", "NOT_HEALTHY", "0", NULL, NULL, NULL),
	AGDB("lis", "ONLINE", "RESOLVING", "NOT SYNCHRONIZING", "NOT_HEALTHY", "0", NULL, NULL, NULL),
};
static const char *const ag_secondary_only_xds[] = {
	AGDB("xds", "ONLINE", "SECONDARY", "SYNCHRONIZED", "HEALTHY", "0", "1", "0", "0"),
};

/* ---- harness ------------------------------------------------------------ */

struct fake_server {
	const char *name;
	const struct db_fake_reply *script;
	size_t n;
	const char *connect_error; /* when set, connecting fails with this */
	struct db *db;             /* the session handed out; the engine closes it */
	int connects;
	/* Every session first answers MSSQL_IDENTITY_SQL: by default as the
	 * configured machine and instance; these override (identity_instance
	 * "" answers NULL, the default instance). */
	const char *identity_server;
	const char *identity_instance;
	struct db_fake_reply *with_identity; /* the identity reply, then script */
	char server_name[300];
	const char *identity_cells[2];
};

static const char *const identity_cols[] = { "", "" };

struct t {
	char *dbs[2];
	struct server servers[3];
	struct store st;
	struct fake_server fakes[3];
	struct engine *e;
	struct cms_error err;
};

static int fake_connect(struct db **out, const struct store *store, const struct server *srv,
			void *ctx, struct cms_error *err)
{
	struct t *t = ctx;
	size_t i;

	(void)store;
	for (i = 0; i < ARRAY_SIZE(t->fakes); i++) {
		struct fake_server *f = &t->fakes[i];

		if (!f->name || strcmp(f->name, srv->name) != 0)
			continue;
		f->connects++;
		if (f->connect_error)
			return cms_error_set(err, CMS_ERROR, "cannot connect to server '%s': %s",
					     srv->name, f->connect_error);
		if (f->identity_server) {
			snprintf(f->server_name, sizeof(f->server_name), "%s", f->identity_server);
		} else {
			const char *m = srv->fqdn ? srv->fqdn : srv->name;

			snprintf(f->server_name, sizeof(f->server_name), "%.*s%s%s",
				 (int)strcspn(m, "."), m, srv->instance ? "\\" : "",
				 srv->instance ? srv->instance : "");
		}
		f->identity_cells[0] = f->server_name;
		f->identity_cells[1] = f->identity_instance ? (*f->identity_instance ? f->identity_instance : NULL)
							   : srv->instance;
		free(f->with_identity);
		f->with_identity = xcalloc(f->n + 1, sizeof(*f->with_identity));
		f->with_identity[0] = (struct db_fake_reply){ .sql = MSSQL_IDENTITY_SQL, .ncols = 2,
							      .colnames = identity_cols, .nrows = 1,
							      .cells = f->identity_cells };
		if (f->n)
			memcpy(f->with_identity + 1, f->script, f->n * sizeof(*f->script));
		*out = f->db = db_fake_new(srv->name, f->with_identity, f->n + 1);
		return 0;
	}
	return cms_error_set(err, CMS_ERROR, "test has no fake for server '%s'", srv->name);
}

static struct t *new_t(bool allow_data_loss, const char *ag)
{
	struct t *t = xcalloc(1, sizeof(*t));

	t->dbs[0] = "xds";
	t->dbs[1] = "lis";
	t->servers[0] = (struct server){ .name = "pool-a", .fqdn = "sql-a.litwareinc.com",
					 .role = SERVER_ROLE_PRIMARY, .availability_group = (char *)ag };
	t->servers[1] = (struct server){ .name = "pool-b", .fqdn = "sql-b.litwareinc.com",
					 .role = SERVER_ROLE_MIRROR, .availability_group = (char *)ag };
	t->servers[2] = (struct server){ .name = "dublin-dr", .fqdn = "sql-dr.litwareinc.com",
					 .role = SERVER_ROLE_BACKUP };
	t->st.name = "redmond";
	t->st.engine = ENGINE_MSSQL;
	t->st.databases = t->dbs;
	t->st.ndatabases = 2;
	t->st.servers = t->servers;
	t->st.nservers = 3;
	t->st.location.primary = "pool-a";
	t->st.location.mirror = "pool-b";
	t->st.policy.allow_data_loss = allow_data_loss;
	t->st.policy.catch_up_timeout_ms = 5000;
	t->st.policy.query_timeout_ms = 5000;
	t->st.policy.login_timeout_ms = 2000;
	t->fakes[0].name = "pool-a";
	t->fakes[1].name = "pool-b";
	t->fakes[2].name = "dublin-dr";
	return t;
}

#define SCRIPT(t, i, s) ((t)->fakes[i].script = (s), (t)->fakes[i].n = ARRAY_SIZE(s))

static void open_t(struct t *t)
{
	int rc = engine_open(&t->e, &t->st, fake_connect, t, &t->err);

	if (rc < 0)
		fail_msg("engine_open: %s", t->err.message);
}

/* Every scripted statement of server i was sent, and nothing else. */
static void assert_consumed(const struct t *t, size_t i)
{
	if (!t->fakes[i].db) {
		assert_int_equal(t->fakes[i].n, 0);
		return;
	}
	assert_int_equal(db_fake_consumed(t->fakes[i].db), t->fakes[i].n + 1);
}

static void assert_all_consumed(const struct t *t)
{
	size_t i;

	for (i = 0; i < ARRAY_SIZE(t->fakes); i++)
		assert_consumed(t, i);
}

static void free_t(struct t *t)
{
	size_t i;

	engine_close(t->e);
	for (i = 0; i < ARRAY_SIZE(t->fakes); i++)
		free(t->fakes[i].with_identity);
	cms_error_clear(&t->err);
	free(t);
}

struct expect {
	const char *label;
	const char *sql;
};

/* Removes the identity checks from a statement log (each new session's
 * first statement; pinned by their own tests). */
static void drop_identity(struct db_stmt_log *log, size_t *n)
{
	size_t i, k = 0;

	for (i = 0; i < *n; i++) {
		if (strcmp(log[i].sql, MSSQL_IDENTITY_SQL) == 0) {
			free(log[i].label);
			free(log[i].sql);
			continue;
		}
		log[k++] = log[i];
	}
	*n = k;
}

/* The engine's statement log (identity checks aside) is exactly x, in
 * order, every statement ok. */
static void assert_transcript(struct engine *e, const struct expect *x, size_t n)
{
	struct db_stmt_log *log = NULL;
	size_t nlog = 0, i;

	engine_take_log(e, &log, &nlog);
	drop_identity(log, &nlog);
	for (i = 0; i < nlog && i < n; i++) {
		assert_string_equal(log[i].label, x[i].label);
		assert_string_equal(log[i].sql, x[i].sql);
		assert_int_equal(log[i].ok, 1);
	}
	assert_int_equal(nlog, n);
	db_stmt_log_free(log, nlog);
}

static void assert_refused(struct t *t, int rc, const char *needle)
{
	assert_int_equal(rc, CMS_EREFUSED);
	assert_non_null(t->err.message);
	if (!strstr(t->err.message, needle))
		fail_msg("message '%s' lacks '%s'", t->err.message, needle);
}

static void assert_contains(const char *hay, const char *needle)
{
	assert_non_null(hay);
	if (!strstr(hay, needle))
		fail_msg("'%s' lacks '%s'", hay, needle);
}

static void assert_no_followups(const struct t *t)
{
	if (t->e->nfollowups)
		fail_msg("unexpected follow-up: %s", t->e->followups[0]);
}

/* ---- quoting and parsing ------------------------------------------------ */

static void quote_ident_doubles_closing_brackets(void **state)
{
	struct buf b = BUF_INIT;

	(void)state;
	mssql_quote_ident(&b, "xds");
	assert_string_equal(b.ptr, "[xds]");
	buf_reset(&b);
	mssql_quote_ident(&b, "a]b");
	assert_string_equal(b.ptr, "[a]]b]");
	buf_reset(&b);
	mssql_quote_ident(&b, "]];DROP DATABASE [x");
	assert_string_equal(b.ptr, "[]]]];DROP DATABASE [x]");
	buf_reset(&b);
	mssql_quote_nstring(&b, "O'Brien");
	assert_string_equal(b.ptr, "N'O''Brien'");
	buf_reset(&b);
	mssql_quote_nstring(&b, "''");
	assert_string_equal(b.ptr, "N''''''");
	buf_free(&b);
}

static void lsn_keeps_low_64_bits_and_rejects_garbage(void **state)
{
	uint64_t v = 0;

	(void)state;
	assert_int_equal(mssql_parse_lsn(&v, "0"), 0);
	assert_true(v == 0);
	assert_int_equal(mssql_parse_lsn(&v, LSN_X), 0);
	assert_true(v == UINT64_C(36000000012300001));
	assert_int_equal(mssql_parse_lsn(&v, "18446744073709551615"), 0);
	assert_true(v == UINT64_MAX);
	assert_int_equal(mssql_parse_lsn(&v, "18446744073709551621"), 0); /* 2^64 + 5 */
	assert_true(v == 5);
	assert_int_equal(mssql_parse_lsn(&v, "9999999999999999999999999"), 0); /* 25 digits */
	assert_true(v == UINT64_C(1590897978359414783));
	assert_int_equal(mssql_parse_lsn(&v, "42.000"), 0);
	assert_true(v == 42);
	assert_int_equal(mssql_parse_lsn(&v, ""), -1);
	assert_int_equal(mssql_parse_lsn(&v, NULL), -1);
	assert_int_equal(mssql_parse_lsn(&v, "-1"), -1);
	assert_int_equal(mssql_parse_lsn(&v, "+1"), -1);
	assert_int_equal(mssql_parse_lsn(&v, " 1"), -1);
	assert_int_equal(mssql_parse_lsn(&v, "12a"), -1);
	assert_int_equal(mssql_parse_lsn(&v, "1.5"), -1);
	assert_int_equal(mssql_parse_lsn(&v, "1e10"), -1);
	assert_int_equal(mssql_parse_lsn(&v, "123456789012345678901234567890123456789"), -1);
}

static void open_refuses_names_that_are_not_identifiers(void **state)
{
	struct t *t = new_t(false, NULL);

	(void)state;
	t->dbs[1] = "lis]; DROP DATABASE [xds";
	assert_int_equal(engine_open(&t->e, &t->st, fake_connect, t, &t->err), CMS_ERROR);
	assert_contains(t->err.message, "is not a plain identifier");
	assert_null(t->e);
	t->dbs[1] = "lis";
	t->servers[1].availability_group = "ag'x";
	assert_int_equal(engine_open(&t->e, &t->st, fake_connect, t, &t->err), CMS_ERROR);
	assert_contains(t->err.message, "availability group name 'ag'x'");
	assert_int_equal(t->fakes[0].connects + t->fakes[1].connects, 0);
	free_t(t);
}

/* ---- probe -------------------------------------------------------------- */

static void probe_maps_principal_mirror_and_restoring_backup(void **state)
{
	static const struct db_fake_reply a[] = { DBS(a_principal) };
	static const struct db_fake_reply b[] = { DBS(b_mirror) };
	static const struct db_fake_reply dr[] = { DBS(dr_big_lsn) };
	struct t *t = new_t(false, NULL);
	struct observation obs;
	const struct server_obs *so;

	(void)state;
	SCRIPT(t, 0, a);
	SCRIPT(t, 1, b);
	SCRIPT(t, 2, dr);
	open_t(t);
	assert_int_equal(engine_probe(t->e, &obs, &t->err), 0);
	assert_true(obs.probed);
	assert_int_equal(obs.nservers, 3);

	so = &obs.servers[0];
	assert_string_equal(so->server, "pool-a");
	assert_true(so->reachable);
	assert_null(so->error);
	assert_int_equal(so->role, OBS_PRIMARY);
	assert_int_equal(so->epoch, 3);
	assert_true(so->position == UINT64_C(36000000012300001));
	assert_int_equal(so->lag_bytes, 0);
	assert_null(so->upstream);
	assert_int_equal(so->ndbs, 2);
	assert_string_equal(so->dbs[0].name, "xds");
	assert_string_equal(so->dbs[0].state, "SYNCHRONIZED, SAFETY FULL");
	assert_true(so->dbs[1].position == UINT64_C(36000000045600001));

	so = &obs.servers[1];
	assert_int_equal(so->role, OBS_MIRROR);
	assert_int_equal(so->lag_bytes, 0);
	assert_string_equal(so->upstream, "pool-a"); /* partner address -> fqdn -> server */
	assert_string_equal(so->dbs[1].state, "SYNCHRONIZED, SAFETY FULL");
	assert_int_equal(so->dbs[1].epoch, 3);

	so = &obs.servers[2];
	assert_int_equal(so->role, OBS_BACKUP);
	assert_int_equal(so->lag_bytes, -1);
	assert_string_equal(so->dbs[0].state, "not mirrored, RESTORING");
	assert_true(so->dbs[0].read_only);
	assert_true(so->read_only);
	assert_true(so->dbs[0].position == UINT64_C(200376420520689665)); /* (10^23 + 1) mod 2^64 */

	observation_free(&obs);
	assert_all_consumed(t);
	assert_transcript(t->e, (const struct expect[]){
		{ "pool-a", Q_DBS }, { "pool-b", Q_DBS }, { "dublin-dr", Q_DBS } }, 3);
	free_t(t);
}

static void probe_reports_unreachable_standalone_missing_and_witness(void **state)
{
	static const struct db_fake_reply a[] = { DBS(a_standalone) };
	static const struct db_fake_reply b[] = { DBS(b_mirror_witness) };
	static const struct db_fake_reply dr[] = { DBS(a_only_xds) };
	struct t *t = new_t(false, NULL);
	struct observation obs;
	const struct server_obs *so;

	(void)state;
	SCRIPT(t, 0, a);
	SCRIPT(t, 1, b);
	SCRIPT(t, 2, dr);
	open_t(t);
	assert_int_equal(engine_probe(t->e, &obs, &t->err), 0);

	so = &obs.servers[0];
	assert_int_equal(so->role, OBS_PRIMARY); /* a standalone copy accepts writes */
	assert_string_equal(so->dbs[0].state, "not mirrored");
	assert_string_equal(so->dbs[1].state, "not mirrored");
	assert_int_equal(so->lag_bytes, 0);

	so = &obs.servers[1];
	assert_int_equal(so->role, OBS_MIRROR);
	assert_string_equal(so->dbs[0].state, "SYNCHRONIZED, SAFETY FULL, WITNESS CONNECTED");

	so = &obs.servers[2];
	assert_true(so->reachable);
	assert_int_equal(so->role, OBS_UNKNOWN); /* xds online, lis missing: no consensus */
	assert_int_equal(so->dbs[0].role, OBS_PRIMARY);
	assert_int_equal(so->dbs[1].role, OBS_UNKNOWN);
	assert_string_equal(so->dbs[1].state, "missing");
	observation_free(&obs);
	assert_all_consumed(t);
	free_t(t);

	/* unreachable: an observation, not a failure */
	t = new_t(false, NULL);
	SCRIPT(t, 0, a);
	SCRIPT(t, 1, b);
	t->fakes[2].connect_error = "[08001] native 20009: unable to connect";
	open_t(t);
	assert_int_equal(engine_probe(t->e, &obs, &t->err), 0);
	so = &obs.servers[2];
	assert_false(so->reachable);
	assert_int_equal(so->role, OBS_UNKNOWN);
	assert_int_equal(so->lag_bytes, -1);
	assert_string_equal(so->error,
			    "cannot connect to server 'dublin-dr': [08001] native 20009: unable to connect");
	assert_true(obs.servers[0].reachable && obs.servers[1].reachable);
	observation_free(&obs);
	free_t(t);
}

static void probe_mixed_roles_and_malformed_answers_are_unknown(void **state)
{
	static const struct db_fake_reply a[] = { DBS(a_mixed_roles) };
	static const struct db_fake_reply b[] = { DBS(a_bad_sequence) };
	static const struct db_fake_reply dr[] = { FAILS(Q_DBS, "[42000] native 229: permission denied") };
	struct t *t = new_t(false, NULL);
	struct observation obs;
	struct db_stmt_log *log = NULL;
	size_t nlog = 0;

	(void)state;
	SCRIPT(t, 0, a);
	SCRIPT(t, 1, b);
	SCRIPT(t, 2, dr);
	open_t(t);
	assert_int_equal(engine_probe(t->e, &obs, &t->err), 0);
	assert_int_equal(obs.servers[0].role, OBS_UNKNOWN);
	assert_int_equal(obs.servers[0].dbs[0].role, OBS_PRIMARY);
	assert_int_equal(obs.servers[0].dbs[1].role, OBS_MIRROR);
	assert_int_equal(obs.servers[0].lag_bytes, -1);

	assert_true(obs.servers[1].reachable);
	assert_int_equal(obs.servers[1].role, OBS_UNKNOWN);
	assert_string_equal(obs.servers[1].error,
			    "unexpected answer from server 'pool-b': mirroring_role_sequence of 'xds' is 'abc'");
	assert_int_equal(obs.servers[2].role, OBS_UNKNOWN);
	assert_string_equal(obs.servers[2].error, "[42000] native 229: permission denied");
	observation_free(&obs);
	/* the failed statement is in the log too, marked failed */
	engine_take_log(t->e, &log, &nlog);
	drop_identity(log, &nlog);
	assert_int_equal(nlog, 3);
	assert_string_equal(log[2].label, "dublin-dr");
	assert_string_equal(log[2].sql, Q_DBS);
	assert_int_equal(log[0].ok, 1);
	assert_int_equal(log[2].ok, 0);
	db_stmt_log_free(log, nlog);
	free_t(t);
}

static void probe_availability_group_roles_and_lag_from_queues(void **state)
{
	static const struct db_fake_reply a[] = { AG(ag_primary) };
	static const struct db_fake_reply b[] = { AG(ag_secondary_lagging) };
	static const struct db_fake_reply dr[] = { DBS(dr_restoring) };
	struct t *t = new_t(false, "cms_ag");
	struct observation obs;
	const struct server_obs *so;

	(void)state;
	SCRIPT(t, 0, a);
	SCRIPT(t, 1, b);
	SCRIPT(t, 2, dr);
	open_t(t);
	assert_int_equal(engine_probe(t->e, &obs, &t->err), 0);
	so = &obs.servers[0];
	assert_int_equal(so->role, OBS_PRIMARY);
	assert_int_equal(so->lag_bytes, 0);
	assert_string_equal(so->dbs[0].state, "SYNCHRONIZED, HEALTHY");
	so = &obs.servers[1];
	assert_int_equal(so->role, OBS_MIRROR);
	assert_int_equal(so->lag_bytes, (10 + 5) * 1024); /* KB -> bytes */
	assert_string_equal(so->dbs[1].state, "SYNCHRONIZING, PARTIALLY_HEALTHY, not failover-ready");
	assert_int_equal(obs.servers[2].role, OBS_BACKUP);
	observation_free(&obs);
	assert_all_consumed(t);
	free_t(t);
}

/* ---- check_target ------------------------------------------------------- */

struct target_case {
	const char *const *cells;
	size_t ncells;
	bool allow_data_loss;
	const char *refusal; /* NULL: accepted */
};

#define CASE(cells, allow, refusal) { cells, ARRAY_SIZE(cells), allow, refusal }

static void check_target_accepts_and_refuses_each_mirror_state(void **state)
{
	static const struct target_case cases[] = {
		CASE(b_mirror, false, NULL),
		CASE(b_mirror_synchronizing, false, NULL), /* catch-up waits for it */
		CASE(b_mirror_pending, false, NULL),
		CASE(b_mirror_witness, false, NULL),
		CASE(b_mirror_suspended, false,
		     "mirroring of database 'lis' is SUSPENDED on target 'pool-b': it cannot fail over until resumed"),
		CASE(b_mirror_suspended, true, "is SUSPENDED on target 'pool-b'"),
		CASE(b_mirror_disconnected, false,
		     "mirroring of database 'xds' is DISCONNECTED on target 'pool-b': the mirror has lost its principal, and a switchover needs SYNCHRONIZED"),
		CASE(b_mirror_disconnected, true, NULL), /* forced service possible */
		CASE(b_mirror_disconnected_witness_connected, true, NULL),
		CASE(b_mirror_disconnected_witness_lost, true,
		     "witness '" WIT "' of database 'xds' is DISCONNECTED on target 'pool-b': forced service needs the witness connected to the mirror, or no witness"),
		CASE(b_mirror_safety_off, false,
		     "mirroring of database 'xds' runs with SAFETY OFF (high-performance mode): a switchover needs SAFETY FULL"),
		CASE(b_mirror_safety_off, true, NULL),
		CASE(b_principal, false, "database 'xds' is already PRINCIPAL on target 'pool-b'"),
		CASE(b_missing_lis, false, "database 'lis' does not exist on target 'pool-b'"),
		CASE(b_standalone, true,
		     "database 'xds' on target 'pool-b' is ONLINE and not mirrored: it is a separate copy, not a partner of the principal"),
		CASE(b_restoring, false,
		     "database 'xds' on target 'pool-b' is a restored copy outside mirroring (RESTORING)"),
		CASE(b_restoring, true, NULL),
		CASE(b_mirror_no_state, false, "database 'xds' on target 'pool-b' reports no mirroring state"),
	};
	size_t i;

	(void)state;
	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		struct db_fake_reply b[] = { { Q_DBS, NULL, 13, dbs_cols, cases[i].ncells / 13, cases[i].cells } };
		struct t *t = new_t(cases[i].allow_data_loss, NULL);
		int rc;

		t->fakes[1].script = b;
		t->fakes[1].n = 1;
		open_t(t);
		/* the old primary fenced from outside: what each state allows
		 * then; forced_moves_need_the_old_primary_isolated has the rest */
		t->e->move = (struct engine_move){ .old_isolated = true };
		rc = t->e->ops->check_target(t->e, "pool-b", &t->err);
		if (!cases[i].refusal && rc != 0)
			fail_msg("case %zu: refused: %s", i, t->err.message);
		if (cases[i].refusal)
			assert_refused(t, rc, cases[i].refusal);
		assert_all_consumed(t);
		free_t(t);
	}
}

static void check_target_refusal_hints(void **state)
{
	static const struct db_fake_reply b1[] = { DBS(b_mirror_no_state) };
	static const struct db_fake_reply b2[] = { DBS(b_mirror_suspended) };
	struct t *t = new_t(false, NULL);

	(void)state;
	SCRIPT(t, 1, b1);
	open_t(t);
	assert_int_equal(t->e->ops->check_target(t->e, "pool-b", &t->err), CMS_EREFUSED);
	assert_string_equal(t->err.hint, "the login needs the sysadmin role to see the state of a mirror database");
	free_t(t);

	t = new_t(false, NULL);
	SCRIPT(t, 1, b2);
	open_t(t);
	assert_int_equal(t->e->ops->check_target(t->e, "pool-b", &t->err), CMS_EREFUSED);
	assert_string_equal(t->err.hint, "run ALTER DATABASE [lis] SET PARTNER RESUME on the principal");
	free_t(t);
}

static void check_target_unreachable_or_unknown_is_refused(void **state)
{
	struct t *t = new_t(false, NULL);

	(void)state;
	t->fakes[1].connect_error = "[HYT00] native 0: login timeout expired";
	open_t(t);
	assert_refused(t, t->e->ops->check_target(t->e, "pool-b", &t->err),
		       "target 'pool-b' is unreachable: cannot connect to server 'pool-b': [HYT00] native 0: login timeout expired");
	assert_int_equal(t->e->ops->check_target(t->e, "pool-z", &t->err), CMS_ENOTFOUND);
	assert_string_equal(t->err.message, "server 'pool-z' is not part of store 'redmond'");
	free_t(t);
}

static void check_target_availability_group(void **state)
{
	static const struct target_case cases[] = {
		CASE(ag_secondary_ready, false, NULL),
		CASE(ag_secondary_lagging, false, NULL), /* catch-up waits */
		CASE(ag_primary, false, "target 'pool-b' is already the primary replica of availability group 'cms_ag'"),
		CASE(ag_resolving, false,
		     "target 'pool-b' is RESOLVING in availability group 'cms_ag': only a forced failover is possible"),
		CASE(ag_resolving, true, NULL),
		CASE(ag_secondary_suspended, false, "data movement of database 'xds' is suspended on target 'pool-b'"),
		CASE(ag_secondary_not_synchronizing, false,
		     "database 'xds' on target 'pool-b' is NOT SYNCHRONIZING in availability group 'cms_ag'"),
		CASE(ag_secondary_only_xds, false,
		     "database 'lis' is not joined to availability group 'cms_ag' on target 'pool-b'"),
	};
	size_t i;

	(void)state;
	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		struct db_fake_reply b[] = {
			CLUSTER_WSFC,
			{ Q_AG, NULL, 11, ag_cols, cases[i].ncells / 11, cases[i].cells },
		};
		struct t *t = new_t(cases[i].allow_data_loss, "cms_ag");
		int rc;

		t->fakes[1].script = b;
		t->fakes[1].n = 2;
		open_t(t);
		t->e->move = (struct engine_move){ .old_primary = "pool-a", .old_answers = true,
						   .old_isolated = true };
		rc = t->e->ops->check_target(t->e, "pool-b", &t->err);
		if (!cases[i].refusal && rc != 0)
			fail_msg("case %zu: refused: %s", i, t->err.message);
		if (cases[i].refusal)
			assert_refused(t, rc, cases[i].refusal);
		assert_all_consumed(t);
		free_t(t);
	}
}

/* ---- fence and catch-up ------------------------------------------------- */

/* Outside the restore path with a tail-log fence, fence sends nothing;
 * unfence only reads the server (it would bring back databases a tail-log
 * backup left RESTORING, and there are none). */
static void fence_is_a_statement_free_no_op(void **state)
{
	static const struct db_fake_reply a[] = { DBS(a_principal) };
	struct t *t = new_t(false, NULL);

	(void)state;
	SCRIPT(t, 0, a);
	open_t(t);
	assert_non_null(t->e->ops->fence_note); /* the report says why nothing is sent */
	assert_int_equal(t->e->ops->fence(t->e, "pool-a", &t->err), 0);
	assert_int_equal(t->fakes[0].connects, 0);
	assert_int_equal(t->e->nlog, 0);
	assert_int_equal(t->e->ops->unfence(t->e, "pool-a", &t->err), 0);
	assert_int_equal(t->e->ops->fence(t->e, "pool-z", &t->err), CMS_ENOTFOUND);
	assert_all_consumed(t);
	assert_int_equal(t->e->nlog, 2); /* identity, read */
	assert_no_followups(t);
	free_t(t);

	/* unreachable, and no tail-log backup taken here: nothing to undo */
	t = new_t(false, NULL);
	t->fakes[0].connect_error = "[08001] unreachable";
	open_t(t);
	assert_int_equal(t->e->ops->unfence(t->e, "pool-a", &t->err), 0);
	free_t(t);
}

static void catch_up_polls_until_synchronized(void **state)
{
	static const struct db_fake_reply b[] = {
		DBS(b_mirror_synchronizing), DBS(b_mirror_synchronizing), DBS(b_mirror),
	};
	struct t *t = new_t(false, NULL);

	(void)state;
	SCRIPT(t, 1, b);
	open_t(t);
	assert_int_equal(t->e->ops->catch_up(t->e, "pool-a", "pool-b", 5000, &t->err), 0);
	assert_all_consumed(t);
	assert_transcript(t->e, (const struct expect[]){
		{ "pool-b", Q_DBS }, { "pool-b", Q_DBS }, { "pool-b", Q_DBS } }, 3);
	free_t(t);
}

static void catch_up_refuses_on_timeout_and_when_waiting_cannot_help(void **state)
{
	static const struct db_fake_reply syncing[] = { DBS(b_mirror_synchronizing) };
	static const struct db_fake_reply suspended[] = { DBS(b_mirror_suspended) };
	static const struct db_fake_reply safety_off[] = { DBS(b_mirror_safety_off) };
	struct t *t = new_t(false, NULL);

	(void)state;
	SCRIPT(t, 1, syncing);
	open_t(t);
	assert_refused(t, t->e->ops->catch_up(t->e, "pool-a", "pool-b", 0, &t->err),
		       "waiting for target 'pool-b' to catch up with 'pool-a': mirroring of database 'lis' on 'pool-b' is SYNCHRONIZING");
	assert_contains(t->err.message, "timed out after ");
	assert_all_consumed(t);
	free_t(t);

	t = new_t(false, NULL);
	SCRIPT(t, 1, suspended);
	open_t(t);
	assert_refused(t, t->e->ops->catch_up(t->e, "pool-a", "pool-b", 60000, &t->err),
		       "mirroring of database 'lis' is SUSPENDED on 'pool-b': waiting cannot catch it up");
	assert_all_consumed(t);
	free_t(t);

	t = new_t(true, NULL);
	SCRIPT(t, 1, safety_off);
	open_t(t);
	assert_refused(t, t->e->ops->catch_up(t->e, "pool-a", "pool-b", 60000, &t->err),
		       "mirroring of database 'xds' runs with SAFETY OFF: the mirror is never known to be caught up");
	free_t(t);
}

static void catch_up_with_the_source_down(void **state)
{
	struct t *t = new_t(true, NULL);

	(void)state;
	t->fakes[0].connect_error = "[08001] native 20009: unable to connect";
	open_t(t);
	/* data loss allowed: nothing more to receive, forced service decides */
	assert_int_equal(t->e->ops->catch_up(t->e, "pool-a", "pool-b", 5000, &t->err), 0);
	assert_int_equal(t->e->nlog, 1); /* the target's identity, nothing else */
	assert_string_equal(t->e->log[0].sql, MSSQL_IDENTITY_SQL);
	free_t(t);

	t = new_t(false, NULL);
	t->fakes[0].connect_error = "[08001] native 20009: unable to connect";
	open_t(t);
	assert_refused(t, t->e->ops->catch_up(t->e, "pool-a", "pool-b", 5000, &t->err),
		       "cannot tell whether target 'pool-b' has caught up: source 'pool-a' is unreachable: cannot connect to server 'pool-a'");
	free_t(t);
}

static void catch_up_availability_group_waits_for_failover_ready(void **state)
{
	static const struct db_fake_reply b[] = { AG(ag_secondary_lagging), AG(ag_secondary_ready) };
	static const struct db_fake_reply b2[] = { AG(ag_secondary_suspended) };
	struct t *t = new_t(false, "cms_ag");

	(void)state;
	SCRIPT(t, 1, b);
	open_t(t);
	assert_int_equal(t->e->ops->catch_up(t->e, "pool-a", "pool-b", 5000, &t->err), 0);
	assert_all_consumed(t);
	free_t(t);

	t = new_t(false, "cms_ag");
	SCRIPT(t, 1, b2);
	open_t(t);
	assert_refused(t, t->e->ops->catch_up(t->e, "pool-a", "pool-b", 5000, &t->err),
		       "data movement of database 'xds' is suspended on 'pool-b': waiting cannot catch it up");
	free_t(t);
}

/* ---- switchover --------------------------------------------------------- */

static void switchover_transcript(void **state)
{
	static const struct db_fake_reply a[] = {
		DBS(a_principal),
		STMT("USE [master]"),
		STMT("ALTER DATABASE [xds] SET PARTNER FAILOVER"),
		STMT("ALTER DATABASE [lis] SET PARTNER FAILOVER"),
		DBS(a_mirror), /* demote: the old principal is now the mirror */
	};
	static const struct db_fake_reply b[] = {
		DBS(b_mirror),
		DBS(b_mirror_pending), /* not done yet: polled again */
		DBS(b_principal),
	};
	static const struct expect x[] = {
		{ "pool-b", Q_DBS },
		{ "pool-a", Q_DBS },
		{ "pool-a", "USE [master]" },
		{ "pool-a", "ALTER DATABASE [xds] SET PARTNER FAILOVER" },
		{ "pool-a", "ALTER DATABASE [lis] SET PARTNER FAILOVER" },
		{ "pool-b", Q_DBS },
		{ "pool-b", Q_DBS },
		{ "pool-a", Q_DBS },
	};
	struct t *t = new_t(false, NULL);

	(void)state;
	SCRIPT(t, 0, a);
	SCRIPT(t, 1, b);
	open_t(t);
	if (t->e->ops->promote(t->e, "pool-b", "pool-a", false, &t->err) < 0)
		fail_msg("promote: %s", t->err.message);
	assert_int_equal(t->e->ops->demote(t->e, "pool-a", "pool-b", &t->err), 0);
	assert_all_consumed(t);
	assert_transcript(t->e, x, ARRAY_SIZE(x));
	assert_no_followups(t);
	free_t(t);
}

static void switchover_refusals_send_no_change(void **state)
{
	static const struct {
		const char *const *cells;
		size_t ncells;
		const char *refusal;
	} cases[] = {
		{ a_principal_synchronizing, ARRAY_SIZE(a_principal_synchronizing),
		  "mirroring of database 'lis' is SYNCHRONIZING on 'pool-a': the mirror has not caught up, and a switchover now would not be lossless" },
		{ a_principal_safety_off, ARRAY_SIZE(a_principal_safety_off),
		  "mirroring of database 'xds' runs with SAFETY OFF: a switchover needs SAFETY FULL" },
		{ a_principal_suspended, ARRAY_SIZE(a_principal_suspended),
		  "mirroring of database 'xds' is SUSPENDED on 'pool-a': the mirror receives no log until resumed" },
		{ a_principal_other_partner, ARRAY_SIZE(a_principal_other_partner),
		  "the mirroring partner of database 'xds' on 'pool-a' is '" PC "', not target 'pool-b'" },
		{ a_mirror, ARRAY_SIZE(a_mirror),
		  "database 'xds' is not PRINCIPAL on 'pool-a' (MIRROR): a switchover runs on the principal" },
	};
	size_t i;

	(void)state;
	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		struct db_fake_reply a[] = { { Q_DBS, NULL, 13, dbs_cols, cases[i].ncells / 13, cases[i].cells } };
		static const struct db_fake_reply b[] = { DBS(b_mirror) };
		struct t *t = new_t(false, NULL);

		t->fakes[0].script = a;
		t->fakes[0].n = 1;
		SCRIPT(t, 1, b);
		open_t(t);
		assert_refused(t, t->e->ops->promote(t->e, "pool-b", "pool-a", false, &t->err),
			       cases[i].refusal);
		assert_all_consumed(t); /* reads only: no USE, no ALTER */
		free_t(t);
	}
}

static void switchover_with_the_principal_unreachable_is_refused(void **state)
{
	static const struct db_fake_reply b[] = { DBS(b_mirror) };
	struct t *t = new_t(false, NULL);

	(void)state;
	SCRIPT(t, 1, b);
	t->fakes[0].connect_error = "[08001] native 20009: unable to connect";
	open_t(t);
	assert_refused(t, t->e->ops->promote(t->e, "pool-b", "pool-a", false, &t->err),
		       "principal 'pool-a' is unreachable");
	assert_string_equal(t->err.hint,
			    "if it is down for good, fail over with data loss allowed (forced service)");
	assert_all_consumed(t);
	free_t(t);
}

/* The store's databases move as a unit: a switchover whose second SET
 * PARTNER FAILOVER fails fails the first database back (the same statement,
 * on the target, once it is SYNCHRONIZED there), and then nothing is
 * changed: a refusal (the run ends rolled back, exit 7).  When the way back
 * fails too, the error says so, and restore finishes the move forward. */
static void switchover_failing_halfway_fails_back(void **state)
{
	static const char *const b_half_synchronizing[] = {
		MIR("xds", "ONLINE", "PRINCIPAL", "SYNCHRONIZING", "FULL", PA, NULL, "UNKNOWN", "4", LSN_X),
		MIR("lis", "RESTORING", "MIRROR", "SYNCHRONIZED", "FULL", PA, NULL, "UNKNOWN", "3", LSN_L),
	};
	static const struct db_fake_reply a[] = {
		DBS(a_principal),
		STMT("USE [master]"),
		STMT("ALTER DATABASE [xds] SET PARTNER FAILOVER"),
		FAILS("ALTER DATABASE [lis] SET PARTNER FAILOVER",
		      "statement failed on server 'pool-a': [42000] native 1404: the command failed because the database mirror is busy"),
		DBS(a_mixed_roles),   /* xds back as PRINCIPAL */
	};
	static const struct db_fake_reply b[] = {
		DBS(b_mirror),
		DBS(b_half_synchronizing),
		DBS(b_principal_half),
		STMT("USE [master]"),
		STMT("ALTER DATABASE [xds] SET PARTNER FAILOVER"),
	};
	static const struct db_fake_reply a_fails[] = {
		DBS(a_principal),
		STMT("USE [master]"),
		STMT("ALTER DATABASE [xds] SET PARTNER FAILOVER"),
		FAILS("ALTER DATABASE [lis] SET PARTNER FAILOVER",
		      "statement failed on server 'pool-a': [42000] native 1404: the command failed because the database mirror is busy"),
	};
	static const struct db_fake_reply b_fails[] = {
		DBS(b_mirror),
		DBS(b_principal_half),
		STMT("USE [master]"),
		FAILS("ALTER DATABASE [xds] SET PARTNER FAILOVER",
		      "statement failed on server 'pool-b': [42000] native 1405: the database is already enabled for mirroring"),
	};
	static const struct expect x[] = {
		{ "pool-b", Q_DBS },
		{ "pool-a", Q_DBS },
		{ "pool-a", "USE [master]" },
		{ "pool-a", "ALTER DATABASE [xds] SET PARTNER FAILOVER" },
		{ "pool-a", "ALTER DATABASE [lis] SET PARTNER FAILOVER" },
		{ "pool-b", Q_DBS },
		{ "pool-b", Q_DBS },
		{ "pool-b", "USE [master]" },
		{ "pool-b", "ALTER DATABASE [xds] SET PARTNER FAILOVER" },
		{ "pool-a", Q_DBS },
	};
	struct db_stmt_log *log = NULL;
	size_t nlog = 0, i;
	struct t *t;

	(void)state;
	t = new_t(false, NULL);
	SCRIPT(t, 0, a);
	SCRIPT(t, 1, b);
	open_t(t);
	assert_refused(t, t->e->ops->promote(t->e, "pool-b", "pool-a", false, &t->err),
		       "switchover to 'pool-b' stopped part way, and xds failed back to 'pool-a': nothing is changed: database 'lis' did not move on 'pool-a' after xds did");
	assert_all_consumed(t);
	/* every statement in order; the failed one marked failed */
	engine_take_log(t->e, &log, &nlog);
	drop_identity(log, &nlog);
	assert_int_equal(nlog, ARRAY_SIZE(x));
	for (i = 0; i < nlog; i++) {
		assert_string_equal(log[i].label, x[i].label);
		assert_string_equal(log[i].sql, x[i].sql);
		assert_int_equal(log[i].ok, i != 4);
	}
	db_stmt_log_free(log, nlog);
	assert_no_followups(t);
	free_t(t);

	t = new_t(false, NULL);
	SCRIPT(t, 0, a_fails);
	SCRIPT(t, 1, b_fails);
	open_t(t);
	assert_int_equal(t->e->ops->promote(t->e, "pool-b", "pool-a", false, &t->err), CMS_ERROR);
	assert_contains(t->err.message,
			"switchover to 'pool-b' stopped part way, and failing back 'xds' (statement failed on server 'pool-b': [42000] native 1405");
	assert_contains(t->err.message, "database 'lis' did not move on 'pool-a' after xds did");
	assert_contains(t->err.hint, "cmsctl restore");
	assert_all_consumed(t);
	free_t(t);
}

static void switchover_resumes_a_half_done_move(void **state)
{
	/* xds already moved by an interrupted run: only lis is failed over */
	static const char *const a_half[] = {
		MIR("xds", "RESTORING", "MIRROR", "SYNCHRONIZED", "FULL", PB, NULL, "UNKNOWN", "4", LSN_X),
		MIR("lis", "ONLINE", "PRINCIPAL", "SYNCHRONIZED", "FULL", PB, NULL, "UNKNOWN", "3", LSN_L),
	};
	static const struct db_fake_reply a[] = {
		DBS(a_half),
		STMT("USE [master]"),
		STMT("ALTER DATABASE [lis] SET PARTNER FAILOVER"),
	};
	static const struct db_fake_reply b[] = { DBS(b_principal_half), DBS(b_principal) };
	struct t *t = new_t(false, NULL);

	(void)state;
	SCRIPT(t, 0, a);
	SCRIPT(t, 1, b);
	open_t(t);
	if (t->e->ops->promote(t->e, "pool-b", "pool-a", false, &t->err) < 0)
		fail_msg("promote: %s", t->err.message);
	assert_all_consumed(t);
	free_t(t);
}

/* A pair left half moved (an apply killed between the two SET PARTNER
 * FAILOVER): what the engine reports makes restore's decision "finish the
 * promotion" (restore_decide), and promote then moves only the database
 * that has not moved, on the principal it still has. */
static void restore_finishes_a_half_moved_pair(void **state)
{
	static const char *const a_half[] = {
		MIR("xds", "RESTORING", "MIRROR", "SYNCHRONIZED", "FULL", PB, NULL, "UNKNOWN", "4", LSN_X),
		MIR("lis", "ONLINE", "PRINCIPAL", "SYNCHRONIZED", "FULL", PB, NULL, "UNKNOWN", "3", LSN_L),
	};
	static const struct db_fake_reply a[] = {
		DBS(a_half),
		DBS(a_half),
		STMT("USE [master]"),
		STMT("ALTER DATABASE [lis] SET PARTNER FAILOVER"),
	};
	static const struct db_fake_reply b[] = {
		DBS(b_principal_half),
		DBS(b_principal_half),
		DBS(b_principal),
	};
	struct observation obs;
	struct restore_facts f = { .mode = PLAN_SWITCHOVER, .to_primary = "pool-b",
				   .promote = STEP_FAILED, .recorded = true,
				   .recorded_primary = "pool-a", .recorded_serial = 4, .plan_serial = 4 };
	struct t *t = new_t(false, NULL);

	(void)state;
	SCRIPT(t, 0, a);
	SCRIPT(t, 1, b);
	t->fakes[2].connect_error = "[08001] unreachable";
	open_t(t);
	assert_int_equal(engine_probe(t->e, &obs, &t->err), 0);
	f.target = observation_find(&obs, "pool-b");
	assert_int_equal(f.target->dbs[0].role, OBS_PRIMARY);
	assert_int_equal(f.target->dbs[1].role, OBS_MIRROR);
	assert_int_equal(restore_decide(&f), RESTORE_FINISH_PROMOTE);
	observation_free(&obs);
	if (t->e->ops->promote(t->e, "pool-b", "pool-a", false, &t->err) < 0)
		fail_msg("promote: %s", t->err.message);
	assert_all_consumed(t);
	free_t(t);
}

static void promote_times_out_when_the_target_never_takes_over(void **state)
{
	static const struct db_fake_reply a[] = {
		DBS(a_principal),
		STMT("USE [master]"),
		STMT("ALTER DATABASE [xds] SET PARTNER FAILOVER"),
		STMT("ALTER DATABASE [lis] SET PARTNER FAILOVER"),
	};
	/* enough readings for any number of polls within the bound */
	static const struct db_fake_reply b[] = {
		DBS(b_mirror), DBS(b_mirror), DBS(b_mirror), DBS(b_mirror), DBS(b_mirror),
		DBS(b_mirror), DBS(b_mirror), DBS(b_mirror),
	};
	struct t *t = new_t(false, NULL);

	(void)state;
	t->st.policy.query_timeout_ms = 150;
	SCRIPT(t, 0, a);
	SCRIPT(t, 1, b);
	open_t(t);
	assert_int_equal(t->e->ops->promote(t->e, "pool-b", "pool-a", false, &t->err), CMS_ERROR);
	assert_contains(t->err.message, "timed out after ");
	assert_contains(t->err.message,
			"waiting for 'pool-b' to serve every database: database 'xds' on 'pool-b' is RESTORING, MIRROR");
	assert_consumed(t, 0);
	free_t(t);
}

/* ---- forced service ----------------------------------------------------- */

static void forced_service_transcript(void **state)
{
	static const struct db_fake_reply b[] = {
		DBS(b_mirror_disconnected),
		STMT("USE [master]"),
		STMT("ALTER DATABASE [xds] SET PARTNER FORCE_SERVICE_ALLOW_DATA_LOSS"),
		STMT("ALTER DATABASE [lis] SET PARTNER FORCE_SERVICE_ALLOW_DATA_LOSS"),
		DBS(b_principal_forced),
	};
	static const struct expect x[] = {
		{ "pool-b", Q_DBS },
		{ "pool-b", "USE [master]" },
		{ "pool-b", "ALTER DATABASE [xds] SET PARTNER FORCE_SERVICE_ALLOW_DATA_LOSS" },
		{ "pool-b", "ALTER DATABASE [lis] SET PARTNER FORCE_SERVICE_ALLOW_DATA_LOSS" },
		{ "pool-b", Q_DBS },
	};
	struct t *t = new_t(true, NULL);

	(void)state;
	SCRIPT(t, 1, b);
	t->fakes[0].connect_error = "[08001] native 20009: unable to connect";
	open_t(t);
	t->e->move = (struct engine_move){ .old_primary = "pool-a", .old_isolated = true };
	if (t->e->ops->promote(t->e, "pool-b", "pool-a", true, &t->err) < 0)
		fail_msg("promote: %s", t->err.message);
	assert_all_consumed(t);
	assert_int_equal(t->fakes[0].connects, 0); /* the old principal is not needed */
	assert_transcript(t->e, x, ARRAY_SIZE(x));
	assert_int_equal(t->e->nfollowups, 1);
	assert_string_equal(t->e->followups[0],
			    "mirroring of xds, lis is suspended after forced service: once 'pool-a' is back, run ALTER DATABASE [xds] SET PARTNER RESUME and ALTER DATABASE [lis] SET PARTNER RESUME on 'pool-b' (log that 'pool-a' never sent is discarded), then take a log backup of each database");

	/* the old principal still down: demote can only advise */
	assert_int_equal(t->e->ops->demote(t->e, "pool-a", "pool-b", &t->err), 0);
	assert_int_equal(t->e->nfollowups, 2);
	assert_contains(t->e->followups[1],
			"'pool-a' could not be checked after the move (cannot connect to server 'pool-a'");
	assert_contains(t->e->followups[1], "make sure it reports MIRROR for xds, lis before any client reaches it");
	free_t(t);
}

static void forced_service_refusals(void **state)
{
	static const struct db_fake_reply connected[] = { DBS(b_mirror) };
	static const struct db_fake_reply witness_lost[] = { DBS(b_mirror_disconnected_witness_lost) };
	struct t *t = new_t(true, NULL);

	(void)state;
	SCRIPT(t, 1, connected);
	open_t(t);
	assert_refused(t, t->e->ops->promote(t->e, "pool-b", "pool-a", true, &t->err),
		       "forced service needs the mirror disconnected from its principal, but mirroring of database 'xds' on 'pool-b' is SYNCHRONIZED: the principal still runs");
	assert_string_equal(t->err.hint, "plan a switchover instead: it loses no data");
	assert_all_consumed(t);
	free_t(t);

	t = new_t(true, NULL);
	SCRIPT(t, 1, witness_lost);
	open_t(t);
	assert_refused(t, t->e->ops->promote(t->e, "pool-b", "pool-a", true, &t->err),
		       "witness '" WIT "' of database 'xds' is DISCONNECTED on target 'pool-b'");
	assert_all_consumed(t);
	assert_no_followups(t);
	free_t(t);
}

static void demote_turns_leftovers_into_followups(void **state)
{
	static const struct db_fake_reply suspended[] = { DBS(a_mirror_suspended) };
	static const struct db_fake_reply standalone[] = { DBS(a_standalone) };
	struct t *t = new_t(true, NULL);

	(void)state;
	SCRIPT(t, 0, suspended);
	open_t(t);
	assert_int_equal(t->e->ops->demote(t->e, "pool-a", "pool-b", &t->err), 0);
	assert_int_equal(t->e->nfollowups, 1);
	assert_contains(t->e->followups[0],
			"run ALTER DATABASE [xds] SET PARTNER RESUME and ALTER DATABASE [lis] SET PARTNER RESUME on 'pool-b'");
	free_t(t);

	t = new_t(true, NULL);
	SCRIPT(t, 0, standalone);
	open_t(t);
	assert_int_equal(t->e->ops->demote(t->e, "pool-a", "dublin-dr", &t->err), 0);
	assert_int_equal(t->e->nfollowups, 1);
	assert_string_equal(t->e->followups[0],
			    "'pool-a' still serves xds, lis as a writable copy: take it offline or re-seed it from 'dublin-dr' before any client reaches it");
	free_t(t);
}

/* ---- availability groups ------------------------------------------------ */

static void availability_group_failover_transcript(void **state)
{
	static const struct db_fake_reply b[] = {
		AG(ag_secondary_ready),
		STMT("ALTER AVAILABILITY GROUP [cms_ag] FAILOVER"),
		AG(ag_primary),
	};
	static const struct db_fake_reply a[] = { AG(ag_secondary_ready) }; /* demote */
	static const struct expect x[] = {
		{ "pool-b", Q_AG },
		{ "pool-b", "ALTER AVAILABILITY GROUP [cms_ag] FAILOVER" },
		{ "pool-b", Q_AG },
		{ "pool-a", Q_AG },
	};
	struct t *t = new_t(false, "cms_ag");

	(void)state;
	SCRIPT(t, 0, a);
	SCRIPT(t, 1, b);
	open_t(t);
	if (t->e->ops->promote(t->e, "pool-b", "pool-a", false, &t->err) < 0)
		fail_msg("promote: %s", t->err.message);
	assert_int_equal(t->e->ops->demote(t->e, "pool-a", "pool-b", &t->err), 0);
	assert_all_consumed(t);
	assert_transcript(t->e, x, ARRAY_SIZE(x));
	assert_no_followups(t);
	free_t(t);
}

static void availability_group_forced_failover_transcript(void **state)
{
	static const struct db_fake_reply b[] = {
		AG(ag_secondary_not_synchronizing),
		STMT("ALTER AVAILABILITY GROUP [cms_ag] FORCE_FAILOVER_ALLOW_DATA_LOSS"),
		AG(ag_primary),
	};
	static const struct expect x[] = {
		{ "pool-b", Q_AG },
		{ "pool-b", "ALTER AVAILABILITY GROUP [cms_ag] FORCE_FAILOVER_ALLOW_DATA_LOSS" },
		{ "pool-b", Q_AG },
	};
	struct t *t = new_t(true, "cms_ag");

	(void)state;
	SCRIPT(t, 1, b);
	open_t(t);
	t->e->move = (struct engine_move){ .old_primary = "pool-a", .old_isolated = true };
	if (t->e->ops->promote(t->e, "pool-b", "pool-a", true, &t->err) < 0)
		fail_msg("promote: %s", t->err.message);
	assert_all_consumed(t);
	assert_transcript(t->e, x, ARRAY_SIZE(x));
	assert_int_equal(t->e->nfollowups, 1);
	assert_string_equal(t->e->followups[0],
			    "a forced failover of availability group 'cms_ag' to 'pool-b' suspends data movement: on every other replica, once it is back, run ALTER DATABASE [xds] SET HADR RESUME and ALTER DATABASE [lis] SET HADR RESUME (updates that had not reached 'pool-b' are lost)");
	free_t(t);
}

static void availability_group_refusals(void **state)
{
	static const struct db_fake_reply lagging[] = { AG(ag_secondary_lagging) };
	static const struct db_fake_reply reverting[] = { AG(ag_secondary_reverting) };
	struct t *t = new_t(false, "cms_ag");

	(void)state;
	SCRIPT(t, 1, lagging);
	open_t(t);
	assert_refused(t, t->e->ops->promote(t->e, "pool-b", "pool-a", false, &t->err),
		       "availability group 'cms_ag' is not failover-ready on 'pool-b': database 'lis' is SYNCHRONIZING, is_failover_ready 0");
	assert_all_consumed(t);
	free_t(t);

	t = new_t(true, "cms_ag");
	SCRIPT(t, 1, reverting);
	open_t(t);
	t->e->move = (struct engine_move){ .old_primary = "pool-a", .old_isolated = true };
	assert_refused(t, t->e->ops->promote(t->e, "pool-b", "pool-a", true, &t->err),
		       "database 'xds' on 'pool-b' is REVERTING: a forced failover now would leave it unable to start as primary");
	assert_all_consumed(t);
	free_t(t);
}

static void availability_group_demote_advises_resume(void **state)
{
	static const char *const a_suspended[] = {
		AGDB("xds", "ONLINE", "SECONDARY", "NOT SYNCHRONIZING", "NOT_HEALTHY", "1", "0", NULL, NULL),
		AGDB("lis", "ONLINE", "SECONDARY", "SYNCHRONIZED", "HEALTHY", "0", "1", "0", "0"),
	};
	static const struct db_fake_reply a[] = { AG(a_suspended) };
	struct t *t = new_t(false, "cms_ag");

	(void)state;
	SCRIPT(t, 0, a);
	open_t(t);
	assert_int_equal(t->e->ops->demote(t->e, "pool-a", "pool-b", &t->err), 0);
	assert_int_equal(t->e->nfollowups, 1);
	assert_string_equal(t->e->followups[0],
			    "data movement is suspended on 'pool-a' in availability group 'cms_ag': run ALTER DATABASE [xds] SET HADR RESUME on 'pool-a'");
	free_t(t);
}

/* ---- restored copies (the seed's -BackupSqlServerFqdn mode) ------------- */

static void restore_recovery_transcript(void **state)
{
	static const struct db_fake_reply dr[] = {
		DBS(dr_restoring),
		STMT("USE [master]"),
		STMT("RESTORE DATABASE [xds] WITH RECOVERY"),
		STMT("RESTORE DATABASE [lis] WITH RECOVERY"),
		DBS(dr_online),
	};
	static const struct expect x[] = {
		{ "dublin-dr", Q_DBS },
		{ "dublin-dr", "USE [master]" },
		{ "dublin-dr", "RESTORE DATABASE [xds] WITH RECOVERY" },
		{ "dublin-dr", "RESTORE DATABASE [lis] WITH RECOVERY" },
		{ "dublin-dr", Q_DBS },
	};
	struct t *t = new_t(true, NULL);

	(void)state;
	SCRIPT(t, 2, dr);
	t->fakes[0].connect_error = "[08001] native 20009: unable to connect";
	open_t(t);
	t->e->move = (struct engine_move){ .old_primary = "pool-a", .old_isolated = true };
	if (t->e->ops->promote(t->e, "dublin-dr", "pool-a", true, &t->err) < 0)
		fail_msg("promote: %s", t->err.message);
	assert_all_consumed(t);
	assert_int_equal(t->fakes[0].connects, 0); /* isolated: not asked */
	assert_transcript(t->e, x, ARRAY_SIZE(x));
	assert_int_equal(t->e->nfollowups, 1);
	assert_string_equal(t->e->followups[0],
			    "'dublin-dr' now serves xds, lis from restored copies: changes after the last restored log backup are lost; seed a new mirror from a full and a log backup of 'dublin-dr'");
	free_t(t);
}

static void restore_while_the_old_primary_still_serves_is_refused(void **state)
{
	static const struct db_fake_reply a_serving[] = { DBS(a_principal) };
	static const struct db_fake_reply a_mirror_now[] = { DBS(a_mirror) };
	static const struct db_fake_reply dr[] = { DBS(dr_restoring) };
	static const struct db_fake_reply dr_ok[] = {
		DBS(dr_restoring),
		STMT("USE [master]"),
		STMT("RESTORE DATABASE [xds] WITH RECOVERY"),
		STMT("RESTORE DATABASE [lis] WITH RECOVERY"),
		DBS(dr_online),
	};
	struct t *t = new_t(true, NULL);

	(void)state;
	SCRIPT(t, 0, a_serving);
	SCRIPT(t, 2, dr);
	open_t(t);
	assert_refused(t, t->e->ops->promote(t->e, "dublin-dr", "pool-a", true, &t->err),
		       "old primary 'pool-a' still serves database 'xds' writable: recovering the restored copies on 'dublin-dr' now would leave two writable copies");
	assert_all_consumed(t); /* no RESTORE sent */
	assert_no_followups(t);
	free_t(t);

	/* reachable but no longer serving (a mirror, restoring): proceeds */
	t = new_t(true, NULL);
	SCRIPT(t, 0, a_mirror_now);
	SCRIPT(t, 2, dr_ok);
	open_t(t);
	if (t->e->ops->promote(t->e, "dublin-dr", "pool-a", true, &t->err) < 0)
		fail_msg("promote: %s", t->err.message);
	assert_all_consumed(t);
	free_t(t);
}

static void restore_without_data_loss_allowed_is_refused(void **state)
{
	static const struct db_fake_reply dr[] = { DBS(dr_restoring) };
	struct t *t = new_t(false, NULL);

	(void)state;
	SCRIPT(t, 2, dr);
	open_t(t);
	assert_refused(t, t->e->ops->promote(t->e, "dublin-dr", "pool-a", false, &t->err),
		       "database 'xds' on target 'dublin-dr' is a restored copy: recovering it may lose data");
	assert_all_consumed(t);
	assert_no_followups(t);
	free_t(t);
}

static void promote_of_a_target_already_serving_changes_nothing(void **state)
{
	static const struct db_fake_reply dr[] = { DBS(dr_online), DBS(dr_online) };
	struct t *t = new_t(true, NULL);

	(void)state;
	SCRIPT(t, 2, dr);
	open_t(t);
	assert_int_equal(t->e->ops->promote(t->e, "dublin-dr", "pool-a", true, &t->err), 0);
	assert_all_consumed(t);
	assert_no_followups(t);
	free_t(t);
}

/* Unreachable is not down: forced service and recovering restored copies
 * need the old primary isolated (a fence target, or --assume-down), or, for
 * restored copies, an old primary that answers with nothing writable.
 * Each refusal comes from check_target, before any change. */
static void forced_moves_need_the_old_primary_isolated(void **state)
{
	static const struct db_fake_reply disconnected[] = { DBS(b_mirror_disconnected) };
	static const struct db_fake_reply synced[] = { DBS(b_mirror) };
	static const struct db_fake_reply dr[] = { DBS(dr_restoring) };
	static const struct db_fake_reply a_off[] = { DBS(a_offline) };
	struct t *t;

	(void)state;
	/* The mirror is DISCONNECTED, the principal unreachable: no fence. */
	t = new_t(true, NULL);
	SCRIPT(t, 1, disconnected);
	t->fakes[0].connect_error = "[08001] native 20009: unable to connect";
	open_t(t);
	t->e->move = (struct engine_move){ .old_primary = "pool-a" };
	assert_refused(t, t->e->ops->check_target(t->e, "pool-b", &t->err),
		       "forced service on 'pool-b' needs 'pool-a' fenced first: unreachable is not down");
	assert_contains(t->err.hint, "--assume-down pool-a --reason TEXT");
	assert_all_consumed(t);
	free_t(t);

	/* The principal does not answer cmsctl but the mirror is still
	 * SYNCHRONIZED with it: it runs.  Refused whatever the fence. */
	t = new_t(true, NULL);
	SCRIPT(t, 1, synced);
	open_t(t);
	t->e->move = (struct engine_move){ .old_primary = "pool-a", .old_isolated = true };
	assert_refused(t, t->e->ops->check_target(t->e, "pool-b", &t->err),
		       "mirroring of database 'xds' is SYNCHRONIZED on target 'pool-b': its principal still runs, though cmsctl cannot reach 'pool-a'");
	assert_all_consumed(t);
	free_t(t);

	/* Restored copies, the old primary unreachable and not fenced. */
	t = new_t(true, NULL);
	SCRIPT(t, 2, dr);
	t->fakes[0].connect_error = "[08001] native 20009: unable to connect";
	open_t(t);
	t->e->move = (struct engine_move){ .old_primary = "pool-a" };
	assert_refused(t, t->e->ops->check_target(t->e, "dublin-dr", &t->err),
		       "recovering the restored copies on 'dublin-dr' needs 'pool-a' fenced first");
	assert_all_consumed(t);
	free_t(t);

	/* ... answering, its databases offline: fenced through its databases. */
	t = new_t(true, NULL);
	SCRIPT(t, 2, dr);
	SCRIPT(t, 0, a_off);
	open_t(t);
	t->e->move = (struct engine_move){ .old_primary = "pool-a", .old_answers = true };
	assert_int_equal(t->e->ops->check_target(t->e, "dublin-dr", &t->err), 0);
	assert_all_consumed(t);
	free_t(t);

	/* ... attested down: not asked at all. */
	t = new_t(true, NULL);
	SCRIPT(t, 2, dr);
	open_t(t);
	t->e->move = (struct engine_move){ .old_primary = "pool-a", .old_isolated = true };
	assert_int_equal(t->e->ops->check_target(t->e, "dublin-dr", &t->err), 0);
	assert_int_equal(t->fakes[0].connects, 0);
	assert_all_consumed(t);
	free_t(t);
}

/* An availability group whose target is SYNCHRONIZED and failover-ready
 * fails over without data loss even though the old primary does not
 * answer and the move was planned as a forced one: FAILOVER needs only
 * the target, so neither a fence nor --assume-down is asked for. */
static void availability_group_lossless_with_the_primary_unreachable(void **state)
{
	static const struct db_fake_reply b[] = {
		CLUSTER_WSFC,
		AG(ag_secondary_ready),
		AG(ag_secondary_ready),
		STMT("ALTER AVAILABILITY GROUP [cms_ag] FAILOVER"),
		AG(ag_primary),
	};
	static const struct expect x[] = {
		{ "pool-b", Q_CLUSTER },
		{ "pool-b", Q_AG },
		{ "pool-b", Q_AG },
		{ "pool-b", "ALTER AVAILABILITY GROUP [cms_ag] FAILOVER" },
		{ "pool-b", Q_AG },
	};
	static const struct db_fake_reply b2[] = { CLUSTER_WSFC, AG(ag_secondary_not_synchronizing) };
	struct t *t = new_t(true, "cms_ag");

	(void)state;
	SCRIPT(t, 1, b);
	t->fakes[0].connect_error = "[08001] native 20009: unable to connect";
	open_t(t);
	t->e->move = (struct engine_move){ .old_primary = "pool-a" }; /* not answering, not fenced */
	if (t->e->ops->check_target(t->e, "pool-b", &t->err) < 0)
		fail_msg("check_target: %s", t->err.message);
	if (t->e->ops->promote(t->e, "pool-b", NULL, true, &t->err) < 0)
		fail_msg("promote: %s", t->err.message);
	assert_all_consumed(t);
	assert_int_equal(t->fakes[0].connects, 0);
	assert_transcript(t->e, x, ARRAY_SIZE(x));
	assert_no_followups(t); /* lossless: nothing to resume */
	free_t(t);

	/* Not synchronizing, the primary unreachable and not fenced: refused
	 * by check_target, before any change. */
	t = new_t(true, "cms_ag");
	SCRIPT(t, 1, b2);
	open_t(t);
	t->e->move = (struct engine_move){ .old_primary = "pool-a" };
	assert_refused(t, t->e->ops->check_target(t->e, "pool-b", &t->err),
		       "a forced failover on 'pool-b' needs 'pool-a' fenced first: unreachable is not down");
	assert_all_consumed(t);
	free_t(t);
}

static void availability_group_external_or_none_is_refused(void **state)
{
	static const struct db_fake_reply ext[] = { CLUSTER_EXTERNAL };
	static const struct db_fake_reply none[] = { CLUSTER_NONE };
	struct t *t = new_t(true, "cms_ag");

	(void)state;
	SCRIPT(t, 1, ext);
	open_t(t);
	t->e->move = (struct engine_move){ .old_primary = "pool-a", .old_isolated = true };
	assert_refused(t, t->e->ops->check_target(t->e, "pool-b", &t->err),
		       "availability group 'cms_ag' has CLUSTER_TYPE = EXTERNAL: its failover belongs to the external cluster manager");
	assert_contains(t->err.hint, "pcs");
	assert_all_consumed(t);
	free_t(t);

	t = new_t(false, "cms_ag");
	SCRIPT(t, 1, none);
	open_t(t);
	assert_refused(t, t->e->ops->check_target(t->e, "pool-b", &t->err),
		       "availability group 'cms_ag' has CLUSTER_TYPE = NONE");
	assert_all_consumed(t);
	free_t(t);
}

/* The principal's side of a switchover is checked by check_target, before
 * any change (exit 7), not first inside promote. */
static void switchover_principal_checked_before_any_change(void **state)
{
	static const struct db_fake_reply b[] = { DBS(b_mirror) };
	static const struct db_fake_reply a_other[] = { DBS(a_principal_other_partner) };
	static const struct db_fake_reply a_susp[] = { DBS(a_principal_suspended) };
	static const struct db_fake_reply a_sync[] = { DBS(a_principal_synchronizing) };
	static const struct expect x[] = { { "pool-b", Q_DBS }, { "pool-a", Q_DBS } };
	struct t *t;

	(void)state;
	t = new_t(false, NULL);
	SCRIPT(t, 1, b);
	SCRIPT(t, 0, a_other);
	open_t(t);
	t->e->move = (struct engine_move){ .old_primary = "pool-a", .old_answers = true };
	assert_refused(t, t->e->ops->check_target(t->e, "pool-b", &t->err),
		       "the mirroring partner of database 'xds' on 'pool-a' is '" PC "', not target 'pool-b'");
	assert_all_consumed(t);
	free_t(t);

	t = new_t(false, NULL);
	SCRIPT(t, 1, b);
	SCRIPT(t, 0, a_susp);
	open_t(t);
	t->e->move = (struct engine_move){ .old_primary = "pool-a", .old_answers = true };
	assert_refused(t, t->e->ops->check_target(t->e, "pool-b", &t->err),
		       "mirroring of database 'xds' is SUSPENDED on 'pool-a'");
	assert_all_consumed(t);
	free_t(t);

	/* SYNCHRONIZING passes here: catch-up waits for it. Reads only. */
	t = new_t(false, NULL);
	SCRIPT(t, 1, b);
	SCRIPT(t, 0, a_sync);
	open_t(t);
	t->e->move = (struct engine_move){ .old_primary = "pool-a", .old_answers = true };
	assert_int_equal(t->e->ops->check_target(t->e, "pool-b", &t->err), 0);
	assert_all_consumed(t);
	assert_transcript(t->e, x, ARRAY_SIZE(x));
	free_t(t);
}

/* A log-shipping copy restored WITH STANDBY (ONLINE, read-only) is a
 * backup, not a primary; recovering it is the same RESTORE ... WITH
 * RECOVERY, and it serves only once it has left STANDBY. */
static void standby_copy_is_a_backup_and_recovers(void **state)
{
	static const char *const dr_standby[] = { STANDBY("xds"), STANDBY("lis") };
	static const char *const dr_half[] = { NOMIR("xds", "ONLINE"), STANDBY("lis") };
	static const struct db_fake_reply probe_dr[] = { DBS(dr_standby) };
	static const struct db_fake_reply dr[] = {
		DBS(dr_standby),
		DBS(dr_standby),
		STMT("USE [master]"),
		STMT("RESTORE DATABASE [xds] WITH RECOVERY"),
		STMT("RESTORE DATABASE [lis] WITH RECOVERY"),
		DBS(dr_half),
		DBS(dr_online),
	};
	static const struct db_fake_reply dr_refused[] = { DBS(dr_standby) };
	struct observation obs;
	struct t *t;

	(void)state;
	t = new_t(false, NULL);
	SCRIPT(t, 2, probe_dr);
	t->fakes[0].connect_error = "[08001] unreachable";
	t->fakes[1].connect_error = "[08001] unreachable";
	open_t(t);
	assert_int_equal(engine_probe(t->e, &obs, &t->err), 0);
	assert_int_equal(obs.servers[2].role, OBS_BACKUP);
	assert_string_equal(obs.servers[2].dbs[0].state, "not mirrored, STANDBY");
	assert_true(obs.servers[2].read_only);
	observation_free(&obs);
	assert_all_consumed(t);
	free_t(t);

	t = new_t(false, NULL);
	SCRIPT(t, 2, dr_refused);
	open_t(t);
	assert_refused(t, t->e->ops->check_target(t->e, "dublin-dr", &t->err),
		       "database 'xds' on target 'dublin-dr' is a restored copy outside mirroring (STANDBY)");
	free_t(t);

	t = new_t(true, NULL);
	SCRIPT(t, 2, dr);
	open_t(t);
	t->e->move = (struct engine_move){ .old_primary = "pool-a", .old_isolated = true };
	if (t->e->ops->check_target(t->e, "dublin-dr", &t->err) < 0)
		fail_msg("check_target: %s", t->err.message);
	if (t->e->ops->promote(t->e, "dublin-dr", NULL, true, &t->err) < 0)
		fail_msg("promote: %s", t->err.message);
	assert_all_consumed(t);
	assert_int_equal(t->fakes[0].connects, 0);
	free_t(t);
}

/* ---- log shipping: tail-log fence and the chain of log backups ---------- */

#define FOLDER "\\\\fs01\\logship\\redmond"
#define F(name) FOLDER "\\" name
#define Q_DIRTREE "EXEC master.sys.xp_dirtree N'" FOLDER "', 1, 1"
#define Q_HEADERS(name) "RESTORE HEADERONLY FROM DISK = N'" F(name) "'"
#define Q_REDO(db) "SELECT redo_start_lsn FROM sys.master_files WHERE file_id = 1 AND database_id = DB_ID(N'" db "')"
#define RESTORE_LOG(db, name, pos) \
	STMT("RESTORE LOG [" db "] FROM DISK = N'" F(name) "' WITH FILE = " pos ", NORECOVERY")
#define X_RESTORE_LOG(db, name, pos) \
	{ "dublin-dr", "RESTORE LOG [" db "] FROM DISK = N'" F(name) "' WITH FILE = " pos ", NORECOVERY" }
/* The tail-log backups' names hold the time of the fence: CMSCTL_NOW. */
#define TAIL_NOW "2026-01-01T10:20:30Z"
#define TAIL(db) db "_tail_20260101102030.trn"

/* RESTORE HEADERONLY gives some 50 columns, more with each version: the
 * engine finds its five by name, wherever they are. */
static const char *const hdr_cols[] = {
	"BackupName", "BackupType", "Position", "ServerName", "DatabaseName", "FirstLSN", "LastLSN",
	"CheckpointLSN",
};
#define HDR(type, pos, db, first, last) "set", type, pos, "SQL-A", db, first, last, first
#define HEADERS(name, cells) { Q_HEADERS(name), NULL, 8, hdr_cols, ARRAY_SIZE(cells) / 8, cells }
static const char *const dirtree_cols[] = { "subdirectory", "depth", "file" };
#define DIRTREE(cells) { Q_DIRTREE, NULL, 3, dirtree_cols, ARRAY_SIZE(cells) / 3, cells }
static const char *const redo_cols[] = { "redo_start_lsn" };
#define REDO(db, cells) { Q_REDO(db), NULL, 1, redo_cols, 1, cells }

/* LSNs of 22 digits: beyond 2^64, compared exactly */
#define L100 "9000000000000000100001"
#define L200 "9000000000000000200001"
#define L300 "9000000000000000300001"
#define L400 "9000000000000000400001"
#define L500 "9000000000000000500001"

/* The folder: a subfolder, a text file and a full backup aside, log
 * backups of both databases, listed in no particular order. */
static const char *const dir_cells[] = {
	"archive", "1", "0",
	"xds_2.trn", "1", "1",
	"README.txt", "1", "1",
	"lis_1.trn", "1", "1",
	"xds_1.trn", "1", "1",
	"full.TRN", "1", "1",
};
static const char *const dir_with_tails[] = {
	"xds_2.trn", "1", "1",
	TAIL("lis"), "1", "1",
	"lis_1.trn", "1", "1",
	"xds_1.trn", "1", "1",
	"full.TRN", "1", "1",
	TAIL("xds"), "1", "1",
};
static const char *const dir_gap[] = {
	"xds_1.trn", "1", "1",
	"xds_3.trn", "1", "1",
	"lis_1.trn", "1", "1",
};
static const char *const h_xds_1[] = { HDR("2", "1", "xds", L100, L200) };
/* two sets in one file: the second is xds from 200 to 300 */
static const char *const h_xds_2[] = {
	HDR("2", "1", "xds", L100, L200),
	HDR("2", "2", "xds", L200, L300),
};
static const char *const h_xds_3[] = { HDR("2", "1", "xds", L400, L500) };
static const char *const h_lis_1[] = { HDR("2", "1", "lis", L100, L300) };
static const char *const h_full[] = { HDR("1", "1", "xds", L100, L100) };
static const char *const h_xds_tail[] = { HDR("2", "1", "xds", L300, L400) };
static const char *const h_lis_tail[] = { HDR("2", "1", "lis", L300, L400) };
#define Q_LASTLOG(db) "SELECT MAX(last_lsn) FROM msdb.dbo.backupset WHERE type = 'L' AND is_copy_only = 0 AND database_name = N'" db "'"
static const char *const lastlog_cols[] = { "" };
#define LASTLOG(db, cells) { Q_LASTLOG(db), NULL, 1, lastlog_cols, 1, cells }
static const char *const redo_100[] = { L100 };
static const char *const redo_200[] = { L200 };
static const char *const redo_300[] = { L300 };
static const char *const redo_400[] = { L400 };
static const char *const a_restoring[] = {
	NOMIR("xds", "RESTORING"),
	NOMIR("lis", "RESTORING"),
};

static struct t *new_logship_t(void)
{
	struct t *t = new_t(true, NULL);

	t->servers[2].log_backups = FOLDER;
	return t;
}

static void lsn_compare_is_exact_over_25_digits(void **state)
{
	(void)state;
	assert_int_equal(mssql_lsn_cmp("9000000000000000100001", "9000000000000000200001"), -1);
	assert_int_equal(mssql_lsn_cmp("9000000000000000200001", "9000000000000000200001"), 0);
	/* equal modulo 2^64, yet different */
	assert_int_equal(mssql_lsn_cmp("18446744073709551617", "1"), 1);
	assert_int_equal(mssql_lsn_cmp("0000123", "123.0"), 0);
	assert_int_equal(mssql_lsn_cmp("99", "100"), -1);
	assert_int_equal(mssql_lsn_cmp("0", "00"), 0);
}

/* "Fail Over to a Log Shipping Secondary" with the old primary answering:
 * check_target reads the chain (nothing restored); the fence is the old
 * primary's tail-log backup WITH NORECOVERY into the backup's folder;
 * catch-up restores every newer log backup in LSN order, the tail-log
 * backups last, and says the LSN reached; promote finds nothing newer and
 * recovers.  A full backup, other files and sets already in the copy are
 * left alone; a file with two sets is restored WITH FILE = 2. */
static void log_shipping_failover_with_a_tail_log_fence(void **state)
{
	static const struct db_fake_reply dr[] = {
		/* check_target */
		DBS(dr_restoring),
		DIRTREE(dir_cells),
		HEADERS("xds_2.trn", h_xds_2),
		HEADERS("lis_1.trn", h_lis_1),
		HEADERS("xds_1.trn", h_xds_1),
		HEADERS("full.TRN", h_full),
		REDO("xds", redo_200),
		REDO("lis", redo_100),
		/* catch_up */
		DBS(dr_restoring),
		DIRTREE(dir_with_tails),
		HEADERS("xds_2.trn", h_xds_2),
		HEADERS(TAIL("lis"), h_lis_tail),
		HEADERS("lis_1.trn", h_lis_1),
		HEADERS("xds_1.trn", h_xds_1),
		HEADERS("full.TRN", h_full),
		HEADERS(TAIL("xds"), h_xds_tail),
		REDO("xds", redo_200),
		REDO("lis", redo_100),
		STMT("USE [master]"),
		RESTORE_LOG("xds", "xds_2.trn", "2"),
		RESTORE_LOG("xds", TAIL("xds"), "1"),
		RESTORE_LOG("lis", "lis_1.trn", "1"),
		RESTORE_LOG("lis", TAIL("lis"), "1"),
		/* promote */
		DBS(dr_restoring),
		DIRTREE(dir_with_tails),
		HEADERS("xds_2.trn", h_xds_2),
		HEADERS(TAIL("lis"), h_lis_tail),
		HEADERS("lis_1.trn", h_lis_1),
		HEADERS("xds_1.trn", h_xds_1),
		HEADERS("full.TRN", h_full),
		HEADERS(TAIL("xds"), h_xds_tail),
		REDO("xds", redo_400),
		REDO("lis", redo_400),
		STMT("USE [master]"),
		STMT("RESTORE DATABASE [xds] WITH RECOVERY"),
		STMT("RESTORE DATABASE [lis] WITH RECOVERY"),
		DBS(dr_online),
	};
	static const struct db_fake_reply a[] = {
		DBS(a_standalone),      /* check_target: serving, so fenced by its tail */
		LASTLOG("xds", redo_300), /* its last log backups, which the folder reaches */
		LASTLOG("lis", redo_300),
		DBS(a_standalone),      /* fence */
		STMT("USE [master]"),
		STMT("BACKUP LOG [xds] TO DISK = N'" F(TAIL("xds")) "' WITH NORECOVERY"),
		STMT("BACKUP LOG [lis] TO DISK = N'" F(TAIL("lis")) "' WITH NORECOVERY"),
		DBS(a_restoring),
		DBS(a_restoring),       /* promote: no longer serving */
		DBS(a_restoring),       /* demote */
	};
	struct t *t = new_logship_t();

	(void)state;
	setenv("CMSCTL_NOW", TAIL_NOW, 1);
	SCRIPT(t, 0, a);
	SCRIPT(t, 2, dr);
	open_t(t);
	t->e->move = (struct engine_move){ .old_primary = "pool-a", .old_answers = true };
	if (t->e->ops->check_target(t->e, "dublin-dr", &t->err) < 0)
		fail_msg("check_target: %s", t->err.message);
	assert_int_equal(db_fake_consumed(t->fakes[0].db), 4); /* identity, reads: nothing sent */
	if (t->e->ops->fence(t->e, "pool-a", &t->err) < 0)
		fail_msg("fence: %s", t->err.message);
	assert_string_equal(t->e->step_note,
			    "tail-log backup WITH NORECOVERY into '" FOLDER "': every database RESTORING on 'pool-a'");
	if (t->e->ops->catch_up(t->e, "pool-a", "dublin-dr", 5000, &t->err) < 0)
		fail_msg("catch_up: %s", t->err.message);
	assert_string_equal(t->e->step_note,
			    "xds at LSN " L400 " (2 log backups restored), lis at LSN " L400 " (2 log backups restored)");
	if (t->e->ops->promote(t->e, "dublin-dr", "pool-a", true, &t->err) < 0)
		fail_msg("promote: %s", t->err.message);
	assert_string_equal(t->e->step_note,
			    "xds at LSN " L400 " (0 log backups restored), lis at LSN " L400 " (0 log backups restored)");
	assert_int_equal(t->e->ops->demote(t->e, "pool-a", "dublin-dr", &t->err), 0);
	assert_all_consumed(t);
	assert_int_equal(t->e->nfollowups, 2); /* changes after the last restored log backup; pool-a */
	assert_string_equal(t->e->followups[1],
			    "'pool-a' holds xds, lis RESTORING after its tail-log backup: it is a copy that log backups of 'dublin-dr' can roll forward (log shipping the other way) before it serves again");
	unsetenv("CMSCTL_NOW");
	free_t(t);
}

/* A gap in the chain (the log between 300 and 400 is in no backup of the
 * folder) is refused by check_target, before any change: exit 7.  With the
 * old primary isolated there is no catch-up step, and promote refuses the
 * same gap before its first RESTORE LOG. */
static void a_gap_in_the_log_chain_is_refused_before_any_change(void **state)
{
	static const struct db_fake_reply dr_check[] = {
		DBS(dr_restoring),
		DIRTREE(dir_gap),
		HEADERS("xds_1.trn", h_xds_1),
		HEADERS("xds_3.trn", h_xds_3),
		HEADERS("lis_1.trn", h_lis_1),
		REDO("xds", redo_200),
	};
	static const struct db_fake_reply dr_promote[] = {
		DBS(dr_restoring),
		DIRTREE(dir_gap),
		HEADERS("xds_1.trn", h_xds_1),
		HEADERS("xds_3.trn", h_xds_3),
		HEADERS("lis_1.trn", h_lis_1),
		REDO("xds", redo_300),
	};
	static const struct db_fake_reply dr_unreadable[] = {
		DBS(dr_restoring),
		DIRTREE(dir_gap),
		HEADERS("xds_1.trn", h_xds_1),
		FAILS(Q_HEADERS("xds_3.trn"),
		      "statement failed on server 'dublin-dr': [42000] native 3241: the media family on device is incorrectly formed"),
	};
	static const char *const never[] = { NULL };
	static const struct db_fake_reply a[] = {
		DBS(a_standalone),
		LASTLOG("xds", redo_200),
		LASTLOG("lis", never),
	};
	struct t *t;

	(void)state;
	t = new_logship_t();
	SCRIPT(t, 0, a);
	SCRIPT(t, 2, dr_check);
	open_t(t);
	t->e->move = (struct engine_move){ .old_primary = "pool-a", .old_answers = true };
	assert_refused(t, t->e->ops->check_target(t->e, "dublin-dr", &t->err),
		       "the log backups of database 'xds' in '" FOLDER "' have a gap: 'dublin-dr' reaches LSN " L200 ", and the next log backup, '" F("xds_3.trn") "', starts at LSN " L400);
	assert_contains(t->err.hint, "copy the missing log backups of 'xds'");
	assert_all_consumed(t);
	free_t(t);

	t = new_logship_t();
	SCRIPT(t, 2, dr_promote);
	open_t(t);
	t->e->move = (struct engine_move){ .old_primary = "pool-a", .old_isolated = true };
	assert_refused(t, t->e->ops->promote(t->e, "dublin-dr", "pool-a", true, &t->err),
		       "'dublin-dr' reaches LSN " L300 ", and the next log backup, '" F("xds_3.trn") "', starts at LSN " L400);
	assert_all_consumed(t); /* no RESTORE LOG, no RESTORE DATABASE */
	assert_int_equal(t->fakes[0].connects, 0);
	assert_no_followups(t);
	free_t(t);

	/* a file that is no readable backup (still being copied): refused */
	t = new_logship_t();
	SCRIPT(t, 2, dr_unreadable);
	open_t(t);
	t->e->move = (struct engine_move){ .old_primary = "pool-a", .old_isolated = true };
	assert_refused(t, t->e->ops->check_target(t->e, "dublin-dr", &t->err),
		       "cannot read the headers of log backup '" F("xds_3.trn") "' on 'dublin-dr'");
	assert_contains(t->err.hint, "still being copied");
	assert_all_consumed(t);
	free_t(t);
}

/* The old primary answers, and its backup history says its last log
 * backup of xds ends at 400 while the folder reaches only 300 (the copy
 * job is behind): refused by check_target, before the tail-log backup. */
static void a_folder_behind_the_old_primary_is_refused(void **state)
{
	static const struct db_fake_reply a[] = {
		DBS(a_standalone),
		LASTLOG("xds", redo_400),
		LASTLOG("lis", redo_300),
	};
	static const struct db_fake_reply dr[] = {
		DBS(dr_restoring),
		DIRTREE(dir_cells),
		HEADERS("xds_2.trn", h_xds_2),
		HEADERS("lis_1.trn", h_lis_1),
		HEADERS("xds_1.trn", h_xds_1),
		HEADERS("full.TRN", h_full),
		REDO("xds", redo_200),
	};
	struct t *t = new_logship_t();

	(void)state;
	SCRIPT(t, 0, a);
	SCRIPT(t, 2, dr);
	open_t(t);
	t->e->move = (struct engine_move){ .old_primary = "pool-a", .old_answers = true };
	assert_refused(t, t->e->ops->check_target(t->e, "dublin-dr", &t->err),
		       "the log backups of database 'xds' in '" FOLDER "' reach LSN " L300 ", but the last log backup taken on the old primary ends at LSN " L400 ": the rest is not in the folder");
	assert_all_consumed(t);
	free_t(t);
}

/* The old primary isolated (down, or fenced from outside): no tail-log
 * backup and no catch-up step; promote restores what the folder holds,
 * then recovers, and says the LSN reached. */
static void log_chain_with_the_old_primary_down(void **state)
{
	static const struct db_fake_reply dr[] = {
		DBS(dr_restoring),
		DIRTREE(dir_cells),
		HEADERS("xds_2.trn", h_xds_2),
		HEADERS("lis_1.trn", h_lis_1),
		HEADERS("xds_1.trn", h_xds_1),
		HEADERS("full.TRN", h_full),
		REDO("xds", redo_100),
		REDO("lis", redo_100),
		STMT("USE [master]"),
		RESTORE_LOG("xds", "xds_1.trn", "1"),
		RESTORE_LOG("xds", "xds_2.trn", "2"),
		RESTORE_LOG("lis", "lis_1.trn", "1"),
		STMT("RESTORE DATABASE [xds] WITH RECOVERY"),
		STMT("RESTORE DATABASE [lis] WITH RECOVERY"),
		DBS(dr_online),
	};
	static const struct expect x[] = {
		{ "dublin-dr", Q_DBS },
		{ "dublin-dr", Q_DIRTREE },
		{ "dublin-dr", Q_HEADERS("xds_2.trn") },
		{ "dublin-dr", Q_HEADERS("lis_1.trn") },
		{ "dublin-dr", Q_HEADERS("xds_1.trn") },
		{ "dublin-dr", Q_HEADERS("full.TRN") },
		{ "dublin-dr", Q_REDO("xds") },
		{ "dublin-dr", Q_REDO("lis") },
		{ "dublin-dr", "USE [master]" },
		X_RESTORE_LOG("xds", "xds_1.trn", "1"),
		X_RESTORE_LOG("xds", "xds_2.trn", "2"),
		X_RESTORE_LOG("lis", "lis_1.trn", "1"),
		{ "dublin-dr", "RESTORE DATABASE [xds] WITH RECOVERY" },
		{ "dublin-dr", "RESTORE DATABASE [lis] WITH RECOVERY" },
		{ "dublin-dr", Q_DBS },
	};
	struct t *t = new_logship_t();

	(void)state;
	SCRIPT(t, 2, dr);
	t->fakes[0].connect_error = "[08001] native 20009: unable to connect";
	open_t(t);
	t->e->move = (struct engine_move){ .old_primary = "pool-a", .old_isolated = true };
	if (t->e->ops->promote(t->e, "dublin-dr", "pool-a", true, &t->err) < 0)
		fail_msg("promote: %s", t->err.message);
	assert_all_consumed(t);
	/* each RESTORE names the database it hit in the statement log */
	assert_string_equal(t->e->log[10].sql, x[9].sql);
	assert_string_equal(t->e->log[10].database, "xds");
	assert_string_equal(t->e->log[12].database, "lis");
	assert_transcript(t->e, x, ARRAY_SIZE(x));
	assert_string_equal(t->e->step_note,
			    "xds at LSN " L300 " (2 log backups restored), lis at LSN " L300 " (1 log backup restored)");
	free_t(t);
}

/* The tail-log fence is undone by recovering the old primary's databases
 * (no data restored); a tail-log backup that is missing from the chain the
 * backup server reads (another folder under the same path) is refused
 * before any RESTORE LOG. */
static void tail_log_fence_undone_and_a_missing_tail_refused(void **state)
{
	static const struct db_fake_reply a_fenced_before[] = { DBS(a_restoring) };
	static const struct db_fake_reply dr_before[] = {
		DBS(dr_restoring),
		DIRTREE(dir_cells),
		HEADERS("xds_2.trn", h_xds_2),
		HEADERS("lis_1.trn", h_lis_1),
		HEADERS("xds_1.trn", h_xds_1),
		HEADERS("full.TRN", h_full),
		REDO("xds", redo_200),
		REDO("lis", redo_100),
	};
	static const struct db_fake_reply a[] = {
		DBS(a_standalone),
		LASTLOG("xds", redo_200),
		LASTLOG("lis", redo_100),
		DBS(a_standalone),
		STMT("USE [master]"),
		STMT("BACKUP LOG [xds] TO DISK = N'" F(TAIL("xds")) "' WITH NORECOVERY"),
		STMT("BACKUP LOG [lis] TO DISK = N'" F(TAIL("lis")) "' WITH NORECOVERY"),
		DBS(a_restoring),
		DBS(a_restoring),
		STMT("USE [master]"),
		STMT("RESTORE DATABASE [xds] WITH RECOVERY"),
		STMT("RESTORE DATABASE [lis] WITH RECOVERY"),
	};
	static const struct db_fake_reply dr[] = {
		DBS(dr_restoring),
		DIRTREE(dir_cells),
		HEADERS("xds_2.trn", h_xds_2),
		HEADERS("lis_1.trn", h_lis_1),
		HEADERS("xds_1.trn", h_xds_1),
		HEADERS("full.TRN", h_full),
		REDO("xds", redo_200),
		REDO("lis", redo_100),
		/* catch_up: the tails are not in the folder the backup reads */
		DBS(dr_restoring),
		DIRTREE(dir_cells),
		HEADERS("xds_2.trn", h_xds_2),
		HEADERS("lis_1.trn", h_lis_1),
		HEADERS("xds_1.trn", h_xds_1),
		HEADERS("full.TRN", h_full),
		REDO("xds", redo_200),
	};
	struct t *t = new_logship_t();

	(void)state;
	setenv("CMSCTL_NOW", TAIL_NOW, 1);
	SCRIPT(t, 0, a);
	SCRIPT(t, 2, dr);
	open_t(t);
	t->e->move = (struct engine_move){ .old_primary = "pool-a", .old_answers = true };
	if (t->e->ops->check_target(t->e, "dublin-dr", &t->err) < 0)
		fail_msg("check_target: %s", t->err.message);
	if (t->e->ops->fence(t->e, "pool-a", &t->err) < 0)
		fail_msg("fence: %s", t->err.message);
	assert_refused(t, t->e->ops->catch_up(t->e, "pool-a", "dublin-dr", 5000, &t->err),
		       "the tail-log backup '" F(TAIL("xds")) "' of database 'xds' is not in the chain of log backups that 'dublin-dr' reads in '" FOLDER "'");
	cms_error_clear(&t->err);
	if (t->e->ops->unfence(t->e, "pool-a", &t->err) < 0)
		fail_msg("unfence: %s", t->err.message);
	assert_all_consumed(t);
	unsetenv("CMSCTL_NOW");
	free_t(t);

	/* an earlier attempt left every database RESTORING: nothing to take */
	t = new_logship_t();
	SCRIPT(t, 0, a_fenced_before);
	SCRIPT(t, 2, dr_before);
	open_t(t);
	t->e->move = (struct engine_move){ .old_primary = "pool-a", .old_answers = true };
	if (t->e->ops->check_target(t->e, "dublin-dr", &t->err) < 0)
		fail_msg("check_target: %s", t->err.message);
	assert_int_equal(t->e->ops->fence(t->e, "pool-a", &t->err), 0);
	assert_null(t->e->step_note); /* no tail-log fence was planned: nothing serves */
	assert_all_consumed(t);
	free_t(t);
}

/* Without log_backups an answering old primary that serves is refused, and
 * the hint names the folder that would make its tail-log backup the fence;
 * a mirrored old primary cannot take a tail-log backup WITH NORECOVERY. */
static void tail_log_fence_needs_a_folder_and_no_mirroring(void **state)
{
	static const struct db_fake_reply a_alone[] = { DBS(a_standalone) };
	static const struct db_fake_reply a_mirrored[] = { DBS(a_principal) };
	static const struct db_fake_reply dr[] = { DBS(dr_restoring) };
	struct t *t;

	(void)state;
	t = new_t(true, NULL);
	SCRIPT(t, 0, a_alone);
	SCRIPT(t, 2, dr);
	open_t(t);
	t->e->move = (struct engine_move){ .old_primary = "pool-a", .old_answers = true };
	assert_refused(t, t->e->ops->check_target(t->e, "dublin-dr", &t->err),
		       "old primary 'pool-a' still serves database 'xds' writable");
	assert_contains(t->err.hint, "give 'dublin-dr' a 'log_backups' folder");
	assert_all_consumed(t);
	free_t(t);

	t = new_logship_t();
	SCRIPT(t, 0, a_mirrored);
	SCRIPT(t, 2, dr);
	open_t(t);
	t->e->move = (struct engine_move){ .old_primary = "pool-a", .old_answers = true };
	assert_refused(t, t->e->ops->check_target(t->e, "dublin-dr", &t->err),
		       "old primary 'pool-a' still serves database 'xds' writable");
	assert_contains(t->err.hint, "needs the database outside mirroring");
	assert_all_consumed(t);
	free_t(t);
}

/* The engine sent nothing but n identity checks (the refused sessions are
 * closed, so their fakes cannot be asked). */
static void assert_only_identity(const struct t *t, size_t n)
{
	size_t i;

	assert_int_equal(t->e->nlog, n);
	for (i = 0; i < n; i++)
		assert_string_equal(t->e->log[i].sql, MSSQL_IDENTITY_SQL);
}

/* Named instances: the engine asks every new session which server and
 * instance answered, and refuses one that is not the configured one
 * before it reads or changes anything there. */
static void another_instance_is_refused_before_any_change(void **state)
{
	static const struct db_fake_reply none[] = { { NULL, NULL, 0, NULL, 0, NULL } };
	struct observation obs;
	struct t *t = new_t(true, NULL);

	(void)state;
	/* Configured RTC; the connection reached the default instance. */
	t->servers[1].instance = "RTC";
	t->fakes[1].identity_server = "SQL-B";
	t->fakes[1].identity_instance = "";
	open_t(t);
	assert_refused(t, t->e->ops->check_target(t->e, "pool-b", &t->err),
		       "server 'pool-b' answered as the default instance (ServerName 'SQL-B'), but the config names instance 'RTC'");
	assert_non_null(t->err.hint);
	assert_contains(t->err.hint, "Server=host\\RTC");
	assert_only_identity(t, 1);
	cms_error_clear(&t->err);
	assert_refused(t, t->e->ops->promote(t->e, "pool-b", "pool-a", true, &t->err),
		       "but the config names instance 'RTC'");
	assert_int_equal(t->fakes[1].connects, 2);
	assert_only_identity(t, 2);
	free_t(t);

	/* The old primary answering as another instance is not "down": a
	 * catch-up refuses instead of letting forced service go ahead. */
	t = new_t(true, NULL);
	t->fakes[0].identity_instance = "RTCLOCAL";
	t->fakes[0].identity_server = "SQL-A\\RTCLOCAL";
	open_t(t);
	assert_refused(t, t->e->ops->catch_up(t->e, "pool-a", "pool-b", 5000, &t->err),
		       "server 'pool-a' answered as instance 'RTCLOCAL' (ServerName 'SQL-A\\RTCLOCAL'), but the config names the default instance");
	assert_only_identity(t, 2); /* pool-b's (accepted), then pool-a's */
	free_t(t);

	/* Another machine with the right instance name. */
	t = new_t(false, NULL);
	t->servers[1].instance = "RTC";
	t->fakes[1].identity_server = "SQL-C\\RTC";
	open_t(t);
	assert_refused(t, t->e->ops->check_target(t->e, "pool-b", &t->err),
		       "server 'pool-b' answered as 'SQL-C\\RTC', another machine than 'sql-b.litwareinc.com'");
	free_t(t);

	/* probe: reachable, role unknown, and the reason; no other statement. */
	t = new_t(false, NULL);
	t->fakes[0].script = none;
	t->fakes[0].n = 0;
	t->fakes[0].identity_instance = "RTC";
	t->fakes[0].identity_server = "SQL-A\\RTC";
	t->fakes[1].connect_error = "[08001] unreachable";
	t->fakes[2].connect_error = "[08001] unreachable";
	open_t(t);
	assert_int_equal(engine_probe(t->e, &obs, &t->err), 0);
	assert_true(obs.servers[0].reachable);
	assert_int_equal(obs.servers[0].role, OBS_UNKNOWN);
	assert_contains(obs.servers[0].error, "answered as instance 'RTC'");
	assert_false(obs.servers[1].reachable);
	observation_free(&obs);
	assert_only_identity(t, 1);
	free_t(t);
}

/* The identity that matches passes with the instance in either case. */
static void the_configured_instance_passes(void **state)
{
	static const struct db_fake_reply b[] = { DBS(b_mirror) };
	struct t *t = new_t(false, NULL);

	(void)state;
	t->servers[1].instance = "RTC";
	t->fakes[1].identity_server = "sql-b\\rtc";
	t->fakes[1].identity_instance = "rtc";
	SCRIPT(t, 1, b);
	open_t(t);
	assert_int_equal(t->e->ops->check_target(t->e, "pool-b", &t->err), 0);
	assert_all_consumed(t);
	free_t(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(quote_ident_doubles_closing_brackets),
		cmocka_unit_test(lsn_keeps_low_64_bits_and_rejects_garbage),
		cmocka_unit_test(open_refuses_names_that_are_not_identifiers),
		cmocka_unit_test(probe_maps_principal_mirror_and_restoring_backup),
		cmocka_unit_test(probe_reports_unreachable_standalone_missing_and_witness),
		cmocka_unit_test(probe_mixed_roles_and_malformed_answers_are_unknown),
		cmocka_unit_test(probe_availability_group_roles_and_lag_from_queues),
		cmocka_unit_test(check_target_accepts_and_refuses_each_mirror_state),
		cmocka_unit_test(check_target_refusal_hints),
		cmocka_unit_test(check_target_unreachable_or_unknown_is_refused),
		cmocka_unit_test(check_target_availability_group),
		cmocka_unit_test(fence_is_a_statement_free_no_op),
		cmocka_unit_test(catch_up_polls_until_synchronized),
		cmocka_unit_test(catch_up_refuses_on_timeout_and_when_waiting_cannot_help),
		cmocka_unit_test(catch_up_with_the_source_down),
		cmocka_unit_test(catch_up_availability_group_waits_for_failover_ready),
		cmocka_unit_test(switchover_transcript),
		cmocka_unit_test(switchover_refusals_send_no_change),
		cmocka_unit_test(switchover_with_the_principal_unreachable_is_refused),
		cmocka_unit_test(switchover_failing_halfway_fails_back),
		cmocka_unit_test(restore_finishes_a_half_moved_pair),
		cmocka_unit_test(switchover_resumes_a_half_done_move),
		cmocka_unit_test(promote_times_out_when_the_target_never_takes_over),
		cmocka_unit_test(forced_service_transcript),
		cmocka_unit_test(forced_service_refusals),
		cmocka_unit_test(demote_turns_leftovers_into_followups),
		cmocka_unit_test(availability_group_failover_transcript),
		cmocka_unit_test(availability_group_forced_failover_transcript),
		cmocka_unit_test(availability_group_refusals),
		cmocka_unit_test(availability_group_demote_advises_resume),
		cmocka_unit_test(restore_recovery_transcript),
		cmocka_unit_test(restore_while_the_old_primary_still_serves_is_refused),
		cmocka_unit_test(restore_without_data_loss_allowed_is_refused),
		cmocka_unit_test(promote_of_a_target_already_serving_changes_nothing),
		cmocka_unit_test(another_instance_is_refused_before_any_change),
		cmocka_unit_test(forced_moves_need_the_old_primary_isolated),
		cmocka_unit_test(standby_copy_is_a_backup_and_recovers),
		cmocka_unit_test(switchover_principal_checked_before_any_change),
		cmocka_unit_test(availability_group_lossless_with_the_primary_unreachable),
		cmocka_unit_test(availability_group_external_or_none_is_refused),
		cmocka_unit_test(the_configured_instance_passes),
		cmocka_unit_test(lsn_compare_is_exact_over_25_digits),
		cmocka_unit_test(log_shipping_failover_with_a_tail_log_fence),
		cmocka_unit_test(a_gap_in_the_log_chain_is_refused_before_any_change),
		cmocka_unit_test(log_chain_with_the_old_primary_down),
		cmocka_unit_test(a_folder_behind_the_old_primary_is_refused),
		cmocka_unit_test(tail_log_fence_undone_and_a_missing_tail_refused),
		cmocka_unit_test(tail_log_fence_needs_a_folder_and_no_mirroring),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
