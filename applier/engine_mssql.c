/*
 * The SQL Server engine: moves a store's databases between the partners of
 * database mirroring, the replicas of an Always On availability group, or
 * onto a backup server that holds restored copies (the seed's
 * -BackupSqlServerFqdn mode), over one db session per server.
 *
 * What it reads: sys.databases joined with sys.database_mirroring (role,
 * state, safety, partner, witness; mirroring_role_sequence as the epoch and
 * mirroring_end_of_log_lsn as the position), and, for a server with an
 * availability group, the local rows of the sys.dm_hadr_* views (replica
 * role, synchronization state and health, failover readiness, send and redo
 * queues as the lag).
 *
 * What it changes, database by database, every statement through db_exec()
 * so that the journal and the report hold it:
 *   switchover         ALTER DATABASE [d] SET PARTNER FAILOVER, on the principal
 *   forced service     ALTER DATABASE [d] SET PARTNER FORCE_SERVICE_ALLOW_DATA_LOSS, on the mirror
 *   availability group ALTER AVAILABILITY GROUP [g] FAILOVER | FORCE_FAILOVER_ALLOW_DATA_LOSS, on the target
 *   restored copies    RESTORE DATABASE [d] WITH RECOVERY, on the backup, after
 *                      RESTORE LOG [d] FROM DISK = N'...' WITH FILE = n, NORECOVERY
 *                      for every log backup of its log_backups folder newer than
 *                      the copy, in LSN order ("Fail Over to a Log Shipping
 *                      Secondary"), and, when the old primary answers, its
 *                      BACKUP LOG [d] TO DISK = N'...' WITH NORECOVERY (the
 *                      tail-log backup, the fence of this path)
 * Every precondition of every database is checked before the first change,
 * so that a refusal never leaves the store half moved.  None of these
 * statements is trusted to have finished when it returns (SET PARTNER "can
 * complete successfully when entered, but fail later"; a FAILOVER "returns
 * as soon as the failover target has accepted the command"): the target is
 * re-read every 100 ms until it serves every database, within a bound.
 *
 * Names in statements: database and availability group names are checked
 * to be plain identifiers when the engine opens (config loading checks them
 * too) and are always bracket-quoted; string literals are N'...' with
 * quotes doubled.  Folder and file names of log backups (the log_backups
 * folder, checked by config loading; file names as xp_dirtree lists them,
 * refused when they hold a quote or a separator) reach statements only as
 * such literals.  Nothing else from outside reaches a statement.
 *
 * Sessions stay open (one per server, in e->priv) for the life of the
 * engine; each statement's log entry is moved to the engine right after it
 * runs, so the applier's per-step journal is complete and in order across
 * servers.
 */
#include "applier/engine_mssql.h"
#include "applier/engine.h"
#include "common/buf.h"
#include "common/util.h"
#include "planner/config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

/* How often a wait re-reads a server. */
#define MSSQL_POLL_MS 100
/* Bound of the wait for a role change when the policy has no query timeout. */
#define MSSQL_DEFAULT_ROLE_WAIT_MS 30000

/* The store's databases as one server sees them; "IN (...)" is appended. */
static const char mssql_dbs_select[] =
	"SELECT d.name, d.state_desc, d.is_read_only, m.mirroring_role_desc, "
	"m.mirroring_state_desc, m.mirroring_safety_level_desc, m.mirroring_partner_name, "
	"m.mirroring_witness_name, m.mirroring_witness_state_desc, m.mirroring_role_sequence, "
	"m.mirroring_failover_lsn, m.mirroring_end_of_log_lsn, d.is_in_standby "
	"FROM sys.databases d LEFT JOIN sys.database_mirroring m ON m.database_id = d.database_id "
	"WHERE d.name IN (";

enum {
	DBS_NAME, DBS_STATE, DBS_READ_ONLY, DBS_ROLE, DBS_MSTATE, DBS_SAFETY, DBS_PARTNER,
	DBS_WITNESS, DBS_WSTATE, DBS_SEQUENCE, DBS_FAILOVER_LSN, DBS_END_LSN, DBS_STANDBY, DBS_NCOLS
};

/* The local replica of an availability group and its databases; the
 * group's name literal and " AND d.name IN (...)" are appended. */
static const char mssql_ag_select[] =
	"SELECT d.name, d.state_desc, d.is_read_only, ars.role_desc, "
	"drs.synchronization_state_desc, drs.synchronization_health_desc, drs.is_suspended, "
	"c.is_failover_ready, drs.log_send_queue_size, drs.redo_queue_size, drs.last_hardened_lsn "
	"FROM sys.availability_groups g "
	"JOIN sys.dm_hadr_availability_replica_states ars ON ars.group_id = g.group_id AND ars.is_local = 1 "
	"JOIN sys.dm_hadr_database_replica_states drs ON drs.replica_id = ars.replica_id AND drs.is_local = 1 "
	"JOIN sys.databases d ON d.database_id = drs.database_id "
	"LEFT JOIN sys.dm_hadr_database_replica_cluster_states c "
	"ON c.replica_id = drs.replica_id AND c.group_database_id = drs.group_database_id "
	"WHERE g.name = ";

enum {
	AG_NAME, AG_STATE, AG_READ_ONLY, AG_ROLE, AG_SYNC, AG_HEALTH, AG_SUSPENDED, AG_READY,
	AG_SEND_KB, AG_REDO_KB, AG_HARDENED_LSN, AG_NCOLS
};

struct mssql {
	char *db_list;        /* N'xds', N'lis': the store's databases as literals */
	char *dbs_sql;        /* mssql_dbs_select completed with db_list */
	size_t tail_from;     /* index + 1 of the old primary whose tail-log backup is the fence
			       * (decided by check_target); 0: none */
	size_t tail_to;       /* the backup server whose log_backups folder receives it */
	char **tails;         /* per database: the tail-log backup taken, or NULL */
};

/* One database as one server reported it; strings borrowed from the result. */
struct mdb {
	bool present;
	const char *state_desc;    /* sys.databases: ONLINE, RESTORING, ... */
	bool read_only;
	bool standby;              /* restored WITH STANDBY (a log-shipping copy): ONLINE, read-only */
	const char *role;          /* PRINCIPAL or MIRROR; NULL: not mirrored */
	const char *mstate;        /* SYNCHRONIZED, SYNCHRONIZING, SUSPENDED, DISCONNECTED, PENDING_FAILOVER */
	const char *safety;        /* FULL, OFF, UNKNOWN */
	const char *partner;       /* TCP://host:port of the other partner */
	const char *witness;       /* NULL or empty: no witness */
	const char *wstate;        /* CONNECTED, DISCONNECTED, UNKNOWN */
	int64_t role_sequence;     /* the epoch */
	uint64_t end_lsn;          /* low 64 bits */
};

struct mread {
	struct db_result *res;     /* owns the strings of dbs */
	struct mdb *dbs;           /* one per store database, config order */
};

/* One database of the local replica of an availability group. */
struct agdb {
	bool present;
	const char *state_desc;
	bool read_only;
	const char *sync;          /* NOT SYNCHRONIZING, SYNCHRONIZING, SYNCHRONIZED, REVERTING, INITIALIZING */
	const char *health;        /* NOT_HEALTHY, PARTIALLY_HEALTHY, HEALTHY */
	bool suspended;
	int failover_ready;        /* 1, 0, or -1 when unknown */
	int64_t send_kb;           /* log not yet sent here, KB; -1 when NULL */
	int64_t redo_kb;           /* log received but not redone, KB; -1 when NULL */
	uint64_t hardened_lsn;     /* low 64 bits */
};

struct agread {
	struct db_result *res;
	struct agdb *dbs;          /* one per store database, config order */
	const char *replica_role;  /* PRIMARY, SECONDARY, RESOLVING; NULL: no database of the store joined */
};

enum mssql_goal {
	GOAL_SYNCHRONIZED, /* every mirrored database SYNCHRONIZED (catch-up) */
	GOAL_SERVING,      /* every database ONLINE and no longer a mirror (after promotion) */
	GOAL_AG_READY,     /* every database SYNCHRONIZED and failover-ready on the local replica */
	GOAL_AG_PRIMARY,   /* the local replica PRIMARY and every database ONLINE */
};

enum mssql_action {
	ACT_NONE,          /* already serving */
	ACT_FAILOVER,      /* SET PARTNER FAILOVER on the principal */
	ACT_FORCE,         /* SET PARTNER FORCE_SERVICE_ALLOW_DATA_LOSS on the mirror */
	ACT_RESTORE,       /* RESTORE DATABASE ... WITH RECOVERY on the backup */
};

/* ---- quoting and parsing ------------------------------------------------ */

void mssql_quote_ident(struct buf *out, const char *ident)
{
	const char *p;

	buf_addch(out, '[');
	for (p = ident; p && *p; p++) {
		if (*p == ']')
			buf_addch(out, ']');
		buf_addch(out, *p);
	}
	buf_addch(out, ']');
}

void mssql_quote_nstring(struct buf *out, const char *s)
{
	buf_addch(out, 'N');
	db_add_string_literal(out, s);
}

int mssql_parse_lsn(uint64_t *out, const char *s)
{
	uint64_t v = 0;
	size_t digits = 0;
	const char *p;

	if (!s)
		return -1;
	/* Unsigned arithmetic wraps modulo 2^64, so the running value is
	 * exactly the low 64 bits of the whole number. */
	for (p = s; *p >= '0' && *p <= '9'; p++, digits++)
		v = v * 10 + (uint64_t)(*p - '0');
	if (digits == 0 || digits > 38)
		return -1;
	if (*p == '.') {
		for (p++; *p == '0'; p++)
			;
	}
	if (*p)
		return -1;
	*out = v;
	return 0;
}

static int parse_bit(bool *out, const char *s)
{
	if (s && strcmp(s, "1") == 0)
		*out = true;
	else if (s && strcmp(s, "0") == 0)
		*out = false;
	else
		return -1;
	return 0;
}

static int parse_int64(int64_t *out, const char *s)
{
	char *end = NULL;
	long long v;

	if (!s || !((*s >= '0' && *s <= '9') || *s == '-'))
		return -1;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno || end == s || *end)
		return -1;
	*out = v;
	return 0;
}

static bool eq(const char *a, const char *b)
{
	return a && b && strcasecmp(a, b) == 0;
}

static const char *or_unknown(const char *s)
{
	return s ? s : "UNKNOWN";
}

/* Appends "[name]" after checking that name is a plain identifier. */
static int add_ident(struct buf *b, const char *what, const char *name, struct cms_error *err)
{
	if (!name || !config_is_identifier(name))
		return cms_error_set(err, CMS_ERROR, "%s name '%.128s' is not a plain identifier", what,
				     name ? name : "");
	mssql_quote_ident(b, name);
	return 0;
}

__attribute__((format(printf, 3, 4)))
static int bad_answer(struct cms_error *err, const char *server, const char *fmt, ...)
{
	struct buf b = BUF_INIT;
	va_list ap;

	va_start(ap, fmt);
	buf_vaddf(&b, fmt, ap);
	va_end(ap);
	cms_error_set(err, CMS_ERROR, "unexpected answer from server '%s': %s", server, b.ptr);
	buf_free(&b);
	return CMS_ERROR;
}

static size_t db_index(const struct store *st, const char *name)
{
	size_t i;

	for (i = 0; i < st->ndatabases; i++) {
		if (eq(st->databases[i], name))
			break;
	}
	return i;
}

/* The host of a mirroring endpoint address, TCP://host:port; caller frees. */
static char *partner_host(const char *addr)
{
	const char *p = addr, *end;

	if (!addr)
		return NULL;
	if (strncasecmp(p, "TCP://", 6) == 0)
		p += 6;
	if (*p == '[') {
		p++;
		if (!(end = strchr(p, ']')))
			return NULL;
	} else if (!(end = strchr(p, ':'))) {
		end = p + strlen(p);
	}
	return end > p ? xstrndup(p, (size_t)(end - p)) : NULL;
}

/* The config server a mirroring partner address names (by fqdn, then by
 * name), or NULL. */
static const struct server *partner_server(const struct store *st, const char *addr)
{
	const struct server *found = NULL;
	char *host = partner_host(addr);
	size_t i;

	for (i = 0; host && i < st->nservers && !found; i++) {
		if (eq(st->servers[i].fqdn, host))
			found = &st->servers[i];
	}
	for (i = 0; host && i < st->nservers && !found; i++) {
		if (eq(st->servers[i].name, host))
			found = &st->servers[i];
	}
	free(host);
	return found;
}

static bool has_witness(const struct mdb *d)
{
	return d->witness && *d->witness;
}

/* "xds, lis" for the databases whose flag is set. */
static void add_db_names(struct buf *b, const struct store *st, const bool *which)
{
	size_t i, n = 0;

	for (i = 0; i < st->ndatabases; i++) {
		if (which && !which[i])
			continue;
		if (n++)
			buf_adds(b, ", ");
		buf_adds(b, st->databases[i]);
	}
}

/* "ALTER DATABASE [xds] SET HADR RESUME and ALTER DATABASE [lis] ..." for
 * the databases whose flag is set: before, the quoted name, after. */
static void add_db_statements(struct buf *b, const struct store *st, const bool *which,
			      const char *before, const char *after)
{
	size_t i, n = 0;

	for (i = 0; i < st->ndatabases; i++) {
		if (which && !which[i])
			continue;
		if (n++)
			buf_adds(b, " and ");
		buf_adds(b, before);
		mssql_quote_ident(b, st->databases[i]);
		buf_adds(b, after);
	}
}

/* ---- sessions ----------------------------------------------------------- */

static int server_index(struct engine *e, const char *name, size_t *out, struct cms_error *err)
{
	return engine_server(e, name, out, err) ? 0 : CMS_ENOTFOUND;
}

/* The machine part of a ServerName ("SQLA01\\RTC" -> "SQLA01") equals the
 * first label of the server's fqdn, or its name when it has no fqdn. */
static bool same_machine(const struct server *srv, const char *server_name)
{
	const char *want = srv->fqdn ? srv->fqdn : srv->name;
	size_t wlen = strcspn(want, "."), glen = strcspn(server_name, "\\");

	return wlen == glen && strncasecmp(want, server_name, wlen) == 0;
}

/*
 * Which server answered: SERVERPROPERTY('InstanceName') must be the
 * configured instance (NULL, the default instance, when none is
 * configured), and the machine part of SERVERPROPERTY('ServerName') the
 * first label of the configured fqdn (or the name).  A connection string
 * or DSN that reaches another instance, or another machine, is refused
 * (CMS_EREFUSED) before anything is read from it or sent to it.
 */
