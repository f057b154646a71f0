/*
 * The embedded engine: each server is a directory (srv->path) holding one
 * SQLite file per store database, <path>/<database>.db, reached through
 * unixODBC and the SQLite3 ODBC driver like any other server.  Each file
 * carries a one-row control table:
 *
 *   CREATE TABLE cms_control (
 *     id INTEGER PRIMARY KEY CHECK (id = 1),
 *     role TEXT NOT NULL CHECK (role IN ('primary','mirror','backup','fenced')),
 *     epoch INTEGER NOT NULL,           -- bumped by each promotion
 *     change_counter INTEGER NOT NULL,  -- bumped by each client write
 *     read_only INTEGER NOT NULL CHECK (read_only IN (0,1)));
 *
 * The control table is the contract with the clients of a sqlite store
 * (examples/quickstart/write.sh is one): a client writes only inside a
 * transaction that first checks role = 'primary' and read_only = 0, and
 * bumps change_counter with every write.  SQLite serialises writers, so
 * once fence's UPDATE has committed no client write can follow; that is
 * what makes the flag a real fence here.  Nothing stops a client that
 * ignores the contract: the flag is advisory to such a client.
 *
 * Decisions, where DESIGN.md is silent:
 *  - One session per database file, opened when first needed and kept
 *    for the engine's life (a store's apply used to connect three dozen
 *    times, each a driver load and a schema read).  A kept session is
 *    used again only while its path still names the same file (device
 *    and inode, looked at before every use), so a file that is gone is
 *    still an unreachable server and a file put in its place gets a
 *    session of its own.  Catch-up closes the target's session before it
 *    replaces the file, which must be held open by nobody; the session
 *    on the catch-up copy is not kept.
 *  - A server whose directory or file is missing, or whose control table
 *    cannot be read, is unreachable (an observation, not a failure).
 *  - Lag is measured against the observed primary: the single reachable
 *    server whose databases all say primary and writable (or, when none is
 *    writable, the single one that says primary: a fenced primary still
 *    holds the newest data).  None or several: lag unknown (-1).  A server
 *    whose change counters all equal the primary's lags 0 bytes; otherwise
 *    it lags by the size of the primary's files that differ, which is what
 *    catch-up must copy.
 *  - Catch-up copies with VACUUM INTO next to the target, restores the
 *    target's own role and epoch in the copy, fsyncs it, and renames it
 *    over the target (then fsyncs the directory).  It repeats until the
 *    counters match (writes may land on an unfenced source meanwhile) or
 *    the timeout passes.  A target ahead of its source is never
 *    overwritten: that is divergence, and a person must look.
 *  - Promote sets role = 'primary', read_only = 0 and epoch = 1 + the
 *    highest epoch any reachable server has for that database.  Unless
 *    forced, it refuses while another server still accepts writes.
 *  - Demote makes the old primary what the config says it is (mirror, or
 *    backup), writable by the flag but not primary, so clients leave it
 *    alone until a catch-up makes it current again.
 */
#include "applier/engine.h"
#include "common/buf.h"
#include "common/util.h"

#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* A session kept on one database file (see the decisions above). */
struct sq_session {
	char *path;
	dev_t dev;
	ino_t ino;
	struct db *db;
	bool in_use;
};

struct sq_priv {
	struct sq_session *v;
	size_t n, alloc;
};

struct sq_ctl {
	enum obs_role role;  /* from cms_control.role */
	int64_t epoch;
	uint64_t counter;    /* change_counter */
	int read_only;       /* 0 or 1 */
};

static const char *const sq_control_select =
	"SELECT role, epoch, change_counter, read_only FROM cms_control WHERE id = 1";

static const char *sq_role_text(enum obs_role r)
{
	switch (r) {
	case OBS_PRIMARY:
		return "primary";
	case OBS_MIRROR:
		return "mirror";
	case OBS_BACKUP:
		return "backup";
	case OBS_FENCED:
		return "fenced";
	default:
		return NULL;
	}
}

static int sq_parse_role(enum obs_role *out, const char *s)
{
	static const enum obs_role roles[] = { OBS_PRIMARY, OBS_MIRROR, OBS_BACKUP, OBS_FENCED };
	size_t i;

	for (i = 0; s && i < ARRAY_SIZE(roles); i++) {
		if (strcmp(s, sq_role_text(roles[i])) == 0) {
			*out = roles[i];
			return 0;
		}
	}
	return -1;
}

static int sq_parse_i64(int64_t *out, const char *s)
{
	char *end;
	long long v;

	if (!s || !*s)
		return -1;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno || *end)
		return -1;
	*out = (int64_t)v;
	return 0;
}


static const struct server *sq_server(struct engine *e, const char *name, struct cms_error *err)
{
	return engine_server(e, name, NULL, err);
}

static int sq_valid_db_name(const char *s)
{
	if (!s || !*s)
		return 0;
	for (; *s; s++) {
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || *s == '_'))
			return 0;
	}
	return 1;
}