static int check_identity(struct engine *e, size_t idx, struct db *db, struct cms_error *err)
{
	const struct server *srv = &e->store->servers[idx];
	struct db_result *r = NULL;
	const char *sname, *inst;
	int rc;

	rc = engine_exec(e, db, NULL, MSSQL_IDENTITY_SQL, &r, err);
	if (rc < 0) {
		cms_error_prefix(err, "cannot tell which instance server '%s' is", srv->name);
		goto done;
	}
	if (!r || r->ncols != 2 || r->nrows != 1 || !(sname = db_result_get(r, 0, 0))) {
		rc = bad_answer(err, srv->name, "SERVERPROPERTY('ServerName') gave no value");
		goto done;
	}
	inst = db_result_get(r, 0, 1);
	if (srv->instance ? !eq(inst, srv->instance) : inst != NULL) {
		rc = cms_error_set(err, CMS_EREFUSED,
				   "server '%s' answered as %s%.128s%s (ServerName '%.256s'), but the config names %s%s%s",
				   srv->name, inst ? "instance '" : "the default instance", inst ? inst : "",
				   inst ? "'" : "", sname, srv->instance ? "instance '" : "the default instance",
				   srv->instance ? srv->instance : "", srv->instance ? "'" : "");
		cms_error_hint(err, "the connection reaches another instance: name it in the connection string (Server=host\\%s, found through the SQL Server Browser, or the instance's Port=), or fix 'instance'",
			       srv->instance ? srv->instance : (inst ? inst : "INSTANCE"));
		goto done;
	}
	if (!same_machine(srv, sname)) {
		rc = cms_error_set(err, CMS_EREFUSED,
				   "server '%s' answered as '%.256s', another machine than '%s'", srv->name,
				   sname, srv->fqdn ? srv->fqdn : srv->name);
		cms_error_hint(err, "fix the connection string, or set 'fqdn' to the machine's name (its first label is compared with SERVERPROPERTY('ServerName'))");
		goto done;
	}
done:
	db_result_free(r);
	return rc;
}

/* Runs one statement that acts on database (NULL: the session's) and
 * moves its log entry to the engine at once. */
static int run_on(struct engine *e, size_t idx, const char *database, const char *sql,
		  struct db_result **out, struct cms_error *err)
{
	struct db *db = NULL;
	int rc;

	if ((rc = engine_session(e, idx, &db, err)) < 0)
		return rc;
	return engine_exec(e, db, database, sql, out, err);
}

static int run(struct engine *e, size_t idx, const char *sql, struct db_result **out,
	       struct cms_error *err)
{
	return run_on(e, idx, NULL, sql, out, err);
}

/* SET PARTNER FAILOVER and RESTORE need master as the database context;
 * the connection string may name another database, so say it once per
 * session before the first such statement. */
static int use_master(struct engine *e, size_t idx, bool *done, struct cms_error *err)
{
	int rc;

	if (*done)
		return 0;
	if ((rc = run(e, idx, "USE [master]", NULL, err)) < 0)
		return rc;
	{
		struct db *db = NULL;

		if (engine_session(e, idx, &db, err) == 0)
			db_set_database(db, "master");
	}
	*done = true;
	return 0;
}


static int64_t role_wait_ms(const struct engine *e)
{
	return e->store->policy.query_timeout_ms > 0 ? e->store->policy.query_timeout_ms
						     : MSSQL_DEFAULT_ROLE_WAIT_MS;
}

/* ---- reading ------------------------------------------------------------ */

static void mread_free(struct mread *r)
{
	db_result_free(r->res);
	free(r->dbs);
	r->res = NULL;
	r->dbs = NULL;
}

static void agread_free(struct agread *r)
{
	db_result_free(r->res);
	free(r->dbs);
	r->res = NULL;
	r->dbs = NULL;
	r->replica_role = NULL;
}

/* Reads and checks the mirroring view of the store's databases on one server. */
static int read_dbs(struct engine *e, size_t idx, struct mread *out, struct cms_error *err)
{
	const struct store *st = e->store;
	const char *label = st->servers[idx].name;
	struct mssql *m = e->priv;
	struct db_result *r = NULL;
	size_t row, i;
	int rc;

	memset(out, 0, sizeof(*out));
	if ((rc = run(e, idx, m->dbs_sql, &r, err)) < 0)
		return rc;
	if (!r || r->ncols != DBS_NCOLS) {
		rc = bad_answer(err, label, "%zu columns instead of %d", r ? r->ncols : 0, DBS_NCOLS);
		goto done;
	}
	out->dbs = xcalloc(st->ndatabases, sizeof(*out->dbs));
	for (row = 0; row < r->nrows; row++) {
		const char *name = db_result_get(r, row, DBS_NAME);
		const char *s;
		struct mdb *d;

		if (!name || (i = db_index(st, name)) == st->ndatabases) {
			rc = bad_answer(err, label, "database '%.128s' was not asked for",
					name ? name : "NULL");
			goto done;
		}
		d = &out->dbs[i];
		if (d->present) {
			rc = bad_answer(err, label, "database '%s' appears twice", st->databases[i]);
			goto done;
		}
		d->present = true;
		if (!(d->state_desc = db_result_get(r, row, DBS_STATE))) {
			rc = bad_answer(err, label, "state_desc of '%s' is NULL", st->databases[i]);
			goto done;
		}
		s = db_result_get(r, row, DBS_READ_ONLY);
		if (parse_bit(&d->read_only, s) < 0) {
			rc = bad_answer(err, label, "is_read_only of '%s' is '%.64s'", st->databases[i],
					s ? s : "NULL");
			goto done;
		}
		s = db_result_get(r, row, DBS_STANDBY);
		if (parse_bit(&d->standby, s) < 0) {
			rc = bad_answer(err, label, "is_in_standby of '%s' is '%.64s'", st->databases[i],
					s ? s : "NULL");
			goto done;
		}
		d->role = db_result_get(r, row, DBS_ROLE);
		d->mstate = db_result_get(r, row, DBS_MSTATE);
		d->safety = db_result_get(r, row, DBS_SAFETY);
		d->partner = db_result_get(r, row, DBS_PARTNER);
		d->witness = db_result_get(r, row, DBS_WITNESS);
		d->wstate = db_result_get(r, row, DBS_WSTATE);
		if ((s = db_result_get(r, row, DBS_SEQUENCE)) && parse_int64(&d->role_sequence, s) < 0) {
			rc = bad_answer(err, label, "mirroring_role_sequence of '%s' is '%.64s'",
					st->databases[i], s);
			goto done;
		}
		if ((s = db_result_get(r, row, DBS_FAILOVER_LSN))) {
			uint64_t ignored;

			if (mssql_parse_lsn(&ignored, s) < 0) {
				rc = bad_answer(err, label, "mirroring_failover_lsn of '%s' is '%.64s'",
						st->databases[i], s);
				goto done;
			}
		}
		if ((s = db_result_get(r, row, DBS_END_LSN)) && mssql_parse_lsn(&d->end_lsn, s) < 0) {
			rc = bad_answer(err, label, "mirroring_end_of_log_lsn of '%s' is '%.64s'",
					st->databases[i], s);
			goto done;
		}
	}
	out->res = r;
	r = NULL;
done:
	db_result_free(r);
	if (rc < 0) {
		free(out->dbs);
		out->dbs = NULL;
	}
	return rc;
}

static int parse_kb(int64_t *out, const char *s)
{
	if (!s) {
		*out = -1;
		return 0;
	}
	return parse_int64(out, s) < 0 || *out < 0 ? -1 : 0;
}

/* Reads and checks the local replica of the server's availability group. */
static int read_ag(struct engine *e, size_t idx, struct agread *out, struct cms_error *err)
{
	const struct store *st = e->store;
	const struct server *srv = &st->servers[idx];
	struct mssql *m = e->priv;
	struct db_result *r = NULL;
	struct buf sql = BUF_INIT;
	size_t row, i;
	int rc;

	memset(out, 0, sizeof(*out));
	if (!srv->availability_group || !config_is_identifier(srv->availability_group))
		return cms_error_set(err, CMS_ERROR,
				     "availability group name '%.128s' of server '%s' is not a plain identifier",
				     srv->availability_group ? srv->availability_group : "", srv->name);
	buf_adds(&sql, mssql_ag_select);
	mssql_quote_nstring(&sql, srv->availability_group);
	buf_adds(&sql, " AND d.name IN (");
	buf_adds(&sql, m->db_list);
	buf_addch(&sql, ')');
	if ((rc = run(e, idx, sql.ptr, &r, err)) < 0)
		goto done;
	if (!r || r->ncols != AG_NCOLS) {
		rc = bad_answer(err, srv->name, "%zu columns instead of %d", r ? r->ncols : 0, AG_NCOLS);
		goto done;
	}
	out->dbs = xcalloc(st->ndatabases, sizeof(*out->dbs));
	for (row = 0; row < r->nrows; row++) {
		const char *name = db_result_get(r, row, AG_NAME);
		const char *role = db_result_get(r, row, AG_ROLE);
		const char *s;
		struct agdb *d;

		if (!name || (i = db_index(st, name)) == st->ndatabases) {
			rc = bad_answer(err, srv->name, "database '%.128s' was not asked for",
					name ? name : "NULL");
			goto done;
		}
		d = &out->dbs[i];
		if (d->present) {
			rc = bad_answer(err, srv->name, "database '%s' appears twice", st->databases[i]);
			goto done;
		}
		d->present = true;
		if (!role || (out->replica_role && !eq(out->replica_role, role))) {
			rc = bad_answer(err, srv->name, "replica role of '%s' is '%.64s'", st->databases[i],
					role ? role : "NULL");
			goto done;
		}
		out->replica_role = role;
		if (!(d->state_desc = db_result_get(r, row, AG_STATE))) {
			rc = bad_answer(err, srv->name, "state_desc of '%s' is NULL", st->databases[i]);
			goto done;
		}
		s = db_result_get(r, row, AG_READ_ONLY);
		if (parse_bit(&d->read_only, s) < 0) {
			rc = bad_answer(err, srv->name, "is_read_only of '%s' is '%.64s'",
					st->databases[i], s ? s : "NULL");
			goto done;
		}
		d->sync = db_result_get(r, row, AG_SYNC);
		d->health = db_result_get(r, row, AG_HEALTH);
		s = db_result_get(r, row, AG_SUSPENDED);
		if (parse_bit(&d->suspended, s) < 0) {
			rc = bad_answer(err, srv->name, "is_suspended of '%s' is '%.64s'",
					st->databases[i], s ? s : "NULL");
			goto done;
		}
		d->failover_ready = -1;
		if ((s = db_result_get(r, row, AG_READY))) {
			bool ready;

			if (parse_bit(&ready, s) < 0) {
				rc = bad_answer(err, srv->name, "is_failover_ready of '%s' is '%.64s'",
						st->databases[i], s);
				goto done;
			}
			d->failover_ready = ready ? 1 : 0;
		}
		s = db_result_get(r, row, AG_SEND_KB);
		if (parse_kb(&d->send_kb, s) < 0) {
			rc = bad_answer(err, srv->name, "log_send_queue_size of '%s' is '%.64s'",
					st->databases[i], s);
			goto done;
		}
		s = db_result_get(r, row, AG_REDO_KB);
		if (parse_kb(&d->redo_kb, s) < 0) {
			rc = bad_answer(err, srv->name, "redo_queue_size of '%s' is '%.64s'",
					st->databases[i], s);
			goto done;
		}
		if ((s = db_result_get(r, row, AG_HARDENED_LSN)) && mssql_parse_lsn(&d->hardened_lsn, s) < 0) {
			rc = bad_answer(err, srv->name, "last_hardened_lsn of '%s' is '%.64s'",
					st->databases[i], s);
			goto done;
		}
	}
	out->res = r;
	r = NULL;
done:
	db_result_free(r);
	buf_free(&sql);
	if (rc < 0) {
		free(out->dbs);
		out->dbs = NULL;
		out->replica_role = NULL;
	}
	return rc;
}

/* ---- probe -------------------------------------------------------------- */

/* A restored copy outside mirroring: RESTORING (WITH NORECOVERY), or
 * ONLINE and read-only in STANDBY (log shipping's readable secondary). */
static bool restored_copy(const struct mdb *d)
{
	return d->present && !d->role &&
	       (eq(d->state_desc, "RESTORING") || (d->standby && eq(d->state_desc, "ONLINE")));
}

static enum obs_role mdb_role(const struct mdb *d)
{
	if (!d->present)
		return OBS_UNKNOWN;
	if (d->role) {
		if (eq(d->role, "PRINCIPAL"))
			return OBS_PRIMARY;
		if (eq(d->role, "MIRROR"))
			return OBS_MIRROR;
		return OBS_UNKNOWN;
	}
	/* Not mirrored: a restoring or standby copy is a disaster-recovery
	 * backup; an online one is a standalone copy that accepts writes. */
	if (restored_copy(d))
		return OBS_BACKUP;
	if (eq(d->state_desc, "ONLINE"))
		return OBS_PRIMARY;
	return OBS_UNKNOWN;
}

static char *mdb_state_text(const struct mdb *d)
{
	struct buf b = BUF_INIT;

	if (!d->present)
		return xstrdup("missing");
	if (!d->role) {
		buf_adds(&b, "not mirrored");
		if (!eq(d->state_desc, "ONLINE"))
			buf_addf(&b, ", %s", d->state_desc);
		if (d->standby)
			buf_adds(&b, ", STANDBY");
		return buf_detach(&b, NULL);
	}
	buf_addf(&b, "%s, SAFETY %s", or_unknown(d->mstate), or_unknown(d->safety));
	if (has_witness(d))
		buf_addf(&b, ", WITNESS %s", or_unknown(d->wstate));
	if (!eq(d->state_desc, "ONLINE") && !eq(d->role, "MIRROR"))
		buf_addf(&b, ", %s", d->state_desc);
	return buf_detach(&b, NULL);
}

/* Role by consensus, highest epoch, lowest position, any read-only. */
static void summarise(struct server_obs *so)
{
	size_t i;

	so->role = so->ndbs ? so->dbs[0].role : OBS_UNKNOWN;
	for (i = 0; i < so->ndbs; i++) {
		const struct db_obs *o = &so->dbs[i];

		if (o->role != so->role)
			so->role = OBS_UNKNOWN;
		if (i == 0 || o->epoch > so->epoch)
			so->epoch = o->epoch;
		if (i == 0 || o->position < so->position)
			so->position = o->position;
		if (o->read_only)
			so->read_only = true;
	}
}

static void obs_from_mirroring(const struct store *st, const struct mread *r, struct server_obs *so)
{
	bool all_synchronized = true;
	size_t i;

	so->dbs = xcalloc(st->ndatabases, sizeof(*so->dbs));
	so->ndbs = st->ndatabases;
	for (i = 0; i < st->ndatabases; i++) {
		const struct mdb *d = &r->dbs[i];
		struct db_obs *o = &so->dbs[i];

		o->name = xstrdup(st->databases[i]);
		o->role = mdb_role(d);
		o->epoch = d->role_sequence;
		o->position = d->end_lsn;
		o->read_only = d->read_only;
		o->state = mdb_state_text(d);
		if (!d->role || !eq(d->mstate, "SYNCHRONIZED"))
			all_synchronized = false;
		if (!so->upstream && o->role == OBS_MIRROR) {
			const struct server *up = partner_server(st, d->partner);

			if (up)
				so->upstream = xstrdup(up->name);
		}
	}
	summarise(so);
	/* sys.database_mirroring tells no byte count: a SYNCHRONIZED mirror has
	 * hardened everything its principal committed (lag 0); any other
	 * state's lag is unknown. */
	if (so->role == OBS_PRIMARY)
		so->lag_bytes = 0;
	else if (so->role == OBS_MIRROR && all_synchronized)
		so->lag_bytes = 0;
	else
		so->lag_bytes = -1;
}