/* out = <srv->path>/<dbname>.db */
static int sq_file_path(struct buf *out, const struct server *srv, const char *dbname,
			struct cms_error *err)
{
	buf_reset(out);
	if (!srv->path || !*srv->path)
		return cms_error_set(err, CMS_ERROR,
				     "server '%s' has no path: the sqlite engine needs its directory",
				     srv->name);
	if (!sq_valid_db_name(dbname))
		return cms_error_set(err, CMS_ERROR, "database name '%s' is not a plain identifier",
				     dbname ? dbname : "");
	buf_adds(out, srv->path);
	if (out->len && out->ptr[out->len - 1] != '/')
		buf_addch(out, '/');
	buf_addf(out, "%s.db", dbname);
	return 0;
}

static int64_t sq_query_timeout_ms(const struct engine *e)
{
	return e->store->policy.query_timeout_ms > 0 ? e->store->policy.query_timeout_ms : 30000;
}

static struct sq_priv *sq_priv(struct engine *e)
{
	if (!e->priv)
		e->priv = xcalloc(1, sizeof(struct sq_priv));
	return e->priv;
}

/* Closes the kept session at index i (its log goes to the engine). */
static void sq_drop(struct engine *e, size_t i)
{
	struct sq_priv *p = e->priv;

	engine_absorb_log(e, p->v[i].db);
	db_close(p->v[i].db);
	free(p->v[i].path);
	p->v[i] = p->v[--p->n];
}

/* Closes the kept sessions on file: before the file is replaced.  None
 * is in use then (catch-up gives its sessions back first). */
static void sq_forget(struct engine *e, const char *file)
{
	struct sq_priv *p = e->priv;
	size_t i = 0;

	while (p && i < p->n) {
		if (!strcmp(p->v[i].path, file) && !p->v[i].in_use)
			sq_drop(e, i); /* the last one moves to i */
		else
			i++;
	}
}

/* Opens a session on one SQLite file of srv through e->connect, or hands
 * out the one kept on it (keep: a new one is kept too).  The file must
 * exist: a missing file is an unreachable server, never a new empty
 * database (NoCreat=1 makes the driver refuse to create one as well). */
static int sq_connect_file(struct engine *e, const struct server *srv, const char *file, bool keep,
			   struct db **out, struct cms_error *err)
{
	struct sq_priv *p = sq_priv(e);
	struct buf connstr = BUF_INIT;
	struct server tmp;
	struct stat sb;
	size_t i;
	int rc = 0;

	*out = NULL;
	if (strpbrk(file, ";{}")) {
		rc = cms_error_set(err, CMS_ERROR,
				   "database file '%s' cannot be named in an ODBC connection string: it contains ';', '{' or '}'",
				   file);
		goto done;
	}
	if (stat(file, &sb) != 0) {
		if (errno == ENOENT || errno == ENOTDIR)
			rc = cms_error_set(err, CMS_ERROR, "no database file '%s'", file);
		else
			rc = cms_error_set(err, CMS_ERROR, "cannot access database file '%s': %s", file,
					   strerror(errno));
		goto done;
	}
	if (!S_ISREG(sb.st_mode)) {
		rc = cms_error_set(err, CMS_ERROR, "database file '%s' is not a regular file", file);
		goto done;
	}
	for (i = 0; i < p->n; i++) {
		if (strcmp(p->v[i].path, file) != 0)
			continue;
		if (p->v[i].in_use) {
			keep = false; /* one at a time is kept per file */
			continue;
		}
		if (p->v[i].dev == sb.st_dev && p->v[i].ino == sb.st_ino) {
			p->v[i].in_use = true;
			*out = p->v[i].db;
			goto done;
		}
		sq_drop(e, i); /* another file under that name now */
		break;
	}
	/* Timeout is the driver's busy timeout (ms): how long a statement
	 * waits for a lock held by a client, bounded like any statement. */
	buf_addf(&connstr, "Driver=SQLite3;Database=%s;Timeout=%lld;NoCreat=1", file,
		 (long long)sq_query_timeout_ms(e));
	tmp = *srv;
	tmp.connection = connstr.ptr;
	tmp.dsn = NULL;
	tmp.user = NULL;
	tmp.password_env = NULL;
	tmp.password_file = NULL;
	rc = e->connect(out, e->store, &tmp, e->connect_ctx, err);
	if (rc == 0 && keep) {
		struct sq_session *k = ARRAY_PUSH(p->v, p->n, p->alloc);

		k->path = xstrdup(file);
		k->dev = sb.st_dev;
		k->ino = sb.st_ino;
		k->db = *out;
		k->in_use = true;
	}
done:
	buf_free(&connstr);
	return rc;
}

static int sq_connect(struct engine *e, const struct server *srv, const char *dbname,
		      struct db **out, struct cms_error *err)
{
	struct buf file = BUF_INIT;
	int rc;

	*out = NULL;
	if ((rc = sq_file_path(&file, srv, dbname, err)) < 0)
		goto done;
	rc = sq_connect_file(e, srv, file.ptr, true, out, err);
	db_set_database(*out, dbname);
done:
	buf_free(&file);
	return rc;
}

/* Gives a session back: kept for the next use, or closed when it is not
 * a kept one.  Its statements go to the engine's log now, in order. */
static void sq_disconnect(struct engine *e, struct db *db)
{
	struct sq_priv *p = e->priv;
	size_t i;

	if (!db)
		return;
	engine_absorb_log(e, db);
	for (i = 0; p && i < p->n; i++)
		if (p->v[i].db == db) {
			p->v[i].in_use = false;
			return;
		}
	db_close(db);
}

/* Reads and validates the control row (what a server says is input). */
static int sq_read_control(struct db *db, const char *srvname, const char *dbname,
			   struct sq_ctl *out, struct cms_error *err)
{
	struct db_result *res = NULL;
	int64_t epoch = 0, counter = 0, ro = 0;
	const char *what = NULL, *bad = NULL;
	int rc;

	memset(out, 0, sizeof(*out));
	if ((rc = db_exec(db, sq_control_select, &res, err)) < 0) {
		cms_error_prefix(err, "cannot read the control table of '%s/%s'", srvname, dbname);
		goto done;
	}
	if (res->ncols != 4 || res->nrows != 1) {
		rc = cms_error_set(err, CMS_ERROR,
				   "invalid control table in '%s/%s': expected 1 row of 4 columns, got %zu of %zu",
				   srvname, dbname, res->nrows, res->ncols);
		goto done;
	}
	if (sq_parse_role(&out->role, db_result_get(res, 0, 0)) < 0) {
		what = "role";
		bad = db_result_get(res, 0, 0);
	} else if (sq_parse_i64(&epoch, db_result_get(res, 0, 1)) < 0 || epoch < 0) {
		what = "epoch";
		bad = db_result_get(res, 0, 1);
	} else if (sq_parse_i64(&counter, db_result_get(res, 0, 2)) < 0 || counter < 0) {
		what = "change_counter";
		bad = db_result_get(res, 0, 2);
	} else if (sq_parse_i64(&ro, db_result_get(res, 0, 3)) < 0 || (ro != 0 && ro != 1)) {
		what = "read_only";
		bad = db_result_get(res, 0, 3);
	}
	if (what) {
		rc = cms_error_set(err, CMS_ERROR, "invalid %s '%.64s' in the control table of '%s/%s'",
				   what, bad ? bad : "NULL", srvname, dbname);
		goto done;
	}
	out->epoch = epoch;
	out->counter = (uint64_t)counter;
	out->read_only = (int)ro;
done:
	db_result_free(res);
	return rc;
}

/* Connects to srv's copy of dbname, reads its control row, disconnects. */
static int sq_read(struct engine *e, const struct server *srv, const char *dbname,
		   struct sq_ctl *out, struct cms_error *err)
{
	struct db *db = NULL;
	int rc;

	if ((rc = sq_connect(e, srv, dbname, &db, err)) < 0)
		goto done;
	rc = sq_read_control(db, srv->name, dbname, out, err);
done:
	sq_disconnect(e, db);
	return rc;
}

/* The size of srv's file for dbname plus its WAL, if any. */
static int sq_db_size(const struct server *srv, const char *dbname, uint64_t *out)
{
	struct buf file = BUF_INIT;
	struct stat sb;
	int rc = -1;

	*out = 0;
	if (sq_file_path(&file, srv, dbname, NULL) < 0)
		goto done;
	if (stat(file.ptr, &sb) != 0)
		goto done;
	*out = (uint64_t)sb.st_size;
	buf_adds(&file, "-wal");
	if (stat(file.ptr, &sb) == 0)
		*out += (uint64_t)sb.st_size;
	rc = 0;
done:
	buf_free(&file);
	return rc;
}

/* Probes one server into so, and its control rows into ctl[ndatabases]. */
static void sq_probe_server(struct engine *e, const struct server *srv, struct server_obs *so,
			    struct sq_ctl *ctl)
{
	const struct store *st = e->store;
	struct cms_error err = CMS_ERROR_INIT;
	size_t j;

	so->server = xstrdup(srv->name);
	so->role = OBS_UNKNOWN;
	so->lag_bytes = -1;
	so->ndbs = st->ndatabases;
	so->dbs = xcalloc(st->ndatabases ? st->ndatabases : 1, sizeof(*so->dbs));
	for (j = 0; j < st->ndatabases; j++) {
		so->dbs[j].name = xstrdup(st->databases[j]);
		so->dbs[j].role = OBS_UNKNOWN;
	}
	for (j = 0; j < st->ndatabases; j++) {
		if (sq_read(e, srv, st->databases[j], &ctl[j], &err) < 0) {
			size_t k;

			so->reachable = false;
			so->error = xstrdup(err.message ? err.message : "unreachable");
			cms_error_clear(&err);
			/* Whether any of it answers: then it is not down. */
			so->answered = j > 0;
			for (k = j + 1; k < st->ndatabases && !so->answered; k++) {
				struct sq_ctl other;

				if (sq_read(e, srv, st->databases[k], &other, &err) == 0)
					so->answered = true;
				cms_error_clear(&err);
			}
			/* Half a server is no server: forget what was read. */
			for (j = 0; j < st->ndatabases; j++) {
				so->dbs[j].role = OBS_UNKNOWN;
				so->dbs[j].epoch = 0;
				so->dbs[j].position = 0;
				so->dbs[j].read_only = false;
			}
			return;
		}
		so->dbs[j].role = ctl[j].role;
		so->dbs[j].epoch = ctl[j].epoch;
		so->dbs[j].position = ctl[j].counter;
		so->dbs[j].read_only = ctl[j].read_only != 0;
	}
	so->reachable = true;
	so->answered = true;
	if (st->ndatabases == 0)
		return;
	so->role = so->dbs[0].role;
	so->epoch = so->dbs[0].epoch;
	so->position = so->dbs[0].position;
	for (j = 0; j < st->ndatabases; j++) {
		if (so->dbs[j].role != so->role && !so->error) {
			so->error = xasprintf("databases disagree on the role: '%s' is %s, '%s' is %s",
					      so->dbs[0].name, obs_role_name(so->dbs[0].role),
					      so->dbs[j].name, obs_role_name(so->dbs[j].role));
		}
		if (so->dbs[j].epoch > so->epoch)
			so->epoch = so->dbs[j].epoch;
		if (so->dbs[j].position < so->position)
			so->position = so->dbs[j].position;
		if (so->dbs[j].read_only)
			so->read_only = true;
	}
	if (so->error)
		so->role = OBS_UNKNOWN;
}