static enum obs_role agdb_role(const struct agread *r, const struct agdb *d)
{
	if (!d->present)
		return OBS_UNKNOWN;
	if (eq(r->replica_role, "PRIMARY"))
		return OBS_PRIMARY;
	if (eq(r->replica_role, "SECONDARY"))
		return OBS_MIRROR;
	return OBS_UNKNOWN;
}

static int64_t kb_to_bytes(int64_t kb)
{
	return kb > INT64_MAX / 1024 ? INT64_MAX : kb * 1024;
}

static void obs_from_ag(const struct store *st, const struct server *srv, const struct agread *r,
			struct server_obs *so)
{
	int64_t lag = 0;
	size_t i;

	so->dbs = xcalloc(st->ndatabases, sizeof(*so->dbs));
	so->ndbs = st->ndatabases;
	for (i = 0; i < st->ndatabases; i++) {
		const struct agdb *d = &r->dbs[i];
		struct db_obs *o = &so->dbs[i];
		struct buf b = BUF_INIT;

		o->name = xstrdup(st->databases[i]);
		o->role = agdb_role(r, d);
		o->position = d->hardened_lsn;
		o->read_only = d->read_only;
		if (!d->present) {
			buf_addf(&b, "not in availability group '%s'", srv->availability_group);
		} else {
			buf_addf(&b, "%s, %s", or_unknown(d->sync), or_unknown(d->health));
			if (d->suspended)
				buf_adds(&b, ", SUSPENDED");
			if (d->failover_ready == 0)
				buf_adds(&b, ", not failover-ready");
		}
		o->state = buf_detach(&b, NULL);
		if (!d->present || d->send_kb < 0 || d->redo_kb < 0)
			lag = -1;
		else if (lag >= 0 && kb_to_bytes(d->send_kb + d->redo_kb) > lag)
			lag = kb_to_bytes(d->send_kb + d->redo_kb);
	}
	summarise(so);
	if (so->role == OBS_PRIMARY)
		so->lag_bytes = 0;
	else if (so->role == OBS_MIRROR)
		so->lag_bytes = lag;
	else
		so->lag_bytes = -1;
}

static void probe_server(struct engine *e, size_t idx, struct server_obs *so)
{
	const struct store *st = e->store;
	const struct server *srv = &st->servers[idx];
	struct cms_error err = CMS_ERROR_INIT;
	struct mread mr = { 0 };
	struct agread ar = { 0 };
	struct db *db = NULL;

	so->server = xstrdup(srv->name);
	so->role = OBS_UNKNOWN;
	so->lag_bytes = -1;
	if (engine_session(e, idx, &db, &err) < 0) {
		/* Another instance answered: reachable, but nothing it says is
		 * about this server (role unknown), and the error says why. */
		so->reachable = err.code == CMS_EREFUSED;
		so->answered = so->reachable || engine_error_answered(&err);
		so->error = err.message;
		err.message = NULL;
		goto done;
	}
	so->reachable = true;
	so->answered = true;
	if (srv->availability_group) {
		if (read_ag(e, idx, &ar, &err) < 0)
			goto failed;
		obs_from_ag(st, srv, &ar, so);
	} else {
		if (read_dbs(e, idx, &mr, &err) < 0)
			goto failed;
		obs_from_mirroring(st, &mr, so);
	}
	goto done;
failed:
	/* Reachable but unreadable: an observation too.  The session may be
	 * broken; the next use reconnects. */
	so->error = err.message;
	err.message = NULL;
	engine_session_drop(e, idx);
done:
	mread_free(&mr);
	agread_free(&ar);
	cms_error_clear(&err);
}

static int mssql_probe(struct engine *e, struct observation *out, struct cms_error *err)
{
	const struct store *st = e->store;
	size_t i;

	(void)err;
	memset(out, 0, sizeof(*out));
	out->probed = true;
	out->servers = xcalloc(st->nservers, sizeof(*out->servers));
	out->nservers = st->nservers;
	for (i = 0; i < st->nservers; i++)
		probe_server(e, i, &out->servers[i]);
	return 0;
}

/* ---- log backups (log shipping's "Fail Over to a Log Shipping Secondary") */

/*
 * A backup server with 'log_backups' holds copies restored WITH NORECOVERY
 * or WITH STANDBY and a folder of the primary's log backups, under the path
 * SQL Server itself reads them by (a share that the old primary can write
 * too).  Before it takes over, it restores every log backup newer than its
 * copy, in LSN order, and when the old primary answers, that primary's
 * tail-log backup first taken WITH NORECOVERY (which leaves it RESTORING:
 * it is the fence of this path).
 *
 * What the copy holds: sys.master_files.redo_start_lsn of the primary data
 * file, "the LSN at which the next roll forward must start", which SQL
 * Server keeps for RESTORING and STANDBY databases.  Which backups there
 * are: the folder listed by the backup server itself (xp_dirtree, depth 1,
 * files; only names ending in .trn are read), and for each file its
 * headers (RESTORE HEADERONLY: every backup set of the file, with
 * BackupType 2 = log, DatabaseName, FirstLSN, LastLSN, Position).  A file's
 * name decides nothing: the headers say which database and which part of
 * its log it holds.  LSNs are numeric(25,0) and compared as decimals.
 */

#define LOG_SUFFIX ".trn"

/* One log backup set found in the folder; strings owned. */
struct logset {
	char *path;      /* the file, as SQL Server reads it */
	char *db;        /* DatabaseName */
	char *first;     /* FirstLSN */
	char *last;      /* LastLSN: the first LSN after the backup */
	long position;   /* Position: the set's number in the file (WITH FILE =) */
};

/* Skips leading zeros; the digits of a numeric(25,0), "" for zero. */
static const char *lsn_digits(const char *s, size_t *len)
{
	const char *p;

	while (*s == '0')
		s++;
	for (p = s; *p >= '0' && *p <= '9'; p++)
		;
	*len = (size_t)(p - s);
	return s;
}

static bool lsn_valid(const char *s)
{
	const char *p = s;

	if (!s || !*s)
		return false;
	while (*p >= '0' && *p <= '9')
		p++;
	if (p == s || p - s > 38)
		return false;
	if (*p == '.')
		for (p++; *p == '0'; p++)
			;
	return *p == '\0';
}

int mssql_lsn_cmp(const char *a, const char *b)
{
	size_t la, lb;
	int c;

	a = lsn_digits(a, &la);
	b = lsn_digits(b, &lb);
	if (la != lb)
		return la < lb ? -1 : 1;
	c = strncmp(a, b, la);
	return c < 0 ? -1 : c > 0;
}

static void logsets_free(struct logset *v, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		free(v[i].path);
		free(v[i].db);
		free(v[i].first);
		free(v[i].last);
	}
	free(v);
}

static int logset_order(const void *pa, const void *pb)
{
	const struct logset *a = pa, *b = pb;
	int c = strcasecmp(a->db, b->db);

	if (c)
		return c;
	if ((c = mssql_lsn_cmp(a->first, b->first)))
		return c;
	if ((c = mssql_lsn_cmp(a->last, b->last)))
		return c;
	/* the same sets in two files: the same choice every time */
	if ((c = strcmp(a->path, b->path)))
		return c;
	return (a->position > b->position) - (a->position < b->position);
}

static bool has_log_suffix(const char *name)
{
	size_t n = strlen(name), k = strlen(LOG_SUFFIX);

	return n > k && strcasecmp(name + n - k, LOG_SUFFIX) == 0;
}

/* folder + separator + name: a share or a drive path takes '\', a POSIX
 * path (SQL Server on Linux) '/'.  Caller frees. */
static char *folder_file(const char *folder, const char *name)
{
	size_t n = strlen(folder);
	char sep = folder[0] == '/' ? '/' : '\\';

	if (n && (folder[n - 1] == '\\' || folder[n - 1] == '/'))
		return xasprintf("%s%s", folder, name);
	return xasprintf("%s%c%s", folder, sep, name);
}

static size_t col_named(const struct db_result *r, const char *name)
{
	size_t i;

	for (i = 0; i < r->ncols; i++) {
		if (r->colnames && r->colnames[i] && strcasecmp(r->colnames[i], name) == 0)
			return i;
	}
	return (size_t)-1;
}

/* Reads the headers of one file and appends its log backup sets. */
static int read_headers(struct engine *e, size_t bidx, const char *path, struct logset **v,
			size_t *n, size_t *alloc, struct cms_error *err)
{
	const char *label = e->store->servers[bidx].name;
	static const char *const want[] = { "BackupType", "DatabaseName", "FirstLSN", "LastLSN",
					    "Position" };
	struct db_result *r = NULL;
	struct buf sql = BUF_INIT;
	size_t col[5], row, k;
	int rc;

	buf_adds(&sql, "RESTORE HEADERONLY FROM DISK = ");
	mssql_quote_nstring(&sql, path);
	if ((rc = run(e, bidx, sql.ptr, &r, err)) == CMS_EINTERRUPTED)
		goto done; /* the statement guard: nothing was read */
	if (rc < 0) {
		/* A file of the folder that is not a readable backup (one the
		 * copy job is still writing): the chain cannot be known, so the
		 * move is refused, before any change when check_target meets it. */
		cms_error_prefix(err, "cannot read the headers of log backup '%s' on '%s'", path, label);
		cms_error_hint(err, "a .trn file of the folder that is still being copied, or damaged? wait or move it out of '%s', then apply again",
			       e->store->servers[bidx].log_backups);
		err->code = rc = CMS_EREFUSED;
		goto done;
	}
	for (k = 0; k < ARRAY_SIZE(want); k++) {
		if (!r || (col[k] = col_named(r, want[k])) == (size_t)-1) {
			rc = bad_answer(err, label, "RESTORE HEADERONLY of '%s' has no column %s", path,
					want[k]);
			goto done;
		}
	}
	for (row = 0; row < r->nrows; row++) {
		const char *type = db_result_get(r, row, col[0]);
		const char *db = db_result_get(r, row, col[1]);
		const char *first = db_result_get(r, row, col[2]);
		const char *last = db_result_get(r, row, col[3]);
		const char *pos = db_result_get(r, row, col[4]);
		int64_t position;

		if (!type || strcmp(type, "2") != 0)
			continue; /* a full or differential backup in the folder: not for this path */
		if (!db || !lsn_valid(first) || !lsn_valid(last) || mssql_lsn_cmp(first, last) > 0 ||
		    !pos || parse_int64(&position, pos) < 0 || position < 1 || position > 32767) {
			rc = bad_answer(err, label, "RESTORE HEADERONLY of '%s': set %zu has DatabaseName '%.128s', FirstLSN '%.64s', LastLSN '%.64s', Position '%.16s'",
					path, row + 1, db ? db : "NULL", first ? first : "NULL",
					last ? last : "NULL", pos ? pos : "NULL");
			goto done;
		}
		if (db_index(e->store, db) == e->store->ndatabases)
			continue; /* another database's log backup */
		*ARRAY_PUSH(*v, *n, *alloc) = (struct logset){ .path = xstrdup(path), .db = xstrdup(db),
							       .first = xstrdup(first), .last = xstrdup(last),
							       .position = (long)position };
	}
done:
	db_result_free(r);
	buf_free(&sql);
	return rc;
}

/* Lists the backup server's log_backups folder and reads every .trn
 * file's headers: the store's log backup sets, by database then LSN. */
static int read_log_sets(struct engine *e, size_t bidx, struct logset **out, size_t *nout,
			 struct cms_error *err)
{
	const struct server *srv = &e->store->servers[bidx];
	struct logset *v = NULL;
	struct db_result *r = NULL;
	struct buf sql = BUF_INIT;
	size_t n = 0, alloc = 0, row, cname, cfile;
	int rc;

	*out = NULL;
	*nout = 0;
	buf_adds(&sql, "EXEC master.sys.xp_dirtree ");
	mssql_quote_nstring(&sql, srv->log_backups);
	buf_adds(&sql, ", 1, 1");
	if ((rc = run(e, bidx, sql.ptr, &r, err)) < 0) {
		cms_error_prefix(err, "cannot list log_backups folder '%s' on '%s'", srv->log_backups,
				 srv->name);
		goto done;
	}
	if (!r || (cname = col_named(r, "subdirectory")) == (size_t)-1 ||
	    (cfile = col_named(r, "file")) == (size_t)-1) {
		rc = bad_answer(err, srv->name, "xp_dirtree gave no subdirectory and file columns");
		goto done;
	}
	for (row = 0; row < r->nrows && rc == 0; row++) {
		const char *name = db_result_get(r, row, cname);
		const char *isfile = db_result_get(r, row, cfile);
		char *path;

		if (!name || !isfile || strcmp(isfile, "1") != 0 || !has_log_suffix(name))
			continue;
		if (strpbrk(name, "'\\/")) {
			rc = bad_answer(err, srv->name, "file name '%.128s' in '%s'", name,
					srv->log_backups);
			break;
		}
		path = folder_file(srv->log_backups, name);
		rc = read_headers(e, bidx, path, &v, &n, &alloc, err);
		free(path);
	}
	if (rc == 0 && n)
		qsort(v, n, sizeof(*v), logset_order);
done:
	db_result_free(r);
	buf_free(&sql);
	if (rc < 0) {
		logsets_free(v, n);
		return rc;
	}
	*out = v;
	*nout = n;
	return 0;
}

/* Where the restored copy of database name on server bidx rolls forward
 * from (redo_start_lsn); *out is the caller's. */
static int read_redo_lsn(struct engine *e, size_t bidx, const char *name, char **out,
			 struct cms_error *err)
{
	const char *label = e->store->servers[bidx].name;
	struct db_result *r = NULL;
	struct buf sql = BUF_INIT;
	const char *s;
	int rc;

	*out = NULL;
	buf_adds(&sql, "SELECT redo_start_lsn FROM sys.master_files WHERE file_id = 1 AND database_id = DB_ID(");
	mssql_quote_nstring(&sql, name);
	buf_addch(&sql, ')');
	if ((rc = run(e, bidx, sql.ptr, &r, err)) < 0)
		goto done;
	if (!r || r->ncols != 1 || r->nrows != 1) {
		rc = bad_answer(err, label, "no primary data file for database '%s'", name);
		goto done;
	}
	if (!(s = db_result_get(r, 0, 0))) {
		rc = cms_error_set(err, CMS_EREFUSED,
				   "the copy of database '%s' on '%s' has no redo_start_lsn: it cannot take more log backups",
				   name, label);
		cms_error_hint(err, "restore it again from a full backup WITH NORECOVERY, then apply again");
		goto done;
	}
	if (!lsn_valid(s)) {
		rc = bad_answer(err, label, "redo_start_lsn of '%s' is '%.64s'", name, s);
		goto done;
	}
	*out = xstrdup(s);
done:
	db_result_free(r);
	buf_free(&sql);
	return rc;
}