/* The index of the observed primary (see the decisions above), or -1. */
static long sq_observed_primary(const struct observation *obs)
{
	long writable = -1, any = -1;
	size_t nwritable = 0, nany = 0, i;

	for (i = 0; i < obs->nservers; i++) {
		const struct server_obs *so = &obs->servers[i];

		if (!so->reachable || so->role != OBS_PRIMARY)
			continue;
		nany++;
		any = (long)i;
		if (!so->read_only) {
			nwritable++;
			writable = (long)i;
		}
	}
	if (nwritable == 1)
		return writable;
	if (nwritable == 0 && nany == 1)
		return any;
	return -1;
}

static int sq_probe(struct engine *e, struct observation *out, struct cms_error *err)
{
	const struct store *st = e->store;
	size_t nd = st->ndatabases ? st->ndatabases : 1;
	struct sq_ctl *ctl = NULL;
	long p;
	size_t i, j;

	(void)err;
	memset(out, 0, sizeof(*out));
	out->nservers = st->nservers;
	out->servers = xcalloc(st->nservers ? st->nservers : 1, sizeof(*out->servers));
	ctl = xcalloc(st->nservers * nd + 1, sizeof(*ctl));
	for (i = 0; i < st->nservers; i++)
		sq_probe_server(e, &st->servers[i], &out->servers[i], &ctl[i * nd]);

	p = sq_observed_primary(out);
	for (i = 0; i < st->nservers; i++) {
		struct server_obs *so = &out->servers[i];
		const struct server *prim;
		uint64_t lag = 0;
		int known = 1;

		if (!so->reachable || p < 0)
			continue;
		if ((long)i == p) {
			so->lag_bytes = 0;
			continue;
		}
		prim = &st->servers[p];
		if (so->role == OBS_MIRROR || so->role == OBS_BACKUP)
			so->upstream = xstrdup(prim->name);
		for (j = 0; j < st->ndatabases; j++) {
			uint64_t size;

			if (ctl[i * nd + j].counter == ctl[(size_t)p * nd + j].counter)
				continue;
			if (sq_db_size(prim, st->databases[j], &size) < 0) {
				known = 0;
				break;
			}
			lag += size ? size : 1;
		}
		so->lag_bytes = known && lag <= INT64_MAX ? (int64_t)lag : -1;
	}
	free(ctl);
	return 0;
}

static int sq_check_target(struct engine *e, const char *target, struct cms_error *err)
{
	const struct store *st = e->store;
	const struct server *srv;
	struct sq_ctl ctl;
	size_t j;
	int rc = 0;

	if (!(srv = sq_server(e, target, err)))
		return err ? err->code : CMS_ENOTFOUND;
	for (j = 0; j < st->ndatabases; j++) {
		if ((rc = sq_read(e, srv, st->databases[j], &ctl, err)) < 0)
			return engine_refuse_unreachable(err, "target", srv->name);
		if (ctl.role == OBS_PRIMARY)
			return cms_error_set(err, CMS_EREFUSED,
					     "target '%s' already holds '%s' as primary", srv->name,
					     st->databases[j]);
	}
	return 0;
}

/* Sets read_only on every database of server and verifies it took. */
static int sq_set_read_only(struct engine *e, const char *server, int value, const char *verb,
			    struct cms_error *err)
{
	const struct store *st = e->store;
	const struct server *srv;
	struct db *db = NULL;
	struct sq_ctl ctl;
	char sql[80];
	size_t j;
	int rc = 0;

	if (!(srv = sq_server(e, server, err)))
		return err ? err->code : CMS_ENOTFOUND;
	snprintf(sql, sizeof(sql), "UPDATE cms_control SET read_only = %d WHERE id = 1", value);
	for (j = 0; j < st->ndatabases; j++) {
		const char *dbname = st->databases[j];

		if ((rc = sq_connect(e, srv, dbname, &db, err)) < 0) {
			cms_error_prefix(err, "cannot %s '%s'", verb, srv->name);
			goto done;
		}
		if ((rc = db_exec(db, sql, NULL, err)) < 0) {
			cms_error_prefix(err, "cannot %s '%s'", verb, srv->name);
			goto done;
		}
		/* Trust no return value: read the flag back. */
		if ((rc = sq_read_control(db, srv->name, dbname, &ctl, err)) < 0)
			goto done;
		if (ctl.read_only != value) {
			rc = cms_error_set(err, CMS_ERROR, "%s of '%s' did not take: '%s' is still %s",
					   verb, srv->name, dbname, value ? "writable" : "read-only");
			goto done;
		}
		sq_disconnect(e, db);
		db = NULL;
		engine_database_done(e, verb, srv->name, dbname); /* a test build's hold */
	}
done:
	sq_disconnect(e, db);
	return rc;
}

static int sq_fence(struct engine *e, const char *server, struct cms_error *err)
{
	return sq_set_read_only(e, server, 1, "fence", err);
}

static int sq_unfence(struct engine *e, const char *server, struct cms_error *err)
{
	return sq_set_read_only(e, server, 0, "unfence", err);
}

static int sq_fsync_path(const char *path, int directory, struct cms_error *err)
{
	int fd, rc = 0;

	fd = open(path, O_RDONLY | (directory ? O_DIRECTORY : 0));
	if (fd < 0)
		return cms_error_set(err, CMS_ERROR, "cannot open '%s' to sync it: %s", path,
				     strerror(errno));
	if (fsync(fd) != 0)
		rc = cms_error_set(err, CMS_ERROR, "cannot sync '%s': %s", path, strerror(errno));
	close(fd);
	return rc;
}

/* Removes path if present. */
static int sq_unlink(const char *path, struct cms_error *err)
{
	if (unlink(path) != 0 && errno != ENOENT)
		return cms_error_set(err, CMS_ERROR, "cannot remove '%s': %s", path, strerror(errno));
	return 0;
}

/* Removes path's rollback journal, WAL and shared-memory files: left
 * behind by a crashed writer, they would be applied to the new file. */
static int sq_unlink_sidecars(const char *path, struct cms_error *err)
{
	static const char *const suffixes[] = { "-journal", "-wal", "-shm" };
	struct buf b = BUF_INIT;
	size_t i;
	int rc = 0;

	for (i = 0; i < ARRAY_SIZE(suffixes) && rc == 0; i++) {
		buf_reset(&b);
		buf_adds(&b, path);
		buf_adds(&b, suffixes[i]);
		rc = sq_unlink(b.ptr, err);
	}
	buf_free(&b);
	return rc;
}

/* Copies source's dbname over target's when the target is behind.
 * *copied tells whether a copy was made. */
static int sq_catch_up_db(struct engine *e, const struct server *src, const struct server *tgt,
			  const char *dbname, int *copied, struct cms_error *err)
{
	struct buf tgt_file = BUF_INIT, tmp_file = BUF_INIT, sql = BUF_INIT;
	struct db *sdb = NULL, *cdb = NULL;
	struct sq_ctl sctl, tctl, cctl;
	char *suffix = NULL;
	int tmp_made = 0;
	int rc = 0;

	*copied = 0;
	if ((rc = sq_file_path(&tgt_file, tgt, dbname, err)) < 0)
		goto done;
	/* The target's session is closed (sq_forget) before its file is replaced. */
	if ((rc = sq_read(e, tgt, dbname, &tctl, err)) < 0)
		goto done;
	if ((rc = sq_connect(e, src, dbname, &sdb, err)) < 0)
		goto done;
	if ((rc = sq_read_control(sdb, src->name, dbname, &sctl, err)) < 0)
		goto done;
	if (tctl.counter == sctl.counter)
		goto done;
	if (tctl.counter > sctl.counter) {
		rc = cms_error_set(err, CMS_EREFUSED,
				   "'%s/%s' is ahead of '%s' (change %llu > %llu): refusing to overwrite it",
				   tgt->name, dbname, src->name, (unsigned long long)tctl.counter,
				   (unsigned long long)sctl.counter);
		goto done;
	}

	if (!(suffix = cms_random_hex(8))) {
		rc = cms_error_set(err, CMS_ERROR, "cannot make a random name: %s", strerror(errno));
		goto done;
	}
	buf_addf(&tmp_file, "%s.catchup-%s", tgt_file.ptr, suffix);
	buf_adds(&sql, "VACUUM INTO ");
	db_add_string_literal(&sql, tmp_file.ptr);
	tmp_made = 1;
	if ((rc = db_exec(sdb, sql.ptr, NULL, err)) < 0) {
		cms_error_prefix(err, "cannot copy '%s/%s' to '%s'", src->name, dbname, tgt->name);
		goto done;
	}
	sq_disconnect(e, sdb);
	sdb = NULL;

	/* The copy keeps the source's data and counter but is still the
	 * target: its own role and epoch, and writable by the flag. */
	if ((rc = sq_connect_file(e, tgt, tmp_file.ptr, false, &cdb, err)) < 0)
		goto done;
	db_set_database(cdb, dbname); /* the copy that becomes the target's dbname */
	buf_reset(&sql);
	buf_addf(&sql, "UPDATE cms_control SET role = '%s', epoch = %lld, read_only = 0 WHERE id = 1",
		 sq_role_text(tctl.role), (long long)tctl.epoch);
	if ((rc = db_exec(cdb, sql.ptr, NULL, err)) < 0)
		goto done;
	if ((rc = sq_read_control(cdb, tgt->name, dbname, &cctl, err)) < 0)
		goto done;
	if (cctl.role != tctl.role || cctl.epoch != tctl.epoch || cctl.read_only != 0 ||
	    cctl.counter < sctl.counter) {
		rc = cms_error_set(err, CMS_ERROR, "the copy of '%s/%s' for '%s' is not what was written",
				   src->name, dbname, tgt->name);
		goto done;
	}
	sq_disconnect(e, cdb);
	cdb = NULL;

	/* The copy takes the place of the target's file: it keeps its mode
	 * and owner, so clients that could write there still can. */
	{
		struct stat tst;

		if (stat(tgt_file.ptr, &tst) == 0 &&
		    (chmod(tmp_file.ptr, tst.st_mode & 07777) != 0 ||
		     (chown(tmp_file.ptr, tst.st_uid, tst.st_gid) != 0 && errno != EPERM))) {
			rc = cms_error_set(err, CMS_ERROR, "cannot give '%s' the mode and owner of '%s': %s",
					   tmp_file.ptr, tgt_file.ptr, strerror(errno));
			goto done;
		}
	}
	if ((rc = sq_fsync_path(tmp_file.ptr, 0, err)) < 0)
		goto done;
	/* The copy replaces the target's file: the run must still hold the
	 * store (a copy can take long; engine.h, may_change). */
	if ((rc = engine_may_change(e, err)) < 0)
		goto done;
	sq_forget(e, tgt_file.ptr);
	if ((rc = sq_unlink_sidecars(tgt_file.ptr, err)) < 0)
		goto done;
	if (rename(tmp_file.ptr, tgt_file.ptr) != 0) {
		rc = cms_error_set(err, CMS_ERROR, "cannot rename '%s' to '%s': %s", tmp_file.ptr,
				   tgt_file.ptr, strerror(errno));
		goto done;
	}
	tmp_made = 0;
	if ((rc = sq_fsync_path(tgt->path, 1, err)) < 0)
		goto done;
	*copied = 1;
done:
	sq_disconnect(e, sdb);
	sq_disconnect(e, cdb);
	if (tmp_made) {
		/* Best effort: a leftover copy is harmless, and the first
		 * error is the one to report. */
		unlink(tmp_file.ptr);
		sq_unlink_sidecars(tmp_file.ptr, NULL);
	}
	free(suffix);
	buf_free(&tgt_file);
	buf_free(&tmp_file);
	buf_free(&sql);
	return rc;
}