/*
 * The chain of database name from LSN from: the sets to restore, in order
 * (indexes into v, which is sorted), and the LSN the last one reaches.  A
 * set that ends at or before the current LSN is already in the copy; the
 * next one must start at or before it (FirstLSN <= current < LastLSN),
 * otherwise the log between is in no backup of the folder: a gap, refused
 * (CMS_EREFUSED).  must_reach, when set (the tail-log backup), is a file
 * whose sets of the database the copy must hold at the end of the chain
 * (restored now or before).
 */
static int log_chain(const struct logset *v, size_t n, const char *name, const char *from,
		     const char *must_reach, const char *server, const char *folder, size_t **out,
		     size_t *nout, char **reached, struct cms_error *err)
{
	const char *cur = from;
	size_t *idx = xcalloc(n ? n : 1, sizeof(*idx));
	size_t k = 0, i;
	bool found = must_reach == NULL;

	for (i = 0; i < n; i++) {
		if (strcasecmp(v[i].db, name) != 0 || mssql_lsn_cmp(v[i].last, cur) <= 0)
			continue;
		if (mssql_lsn_cmp(v[i].first, cur) > 0) {
			free(idx);
			cms_error_set(err, CMS_EREFUSED,
				      "the log backups of database '%s' in '%s' have a gap: '%s' reaches LSN %s, and the next log backup, '%s', starts at LSN %s",
				      name, folder, server, cur, v[i].path, v[i].first);
			cms_error_hint(err, "copy the missing log backups of '%s' into '%s' (log shipping's copy job may be behind), then apply again; without them the copy cannot go past LSN %s",
				       name, folder, cur);
			return CMS_EREFUSED;
		}
		idx[k++] = i;
		cur = v[i].last;
	}
	for (i = 0; i < n && !found; i++) {
		found = strcasecmp(v[i].db, name) == 0 && strcasecmp(v[i].path, must_reach) == 0 &&
			mssql_lsn_cmp(v[i].last, cur) <= 0;
	}
	if (!found) {
		free(idx);
		cms_error_set(err, CMS_EREFUSED,
			      "the tail-log backup '%s' of database '%s' is not in the chain of log backups that '%s' reads in '%s'",
			      must_reach, name, server, folder);
		cms_error_hint(err, "check that the old primary and '%s' reach the same folder under that path", server);
		return CMS_EREFUSED;
	}
	*out = idx;
	*nout = k;
	*reached = xstrdup(cur);
	return 0;
}

/*
 * Restores, on backup server bidx, every log backup newer than its copy of
 * each database marked in which (in LSN order, WITH NORECOVERY), after
 * checking every database's chain: a gap refuses before the first RESTORE
 * LOG.  tails (NULL, or per database NULL or a path) are tail-log backups
 * the chain must include; cover (NULL, or per database NULL or an LSN) is
 * where the chain must reach at least.  With apply false it only checks.  note gets
 * "xds at LSN n (k log backups restored)" per database.
 */
static int log_catch_up(struct engine *e, size_t bidx, const bool *which, char *const *tails,
			char *const *cover, bool apply, bool *master_done, struct buf *note,
			struct cms_error *err)
{
	const struct store *st = e->store;
	const struct server *srv = &st->servers[bidx];
	struct logset *v = NULL;
	size_t nv = 0, i, j;
	size_t **chain = xcalloc(st->ndatabases, sizeof(*chain));
	size_t *nchain = xcalloc(st->ndatabases, sizeof(*nchain));
	char **reached = xcalloc(st->ndatabases, sizeof(*reached));
	struct buf sql = BUF_INIT;
	int rc;

	if ((rc = read_log_sets(e, bidx, &v, &nv, err)) < 0)
		goto done;
	for (i = 0; i < st->ndatabases; i++) {
		char *from = NULL;

		if (!which[i])
			continue;
		if ((rc = read_redo_lsn(e, bidx, st->databases[i], &from, err)) < 0)
			goto done;
		rc = log_chain(v, nv, st->databases[i], from, tails ? tails[i] : NULL, srv->name,
			       srv->log_backups, &chain[i], &nchain[i], &reached[i], err);
		free(from);
		if (rc < 0)
			goto done;
		if (cover && cover[i] && mssql_lsn_cmp(reached[i], cover[i]) < 0) {
			rc = cms_error_set(err, CMS_EREFUSED,
					   "the log backups of database '%s' in '%s' reach LSN %s, but the last log backup taken on the old primary ends at LSN %s: the rest is not in the folder",
					   st->databases[i], srv->log_backups, reached[i], cover[i]);
			cms_error_hint(err, "copy the missing log backups of '%s' into '%s' (log shipping's copy job may be behind), then apply again",
				       st->databases[i], srv->log_backups);
			goto done;
		}
	}
	for (i = 0; apply && i < st->ndatabases; i++) {
		for (j = 0; which[i] && j < nchain[i]; j++) {
			const struct logset *s = &v[chain[i][j]];

			if ((rc = use_master(e, bidx, master_done, err)) < 0)
				goto done;
			buf_reset(&sql);
			buf_adds(&sql, "RESTORE LOG ");
			if ((rc = add_ident(&sql, "database", st->databases[i], err)) < 0)
				goto done;
			buf_adds(&sql, " FROM DISK = ");
			mssql_quote_nstring(&sql, s->path);
			buf_addf(&sql, " WITH FILE = %ld, NORECOVERY", s->position);
			if ((rc = run_on(e, bidx, st->databases[i], sql.ptr, NULL, err)) < 0) {
				cms_error_prefix(err, "cannot restore log backup '%s' of database '%s' on '%s'",
						 s->path, st->databases[i], srv->name);
				goto done;
			}
		}
	}
	for (i = 0; i < st->ndatabases; i++) {
		if (!which[i])
			continue;
		if (note->len)
			buf_adds(note, ", ");
		buf_addf(note, "%s %s LSN %s (%zu log backup%s %s)", st->databases[i],
			 apply ? "at" : "can reach", reached[i], nchain[i], nchain[i] == 1 ? "" : "s",
			 apply ? "restored" : "to restore");
	}
done:
	for (i = 0; i < st->ndatabases; i++) {
		free(chain[i]);
		free(reached[i]);
	}
	free(chain);
	free(nchain);
	free(reached);
	logsets_free(v, nv);
	buf_free(&sql);
	return rc;
}

/* The tail-log fence: on the old primary, for each of the store's
 * databases still ONLINE and writable, BACKUP LOG ... WITH NORECOVERY into
 * the backup server's log_backups folder; then every database must read
 * RESTORING.  A database already RESTORING (an earlier attempt) is left as
 * it is. */
static int take_tail_logs(struct engine *e, size_t oidx, struct cms_error *err)
{
	const struct store *st = e->store;
	struct mssql *m = e->priv;
	const struct server *osrv = &st->servers[oidx];
	const struct server *to = &st->servers[m->tail_to];
	struct mread o = { 0 };
	struct buf sql = BUF_INIT;
	bool master = false;
	char stamp[32], digits[16];
	size_t i, k = 0;
	int64_t now;
	int rc;

	if (cms_now(&now) < 0)
		now = cms_real_now();
	cms_format_time(stamp, now);
	for (i = 0; stamp[i] && k + 1 < sizeof(digits); i++) {
		if (stamp[i] >= '0' && stamp[i] <= '9')
			digits[k++] = stamp[i];
	}
	digits[k] = '\0';
	if ((rc = read_dbs(e, oidx, &o, err)) < 0)
		goto done;
	for (i = 0; i < st->ndatabases; i++) {
		const struct mdb *d = &o.dbs[i];
		char *name;

		if (d->present && !d->role && eq(d->state_desc, "RESTORING"))
			continue;
		if (!d->present || d->role || !eq(d->state_desc, "ONLINE") || d->read_only) {
			rc = cms_error_set(err, CMS_EREFUSED,
					   "database '%s' on '%s' is %s%s: a tail-log backup WITH NORECOVERY needs it ONLINE, writable and outside mirroring",
					   st->databases[i], osrv->name,
					   d->present ? d->state_desc : "missing",
					   d->role ? " and mirrored" : d->read_only ? " and read-only" : "");
			goto done;
		}
		if ((rc = use_master(e, oidx, &master, err)) < 0)
			goto done;
		name = xasprintf("%s_tail_%s%s", st->databases[i], digits, LOG_SUFFIX);
		free(m->tails[i]);
		m->tails[i] = folder_file(to->log_backups, name);
		free(name);
		buf_reset(&sql);
		buf_adds(&sql, "BACKUP LOG ");
		if ((rc = add_ident(&sql, "database", st->databases[i], err)) < 0)
			goto done;
		buf_adds(&sql, " TO DISK = ");
		mssql_quote_nstring(&sql, m->tails[i]);
		buf_adds(&sql, " WITH NORECOVERY");
		if ((rc = run_on(e, oidx, st->databases[i], sql.ptr, NULL, err)) < 0) {
			free(m->tails[i]);
			m->tails[i] = NULL;
			cms_error_prefix(err, "cannot take the tail-log backup of database '%s' on '%s'",
					 st->databases[i], osrv->name);
			goto done;
		}
	}
	mread_free(&o);
	if ((rc = read_dbs(e, oidx, &o, err)) < 0)
		goto done;
	for (i = 0; i < st->ndatabases; i++) {
		if (!eq(o.dbs[i].state_desc, "RESTORING")) {
			rc = cms_error_set(err, CMS_ERROR,
					   "database '%s' on '%s' is %s after its tail-log backup WITH NORECOVERY, not RESTORING",
					   st->databases[i], osrv->name,
					   o.dbs[i].present ? o.dbs[i].state_desc : "missing");
			goto done;
		}
	}
done:
	mread_free(&o);
	buf_free(&sql);
	return rc;
}

/* Undoes the tail-log fence: RESTORE DATABASE ... WITH RECOVERY for each
 * of the store's databases that the server holds RESTORING outside
 * mirroring (no data is restored: the database comes back online where its
 * tail-log backup left it). */
static int recover_tail_logs(struct engine *e, size_t idx, struct cms_error *err)
{
	const struct store *st = e->store;
	struct mssql *m = e->priv;
	struct mread o = { 0 };
	struct buf sql = BUF_INIT;
	bool master = false;
	size_t i;
	int rc;

	if ((rc = read_dbs(e, idx, &o, err)) < 0)
		goto done;
	for (i = 0; i < st->ndatabases; i++) {
		const struct mdb *d = &o.dbs[i];

		if (!d->present || d->role || d->standby || !eq(d->state_desc, "RESTORING"))
			continue;
		if ((rc = use_master(e, idx, &master, err)) < 0)
			goto done;
		buf_reset(&sql);
		buf_adds(&sql, "RESTORE DATABASE ");
		if ((rc = add_ident(&sql, "database", st->databases[i], err)) < 0)
			goto done;
		buf_adds(&sql, " WITH RECOVERY");
		if ((rc = run_on(e, idx, st->databases[i], sql.ptr, NULL, err)) < 0) {
			cms_error_prefix(err, "cannot bring database '%s' on '%s' back online",
					 st->databases[i], st->servers[idx].name);
			goto done;
		}
		free(m->tails[i]);
		m->tails[i] = NULL;
	}
done:
	mread_free(&o);
	buf_free(&sql);
	return rc;
}

/* ---- preconditions ------------------------------------------------------ */

/* Forced service needs the witness connected to the mirror, or none. */
static int check_witness(const struct server *srv, const char *name, const struct mdb *d,
			 struct cms_error *err)
{
	if (!has_witness(d) || eq(d->wstate, "CONNECTED"))
		return 0;
	cms_error_set(err, CMS_EREFUSED,
		      "witness '%.128s' of database '%s' is %s on target '%s': forced service needs the witness connected to the mirror, or no witness",
		      d->witness, name, or_unknown(d->wstate), srv->name);
	cms_error_hint(err, "bring the witness back within reach of '%s'; the witness can only be removed on the principal",
		       srv->name);
	return CMS_EREFUSED;
}

/*
 * A move that may lose data (forced service, a forced failover, recovering
 * restored copies) makes the target writable without the old primary's
 * say: it runs only when the old primary cannot serve any more, because a
 * fence target isolated it or the operator attested it down.  That cmsctl
 * cannot reach it proves nothing: SQL Server only needs the mirror to be
 * disconnected from it, and a principal that still runs goes on serving
 * every client that reaches it.
 */
static int need_isolation(struct engine *e, const char *what, const char *target,
			  const char *old, struct cms_error *err)
{
	if (!old)
		old = e->move.old_primary;
	if (e->move.old_isolated)
		return 0;
	cms_error_set(err, CMS_EREFUSED,
		      "%s on '%s' needs %s%s%s fenced first: unreachable is not down, and a primary that still runs goes on serving writes",
		      what, target, old ? "'" : "the old primary", old ? old : "", old ? "'" : "");
	cms_error_hint(err, "give %s%s%s a fence target that isolates it, or, if it is down for good, plan again with --assume-down %s --reason TEXT",
		       old ? "'" : "the old primary", old ? old : "", old ? "'" : "", old ? old : "SERVER");
	return CMS_EREFUSED;
}