static int sq_catch_up(struct engine *e, const char *source, const char *target,
		       int64_t timeout_ms, struct cms_error *err)
{
	const struct store *st = e->store;
	const struct server *src, *tgt;
	int64_t start = cms_monotonic_ms();
	char limit[32];
	size_t j;
	int rc = 0;

	if (!(src = sq_server(e, source, err)) || !(tgt = sq_server(e, target, err)))
		return err ? err->code : CMS_ENOTFOUND;
	if (src == tgt)
		return cms_error_set(err, CMS_ERROR, "cannot catch '%s' up with itself", tgt->name);
	engine_format_ms(limit, timeout_ms);
	for (;;) {
		int behind = 0;

		for (j = 0; j < st->ndatabases; j++) {
			int copied = 0;

			if (cms_monotonic_ms() - start > timeout_ms)
				return cms_error_set(err, CMS_EREFUSED,
						     "catch-up of '%s' did not finish within %s",
						     tgt->name, limit);
			if ((rc = sq_catch_up_db(e, src, tgt, st->databases[j], &copied, err)) < 0)
				return rc;
		}
		/* Verify: every counter of the target equals the source's now. */
		for (j = 0; j < st->ndatabases; j++) {
			struct sq_ctl sctl, tctl;

			if ((rc = sq_read(e, src, st->databases[j], &sctl, err)) < 0 ||
			    (rc = sq_read(e, tgt, st->databases[j], &tctl, err)) < 0)
				return rc;
			if (tctl.counter != sctl.counter)
				behind = 1;
		}
		if (!behind)
			return 0;
		/* The source took writes meanwhile (it is not fenced). */
		if (cms_monotonic_ms() - start > timeout_ms)
			return cms_error_set(err, CMS_EREFUSED,
					     "catch-up of '%s' did not finish within %s", tgt->name,
					     limit);
	}
}

/* Puts the databases of tgt marked moved back as they were (was), after
 * a promotion that failed part way with rc.  CMS_EREFUSED when all went
 * back (nothing is changed: the applier undoes the fence), else rc with
 * what could not be moved back added to the message. */
static int sq_move_back(struct engine *e, const struct server *tgt, const struct sq_ctl *was,
			const bool *moved, int rc, struct cms_error *err)
{
	const struct store *st = e->store;
	struct buf names = BUF_INIT, failed = BUF_INIT, sql = BUF_INIT;
	size_t j, n = 0;

	for (j = 0; j < st->ndatabases; j++) {
		struct cms_error merr = CMS_ERROR_INIT;
		struct db *db = NULL;

		if (!moved[j])
			continue;
		n++;
		buf_reset(&sql);
		buf_addf(&sql, "UPDATE cms_control SET role = '%s', read_only = %d, epoch = %lld WHERE id = 1",
			 sq_role_text(was[j].role), was[j].read_only ? 1 : 0, (long long)was[j].epoch);
		if (sq_connect(e, tgt, st->databases[j], &db, &merr) < 0 ||
		    db_exec(db, sql.ptr, NULL, &merr) < 0)
			buf_addf(&failed, "%s'%s' (%s)", failed.len ? ", " : "", st->databases[j],
				 merr.message ? merr.message : "?");
		else
			buf_addf(&names, "%s'%s'", names.len ? ", " : "", st->databases[j]);
		sq_disconnect(e, db);
		cms_error_clear(&merr);
	}
	if (n && !failed.len) {
		cms_error_prefix(err, "promotion of '%s' stopped part way, and %s moved back as %s: "
				 "nothing is changed", tgt->name, names.ptr, n == 1 ? "it was" : "they were");
		err->code = rc = CMS_EREFUSED;
	} else if (failed.len) {
		cms_error_prefix(err, "promotion of '%s' stopped part way, and moving back %s failed",
				 tgt->name, failed.ptr);
	}
	buf_free(&names);
	buf_free(&failed);
	buf_free(&sql);
	return rc;
}