/* A mirror database that can become principal, now or after catching up. */
static int check_target_db(struct engine *e, const struct server *srv, const char *name,
			   const struct mdb *d, struct cms_error *err)
{
	bool allow = e->store->policy.allow_data_loss;

	if (!d->present)
		return cms_error_set(err, CMS_EREFUSED, "database '%s' does not exist on target '%s'",
				     name, srv->name);
	if (!d->role) {
		if (restored_copy(d)) {
			if (allow)
				return 0;
			cms_error_set(err, CMS_EREFUSED,
				      "database '%s' on target '%s' is a restored copy outside mirroring (%s): recovering it loses what the last restored log backup does not hold",
				      name, srv->name, d->standby ? "STANDBY" : "RESTORING");
			cms_error_hint(err, "set policy.allow_data_loss: true to recover it (the seed's -Force)");
			return CMS_EREFUSED;
		}
		return cms_error_set(err, CMS_EREFUSED,
				     "database '%s' on target '%s' is %s and not mirrored: it is a separate copy, not a partner of the principal",
				     name, srv->name, d->state_desc);
	}
	if (eq(d->role, "PRINCIPAL"))
		return cms_error_set(err, CMS_EREFUSED, "database '%s' is already PRINCIPAL on target '%s'",
				     name, srv->name);
	if (!eq(d->role, "MIRROR"))
		return cms_error_set(err, CMS_EREFUSED,
				     "database '%s' on target '%s' has mirroring role '%.64s'", name,
				     srv->name, d->role);
	if (!d->mstate) {
		cms_error_set(err, CMS_EREFUSED,
			      "database '%s' on target '%s' reports no mirroring state", name, srv->name);
		cms_error_hint(err, "the login needs the sysadmin role to see the state of a mirror database");
		return CMS_EREFUSED;
	}
	if (eq(d->mstate, "SUSPENDED")) {
		cms_error_set(err, CMS_EREFUSED,
			      "mirroring of database '%s' is SUSPENDED on target '%s': it cannot fail over until resumed",
			      name, srv->name);
		cms_error_hint(err, "run ALTER DATABASE [%s] SET PARTNER RESUME on the principal", name);
		return CMS_EREFUSED;
	}
	if (eq(d->mstate, "DISCONNECTED")) {
		if (allow) {
			int rc;

			if ((rc = check_witness(srv, name, d, err)) < 0)
				return rc;
			return need_isolation(e, "forced service", srv->name, NULL, err);
		}
		cms_error_set(err, CMS_EREFUSED,
			      "mirroring of database '%s' is DISCONNECTED on target '%s': the mirror has lost its principal, and a switchover needs SYNCHRONIZED",
			      name, srv->name);
		cms_error_hint(err, "if the principal is down for good, set policy.allow_data_loss: true for a forced service");
		return CMS_EREFUSED;
	}
	if (eq(d->safety, "OFF") && !allow) {
		cms_error_set(err, CMS_EREFUSED,
			      "mirroring of database '%s' runs with SAFETY OFF (high-performance mode): a switchover needs SAFETY FULL",
			      name);
		cms_error_hint(err, "run ALTER DATABASE [%s] SET PARTNER SAFETY FULL on the principal and wait for SYNCHRONIZED",
			       name);
		return CMS_EREFUSED;
	}
	/* The mirror is still connected to its principal: that principal runs.
	 * Forced service is impossible (SQL Server needs DISCONNECTED) and a
	 * switchover needs cmsctl to reach the principal. */
	if (e->move.old_primary && !e->move.old_answers) {
		cms_error_set(err, CMS_EREFUSED,
			      "mirroring of database '%s' is %s on target '%s': its principal still runs, though cmsctl cannot reach '%s'",
			      name, d->mstate, srv->name, e->move.old_primary);
		cms_error_hint(err, "a switchover needs '%s' within reach; forced service needs it stopped (and the mirror DISCONNECTED)",
			       e->move.old_primary);
		return CMS_EREFUSED;
	}
	/* SYNCHRONIZING and PENDING_FAILOVER pass: catch-up waits for them. */
	return 0;
}

/* What SET PARTNER FAILOVER needs, checked on the principal. */
static int check_switchover_db(const struct store *st, const struct server *principal,
			       const struct server *target, const char *name, const struct mdb *d,
			       bool may_wait, struct cms_error *err)
{
	const struct server *partner;

	if (!d->present)
		return cms_error_set(err, CMS_EREFUSED, "database '%s' does not exist on principal '%s'",
				     name, principal->name);
	if (!eq(d->role, "PRINCIPAL"))
		return cms_error_set(err, CMS_EREFUSED,
				     "database '%s' is not PRINCIPAL on '%s' (%s): a switchover runs on the principal",
				     name, principal->name,
				     d->role ? d->role : "not mirrored");
	if (!eq(d->safety, "FULL")) {
		cms_error_set(err, CMS_EREFUSED,
			      "mirroring of database '%s' runs with SAFETY %s: a switchover needs SAFETY FULL",
			      name, or_unknown(d->safety));
		cms_error_hint(err, "run ALTER DATABASE [%s] SET PARTNER SAFETY FULL on '%s' and wait for SYNCHRONIZED",
			       name, principal->name);
		return CMS_EREFUSED;
	}
	if (!eq(d->mstate, "SYNCHRONIZED") && !(may_wait && eq(d->mstate, "SYNCHRONIZING"))) {
		const char *why = "a switchover needs SYNCHRONIZED";
		bool resume = false;

		if (eq(d->mstate, "SUSPENDED")) {
			why = "the mirror receives no log until resumed";
			resume = true;
		} else if (eq(d->mstate, "DISCONNECTED")) {
			why = "the principal has lost its mirror";
		} else if (eq(d->mstate, "SYNCHRONIZING")) {
			why = "the mirror has not caught up, and a switchover now would not be lossless";
		} else if (eq(d->mstate, "PENDING_FAILOVER")) {
			why = "a failover is already in progress";
		}
		cms_error_set(err, CMS_EREFUSED, "mirroring of database '%s' is %s on '%s': %s", name,
			      or_unknown(d->mstate), principal->name, why);
		if (resume)
			cms_error_hint(err, "run ALTER DATABASE [%s] SET PARTNER RESUME on the principal", name);
		return CMS_EREFUSED;
	}
	/* SET PARTNER FAILOVER moves the database to whatever partner the
	 * session has: make sure that is the target. */
	partner = partner_server(st, d->partner);
	if ((partner && partner != target) || (!partner && target->fqdn)) {
		cms_error_set(err, CMS_EREFUSED,
			      "the mirroring partner of database '%s' on '%s' is '%.128s', not target '%s'",
			      name, principal->name, d->partner ? d->partner : "NULL", target->name);
		cms_error_hint(err, "set the fqdn of server '%s' to the host of its mirroring endpoint, or fix the store's servers",
			       target->name);
		return CMS_EREFUSED;
	}
	return 0;
}

/* Every database of the local replica SYNCHRONIZED, failover-ready and
 * not suspended, on a SECONDARY: a FAILOVER without data loss is possible,
 * whatever became of the primary (it needs only this replica). */
static bool ag_ready(const struct agread *r, size_t ndbs)
{
	size_t i;

	if (!eq(r->replica_role, "SECONDARY"))
		return false;
	for (i = 0; i < ndbs; i++) {
		const struct agdb *d = &r->dbs[i];

		if (!d->present || d->suspended || !eq(d->sync, "SYNCHRONIZED") || d->failover_ready != 1)
			return false;
	}
	return true;
}

/*
 * CLUSTER_TYPE = EXTERNAL groups (Pacemaker on Linux) are failed over by
 * the cluster manager, never by ALTER AVAILABILITY GROUP; NONE groups
 * (read-scale) have no planned FAILOVER at all.  sys.availability_groups
 * has cluster_type_desc from SQL Server 2017 on; before, every group is
 * WSFC, hence the EXEC that is only compiled where the column exists.
 * The group's name is a plain identifier (checked), so it needs no
 * quoting inside the nested literal.
 */
static int check_cluster_type(struct engine *e, size_t idx, struct cms_error *err)
{
	const struct server *srv = &e->store->servers[idx];
	struct db_result *r = NULL;
	struct buf sql = BUF_INIT;
	const char *type;
	int rc;

	if (!srv->availability_group || !config_is_identifier(srv->availability_group))
		return cms_error_set(err, CMS_ERROR,
				     "availability group name '%.128s' of server '%s' is not a plain identifier",
				     srv->availability_group ? srv->availability_group : "", srv->name);
	buf_adds(&sql, MSSQL_AG_CLUSTER_SQL_HEAD);
	buf_adds(&sql, srv->availability_group);
	buf_adds(&sql, "''')");
	if ((rc = run(e, idx, sql.ptr, &r, err)) < 0)
		goto done;
	if (!r || r->ncols != 1 || r->nrows != 1 || !(type = db_result_get(r, 0, 0))) {
		rc = bad_answer(err, srv->name, "no cluster type for availability group '%s'",
				srv->availability_group);
		goto done;
	}
	if (eq(type, "EXTERNAL")) {
		rc = cms_error_set(err, CMS_EREFUSED,
				   "availability group '%s' has CLUSTER_TYPE = EXTERNAL: its failover belongs to the external cluster manager, and SQL Server refuses ALTER AVAILABILITY GROUP ... FAILOVER for it",
				   srv->availability_group);
		cms_error_hint(err, "fail it over with the cluster manager (Pacemaker: pcs resource move, or crm), then run 'cmsctl plan --accept-drift' to record the new primary");
	} else if (eq(type, "NONE")) {
		rc = cms_error_set(err, CMS_EREFUSED,
				   "availability group '%s' has CLUSTER_TYPE = NONE: it has no planned FAILOVER, only a forced one after the primary is made a secondary by hand",
				   srv->availability_group);
		cms_error_hint(err, "move it by hand (SET (ROLE = SECONDARY) on the primary, then FORCE_FAILOVER_ALLOW_DATA_LOSS on the target), then run 'cmsctl plan --accept-drift'");
	} else if (!eq(type, "WSFC")) {
		rc = bad_answer(err, srv->name, "cluster type '%.64s' of availability group '%s'", type,
				srv->availability_group);
	}
done:
	db_result_free(r);
	buf_free(&sql);
	return rc;
}

static int check_target_ag(struct engine *e, size_t idx, struct cms_error *err)
{
	const struct store *st = e->store;
	const struct server *srv = &st->servers[idx];
	bool allow = st->policy.allow_data_loss;
	bool old_gone = e->move.old_primary && !e->move.old_answers;
	bool force_needed = false;
	struct agread r = { 0 };
	size_t i;
	int rc;

	if ((rc = check_cluster_type(e, idx, err)) < 0)
		return rc;
	if ((rc = read_ag(e, idx, &r, err)) < 0)
		return rc;
	if (!r.replica_role) {
		rc = cms_error_set(err, CMS_EREFUSED,
				   "target '%s' holds none of the store's databases in availability group '%s'",
				   srv->name, srv->availability_group);
		goto done;
	}
	if (eq(r.replica_role, "PRIMARY")) {
		rc = cms_error_set(err, CMS_EREFUSED,
				   "target '%s' is already the primary replica of availability group '%s'",
				   srv->name, srv->availability_group);
		goto done;
	}
	if (eq(r.replica_role, "RESOLVING") && !allow) {
		rc = cms_error_set(err, CMS_EREFUSED,
				   "target '%s' is RESOLVING in availability group '%s': only a forced failover is possible",
				   srv->name, srv->availability_group);
		cms_error_hint(err, "set policy.allow_data_loss: true for a forced failover");
		goto done;
	}
	if (!eq(r.replica_role, "SECONDARY") && !eq(r.replica_role, "RESOLVING")) {
		rc = cms_error_set(err, CMS_EREFUSED,
				   "target '%s' has replica role '%.64s' in availability group '%s'",
				   srv->name, r.replica_role, srv->availability_group);
		goto done;
	}
	for (i = 0; i < st->ndatabases; i++) {
		const struct agdb *d = &r.dbs[i];
		const char *name = st->databases[i];

		if (!d->present) {
			rc = cms_error_set(err, CMS_EREFUSED,
					   "database '%s' is not joined to availability group '%s' on target '%s'",
					   name, srv->availability_group, srv->name);
			goto done;
		}
		if (eq(d->sync, "NOT SYNCHRONIZING"))
			force_needed = true;
		if (allow)
			continue;
		if (d->suspended) {
			rc = cms_error_set(err, CMS_EREFUSED,
					   "data movement of database '%s' is suspended on target '%s'",
					   name, srv->name);
			cms_error_hint(err, "run ALTER DATABASE [%s] SET HADR RESUME on '%s'", name, srv->name);
			goto done;
		}
		if (eq(d->sync, "NOT SYNCHRONIZING")) {
			rc = cms_error_set(err, CMS_EREFUSED,
					   "database '%s' on target '%s' is NOT SYNCHRONIZING in availability group '%s'",
					   name, srv->name, srv->availability_group);
			goto done;
		}
	}
	/* Lossless whenever the target is ready, whatever the old primary's
	 * reachability.  Otherwise a forced failover is what is left when the
	 * target cannot catch up (RESOLVING, NOT SYNCHRONIZING) or the old
	 * primary cannot be waited for: it needs the old primary isolated. */
	if (ag_ready(&r, st->ndatabases))
		goto done;
	if (eq(r.replica_role, "RESOLVING") || force_needed || old_gone) {
		if (!allow) {
			rc = cms_error_set(err, CMS_EREFUSED,
					   "availability group '%s' is not failover-ready on target '%s' and '%s' cannot be waited for: only a forced failover is possible",
					   srv->availability_group, srv->name,
					   e->move.old_primary ? e->move.old_primary : "the primary");
			cms_error_hint(err, "set policy.allow_data_loss: true for a forced failover");
			goto done;
		}
		rc = need_isolation(e, "a forced failover", srv->name, NULL, err);
	}
done:
	agread_free(&r);
	return rc;
}

static int check_old_primary_stopped(struct engine *e, const struct server *target,
				     const char *old_primary, bool tail_ok, struct cms_error *err);

/* A switchover runs on the principal: when the old primary answers, what
 * SET PARTNER FAILOVER needs there (PRINCIPAL, SAFETY FULL, the target as
 * partner, not SUSPENDED or DISCONNECTED) is checked now, before any
 * change; SYNCHRONIZING passes, catch-up waits for it. */
static int check_principal(struct engine *e, size_t tidx, const struct mread *t,
			   struct cms_error *err)
{
	const struct store *st = e->store;
	const char *old = e->move.old_primary;
	struct mread p = { 0 };
	struct db *db;
	size_t pidx, i;
	bool any = false;
	int rc;

	for (i = 0; i < st->ndatabases; i++)
		any |= eq(t->dbs[i].role, "MIRROR");
	if (!any || !old || !e->move.old_answers)
		return 0;
	if ((rc = server_index(e, old, &pidx, err)) < 0)
		return rc;
	if ((rc = engine_session(e, pidx, &db, err)) < 0) {
		if (rc == CMS_EREFUSED)
			return rc;
		return engine_refuse_unreachable(err, "principal", old);
	}
	if ((rc = read_dbs(e, pidx, &p, err)) < 0)
		return rc;
	for (i = 0; i < st->ndatabases && rc == 0; i++) {
		if (eq(t->dbs[i].role, "MIRROR"))
			rc = check_switchover_db(st, &st->servers[pidx], &st->servers[tidx],
						 st->databases[i], &p.dbs[i], true, err);
	}
	mread_free(&p);
	return rc;
}

/* Where the last log backup of database name taken on server idx ends
 * (msdb's backup history; copy-only backups are outside the chain), or
 * *out NULL when it never took one. */
static int read_last_log_backup(struct engine *e, size_t idx, const char *name, char **out,
				struct cms_error *err)
{
	const char *label = e->store->servers[idx].name;
	struct db_result *r = NULL;
	struct buf sql = BUF_INIT;
	const char *v;
	int rc;

	*out = NULL;
	buf_adds(&sql, "SELECT MAX(last_lsn) FROM msdb.dbo.backupset WHERE type = 'L' AND is_copy_only = 0 AND database_name = ");
	mssql_quote_nstring(&sql, name);
	if ((rc = run(e, idx, sql.ptr, &r, err)) < 0) {
		cms_error_prefix(err, "cannot read the backup history of database '%s' on '%s'", name,
				 label);
		goto done;
	}
	if (!r || r->ncols != 1 || r->nrows != 1) {
		rc = bad_answer(err, label, "no answer from msdb.dbo.backupset for '%s'", name);
		goto done;
	}
	if ((v = db_result_get(r, 0, 0))) {
		if (!lsn_valid(v)) {
			rc = bad_answer(err, label, "last_lsn of '%s' is '%.64s'", name, v);
			goto done;
		}
		*out = xstrdup(v);
	}
done:
	db_result_free(r);
	buf_free(&sql);
	return rc;
}

/* The log chain of every restored copy of server idx, checked (nothing
 * restored): a gap refuses before any change, and so does a folder that
 * stops short of the old primary's last log backup when it answers. */
static int check_log_chain(struct engine *e, size_t idx, const struct mread *r,
			   struct cms_error *err)
{
	const struct store *st = e->store;
	struct mssql *m = e->priv;
	bool *which = xcalloc(st->ndatabases, sizeof(*which));
	char **cover = xcalloc(st->ndatabases, sizeof(*cover));
	struct buf note = BUF_INIT;
	size_t i;
	int rc = 0;

	for (i = 0; i < st->ndatabases; i++)
		which[i] = restored_copy(&r->dbs[i]);
	/* The old primary answers and its tail-log backup will be the fence:
	 * its own backup history says where its last log backup ends, and the
	 * folder must reach that, or the tail-log backup would follow a gap. */
	for (i = 0; m->tail_from && i < st->ndatabases; i++) {
		if (which[i] && (rc = read_last_log_backup(e, m->tail_from - 1, st->databases[i],
							   &cover[i], err)) < 0)
			goto done;
	}
	rc = log_catch_up(e, idx, which, NULL, cover, false, NULL, &note, err);
done:
	for (i = 0; i < st->ndatabases; i++)
		free(cover[i]);
	free(cover);
	free(which);
	buf_free(&note);
	return rc;
}

static int mssql_check_target(struct engine *e, const char *target, struct cms_error *err)
{
	const struct store *st = e->store;
	struct mread r;
	struct db *db;
	size_t idx, i;
	int rc;

	if ((rc = server_index(e, target, &idx, err)) < 0)
		return rc;
	if (engine_session(e, idx, &db, err) < 0)
		return engine_refuse_unreachable(err, "target", target);
	if (st->servers[idx].availability_group)
		return check_target_ag(e, idx, err);
	if ((rc = read_dbs(e, idx, &r, err)) < 0)
		return rc;
	for (i = 0; i < st->ndatabases && rc == 0; i++)
		rc = check_target_db(e, &st->servers[idx], st->databases[i], &r.dbs[i], err);
	for (i = 0; i < st->ndatabases && rc == 0; i++) {
		if (restored_copy(&r.dbs[i])) {
			rc = check_old_primary_stopped(e, &st->servers[idx], e->move.old_primary,
						       st->servers[idx].log_backups != NULL, err);
			if (rc == 0 && st->servers[idx].log_backups)
				rc = check_log_chain(e, idx, &r, err);
			break;
		}
	}
	if (rc == 0)
		rc = check_principal(e, idx, &r, err);
	mread_free(&r);
	return rc;
}

/*
 * Fence and unfence do nothing, on purpose, except on the restore path
 * with a tail-log fence (check_target decided it: the target is a backup
 * with log_backups and the old primary answers, its databases outside
 * mirroring): there fence is the tail-log backup WITH NORECOVERY and
 * unfence RESTORE ... WITH RECOVERY of what it left RESTORING (unfence
 * reads the server for that, so a restore in a later process undoes it
 * too).  Otherwise: the way to make a SQL Server database refuse writes,
 * ALTER DATABASE SET READ_ONLY, is itself logged
 * and shipped: on a mirrored principal or an availability group primary it
 * would travel to the partner and leave the new principal read-only too.
 * It is also not needed: SET PARTNER FAILOVER and ALTER AVAILABILITY GROUP
 * FAILOVER switch the roles of a database atomically (the old principal
 * stops accepting writes in the same step that the partner takes over), so
 * there is never a moment with two writable copies to fence against.
 * Forced service is only possible with the principal down (SQL Server
 * refuses it otherwise, and so does promote, first), and recovering
 * restored copies is refused while the old primary still serves
 * (check_old_primary_stopped) unless its tail-log backup fences it.  So the
 * step only checks that the server is one of the store's; it sends no
 * statement and records no follow-up, and
 * the report's write-unavailable window runs from this step to the
 * promotion, which is what clients see.  Consequence for `cmsctl restore`:
 * re-fencing a stray primary does nothing on this engine; demote and status
 * are what report one.
 */
static int mssql_fence(struct engine *e, const char *server, struct cms_error *err)
{
	struct mssql *m = e->priv;
	struct db *db;
	size_t idx, i;
	int rc;

	if ((rc = server_index(e, server, &idx, err)) < 0)
		return rc;
	if (m->tail_from != idx + 1)
		return 0;
	/* The restore path with the old primary answering (decided by
	 * check_target): its tail-log backup WITH NORECOVERY is the fence. */
	if (engine_session(e, idx, &db, err) < 0)
		return engine_refuse_unreachable(err, "old primary", server);
	if ((rc = take_tail_logs(e, idx, err)) < 0)
		return rc;
	for (i = 0; i < e->store->ndatabases && !m->tails[i]; i++)
		;
	free(e->step_note);
	if (i < e->store->ndatabases)
		e->step_note = xasprintf("tail-log backup WITH NORECOVERY into '%s': every database RESTORING on '%s'",
					 e->store->servers[m->tail_to].log_backups, server);
	else
		e->step_note = xasprintf("no tail-log backup needed: every database already RESTORING on '%s'",
					 server);
	return 0;
}

/*
 * Undoes a tail-log fence: the store's databases that the server holds
 * RESTORING outside mirroring come back online (RESTORE ... WITH RECOVERY,
 * no data restored).  A server that never took one has none, and gets no
 * statement but the read; one that cannot be reached fails the undo only
 * when this engine took its tail-log backups.
 */
static int mssql_unfence(struct engine *e, const char *server, struct cms_error *err)
{
	struct mssql *m = e->priv;
	struct cms_error cerr = CMS_ERROR_INIT;
	struct db *db;
	bool took = false;
	size_t idx, i;
	int rc;

	if ((rc = server_index(e, server, &idx, err)) < 0)
		return rc;
	if (e->store->servers[idx].availability_group)
		return 0; /* no tail-log fence in an availability group */
	for (i = 0; i < e->store->ndatabases; i++)
		took |= m->tails[i] != NULL && m->tail_from == idx + 1;
	if (engine_session(e, idx, &db, &cerr) < 0) {
		if (!took) {
			cms_error_clear(&cerr);
			return 0;
		}
		cms_error_move(err, &cerr);
		return engine_refuse_unreachable(err, "old primary", server);
	}
	return recover_tail_logs(e, idx, err);
}

/* ---- waiting ------------------------------------------------------------ */

/* One reading against a goal: 1 reached, 0 not yet (why says what is
 * missing), or a negative code (an error, or a refusal where waiting
 * cannot help). */
static int goal_check(struct engine *e, size_t idx, enum mssql_goal goal, struct buf *why,
		      struct cms_error *err)
{
	const struct store *st = e->store;
	const struct server *srv = &st->servers[idx];
	struct mread mr = { 0 };
	struct agread ar = { 0 };
	size_t i;
	int rc = 1;

	if (goal == GOAL_SYNCHRONIZED || goal == GOAL_SERVING) {
		if ((rc = read_dbs(e, idx, &mr, err)) < 0)
			return rc;
		rc = 1;
	} else {
		if ((rc = read_ag(e, idx, &ar, err)) < 0)
			return rc;
		rc = 1;
		if (!ar.replica_role) {
			rc = cms_error_set(err, CMS_EREFUSED,
					   "server '%s' holds none of the store's databases in availability group '%s'",
					   srv->name, srv->availability_group);
			goto done;
		}
	}
	for (i = 0; i < st->ndatabases && rc == 1; i++) {
		const char *name = st->databases[i];

		if (goal == GOAL_SYNCHRONIZED || goal == GOAL_SERVING) {
			const struct mdb *d = &mr.dbs[i];

			if (!d->present) {
				rc = cms_error_set(err, CMS_EREFUSED, "database '%s' does not exist on '%s'",
						   name, srv->name);
			} else if (goal == GOAL_SERVING) {
				if (!eq(d->state_desc, "ONLINE") || d->standby ||
				    !(d->role == NULL || eq(d->role, "PRINCIPAL"))) {
					buf_addf(why, "database '%s' on '%s' is %s%s, %s", name, srv->name,
						 d->state_desc, d->standby ? " (STANDBY)" : "",
						 d->role ? d->role : "not mirrored");
					rc = 0;
				}
			} else if (!d->role || eq(d->role, "PRINCIPAL") || eq(d->mstate, "SYNCHRONIZED")) {
				/* a restored copy (nothing to wait for), already moved, or caught up */
			} else if (eq(d->mstate, "SUSPENDED")) {
				rc = cms_error_set(err, CMS_EREFUSED,
						   "mirroring of database '%s' is SUSPENDED on '%s': waiting cannot catch it up",
						   name, srv->name);
				cms_error_hint(err, "run ALTER DATABASE [%s] SET PARTNER RESUME on the principal", name);
			} else if (eq(d->safety, "OFF")) {
				rc = cms_error_set(err, CMS_EREFUSED,
						   "mirroring of database '%s' runs with SAFETY OFF: the mirror is never known to be caught up",
						   name);
			} else {
				buf_addf(why, "mirroring of database '%s' on '%s' is %s", name, srv->name,
					 or_unknown(d->mstate));
				rc = 0;
			}
		} else {
			const struct agdb *d = &ar.dbs[i];

			if (!d->present) {
				rc = cms_error_set(err, CMS_EREFUSED,
						   "database '%s' is not joined to availability group '%s' on '%s'",
						   name, srv->availability_group, srv->name);
			} else if (goal == GOAL_AG_PRIMARY) {
				if (!eq(ar.replica_role, "PRIMARY") || !eq(d->state_desc, "ONLINE")) {
					buf_addf(why, "'%s' is %s in availability group '%s' and database '%s' is %s",
						 srv->name, ar.replica_role, srv->availability_group, name,
						 d->state_desc);
					rc = 0;
				}
			} else if (eq(ar.replica_role, "PRIMARY")) {
				/* already moved */
			} else if (d->suspended) {
				rc = cms_error_set(err, CMS_EREFUSED,
						   "data movement of database '%s' is suspended on '%s': waiting cannot catch it up",
						   name, srv->name);
				cms_error_hint(err, "run ALTER DATABASE [%s] SET HADR RESUME on '%s'", name, srv->name);
			} else if (!eq(d->sync, "SYNCHRONIZED") || d->failover_ready != 1) {
				buf_addf(why, "database '%s' on '%s' is %s and %s", name, srv->name,
					 or_unknown(d->sync),
					 d->failover_ready == 1 ? "failover-ready" : "not failover-ready");
				rc = 0;
			}
		}
	}
done:
	mread_free(&mr);
	agread_free(&ar);
	return rc;
}

/* Re-reads server idx every MSSQL_POLL_MS until goal holds, at most
 * timeout_ms (one reading when it is 0); timeout_code on timeout. */
static int wait_for(struct engine *e, size_t idx, enum mssql_goal goal, int64_t timeout_ms,
		    int timeout_code, const char *what, struct cms_error *err)
{
	struct buf why = BUF_INIT;
	int64_t start = cms_monotonic_ms(), elapsed;
	int rc;

	for (;;) {
		buf_reset(&why);
		if ((rc = goal_check(e, idx, goal, &why, err)) != 0)
			break;
		elapsed = cms_monotonic_ms() - start;
		if (elapsed >= timeout_ms) {
			rc = cms_error_set(err, timeout_code, "timed out after %lld ms waiting %s: %s",
					   (long long)elapsed, what, why.ptr);
			break;
		}
		engine_sleep_ms(timeout_ms - elapsed < MSSQL_POLL_MS ? timeout_ms - elapsed : MSSQL_POLL_MS);
	}
	buf_free(&why);
	return rc < 0 ? rc : 0;
}

/* On a backup server with log_backups: restores every log backup newer
 * than its restored copies (the tail-log backups this engine took
 * included).  Returns 1 when it holds restored copies (e->step_note says
 * the LSN each reached), 0 when it holds none, or an error. */
static int restore_log_backups(struct engine *e, size_t tidx, struct cms_error *err)
{
	const struct store *st = e->store;
	struct mssql *m = e->priv;
	bool *which = xcalloc(st->ndatabases, sizeof(*which));
	bool any = false, master = false;
	struct buf note = BUF_INIT;
	struct mread r = { 0 };
	size_t i;
	int rc;

	if ((rc = read_dbs(e, tidx, &r, err)) < 0)
		goto done;
	for (i = 0; i < st->ndatabases; i++)
		any |= (which[i] = restored_copy(&r.dbs[i]));
	if (!any)
		goto done;
	if ((rc = log_catch_up(e, tidx, which, m->tail_from ? m->tails : NULL, NULL, true, &master,
			       &note, err)) < 0)
		goto done;
	free(e->step_note);
	e->step_note = buf_detach(&note, NULL);
	rc = 1;
done:
	buf_free(&note);
	mread_free(&r);
	free(which);
	return rc;
}

static int mssql_catch_up(struct engine *e, const char *source, const char *target,
			  int64_t timeout_ms, struct cms_error *err)
{
	const struct store *st = e->store;
	char *what = NULL;
	size_t tidx, sidx;
	struct db *db;
	int rc;

	if ((rc = server_index(e, target, &tidx, err)) < 0 ||
	    (source && (rc = server_index(e, source, &sidx, err)) < 0))
		return rc;
	if (engine_session(e, tidx, &db, err) < 0)
		return engine_refuse_unreachable(err, "target", target);
	if (st->servers[tidx].log_backups && !st->servers[tidx].availability_group) {
		/* Restored copies catch up from the folder, whatever the source. */
		int copies = restore_log_backups(e, tidx, err);

		if (copies != 0)
			return copies < 0 ? copies : 0;
	}
	if (!source) {
		if (st->policy.allow_data_loss)
			return 0;
		return cms_error_set(err, CMS_EREFUSED,
				     "cannot tell whether target '%s' has caught up: no source given", target);
	}
	if ((rc = engine_session(e, sidx, &db, err)) < 0) {
		/* With the source down there is nothing more to receive: the
		 * target has all it will ever get, and forced service decides
		 * the rest.  Without allow_data_loss that is a refusal. */
		if (rc == CMS_EREFUSED)
			return rc;
		if (st->policy.allow_data_loss) {
			cms_error_clear(err);
			return 0;
		}
		engine_refuse_unreachable(err, "source", source);
		cms_error_prefix(err, "cannot tell whether target '%s' has caught up", target);
		return CMS_EREFUSED;
	}
	what = xasprintf("for target '%s' to catch up with '%s'", target, source);
	rc = wait_for(e, tidx, st->servers[tidx].availability_group ? GOAL_AG_READY : GOAL_SYNCHRONIZED,
		      timeout_ms < 0 ? 0 : timeout_ms, CMS_EREFUSED, what, err);
	free(what);
	return rc;
}