static bool any_moved(const bool *moved, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (moved[i])
			return true;
	return false;
}

static int sq_promote(struct engine *e, const char *target, const char *old_primary, bool force,
		      struct cms_error *err)
{
	const struct store *st = e->store;
	const struct server *tgt;
	struct buf sql = BUF_INIT;
	struct db *db = NULL;
	struct sq_ctl *was = xcalloc(st->ndatabases ? st->ndatabases : 1, sizeof(*was));
	bool *moved = xcalloc(st->ndatabases ? st->ndatabases : 1, sizeof(*moved));
	size_t i, j;
	int rc = 0;

	(void)old_primary; /* every other server is checked, the old primary included */
	if (!(tgt = sq_server(e, target, err)))
		return err ? err->code : CMS_ENOTFOUND;
	/* Every refusal before the first change: the databases move as a unit,
	 * and a refusal (CMS_EREFUSED) means nothing was changed. */
	for (j = 0; j < st->ndatabases; j++) {
		const char *dbname = st->databases[j];
		struct sq_ctl tctl, ctl;

		if ((rc = sq_read(e, tgt, dbname, &tctl, err)) < 0) {
			cms_error_prefix(err, "cannot promote '%s'", tgt->name);
			if (rc != CMS_EINTERRUPTED) { /* not the statement guard's */
				if (err)
					err->code = CMS_EREFUSED;
				rc = CMS_EREFUSED;
			}
			goto done;
		}
		for (i = 0; !force && i < st->nservers; i++) {
			const struct server *srv = &st->servers[i];
			struct cms_error ignored = CMS_ERROR_INIT;

			if (srv == tgt)
				continue;
			if (sq_read(e, srv, dbname, &ctl, &ignored) < 0) {
				cms_error_clear(&ignored); /* unreachable: it cannot object */
				continue;
			}
			if (ctl.role == OBS_PRIMARY && !ctl.read_only) {
				rc = cms_error_set(err, CMS_EREFUSED,
						   "cannot promote '%s': '%s' still accepts writes on '%s'",
						   tgt->name, srv->name, dbname);
				cms_error_hint(err, "fence '%s' first, or force the promotion", srv->name);
				goto done;
			}
		}
	}
	for (j = 0; j < st->ndatabases; j++) {
		const char *dbname = st->databases[j];
		struct sq_ctl tctl, ctl;
		int64_t max_other = -1, new_epoch;

		if ((rc = sq_read(e, tgt, dbname, &tctl, err)) < 0) {
			cms_error_prefix(err, "cannot promote '%s'", tgt->name);
			goto done;
		}
		for (i = 0; i < st->nservers; i++) {
			const struct server *srv = &st->servers[i];
			struct cms_error ignored = CMS_ERROR_INIT;

			if (srv == tgt)
				continue;
			if (sq_read(e, srv, dbname, &ctl, &ignored) < 0) {
				cms_error_clear(&ignored); /* unreachable: it cannot object */
				continue;
			}
			if (ctl.epoch > max_other)
				max_other = ctl.epoch;
		}
		/* Already done by an earlier, interrupted run: do not bump twice. */
		if (tctl.role == OBS_PRIMARY && !tctl.read_only && tctl.epoch > max_other)
			continue;
		new_epoch = (tctl.epoch > max_other ? tctl.epoch : max_other) + 1;

		if ((rc = sq_connect(e, tgt, dbname, &db, err)) < 0) {
			cms_error_prefix(err, "cannot promote '%s'", tgt->name);
			goto done;
		}
		buf_reset(&sql);
		buf_addf(&sql, "UPDATE cms_control SET role = 'primary', read_only = 0, epoch = %lld WHERE id = 1",
			 (long long)new_epoch);
		/* Asked before the first change only: the rest follow as a unit. */
		if ((!any_moved(moved, j) && (rc = engine_may_change(e, err)) < 0) ||
		    (rc = db_exec(db, sql.ptr, NULL, err)) < 0)
			goto done;
		if ((rc = sq_read_control(db, tgt->name, dbname, &ctl, err)) < 0)
			goto done;
		if (ctl.role != OBS_PRIMARY || ctl.read_only || ctl.epoch != new_epoch) {
			rc = cms_error_set(err, CMS_ERROR,
					   "promotion of '%s' did not take: '%s' is %s%s at epoch %lld",
					   tgt->name, dbname, obs_role_name(ctl.role),
					   ctl.read_only ? " (read-only)" : "", (long long)ctl.epoch);
			goto done;
		}
		was[j] = tctl;
		moved[j] = true;
		sq_disconnect(e, db);
		db = NULL;
		engine_database_done(e, "promote", tgt->name, dbname);
	}
done:
	sq_disconnect(e, db);
	/* A database that could not be promoted after others were (a client
	 * holding a write transaction on it past the busy timeout): the store
	 * moves as a unit, so the moved ones move back. */
	if (rc < 0)
		rc = sq_move_back(e, tgt, was, moved, rc, err);
	free(was);
	free(moved);
	buf_free(&sql);
	return rc;
}

static int sq_demote(struct engine *e, const char *old_primary, const char *new_primary,
		     struct cms_error *err)
{
	const struct store *st = e->store;
	const struct server *srv;
	const char *role;
	struct db *db = NULL;
	char sql[96];
	size_t j;
	int rc = 0, unreachable = 0;

	if (!(srv = sq_server(e, old_primary, err)))
		return err ? err->code : CMS_ENOTFOUND;
	role = srv->role == SERVER_ROLE_BACKUP ? "backup" : "mirror";
	snprintf(sql, sizeof(sql), "UPDATE cms_control SET role = '%s', read_only = 0 WHERE id = 1",
		 role);
	for (j = 0; j < st->ndatabases; j++) {
		const char *dbname = st->databases[j];
		struct cms_error cerr = CMS_ERROR_INIT;
		struct sq_ctl ctl;

		if (sq_connect(e, srv, dbname, &db, &cerr) < 0) {
			cms_error_clear(&cerr);
			unreachable = 1;
			continue;
		}
		if ((rc = db_exec(db, sql, NULL, err)) < 0) {
			cms_error_prefix(err, "cannot demote '%s'", srv->name);
			goto done;
		}
		if ((rc = sq_read_control(db, srv->name, dbname, &ctl, err)) < 0)
			goto done;
		if (strcmp(sq_role_text(ctl.role), role) != 0 || ctl.read_only) {
			rc = cms_error_set(err, CMS_ERROR, "demotion of '%s' did not take: '%s' is %s",
					   srv->name, dbname, obs_role_name(ctl.role));
			goto done;
		}
		sq_disconnect(e, db);
		db = NULL;
	}
	if (unreachable)
		engine_add_followup(e,
				    "server '%s' was unreachable: re-seed it as %s of '%s' before it serves again",
				    srv->name, role, new_primary ? new_primary : "the new primary");
done:
	sq_disconnect(e, db);
	return rc;
}

static void sq_close(struct engine *e)
{
	struct sq_priv *p = e->priv;

	while (p && p->n)
		sq_drop(e, p->n - 1);
	if (p)
		free(p->v);
	free(p);
	e->priv = NULL;
}

/* True for "<db>.db.catchup-<16 hex>" and its -wal, -shm, -journal. */
static bool sq_is_catchup_copy(const char *name, const char *prefix)
{
	size_t plen = strlen(prefix), i;
	const char *rest;

	if (strncmp(name, prefix, plen) != 0)
		return false;
	rest = name + plen;
	for (i = 0; i < 16; i++)
		if (!((rest[i] >= '0' && rest[i] <= '9') || (rest[i] >= 'a' && rest[i] <= 'f')))
			return false;
	rest += 16;
	return !*rest || !strcmp(rest, "-wal") || !strcmp(rest, "-shm") ||
	       !strcmp(rest, "-journal");
}

/* Removes the catch-up copies a process killed during VACUUM INTO or
 * before its rename left beside a server's database files: full-size
 * files nothing else reads.  Only under the store's lock, so no live
 * catch-up of this store is writing one. */
static int sq_tidy(struct engine *e, struct cms_error *err)
{
	const struct store *st = e->store;
	size_t i, j;

	(void)err;
	for (i = 0; i < st->nservers; i++) {
		const struct server *srv = &st->servers[i];
		DIR *d;
		struct dirent *de;

		if (!srv->path || !*srv->path || !(d = opendir(srv->path)))
			continue;
		while ((de = readdir(d)) != NULL) {
			for (j = 0; j < st->ndatabases; j++) {
				char *prefix = xasprintf("%s.db.catchup-", st->databases[j]);
				bool hit = sq_is_catchup_copy(de->d_name, prefix);

				free(prefix);
				if (!hit)
					continue;
				if (unlinkat(dirfd(d), de->d_name, 0) == 0)
					engine_add_followup(e, "removed '%s/%s', a catch-up copy an "
							    "interrupted run left behind", srv->path,
							    de->d_name);
				else
					engine_add_followup(e, "cannot remove '%s/%s', a catch-up copy "
							    "an interrupted run left behind: %s",
							    srv->path, de->d_name, strerror(errno));
				break;
			}
		}
		closedir(d);
	}
	return 0;
}

static const struct engine_ops sqlite_ops = {
	.name = "sqlite",
	.probe = sq_probe,
	.check_target = sq_check_target,
	.fence = sq_fence,
	.unfence = sq_unfence,
	.catch_up = sq_catch_up,
	.promote = sq_promote,
	.demote = sq_demote,
	.close = sq_close,
	.tidy = sq_tidy,
};

int engine_sqlite_init(struct engine *e, struct cms_error *err)
{
	(void)err;
	e->ops = &sqlite_ops;
	e->priv = NULL;
	return 0;
}