/* ---- promotion ---------------------------------------------------------- */

static void followup_partner_resume(struct engine *e, const char *new_principal,
				    const char *old_principal, const bool *which)
{
	const struct store *st = e->store;
	struct buf names = BUF_INIT, stmts = BUF_INIT;

	add_db_names(&names, st, which);
	add_db_statements(&stmts, st, which, "ALTER DATABASE ", " SET PARTNER RESUME");
	if (old_principal)
		engine_add_followup(e,
				    "mirroring of %s is suspended after forced service: once '%s' is back, run %s on '%s' (log that '%s' never sent is discarded), then take a log backup of each database",
				    names.ptr, old_principal, stmts.ptr, new_principal, old_principal);
	else
		engine_add_followup(e,
				    "mirroring of %s is suspended after forced service: once the old principal is back, run %s on '%s' (log it never sent is discarded), then take a log backup of each database",
				    names.ptr, stmts.ptr, new_principal);
	buf_free(&names);
	buf_free(&stmts);
}

static void followup_restored(struct engine *e, const char *target, const bool *which)
{
	struct buf names = BUF_INIT;

	add_db_names(&names, e->store, which);
	engine_add_followup(e,
			    "'%s' now serves %s from restored copies: changes after the last restored log backup are lost; seed a new mirror from a full and a log backup of '%s'",
			    target, names.ptr, target);
	buf_free(&names);
}

static void followup_hadr_resume(struct engine *e, const char *server, const char *ag,
				 const bool *which, bool forced)
{
	struct buf stmts = BUF_INIT;

	add_db_statements(&stmts, e->store, which, "ALTER DATABASE ", " SET HADR RESUME");
	if (forced)
		engine_add_followup(e,
				    "a forced failover of availability group '%s' to '%s' suspends data movement: on every other replica, once it is back, run %s (updates that had not reached '%s' are lost)",
				    ag, server, stmts.ptr, server);
	else
		engine_add_followup(e,
				    "data movement is suspended on '%s' in availability group '%s': run %s on '%s'",
				    server, ag, stmts.ptr, server);
	buf_free(&stmts);
}

static int promote_ag(struct engine *e, size_t tidx, const char *old_primary, bool force,
		      struct cms_error *err)
{
	const struct store *st = e->store;
	const struct server *srv = &st->servers[tidx];
	struct buf sql = BUF_INIT;
	struct agread r;
	char *what = NULL;
	size_t i;
	int rc;

	if ((rc = read_ag(e, tidx, &r, err)) < 0)
		return rc;
	if (!r.replica_role) {
		rc = cms_error_set(err, CMS_EREFUSED,
				   "target '%s' holds none of the store's databases in availability group '%s'",
				   srv->name, srv->availability_group);
		goto done;
	}
	/* Lossless whenever the target is ready, even on a forced move. */
	if (force && ag_ready(&r, st->ndatabases))
		force = false;
	if (force && !eq(r.replica_role, "PRIMARY") &&
	    (rc = need_isolation(e, "a forced failover", srv->name, old_primary, err)) < 0)
		goto done;
	for (i = 0; i < st->ndatabases; i++) {
		const struct agdb *d = &r.dbs[i];
		const char *name = st->databases[i];

		if (!d->present) {
			rc = cms_error_set(err, CMS_EREFUSED,
					   "database '%s' is not joined to availability group '%s' on target '%s'",
					   name, srv->availability_group, srv->name);
			goto done;
		}
		if (eq(r.replica_role, "PRIMARY"))
			continue;
		if (!force && (d->suspended || !eq(d->sync, "SYNCHRONIZED") || d->failover_ready != 1)) {
			rc = cms_error_set(err, CMS_EREFUSED,
					   "availability group '%s' is not failover-ready on '%s': database '%s' is %s%s, is_failover_ready %s",
					   srv->availability_group, srv->name, name, or_unknown(d->sync),
					   d->suspended ? " and suspended" : "",
					   d->failover_ready < 0 ? "unknown" : d->failover_ready ? "1" : "0");
			goto done;
		}
		if (force && eq(d->sync, "REVERTING")) {
			rc = cms_error_set(err, CMS_EREFUSED,
					   "database '%s' on '%s' is REVERTING: a forced failover now would leave it unable to start as primary",
					   name, srv->name);
			cms_error_hint(err, "wait until it leaves REVERTING, then retry");
			goto done;
		}
	}
	if (!eq(r.replica_role, "PRIMARY")) {
		if (!eq(r.replica_role, "SECONDARY") && !(force && eq(r.replica_role, "RESOLVING"))) {
			rc = cms_error_set(err, CMS_EREFUSED,
					   "target '%s' is %.64s in availability group '%s': a %s needs a secondary replica",
					   srv->name, r.replica_role, srv->availability_group,
					   force ? "forced failover" : "failover");
			goto done;
		}
		buf_adds(&sql, "ALTER AVAILABILITY GROUP ");
		if ((rc = add_ident(&sql, "availability group", srv->availability_group, err)) < 0)
			goto done;
		buf_adds(&sql, force ? " FORCE_FAILOVER_ALLOW_DATA_LOSS" : " FAILOVER");
		if ((rc = engine_may_change(e, err)) < 0)
			goto done;
		if ((rc = run(e, tidx, sql.ptr, NULL, err)) < 0) {
			cms_error_prefix(err, "cannot fail over availability group '%s' to '%s'",
					 srv->availability_group, srv->name);
			goto done;
		}
		if (force)
			followup_hadr_resume(e, srv->name, srv->availability_group, NULL, true);
	}
	what = xasprintf("for '%s' to become the primary replica of '%s'", srv->name,
			 srv->availability_group);
	rc = wait_for(e, tidx, GOAL_AG_PRIMARY, role_wait_ms(e), CMS_ERROR, what, err);
done:
	free(what);
	buf_free(&sql);
	agread_free(&r);
	return rc;
}

/* Runs the ALTER or RESTORE that act needs for database name on server
 * idx; moved lists the databases already changed, for a precise message
 * when a later one fails, and gets name appended on success. */
static int change_db(struct engine *e, size_t idx, enum mssql_action act, const char *name,
		     bool *master_done, struct buf *moved, struct cms_error *err)
{
	const char *server = e->store->servers[idx].name;
	struct buf sql = BUF_INIT;
	int rc;

	if ((rc = use_master(e, idx, master_done, err)) < 0)
		goto done;
	if (act == ACT_RESTORE)
		buf_adds(&sql, "RESTORE DATABASE ");
	else
		buf_adds(&sql, "ALTER DATABASE ");
	if ((rc = add_ident(&sql, "database", name, err)) < 0)
		goto done;
	buf_adds(&sql, act == ACT_RESTORE ? " WITH RECOVERY"
		 : act == ACT_FORCE ? " SET PARTNER FORCE_SERVICE_ALLOW_DATA_LOSS"
		 : " SET PARTNER FAILOVER");
	/* Asked before the first database only: once one moved, the others
	 * follow as a unit (or move back). */
	if ((!moved->len && (rc = engine_may_change(e, err)) < 0) ||
	    (rc = run_on(e, idx, name, sql.ptr, NULL, err)) < 0)
		goto done;
	if (moved->len)
		buf_adds(moved, ", ");
	buf_adds(moved, name);
done:
	if (rc < 0) {
		if (moved->len)
			cms_error_prefix(err, "database '%s' did not move on '%s' after %s did", name,
					 server, moved->ptr);
		else
			cms_error_prefix(err, "cannot move database '%s' on '%s'", name, server);
	}
	buf_free(&sql);
	return rc;
}

/*
 * Recovering restored copies makes the backup writable, and nothing in
 * SQL Server takes the old primary out of service (fence sends nothing,
 * see above).  So it runs only when the old primary cannot serve: isolated
 * from outside or attested down, or answering with none of the store's
 * databases writable (taken offline or read-only: fenced through its own
 * databases).  An old primary that cannot be reached is not down.
 */
static int check_old_primary_stopped(struct engine *e, const struct server *target,
				     const char *old_primary, bool tail_ok, struct cms_error *err)
{
	const struct store *st = e->store;
	struct cms_error cerr = CMS_ERROR_INIT;
	struct mread o = { 0 };
	struct db *db;
	size_t oidx, i;
	int rc;

	if (e->move.old_isolated)
		return 0;
	if (!old_primary)
		return need_isolation(e, "recovering the restored copies", target->name, NULL, err);
	if ((rc = server_index(e, old_primary, &oidx, err)) < 0)
		return rc;
	if ((rc = engine_session(e, oidx, &db, &cerr)) < 0) {
		if (rc == CMS_EREFUSED) {
			cms_error_move(err, &cerr);
			return rc;
		}
		cms_error_clear(&cerr);
		return need_isolation(e, "recovering the restored copies", target->name, old_primary,
				      err);
	}
	if ((rc = read_dbs(e, oidx, &o, err)) < 0)
		return rc;
	for (i = 0; i < st->ndatabases; i++) {
		const struct mdb *d = &o.dbs[i];

		if (d->present && !d->read_only && eq(d->state_desc, "ONLINE") &&
		    (!d->role || eq(d->role, "PRINCIPAL"))) {
			if (tail_ok && !d->role)
				continue; /* fenced by its tail-log backup, checked below */
			rc = cms_error_set(err, CMS_EREFUSED,
					   "old primary '%s' still serves database '%s' writable: recovering the restored copies on '%s' now would leave two writable copies",
					   old_primary, st->databases[i], target->name);
			if (tail_ok)
				cms_error_hint(err, "a tail-log backup WITH NORECOVERY, the fence of this path, needs the database outside mirroring: remove mirroring of [%s] on '%s' or stop it, then apply again",
					       st->databases[i], old_primary);
			else
				cms_error_hint(err, "stop '%s', or take its databases offline (ALTER DATABASE [%s] SET OFFLINE), then apply again; or give '%s' a 'log_backups' folder: its fence is then a tail-log backup of '%s' WITH NORECOVERY",
					       old_primary, st->databases[i], target->name, old_primary);
			break;
		}
	}
	if (rc == 0 && tail_ok) {
		struct mssql *m = e->priv;

		/* Whatever still serves is fenced by a tail-log backup WITH
		 * NORECOVERY at the fence step, into the target's folder. */
		for (i = 0; i < st->ndatabases && !m->tail_from; i++) {
			const struct mdb *d = &o.dbs[i];

			if (d->present && !d->role && !d->read_only && eq(d->state_desc, "ONLINE")) {
				m->tail_from = oidx + 1;
				m->tail_to = (size_t)(target - st->servers);
			}
		}
	}
	mread_free(&o);
	return rc;
}

/* Re-reads server idx every MSSQL_POLL_MS until database i is role (and
 * mirroring state mstate, when not NULL) and ONLINE, within the role wait. */
static int wait_db_role(struct engine *e, size_t idx, size_t i, const char *role,
			const char *mstate, struct cms_error *err)
{
	const struct server *srv = &e->store->servers[idx];
	int64_t start = cms_monotonic_ms(), limit = role_wait_ms(e), elapsed;
	struct mread r = { 0 };
	int rc;

	for (;;) {
		const struct mdb *d;
		char *now, *text;

		if ((rc = read_dbs(e, idx, &r, err)) < 0)
			return rc;
		d = &r.dbs[i];
		if (d->present && eq(d->role, role) && eq(d->state_desc, "ONLINE") &&
		    (!mstate || eq(d->mstate, mstate))) {
			mread_free(&r);
			return 0;
		}
		text = mdb_state_text(d);
		now = xasprintf("%s, %s", d->role ? d->role : "not mirrored", text);
		free(text);
		mread_free(&r);
		elapsed = cms_monotonic_ms() - start;
		if (elapsed >= limit) {
			rc = cms_error_set(err, CMS_ERROR,
					   "timed out after %lld ms waiting for database '%s' to be %s%s%s on '%s': it is %s",
					   (long long)elapsed, e->store->databases[i], role, mstate ? " and " : "",
					   mstate ? mstate : "", srv->name, now);
			free(now);
			return rc;
		}
		free(now);
		engine_sleep_ms(limit - elapsed < MSSQL_POLL_MS ? limit - elapsed : MSSQL_POLL_MS);
	}
}

/*
 * A switchover that failed part way (SET PARTNER FAILOVER of a later
 * database refused after earlier ones moved): the databases of a store
 * move as a unit, and the lossless way back is the same statement, now
 * on the target, once each moved database is SYNCHRONIZED there.  When
 * every moved database is back on the old principal, nothing is changed:
 * CMS_EREFUSED, and the applier ends the run rolled back (exit 7).
 * Otherwise rc, with what could not be failed back; restore finishes the
 * move forward from what the servers report.
 */
static int fail_back(struct engine *e, size_t tidx, size_t pidx, const bool *switched, int rc,
		     struct cms_error *err)
{
	const struct store *st = e->store;
	struct buf back = BUF_INIT, failed = BUF_INIT, sql = BUF_INIT;
	bool master = false;
	size_t i;

	for (i = 0; i < st->ndatabases; i++) {
		struct cms_error ferr = CMS_ERROR_INIT;
		const char *name = st->databases[i];

		if (!switched[i])
			continue;
		buf_reset(&sql);
		buf_adds(&sql, "ALTER DATABASE ");
		mssql_quote_ident(&sql, name);
		buf_adds(&sql, " SET PARTNER FAILOVER");
		if (wait_db_role(e, tidx, i, "PRINCIPAL", "SYNCHRONIZED", &ferr) < 0 ||
		    use_master(e, tidx, &master, &ferr) < 0 ||
		    run_on(e, tidx, name, sql.ptr, NULL, &ferr) < 0 ||
		    wait_db_role(e, pidx, i, "PRINCIPAL", NULL, &ferr) < 0)
			buf_addf(&failed, "%s'%s' (%s)", failed.len ? ", " : "", name,
				 ferr.message ? ferr.message : "?");
		else
			buf_addf(&back, "%s%s", back.len ? ", " : "", name);
		cms_error_clear(&ferr);
	}
	if (!failed.len) {
		cms_error_prefix(err, "switchover to '%s' stopped part way, and %s failed back to '%s': nothing is changed",
				 st->servers[tidx].name, back.ptr, st->servers[pidx].name);
		err->code = rc = CMS_EREFUSED;
	} else {
		cms_error_prefix(err, "switchover to '%s' stopped part way, and failing back %s to '%s' failed",
				 st->servers[tidx].name, failed.ptr, st->servers[pidx].name);
		cms_error_hint(err, "run 'cmsctl restore': it finishes the move from what the servers report");
	}
	buf_free(&back);
	buf_free(&failed);
	buf_free(&sql);
	return rc;
}

/* What each database of the target (read into t) needs, and every
 * precondition of it, before any change: act[i], and whether any needs a
 * switchover on the principal or a recovery of a restored copy. */
static int decide_promote_actions(struct engine *e, size_t tidx, const struct mread *t,
				  const char *old_primary, bool force, enum mssql_action *act,
				  bool *any_failover, bool *any_restore, struct cms_error *err)
{
	const struct store *st = e->store;
	const struct server *tsrv = &st->servers[tidx];
	bool allow = st->policy.allow_data_loss;
	size_t i;
	int rc;

	for (i = 0; i < st->ndatabases; i++) {
		const struct mdb *d = &t->dbs[i];
		const char *name = st->databases[i];

		if (!d->present) {
			rc = cms_error_set(err, CMS_EREFUSED, "database '%s' does not exist on target '%s'",
					   name, tsrv->name);
			return rc;
		}
		if (restored_copy(d)) {
			act[i] = ACT_RESTORE;
			*any_restore = true;
		} else if ((!d->role && eq(d->state_desc, "ONLINE")) || eq(d->role, "PRINCIPAL")) {
			act[i] = ACT_NONE;
		} else if (eq(d->role, "MIRROR")) {
			act[i] = force ? ACT_FORCE : ACT_FAILOVER;
			*any_failover |= !force;
		} else {
			rc = cms_error_set(err, CMS_EREFUSED,
					   "database '%s' on target '%s' is %s (%s): it cannot be promoted",
					   name, tsrv->name, d->state_desc, d->role ? d->role : "not mirrored");
			return rc;
		}
		if (act[i] == ACT_RESTORE && !force && !allow) {
			rc = cms_error_set(err, CMS_EREFUSED,
					   "database '%s' on target '%s' is a restored copy: recovering it may lose data",
					   name, tsrv->name);
			cms_error_hint(err, "set policy.allow_data_loss: true (the seed's -Force)");
			return rc;
		}
		if (act[i] == ACT_FORCE) {
			if (!eq(d->mstate, "DISCONNECTED")) {
				rc = cms_error_set(err, CMS_EREFUSED,
						   "forced service needs the mirror disconnected from its principal, but mirroring of database '%s' on '%s' is %s: the principal still runs",
						   name, tsrv->name, or_unknown(d->mstate));
				cms_error_hint(err, "plan a switchover instead: it loses no data");
				return rc;
			}
			if ((rc = check_witness(tsrv, name, d, err)) < 0 ||
			    (rc = need_isolation(e, "forced service", tsrv->name, old_primary, err)) < 0)
				return rc;
		}
	}
	return 0;
}

/* A switchover runs on the principal: it must answer, and each database
 * to switch must be ready there (read into p; *pidx its index). */
static int check_principal_switchover(struct engine *e, const struct server *tsrv,
				      const char *old_primary, const enum mssql_action *act,
				      size_t *pidx, struct mread *p, struct cms_error *err)
{
	const struct store *st = e->store;
	struct db *db;
	size_t i;
	int rc;

	if (!old_primary) {
		rc = cms_error_set(err, CMS_EREFUSED,
				   "a switchover to '%s' runs on the principal, and none is known",
				   tsrv->name);
		return rc;
	}
	if ((rc = server_index(e, old_primary, pidx, err)) < 0)
		return rc;
	if ((rc = engine_session(e, *pidx, &db, err)) < 0) {
		if (rc == CMS_EREFUSED)
			return rc;
		rc = engine_refuse_unreachable(err, "principal", old_primary);
		cms_error_hint(err, "if it is down for good, fail over with data loss allowed (forced service)");
		return rc;
	}
	if ((rc = read_dbs(e, *pidx, p, err)) < 0)
		return rc;
	for (i = 0; i < st->ndatabases; i++) {
		if (act[i] == ACT_FAILOVER &&
		    (rc = check_switchover_db(st, &st->servers[*pidx], tsrv, st->databases[i],
					      &p->dbs[i], false, err)) < 0)
			return rc;
	}
	return 0;
}

/* Restored copies first take every log backup newer than them (a gap
 * refuses before the first RESTORE LOG); *t_master as log_catch_up(). */
static int catch_up_restored(struct engine *e, size_t tidx, const enum mssql_action *act,
			     bool *t_master, struct cms_error *err)
{
	const struct store *st = e->store;
	struct mssql *m = e->priv;
	struct buf note = BUF_INIT;
	bool *restored = xcalloc(st->ndatabases, sizeof(*restored));
	size_t i;
	int rc;

	for (i = 0; i < st->ndatabases; i++)
		restored[i] = act[i] == ACT_RESTORE;
	rc = log_catch_up(e, tidx, restored, m->tail_from ? m->tails : NULL, NULL, true,
			  t_master, &note, err);
	if (rc == 0) {
		free(e->step_note);
		e->step_note = buf_detach(&note, NULL);
	}
	buf_free(&note);
	free(restored);
	return rc;
}

static int promote_mirroring(struct engine *e, size_t tidx, const char *old_primary, bool force,
			     struct cms_error *err)
{
	const struct store *st = e->store;
	const struct server *tsrv = &st->servers[tidx];
	enum mssql_action *act = xcalloc(st->ndatabases, sizeof(*act));
	bool *forced = xcalloc(st->ndatabases, sizeof(*forced));     /* changed by forced service */
	bool *restored = xcalloc(st->ndatabases, sizeof(*restored));
	bool *switched = xcalloc(st->ndatabases, sizeof(*switched)); /* moved by SET PARTNER FAILOVER */
	bool any_switched = false;
	bool any_failover = false, any_restore = false;	/* planned */
	bool any_forced = false, any_restored = false;	/* changed so far */
	bool t_master = false, p_master = false;
	struct mread t = { 0 }, p = { 0 };
	struct buf moved = BUF_INIT;
	char *what = NULL;
	size_t pidx = 0, i;
	int rc;

	if ((rc = read_dbs(e, tidx, &t, err)) < 0 ||
	    (rc = decide_promote_actions(e, tidx, &t, old_primary, force, act, &any_failover,
					 &any_restore, err)) < 0)
		goto done;
	if (any_restore &&
	    (rc = check_old_primary_stopped(e, tsrv, old_primary ? old_primary : e->move.old_primary,
					    false, err)) < 0)
		goto done;
	if (any_failover &&
	    (rc = check_principal_switchover(e, tsrv, old_primary, act, &pidx, &p, err)) < 0)
		goto done;
	/* Restored copies first take every log backup newer than them (a gap
	 * refuses before the first RESTORE LOG), then RESTORE ... WITH RECOVERY. */
	if (any_restore && tsrv->log_backups &&
	    (rc = catch_up_restored(e, tidx, act, &t_master, err)) < 0)
		goto done;
	/* The changes, database by database. */
	for (i = 0; i < st->ndatabases; i++) {
		if (act[i] == ACT_FAILOVER)
			rc = change_db(e, pidx, act[i], st->databases[i], &p_master, &moved, err);
		else if (act[i] != ACT_NONE)
			rc = change_db(e, tidx, act[i], st->databases[i], &t_master, &moved, err);
		if (rc < 0) {
			if (any_switched)
				rc = fail_back(e, tidx, pidx, switched, rc, err);
			goto done;
		}
		switched[i] = act[i] == ACT_FAILOVER;
		any_switched |= switched[i];
		forced[i] = act[i] == ACT_FORCE;
		restored[i] = act[i] == ACT_RESTORE;
		any_forced |= forced[i];
		any_restored |= restored[i];
	}
	what = xasprintf("for '%s' to serve every database", tsrv->name);
	rc = wait_for(e, tidx, GOAL_SERVING, role_wait_ms(e), CMS_ERROR, what, err);
done:
	/* What was changed needs its follow-ups even when a later step failed. */
	if (any_forced)
		followup_partner_resume(e, tsrv->name, old_primary, forced);
	if (any_restored)
		followup_restored(e, tsrv->name, restored);
	free(what);
	buf_free(&moved);
	mread_free(&t);
	mread_free(&p);
	free(act);
	free(forced);
	free(restored);
	free(switched);
	return rc;
}

static int mssql_promote(struct engine *e, const char *target, const char *old_primary,
			 bool force, struct cms_error *err)
{
	size_t tidx;
	struct db *db;
	int rc;

	if ((rc = server_index(e, target, &tidx, err)) < 0)
		return rc;
	if (engine_session(e, tidx, &db, err) < 0)
		return engine_refuse_unreachable(err, "target", target);
	if (e->store->servers[tidx].availability_group)
		return promote_ag(e, tidx, old_primary, force, err);
	return promote_mirroring(e, tidx, old_primary, force, err);
}

/* ---- demotion ----------------------------------------------------------- */

/*
 * Nothing to change: a switchover makes the old principal the mirror (and
 * the old primary replica a secondary) by itself, and a server that was
 * down can only be dealt with once it is back.  So demote reads the old
 * primary when it can and turns whatever is not as it should be into
 * follow-ups; it fails only for a server that is not in the store.
 */
static int mssql_demote(struct engine *e, const char *old_primary, const char *new_primary,
			struct cms_error *err)
{
	const struct store *st = e->store;
	struct cms_error rerr = CMS_ERROR_INIT;
	bool *suspended = xcalloc(st->ndatabases, sizeof(*suspended));
	bool *serving = xcalloc(st->ndatabases, sizeof(*serving));
	bool *restoring = xcalloc(st->ndatabases, sizeof(*restoring));
	bool any_suspended = false, any_serving = false, any_restoring = false;
	const struct server *srv;
	struct mread mr = { 0 };
	struct agread ar = { 0 };
	struct buf names = BUF_INIT;
	struct db *db;
	size_t idx, i;
	int rc;

	if ((rc = server_index(e, old_primary, &idx, err)) < 0)
		goto done;
	srv = &st->servers[idx];
	add_db_names(&names, st, NULL);
	if (engine_session(e, idx, &db, &rerr) < 0 ||
	    (srv->availability_group ? read_ag(e, idx, &ar, &rerr) : read_dbs(e, idx, &mr, &rerr)) < 0) {
		engine_add_followup(e,
				    "'%s' could not be checked after the move (%s): once it is back, make sure it reports %s for %s before any client reaches it",
				    old_primary, rerr.message ? rerr.message : "unknown error",
				    srv->availability_group ? "SECONDARY" : "MIRROR", names.ptr);
		goto done;
	}
	if (srv->availability_group) {
		if (ar.replica_role && !eq(ar.replica_role, "SECONDARY")) {
			engine_add_followup(e,
					    "'%s' still reports itself %s in availability group '%s' after the move to '%s'",
					    old_primary, ar.replica_role, srv->availability_group,
					    new_primary ? new_primary : "the new primary");
			goto done;
		}
		for (i = 0; i < st->ndatabases; i++) {
			if (ar.dbs[i].present && ar.dbs[i].suspended)
				suspended[i] = any_suspended = true;
		}
		if (any_suspended)
			followup_hadr_resume(e, old_primary, srv->availability_group, suspended, false);
		goto done;
	}
	for (i = 0; i < st->ndatabases; i++) {
		const struct mdb *d = &mr.dbs[i];

		if (!d->present)
			continue;
		if (eq(d->role, "MIRROR") && eq(d->mstate, "SUSPENDED"))
			suspended[i] = any_suspended = true;
		else if (eq(d->role, "PRINCIPAL") || (!d->role && eq(d->state_desc, "ONLINE")))
			serving[i] = any_serving = true;
		else if (!d->role && eq(d->state_desc, "RESTORING"))
			restoring[i] = any_restoring = true;
	}
	if (any_restoring) {
		/* Left by a tail-log backup WITH NORECOVERY: a copy that log
		 * backups of the new primary can roll forward. */
		buf_reset(&names);
		add_db_names(&names, st, restoring);
		engine_add_followup(e,
				    "'%s' holds %s RESTORING after its tail-log backup: it is a copy that log backups of '%s' can roll forward (log shipping the other way) before it serves again",
				    old_primary, names.ptr, new_primary ? new_primary : "the new primary");
	}
	if (any_suspended && new_primary)
		followup_partner_resume(e, new_primary, old_primary, suspended);
	if (any_serving) {
		buf_reset(&names);
		add_db_names(&names, st, serving);
		engine_add_followup(e,
				    "'%s' still serves %s as a writable copy: take it offline or re-seed it from '%s' before any client reaches it",
				    old_primary, names.ptr, new_primary ? new_primary : "the new primary");
	}
done:
	cms_error_clear(&rerr);
	buf_free(&names);
	mread_free(&mr);
	agread_free(&ar);
	free(suspended);
	free(serving);
	free(restoring);
	return rc;
}

/* ---- lifecycle ---------------------------------------------------------- */

static void mssql_close(struct engine *e)
{
	struct mssql *m = e->priv;
	size_t i;

	if (!m)
		return;
	for (i = 0; i < e->store->ndatabases; i++)
		free(m->tails[i]);
	free(m->tails);
	free(m->db_list);
	free(m->dbs_sql);
	free(m);
	e->priv = NULL;
}

static const struct engine_ops mssql_ops = {
	.name = "mssql",
	.probe = mssql_probe,
	.probe_connects_all = true,
	.check_target = mssql_check_target,
	.fence = mssql_fence,
	.unfence = mssql_unfence,
	.catch_up = mssql_catch_up,
	.promote = mssql_promote,
	.demote = mssql_demote,
	.close = mssql_close,
	.check_session = check_identity,
	.fence_note = "not needed on SQL Server: the failover switches the roles of each database "
		      "atomically, and SET READ_ONLY would be shipped to the new principal too",
};

int engine_mssql_init(struct engine *e, struct cms_error *err)
{
	const struct store *st = e->store;
	struct buf list = BUF_INIT, sql = BUF_INIT;
	struct mssql *m;
	size_t i;

	if (!st->ndatabases)
		return cms_error_set(err, CMS_ERROR, "store '%s' has no databases", st->name);
	for (i = 0; i < st->ndatabases; i++) {
		if (!config_is_identifier(st->databases[i]))
			return cms_error_set(err, CMS_ERROR,
					     "database name '%.128s' of store '%s' is not a plain identifier",
					     st->databases[i], st->name);
	}
	for (i = 0; i < st->nservers; i++) {
		const char *ag = st->servers[i].availability_group;

		if (ag && !config_is_identifier(ag))
			return cms_error_set(err, CMS_ERROR,
					     "availability group name '%.128s' of server '%s' is not a plain identifier",
					     ag, st->servers[i].name);
	}
	for (i = 0; i < st->ndatabases; i++) {
		if (i)
			buf_adds(&list, ", ");
		mssql_quote_nstring(&list, st->databases[i]);
	}
	buf_adds(&sql, mssql_dbs_select);
	buf_adds(&sql, list.ptr);
	buf_addch(&sql, ')');
	m = xcalloc(1, sizeof(*m));
	m->tails = xcalloc(st->ndatabases, sizeof(*m->tails));
	m->db_list = buf_detach(&list, NULL);
	m->dbs_sql = buf_detach(&sql, NULL);
	e->priv = m;
	e->ops = &mssql_ops;
	return 0;
}
