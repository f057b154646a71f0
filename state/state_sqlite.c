/*
 * The SQLite state backend (state/backend.h), the embedded default: per
 * store the lineage, serial and recorded location; the journal of runs and
 * steps; locks; approvals; consumed plan ids, all in one file.
 *
 * Opening happens in two phases so that a file which is not ours is never
 * modified.  First the raw header is read without SQLite (magic,
 * application_id, user_version, whether page 1 lists tables); then SQLite,
 * opened read-write but without CREATE and with checkpoint-on-close off,
 * only reads: application_id, user_version, the schema and PRAGMA
 * quick_check.  Only when all of that passes does it switch to WAL and
 * apply the migrations, each in its own transaction that re-reads the
 * version, so concurrent first runs agree.
 * Every public write is its own committed transaction with synchronous=FULL:
 * a write whose call has returned survives SIGKILL and power loss (a lazy
 * batch, state_batch_begin_lazy, survives SIGKILL at once and power loss
 * from the next write on).
 * Decisions that read before they write (lock, commit, consume) run in
 * BEGIN IMMEDIATE so two processes cannot interleave them.
 */
#include "state/backend.h"
#include "common/buf.h"
#include "common/util.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <sqlite3.h>

#include "common/lib_sqlite.h"
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define STATE_APPLICATION_ID 0x434D5331u /* "CMS1" */
/* How long a write waits for another process's: a plan set applies up to
 * 64 stores at once, each journaling every step, and a journal write that
 * gives up after promotion leaves its store interrupted. */
#define STATE_BUSY_TIMEOUT_MS 60000
/* How many statements a state keeps prepared. */
#define STATE_STMT_CACHE 24

/*
 * Schema migrations: migrations[i] takes a database from user_version i to
 * i + 1 and is applied in one transaction together with the version bump.
 * Append only; a released step is never edited.  The SQL stays close to
 * what PostgreSQL accepts, for the planned second backend.
 */
static const char *const migrations[] = {
	/* 1: the initial schema */
	"CREATE TABLE stores (\n"
	"	name TEXT PRIMARY KEY NOT NULL,\n"
	"	lineage TEXT NOT NULL,\n"
	"	serial INTEGER NOT NULL CHECK (serial >= 0),\n"
	"	primary_server TEXT NOT NULL,\n"
	"	mirror_server TEXT,\n"
	"	updated_at TEXT NOT NULL\n"
	");\n"
	"CREATE TABLE runs (\n"
	"	id TEXT PRIMARY KEY NOT NULL,\n"
	"	store TEXT NOT NULL,\n"
	"	plan_id TEXT,\n"
	"	kind TEXT NOT NULL,\n"
	"	operator TEXT NOT NULL,\n"
	"	started_at TEXT NOT NULL,\n"
	"	finished_at TEXT,\n"
	"	outcome TEXT NOT NULL\n"
	");\n"
	"CREATE INDEX runs_by_store ON runs (store, outcome, started_at);\n"
	"CREATE TABLE steps (\n"
	"	run_id TEXT NOT NULL REFERENCES runs (id),\n"
	"	n INTEGER NOT NULL,\n"
	"	action TEXT NOT NULL,\n"
	"	server TEXT,\n"
	"	status TEXT NOT NULL CHECK (status IN\n"
	"		('pending', 'running', 'done', 'failed', 'skipped', 'undone')),\n"
	"	detail TEXT,\n"
	"	started_at TEXT,\n"
	"	finished_at TEXT,\n"
	"	duration_ms INTEGER,\n"
	"	PRIMARY KEY (run_id, n)\n"
	");\n"
	"CREATE TABLE locks (\n"
	"	store TEXT PRIMARY KEY NOT NULL,\n"
	"	id TEXT NOT NULL UNIQUE,\n"
	"	holder TEXT NOT NULL,\n"
	"	reason TEXT,\n"
	"	acquired_at INTEGER NOT NULL,\n"
	"	lease_until INTEGER NOT NULL\n"
	");\n"
	"CREATE TABLE approvals (\n"
	"	plan_id TEXT NOT NULL,\n"
	"	store TEXT NOT NULL,\n"
	"	approver TEXT NOT NULL,\n"
	"	approved_at TEXT NOT NULL,\n"
	"	PRIMARY KEY (plan_id, approver)\n"
	");\n"
	"CREATE TABLE consumed_plans (\n"
	"	plan_id TEXT PRIMARY KEY NOT NULL,\n"
	"	store TEXT NOT NULL,\n"
	"	run_id TEXT,\n"
	"	consumed_at TEXT NOT NULL\n"
	");\n",
	/* 2: the history branch tip as of the last history commit (audit) */
	"CREATE TABLE history_tip (\n"
	"	id INTEGER PRIMARY KEY NOT NULL CHECK (id = 1),\n"
	"	commit_id TEXT NOT NULL,\n"
	"	recorded_at TEXT NOT NULL\n"
	");\n",
	/* 3: a run's kind and outcome are one of the known names (state.h);
	 * SQLite adds no CHECK to a table, so triggers do its work */
	"CREATE TRIGGER runs_known_insert BEFORE INSERT ON runs\n"
	"WHEN NEW.kind NOT IN ('apply', 'restore') OR NEW.outcome NOT IN\n"
	"	('running', 'ok', 'failed', 'rolled_back', 'interrupted', 'restored')\n"
	"BEGIN SELECT RAISE(ABORT, 'unknown run kind or outcome'); END;\n"
	"CREATE TRIGGER runs_known_update BEFORE UPDATE OF kind, outcome ON runs\n"
	"WHEN NEW.kind NOT IN ('apply', 'restore') OR NEW.outcome NOT IN\n"
	"	('running', 'ok', 'failed', 'rolled_back', 'interrupted', 'restored')\n"
	"BEGIN SELECT RAISE(ABORT, 'unknown run kind or outcome'); END;\n",
	/* 4: a lock's holder in columns (state.h, struct lock_holder): holder
	 * keeps the name, the process gets its own; the text of older rows is
	 * split by migrate_lock_holders */
	"ALTER TABLE locks ADD COLUMN holder_pid INTEGER CHECK (holder_pid > 0);\n"
	"ALTER TABLE locks ADD COLUMN holder_host TEXT;\n"
	"ALTER TABLE locks ADD COLUMN holder_pid_ns TEXT;\n",
};

#define STATE_SCHEMA_VERSION ((int)ARRAY_SIZE(migrations))

struct sqlite_state {
	struct state base; /* first: the handle state.h hands out */
	sqlite3 *db;
	char *path; /* as given, for messages */
	dev_t dev;  /* the file, for the registry of open files below */
	ino_t ino;
	int64_t busy_since; /* when the current wait for a lock began */
	/* Statements kept prepared, by their SQL (prepare, release): a
	 * journal write prepared its upsert again each time, most of its
	 * CPU. */
	struct {
		char *sql;
		sqlite3_stmt *stmt;
		bool busy; /* handed out by prepare, not yet released */
	} cache[STATE_STMT_CACHE];
	size_t ncache;
	bool lazy; /* a lazy batch is open: synchronous is NORMAL until it ends */
};

static int migrate_lock_holders(struct sqlite_state *st);

/* What a migration step rewrites beyond its SQL (by step, NULL for none),
 * after its SQL and in its transaction; an SQLite code. */
static int (*const migration_rows[ARRAY_SIZE(migrations)])(struct sqlite_state *st) = {
	[3] = migrate_lock_holders,
};

/*
 * The state files this process has open.  check_header() reads a file with
 * open() and close() before SQLite touches it, and a close() drops every
 * POSIX lock the process holds on that file, the locks of its SQLite
 * connections included: another process would then take the file for
 * unused, checkpoint and truncate its WAL under them (SQLite reads short).
 * So a file already open here is not read raw again (it was checked when
 * first opened).  States are opened and closed by one thread.
 */
static struct {
	dev_t dev;
	ino_t ino;
	int refs;
} open_files[8];

static int open_file_slot(dev_t dev, ino_t ino)
{
	size_t i;

	for (i = 0; i < sizeof(open_files) / sizeof(open_files[0]); i++)
		if (open_files[i].refs && open_files[i].dev == dev && open_files[i].ino == ino)
			return (int)i;
	return -1;
}

static void open_file_ref(dev_t dev, ino_t ino, int delta)
{
	int i = open_file_slot(dev, ino);
	size_t k;

	if (i >= 0) {
		open_files[i].refs += delta;
		return;
	}
	if (delta <= 0)
		return;
	for (k = 0; k < sizeof(open_files) / sizeof(open_files[0]); k++)
		if (!open_files[k].refs) {
			open_files[k].dev = dev;
			open_files[k].ino = ino;
			open_files[k].refs = delta;
			return;
		}
	/* More than 8 state files open at once: they are still read raw. */
}

/* --- SQLite helpers ---------------------------------------------------- */

static int sql_failf(struct sqlite_state *st, struct cms_error *err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Wraps the connection's last diagnostic once, with what was being done:
 * "cannot lock store 'x' in state database 'p': database is locked".  Must
 * be called before any other SQLite call (a ROLLBACK) replaces it. */
static int sql_failf(struct sqlite_state *st, struct cms_error *err, const char *fmt, ...)
{
	struct buf b = BUF_INIT;
	va_list ap;

	va_start(ap, fmt);
	buf_vaddf(&b, fmt, ap);
	va_end(ap);
	cms_error_set(err, CMS_ERROR, "%s in state database '%s': %s", b.ptr, st->path,
		      sqlite3_errmsg(st->db));
	buf_free(&b);
	return CMS_ERROR;
}

/* Prepares sql and binds the variadic arguments in order, by type letter:
 * 's' const char * (NULL binds NULL), 'i' int64_t, 'd' int.  Returns an
 * SQLite code; *out is set (or NULL) either way, for the caller to finalize. */
static int prepare(struct sqlite_state *st, sqlite3_stmt **out, const char *sql,
		   const char *types, ...)
{
	va_list ap;
	int rc, i;

	*out = NULL;
	rc = SQLITE_OK;
	for (i = 0; i < (int)st->ncache; i++)
		if (!st->cache[i].busy && !strcmp(st->cache[i].sql, sql)) {
			st->cache[i].busy = true;
			*out = st->cache[i].stmt;
			break;
		}
	if (!*out) {
		rc = sqlite3_prepare_v2(st->db, sql, -1, out, NULL);
		if (rc == SQLITE_OK && st->ncache < STATE_STMT_CACHE) {
			st->cache[st->ncache].sql = xstrdup(sql);
			st->cache[st->ncache].stmt = *out;
			st->cache[st->ncache].busy = true;
			st->ncache++;
		}
	}
	va_start(ap, types);
	for (i = 0; rc == SQLITE_OK && types[i]; i++) {
		switch (types[i]) {
		case 's':
			rc = sqlite3_bind_text(*out, i + 1, va_arg(ap, const char *), -1,
					       SQLITE_TRANSIENT);
			break;
		case 'i':
			rc = sqlite3_bind_int64(*out, i + 1, va_arg(ap, int64_t));
			break;
		case 'd':
			rc = sqlite3_bind_int(*out, i + 1, va_arg(ap, int));
			break;
		default:
			rc = SQLITE_MISUSE;
			break;
		}
	}
	va_end(ap);
	return rc;
}

/* Gives back a statement from prepare: a kept one is reset (which ends
 * any read it was in) for the next prepare of its SQL, any other is
 * finalised.  NULL is nothing. */
static void release(struct sqlite_state *st, sqlite3_stmt *stmt)
{
	size_t i;

	if (!stmt)
		return;
	for (i = 0; st && i < st->ncache; i++)
		if (st->cache[i].stmt == stmt) {
			sqlite3_reset(stmt);
			st->cache[i].busy = false;
			return;
		}
	sqlite3_finalize(stmt);
}

/* Steps a statement that returns no rows; SQLITE_OK when it ran. */
static int step_done(sqlite3_stmt *stmt)
{
	int rc = sqlite3_step(stmt);
	return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

static char *col_strdup(sqlite3_stmt *stmt, int i)
{
	const unsigned char *s = sqlite3_column_text(stmt, i);
	return s ? xstrdup((const char *)s) : NULL;
}

static int lazy_end(struct sqlite_state *st);

static int begin(struct sqlite_state *st)
{
	/* A lazy batch whose end could not set synchronous back to FULL
	 * (inside a transaction it cannot change): no write goes on
	 * without it. */
	if (st->lazy && lazy_end(st) != SQLITE_OK)
		return SQLITE_ERROR;
	return sqlite3_exec(st->db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
}

static int commit(struct sqlite_state *st)
{
	return sqlite3_exec(st->db, "COMMIT", NULL, NULL, NULL);
}

/* Rolls back an open transaction.  Its own failure is not reported: the
 * error that led here is the one that matters, and SQLite rolls back a
 * transaction it cannot finish when the connection closes. */
static void rollback(struct sqlite_state *st)
{
	if (st && st->db && !sqlite3_get_autocommit(st->db))
		sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
}

/* --- opening ----------------------------------------------------------- */

static int refuse_foreign(struct cms_error *err, const char *path, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int refuse_foreign(struct cms_error *err, const char *path, const char *fmt, ...)
{
	struct buf why = BUF_INIT;
	va_list ap;

	va_start(ap, fmt);
	buf_vaddf(&why, fmt, ap);
	va_end(ap);
	cms_error_set(err, CMS_ERROR, "'%s' is not a cmsctl state database (%s)", path, why.ptr);
	cms_error_hint(err, "nothing was changed; check the state path, or move the file away");
	buf_free(&why);
	return CMS_ERROR;
}

static int refuse_newer(struct cms_error *err, const char *path, int64_t version)
{
	cms_error_set(err, CMS_ERROR,
		      "state database '%s' has schema version %" PRId64
		      ", newer than this cmsctl (%d); upgrade cmsctl",
		      path, version, STATE_SCHEMA_VERSION);
	return CMS_ERROR;
}

static int refuse_corrupt(struct cms_error *err, const char *path, const char *what)
{
	cms_error_set(err, CMS_ERROR, "state database '%s' is corrupt: %s", path, what);
	cms_error_hint(err, "nothing was changed; restore the file from a backup");
	return CMS_ERROR;
}

/* Classifies a failed read during opening: a damaged file, or an I/O error. */
static int open_fail(struct sqlite_state *st, struct cms_error *err)
{
	int rc = sqlite3_errcode(st->db) & 0xff;

	if (rc == SQLITE_CORRUPT || rc == SQLITE_NOTADB)
		return refuse_corrupt(err, st->path, sqlite3_errmsg(st->db));
	return cms_error_set(err, CMS_ERROR, "cannot read state database '%s': %s", st->path,
			     sqlite3_errmsg(st->db));
}

static uint32_t be32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Creates the state's folder when missing: the last component only, mode
 * 0700 whatever the umask. */
static int make_folder(const char *dir, const char *path, struct cms_error *err)
{
	struct stat sb;
	int e;

	if (stat(dir, &sb) == 0) {
		if (S_ISDIR(sb.st_mode))
			return 0;
		return cms_error_set(err, CMS_ERROR, "cannot create state database '%s': "
				     "'%s' is not a folder", path, dir);
	}
	if (mkdir(dir, 0700) != 0) {
		e = errno;
		if (e == EEXIST) /* made by another process meanwhile */
			return 0;
		cms_error_set(err, CMS_ERROR, "cannot create state folder '%s': %s", dir,
			      strerror(e));
		if (e == ENOENT)
			cms_error_hint(err, "only the last folder of the state path is created; "
				       "create its parent first");
		return CMS_ERROR;
	}
	if (chmod(dir, 0700) != 0)
		return cms_error_set(err, CMS_ERROR,
				     "cannot set the mode of state folder '%s': %s", dir,
				     strerror(errno));
	return 0;
}

/* Creates the state's folder and an empty file, mode 0600 whatever the
 * umask.  A file created by another process meanwhile is left to the
 * checks that follow. */
static int create_file(const char *path, struct cms_error *err)
{
	const char *slash = strrchr(path, '/');
	char *dir = NULL;
	int fd, e, ret = 0;

	if (slash && slash != path) {
		dir = xstrndup(path, (size_t)(slash - path));
		if ((ret = make_folder(dir, path, err)) < 0)
			goto done;
	}
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOCTTY, 0600);
	if (fd < 0) {
		if (errno != EEXIST)
			ret = cms_error_set(err, CMS_ERROR, "cannot create state database '%s': %s",
					    path, strerror(errno));
		goto done;
	}
	e = fchmod(fd, 0600) == 0 ? 0 : errno;
	if (close(fd) != 0 && !e)
		e = errno;
	if (e) {
		ret = cms_error_set(err, CMS_ERROR, "cannot create state database '%s': %s", path,
				    strerror(e));
		unlink(path);
	}
done:
	free(dir);
	return ret;
}

/* Reads the raw database header without SQLite, so that a foreign or newer
 * file is refused before SQLite could touch it (a hot journal would be
 * rolled back, a WAL opened).  The header may lag behind a WAL, so the same
 * checks are repeated through SQLite afterwards; what the raw file shows
 * can only be older, and cmsctl writes its application_id in the same
 * transaction as its first tables, so a file whose page 1 lists schema
 * objects without that id is foreign. */
static int check_header(const char *path, struct cms_error *err)
{
	unsigned char h[108]; /* the file header and page 1's b-tree header */
	struct stat sb;
	size_t got = 0;
	uint32_t app;
	int32_t version;
	int fd, ret = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0)
		return cms_error_set(err, CMS_ERROR, "cannot open state database '%s': %s", path,
				     strerror(errno));
	if (fstat(fd, &sb) != 0) {
		ret = cms_error_set(err, CMS_ERROR, "cannot open state database '%s': %s", path,
				    strerror(errno));
		goto done;
	}
	if (!S_ISREG(sb.st_mode)) {
		ret = refuse_foreign(err, path, "not a regular file");
		goto done;
	}
	if (sb.st_size == 0)
		goto done; /* a new, empty database */
	while (got < sizeof(h)) {
		ssize_t r = read(fd, h + got, sizeof(h) - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			ret = cms_error_set(err, CMS_ERROR, "cannot read state database '%s': %s",
					    path, strerror(errno));
			goto done;
		}
		if (r == 0)
			break;
		got += (size_t)r;
	}
	if (got < sizeof(h) || memcmp(h, "SQLite format 3", 16) != 0) {
		ret = refuse_foreign(err, path, "not an SQLite database");
		goto done;
	}
	app = be32(h + 68);
	version = (int32_t)be32(h + 60);
	/* 0x0d is a leaf table page; bytes 103-104 count sqlite_master's rows. */
	if (app == 0 && (h[100] != 0x0d || h[103] != 0 || h[104] != 0))
		ret = refuse_foreign(err, path, "application_id 0x%08x, expected 0x%08x", 0u,
				     STATE_APPLICATION_ID);
	else if (app != 0 && app != STATE_APPLICATION_ID)
		ret = refuse_foreign(err, path, "application_id 0x%08" PRIx32 ", expected 0x%08x",
				     app, STATE_APPLICATION_ID);
	else if (app == STATE_APPLICATION_ID && version > STATE_SCHEMA_VERSION)
		ret = refuse_newer(err, path, version);
done:
	close(fd);
	return ret;
}

/* Reads, through SQLite and with reads only, what identifies the file.
 * *version is its schema version; *fresh is true for a database with
 * nothing in it, which cmsctl may initialise. */
static int check_identity(struct sqlite_state *st, int64_t *version, bool *fresh,
			  struct cms_error *err)
{
	sqlite3_stmt *stmt = NULL;
	int64_t objects;
	uint32_t app;
	int rc, ret = 0;

	rc = prepare(st, &stmt,
		     "SELECT (SELECT application_id FROM pragma_application_id),"
		     " (SELECT user_version FROM pragma_user_version),"
		     " (SELECT count(*) FROM sqlite_master)",
		     "");
	if (rc == SQLITE_OK)
		rc = sqlite3_step(stmt);
	if (rc != SQLITE_ROW) {
		ret = open_fail(st, err);
		goto done;
	}
	app = (uint32_t)sqlite3_column_int64(stmt, 0);
	*version = sqlite3_column_int64(stmt, 1);
	objects = sqlite3_column_int64(stmt, 2);
	*fresh = app == 0 && *version == 0 && objects == 0;
	if (*fresh)
		goto done;
	if (app != STATE_APPLICATION_ID)
		ret = refuse_foreign(err, st->path,
				     "application_id 0x%08" PRIx32 ", expected 0x%08x", app,
				     STATE_APPLICATION_ID);
	else if (*version > STATE_SCHEMA_VERSION)
		ret = refuse_newer(err, st->path, *version);
	else if (*version < 0)
		ret = refuse_foreign(err, st->path, "schema version %" PRId64, *version);
done:
	release(st, stmt);
	return ret;
}

/* Runs PRAGMA integrity_check (quick: the cheaper variant) and collects
 * its rows, "ok" when the file is sound. */
static int run_check(struct sqlite_state *st, bool quick, char **out, struct cms_error *err)
{
	struct buf b = BUF_INIT;
	sqlite3_stmt *stmt = NULL;
	int rc, ret = 0;

	*out = NULL;
	rc = prepare(st, &stmt, quick ? "PRAGMA quick_check" : "PRAGMA integrity_check", "");
	while (rc == SQLITE_OK && (rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		const unsigned char *row = sqlite3_column_text(stmt, 0);
		if (b.len)
			buf_addch(&b, '\n');
		buf_adds(&b, row ? (const char *)row : "");
		rc = SQLITE_OK;
	}
	if (rc != SQLITE_DONE) {
		ret = open_fail(st, err);
		goto done;
	}
	*out = buf_detach(&b, NULL);
done:
	release(st, stmt);
	buf_free(&b);
	return ret;
}

/* The file that last passed quick_check, the process that checked it and
 * when.  A process forked from that one (a plan set's store: the set
 * checks the state once, then starts its stores) does not check the same
 * file again within STATE_CHECK_INHERIT_MS of that check (a set of many
 * stores starts them in waves); every other open checks it: the check
 * reads the whole file. */
#define STATE_CHECK_INHERIT_MS (5 * 60 * 1000)
static struct {
	bool set;
	pid_t pid;
	dev_t dev;
	ino_t ino;
	int64_t at; /* cms_monotonic_ms() */
} checked;

static bool checked_by_parent(const struct stat *sb)
{
	return checked.set && checked.pid != getpid() && checked.dev == sb->st_dev &&
	       checked.ino == sb->st_ino &&
	       cms_monotonic_ms() - checked.at < STATE_CHECK_INHERIT_MS;
}

static int quick_check(struct sqlite_state *st, struct cms_error *err)
{
	char *result = NULL;
	int ret;

	ret = run_check(st, true, &result, err);
	if (ret == 0 && strcmp(result, "ok") != 0) {
		char *nl = strchr(result, '\n');
		if (nl)
			*nl = '\0';
		ret = refuse_corrupt(err, st->path, result);
	}
	free(result);
	return ret;
}

static int set_wal(struct sqlite_state *st, struct cms_error *err)
{
	int64_t deadline = cms_monotonic_ms() + STATE_BUSY_TIMEOUT_MS;
	sqlite3_stmt *stmt = NULL;
	const char *mode;
	int rc, ret = 0;

	/* Switching a new file to WAL while another process reads it returns
	 * SQLITE_BUSY without calling the busy handler: retry within the same
	 * time budget. */
	rc = prepare(st, &stmt, "PRAGMA journal_mode = WAL", "");
	while (rc == SQLITE_OK) {
		rc = sqlite3_step(stmt);
		if ((rc & 0xff) != SQLITE_BUSY || cms_monotonic_ms() >= deadline)
			break;
		sqlite3_reset(stmt);
		sqlite3_sleep(10);
		rc = SQLITE_OK;
	}
	if (rc != SQLITE_ROW) {
		ret = sql_failf(st, err, "cannot switch to WAL mode");
		goto done;
	}
	mode = (const char *)sqlite3_column_text(stmt, 0);
	if (!mode || strcmp(mode, "wal") != 0)
		ret = cms_error_set(err, CMS_ERROR, "cannot switch state database '%s' to WAL "
				    "mode: it stays in '%s' mode", st->path,
				    mode ? mode : "unknown");
done:
	release(st, stmt);
	return ret;
}

/* Applies the migrations missing from version (as read at opening), each
 * in one transaction that re-reads the version first: another process may
 * have migrated meanwhile.  An up-to-date file takes no write lock. */
static int migrate(struct sqlite_state *st, int64_t version, struct cms_error *err)
{
	char *bump;
	bool fresh;
	int rc, ret = 0;

	while (version < STATE_SCHEMA_VERSION) {
		if (begin(st) != SQLITE_OK) {
			ret = sql_failf(st, err, "cannot migrate the schema");
			goto done;
		}
		if ((ret = check_identity(st, &version, &fresh, err)) < 0)
			goto done;
		if (version >= STATE_SCHEMA_VERSION)
			break;
		rc = sqlite3_exec(st->db, migrations[version], NULL, NULL, NULL);
		if (rc == SQLITE_OK && migration_rows[version])
			rc = migration_rows[version](st);
		if (rc == SQLITE_OK) {
			/* Each step (re)asserts the mark of a cmsctl state. */
			bump = xasprintf("PRAGMA application_id = %u;"
					 " PRAGMA user_version = %" PRId64,
					 STATE_APPLICATION_ID, version + 1);
			rc = sqlite3_exec(st->db, bump, NULL, NULL, NULL);
			free(bump);
		}
		if (rc == SQLITE_OK)
			rc = commit(st);
		if (rc != SQLITE_OK) {
			ret = sql_failf(st, err, "cannot migrate the schema to version %" PRId64,
					version + 1);
			goto done;
		}
	}
done:
	rollback(st);
	return ret;
}

/* SQLite's busy handler: waits for another process's write lock up to
 * STATE_BUSY_TIMEOUT_MS.  SQLite's own (sqlite3_busy_timeout) sleeps 1,
 * 2, 5, 10 ... up to 100 ms between looks, and does not wake when the
 * lock is freed: with a plan set's stores all journaling at once, most
 * of their time went to those sleeps while the lock was free.  Here the
 * pauses grow with the wait, from 0.5 to 5 ms (cms_lock_pause). */
static int busy_wait(void *arg, int count)
{
	struct sqlite_state *st = arg;
	int64_t now = cms_monotonic_ms();

	if (count == 0)
		st->busy_since = now;
	if (now - st->busy_since >= STATE_BUSY_TIMEOUT_MS)
		return 0;
	cms_lock_pause(now - st->busy_since);
	return 1;
}

static const struct state_backend sqlite_backend;
static void sq_close(struct state *base);

int state_sqlite_open(struct state **out, const char *path, bool create, struct cms_error *err)
{
	struct sqlite_state *st = NULL;
	struct stat sb;
	int64_t version;
	bool fresh;
	int rc, ret = 0;

	*out = NULL;
	if (stat(path, &sb) != 0) {
		if (errno != ENOENT)
			return cms_error_set(err, CMS_ERROR, "cannot open state database '%s': %s",
					     path, strerror(errno));
		if (!create)
			return cms_error_set(err, CMS_ENOTFOUND,
					     "state database '%s' does not exist", path);
		/* Before the file: a missing SQLite must not leave an empty
		 * state file behind. */
		if ((ret = cms_lib_sqlite_load(err)) < 0 || (ret = create_file(path, err)) < 0)
			return ret;
	}
	if (stat(path, &sb) != 0)
		return cms_error_set(err, CMS_ERROR, "cannot open state database '%s': %s", path,
				     strerror(errno));
	if (open_file_slot(sb.st_dev, sb.st_ino) < 0 && (ret = check_header(path, err)) < 0)
		return ret;
	if ((ret = cms_lib_sqlite_load(err)) < 0)
		return ret;

	st = xcalloc(1, sizeof(*st));
	st->dev = sb.st_dev;
	st->ino = sb.st_ino;
	st->base.ops = &sqlite_backend;
	st->path = xstrdup(path);
	st->base.name = st->path;
	rc = sqlite3_open_v2(path, &st->db, SQLITE_OPEN_READWRITE, NULL);
	if (rc != SQLITE_OK) {
		ret = cms_error_set(err, CMS_ERROR, "cannot open state database '%s': %s", path,
				    st->db ? sqlite3_errmsg(st->db) : sqlite3_errstr(rc));
		goto done;
	}
	/* Until the file is known to be ours, closing must not checkpoint a
	 * WAL into it. */
	if (sqlite3_db_config(st->db, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, NULL) != SQLITE_OK) {
		ret = sql_failf(st, err, "cannot configure the connection");
		goto done;
	}
	sqlite3_busy_handler(st->db, busy_wait, st);
	if (sqlite3_db_readonly(st->db, "main") == 1) {
		ret = cms_error_set(err, CMS_ERROR, "cannot open state database '%s': "
				    "it is read-only for this user", path);
		goto done;
	}
	if ((ret = check_identity(st, &version, &fresh, err)) < 0)
		goto done;
	if (fresh && !create) {
		ret = cms_error_set(err, CMS_ENOTFOUND, "state database '%s' is empty", path);
		goto done;
	}
	if (!checked_by_parent(&sb)) {
		if ((ret = quick_check(st, err)) < 0)
			goto done;
		checked.set = true;
		checked.pid = getpid();
		checked.dev = sb.st_dev;
		checked.ino = sb.st_ino;
		checked.at = cms_monotonic_ms();
	}

	/* The file is ours (or empty): from here on it may be written. */
	sqlite3_db_config(st->db, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 0, NULL);
	rc = sqlite3_exec(st->db, "PRAGMA foreign_keys = ON; PRAGMA synchronous = FULL", NULL, NULL,
			  NULL);
	if (rc != SQLITE_OK) {
		ret = sql_failf(st, err, "cannot configure the connection");
		goto done;
	}
	if ((ret = set_wal(st, err)) < 0)
		goto done;
	if ((ret = migrate(st, version, err)) < 0)
		goto done;
	open_file_ref(st->dev, st->ino, 1);
	*out = &st->base;
	st = NULL;
done:
	sq_close(st ? &st->base : NULL);
	return ret;
}

static void sq_close(struct state *base)
{
	struct sqlite_state *st = (struct sqlite_state *)base;

	size_t i;

	if (!st)
		return;
	for (i = 0; i < st->ncache; i++) {
		sqlite3_finalize(st->cache[i].stmt);
		free(st->cache[i].sql);
	}
	sqlite3_close(st->db);
	free(st->path);
	free(st);
}

/* Closes a handle that state_sqlite_open handed out. */
static void sq_close_opened(struct state *base)
{
	struct sqlite_state *st = (struct sqlite_state *)base;

	if (st)
		open_file_ref(st->dev, st->ino, -1);
	sq_close(base);
}

static int sq_integrity_check(struct state *base, char **out_result, struct cms_error *err)
{
	struct sqlite_state *st = (struct sqlite_state *)base;
	char *result = NULL;
	int ret;

	*out_result = NULL;
	ret = run_check(st, false, &result, err);
	if (ret == 0 && strcmp(result, "ok") != 0) {
		size_t first = strcspn(result, "\n");
		ret = cms_error_set(err, CMS_ERROR, "state database '%s' failed its "
				    "integrity check: %.*s", st->path, (int)first, result);
	}
	*out_result = result;
	return ret;
}

/* --- stores ------------------------------------------------------------ */

static int sq_read_store(struct state *base, const char *store, struct recorded *out,
		     struct cms_error *err)
{
	struct sqlite_state *st = (struct sqlite_state *)base;
	sqlite3_stmt *stmt = NULL;
	int rc, ret = 0;

	memset(out, 0, sizeof(*out));
	rc = prepare(st, &stmt,
		     "SELECT lineage, serial, primary_server, mirror_server, updated_at"
		     " FROM stores WHERE name = ?1",
		     "s", store);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW) {
		out->exists = true;
		out->lineage = col_strdup(stmt, 0);
		out->serial = sqlite3_column_int64(stmt, 1);
		out->primary = col_strdup(stmt, 2);
		out->mirror = col_strdup(stmt, 3);
		out->updated_at = col_strdup(stmt, 4);
	} else if (rc != SQLITE_DONE) {
		ret = sql_failf(st, err, "cannot read store '%s'", store);
	}
	release(st, stmt);
	return ret;
}

/* Collects the first column of every row as strings (none is NULL). */
static int read_strings(sqlite3_stmt *stmt, struct cms_strv *out)
{
	int rc;

	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW)
		cms_strv_push(out, col_strdup(stmt, 0));
	return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

static int sq_list_stores(struct state *base, struct cms_strv *names, struct cms_error *err)
{
	struct sqlite_state *st = (struct sqlite_state *)base;
	sqlite3_stmt *stmt = NULL;
	int rc, ret = 0;

	rc = prepare(st, &stmt, "SELECT name FROM stores ORDER BY name", "");
	if (rc == SQLITE_OK)
		rc = read_strings(stmt, names);
	if (rc != SQLITE_OK)
		ret = sql_failf(st, err, "cannot list the stores");
	release(st, stmt);
	return ret;
}

/* --- locks ------------------------------------------------------------- */

static void lock_read_row(sqlite3_stmt *stmt, struct lock_info *l)
{
	l->store = col_strdup(stmt, 0);
	l->id = col_strdup(stmt, 1);
	l->holder.name = col_strdup(stmt, 2);
	l->reason = col_strdup(stmt, 3);
	l->acquired_at = sqlite3_column_int64(stmt, 4);
	l->lease_until = sqlite3_column_int64(stmt, 5);
	l->holder.pid = sqlite3_column_int64(stmt, 6);
	l->holder.host = col_strdup(stmt, 7);
	l->holder.pid_ns = col_strdup(stmt, 8);
	l->holder_text = lock_holder_text(&l->holder);
}

#define LOCK_COLUMNS STATE_LOCK_COLUMNS

/* Migration 4: the holders written as text, "NAME (pid N on HOST, NS)",
 * split into their columns, once. */
static int migrate_lock_holders(struct sqlite_state *st)
{
	struct { char *store, *text; } *rows = NULL, *row;
	sqlite3_stmt *stmt = NULL;
	size_t n = 0, alloc = 0, i;
	int rc;

	rc = prepare(st, &stmt, "SELECT store, holder FROM locks", "");
	while (rc == SQLITE_OK && (rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		row = ARRAY_PUSH(rows, n, alloc);
		row->store = col_strdup(stmt, 0);
		row->text = col_strdup(stmt, 1);
		rc = SQLITE_OK;
	}
	release(st, stmt);
	if (rc == SQLITE_DONE)
		rc = SQLITE_OK;
	for (i = 0; rc == SQLITE_OK && i < n; i++) {
		struct lock_holder h;

		state_lock_holder_parse_legacy(rows[i].text, &h);
		rc = prepare(st, &stmt, "UPDATE locks SET holder = ?2, holder_pid = NULLIF(?3, 0),"
			     " holder_host = ?4, holder_pid_ns = ?5 WHERE store = ?1", "ssiss",
			     rows[i].store, h.name, h.pid, h.host, h.pid_ns);
		if (rc == SQLITE_OK)
			rc = step_done(stmt);
		release(st, stmt);
		lock_holder_free(&h);
	}
	for (i = 0; i < n; i++) {
		free(rows[i].store);
		free(rows[i].text);
	}
	free(rows);
	return rc;
}

/* Reads the lock of store into *out (all NULL when there is none). */
static int lock_get(struct sqlite_state *st, const char *store, struct lock_info *out, bool *found)
{
	sqlite3_stmt *stmt = NULL;
	int rc;

	memset(out, 0, sizeof(*out));
	*found = false;
	rc = prepare(st, &stmt, "SELECT " LOCK_COLUMNS " FROM locks WHERE store = ?1", "s", store);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW) {
		lock_read_row(stmt, out);
		*found = true;
		rc = SQLITE_OK;
	} else if (rc == SQLITE_DONE) {
		rc = SQLITE_OK;
	}
	release(st, stmt);
	return rc;
}

static int sq_lock(struct state *base, const char *store, const struct lock_holder *holder,
		   const char *reason, int64_t lease_s, int64_t now, char **lock_id_out,
		   struct cms_error *err)
{
	struct sqlite_state *st = (struct sqlite_state *)base;
	int64_t pid = holder->pid > 0 ? holder->pid : 0; /* 0: names no process (NULL) */
	struct lock_info cur = { 0 };
	sqlite3_stmt *stmt = NULL;
	char *id = NULL;
	bool found;
	int rc, ret = 0;

	*lock_id_out = NULL;
	if (lease_s <= 0)
		return cms_error_set(err, CMS_ERROR, "cannot lock store '%s': lease of %" PRId64
				     " seconds is not positive", store, lease_s);
	id = cms_random_hex(8);
	if (!id)
		return cms_error_set(err, CMS_ERROR,
				     "cannot lock store '%s': no random lock id: %s", store,
				     strerror(errno));
	if (begin(st) != SQLITE_OK || lock_get(st, store, &cur, &found) != SQLITE_OK) {
		ret = sql_failf(st, err, "cannot lock store '%s'", store);
		goto done;
	}
	if (found && cur.lease_until > now) {
		ret = state_lock_held(err, &cur);
		goto done;
	}
	/* No lock, or an expired one: take it over. */
	rc = prepare(st, &stmt,
		     "INSERT INTO locks (" LOCK_COLUMNS ") VALUES (?1, ?2, ?3, ?4, ?5, ?6,"
		     " NULLIF(?7, 0), ?8, ?9)" STATE_LOCK_TAKE_OVER,
		     "ssssiiiss", store, id, holder->name, reason, now, now + lease_s, pid,
		     pid ? holder->host : NULL, pid ? holder->pid_ns : NULL);
	if (rc == SQLITE_OK)
		rc = step_done(stmt);
	if (rc == SQLITE_OK)
		rc = commit(st);
	if (rc != SQLITE_OK) {
		ret = sql_failf(st, err, "cannot lock store '%s'", store);
		goto done;
	}
	*lock_id_out = id;
	id = NULL;
done:
	release(st, stmt);
	rollback(st);
	lock_info_free(&cur);
	free(id);
	return ret;
}

static int sq_lock_renew(struct state *base, const char *store, const char *lock_id,
		     int64_t lease_s, int64_t now, struct cms_error *err)
{
	struct sqlite_state *st = (struct sqlite_state *)base;
	struct lock_info cur = { 0 };
	sqlite3_stmt *stmt = NULL;
	bool found;
	int rc, ret = 0;

	if (lease_s <= 0)
		return cms_error_set(err, CMS_ERROR, "cannot renew the lock of store '%s': "
				     "lease of %" PRId64 " seconds is not positive", store,
				     lease_s);
	/* Still ours with most of the lease left: nothing to write (a write
	 * is an fsync, and apply renews before every step). */
	if (lock_get(st, store, &cur, &found) == SQLITE_OK && found && !strcmp(cur.id, lock_id) &&
	    cur.lease_until >= now + lease_s - lease_s / STATE_LEASE_RENEW_PART)
		goto done;
	lock_info_free(&cur);
	memset(&cur, 0, sizeof(cur));
	/* One statement: the lease is extended only while the row is ours. */
	rc = prepare(st, &stmt, "UPDATE locks SET lease_until = ?3 WHERE store = ?1 AND id = ?2",
		     "ssi", store, lock_id, now + lease_s);
	if (rc == SQLITE_OK)
		rc = step_done(stmt);
	if (rc != SQLITE_OK) {
		ret = sql_failf(st, err, "cannot renew the lock of store '%s'", store);
		goto done;
	}
	if (sqlite3_changes(st->db) > 0)
		goto done;
	if (lock_get(st, store, &cur, &found) != SQLITE_OK) {
		ret = sql_failf(st, err, "cannot read the lock of store '%s'", store);
		goto done;
	}
	if (found) {
		char since[32];
		cms_format_time(since, cur.acquired_at);
		ret = cms_error_set(err, CMS_ELOCKED, "lock '%s' of store '%s' is no longer "
				    "held: %s took the store over at %s", lock_id, store,
				    cur.holder_text, since);
	} else {
		ret = cms_error_set(err, CMS_ELOCKED, "lock '%s' of store '%s' is no longer "
				    "held: it was broken", lock_id, store);
	}
done:
	release(st, stmt);
	lock_info_free(&cur);
	return ret;
}

static int sq_unlock(struct state *base, const char *store, const char *lock_id,
		     struct cms_error *err)
{
	struct sqlite_state *st = (struct sqlite_state *)base;
	sqlite3_stmt *stmt = NULL;
	int rc, ret = 0;

	rc = prepare(st, &stmt, "DELETE FROM locks WHERE store = ?1 AND id = ?2", "ss", store,
		     lock_id);
	if (rc == SQLITE_OK)
		rc = step_done(stmt);
	if (rc != SQLITE_OK)
		ret = sql_failf(st, err, "cannot unlock store '%s'", store);
	else if (sqlite3_changes(st->db) == 0)
		ret = cms_error_set(err, CMS_ENOTFOUND, "store '%s' has no lock '%s'", store,
				    lock_id);
	release(st, stmt);
	return ret;
}

static int sq_lock_list(struct state *base, struct lock_info **out, size_t *n,
			struct cms_error *err)
{
	struct sqlite_state *st = (struct sqlite_state *)base;
	struct lock_info *v = NULL;
	size_t len = 0, alloc = 0;
	sqlite3_stmt *stmt = NULL;
	int rc, ret = 0;

	*out = NULL;
	*n = 0;
	rc = prepare(st, &stmt, "SELECT " LOCK_COLUMNS " FROM locks ORDER BY store", "");
	while (rc == SQLITE_OK && (rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		lock_read_row(stmt, ARRAY_PUSH(v, len, alloc));
		rc = SQLITE_OK;
	}
	if (rc != SQLITE_DONE) {
		ret = sql_failf(st, err, "cannot list the locks");
		goto done;
	}
	*out = v;
	*n = len;
	v = NULL;
done:
	lock_info_list_free(v, len);
	release(st, stmt);
	return ret;
}

/* --- the journal ------------------------------------------------------- */

/* A lazy batch commits with synchronous=NORMAL (SQLite refuses to change
 * it inside a transaction, so it is set before BEGIN): in WAL mode the
 * commit is in the WAL file when it returns, so it survives the process's
 * end, and the next commit with synchronous=FULL syncs the WAL with it. */
static int lazy_end(struct sqlite_state *st)
{
	int rc = SQLITE_OK;

	if (st->lazy) {
		rollback(st);
		rc = sqlite3_exec(st->db, "PRAGMA synchronous = FULL", NULL, NULL, NULL);
		if (rc == SQLITE_OK)
			st->lazy = false;
	}
	return rc;
}

static int sq_batch(struct state *base, int what, struct cms_error *err)
{
	struct sqlite_state *st = (struct sqlite_state *)base;
	int rc;

	if (what == 2) {
		rollback(st);
		lazy_end(st);
		return 0;
	}
	if (what == 3) {
		if ((st->lazy && lazy_end(st) != SQLITE_OK) ||
		    sqlite3_exec(st->db, "PRAGMA synchronous = NORMAL", NULL, NULL, NULL) != SQLITE_OK)
			return sql_failf(st, err, "cannot begin a batch of writes");
		rc = sqlite3_exec(st->db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
		st->lazy = true;
	} else {
		rc = what == 1 ? commit(st) : begin(st);
	}
	if (rc != SQLITE_OK) {
		int ret = sql_failf(st, err, "cannot %s a batch of writes",
				    what == 1 ? "commit" : "begin");

		rollback(st);
		lazy_end(st);
		return ret;
	}
	if (what == 1)
		lazy_end(st);
	return 0;
}

static int sq_run_begin(struct state *base, const char *run_id, const char *store,
			const char *plan_id,
		    const char *kind, const char *operator_name, int64_t now_ms, struct cms_error *err)
{
	struct sqlite_state *st = (struct sqlite_state *)base;
	sqlite3_stmt *stmt = NULL;
	char ts[32];
	int rc, ret = 0;

	cms_format_time_ms(ts, now_ms);
	rc = prepare(st, &stmt,
		     "INSERT INTO runs (id, store, plan_id, kind, operator, started_at, outcome)"
		     " VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'running')",
		     "ssssss", run_id, store, plan_id, kind, operator_name, ts);
	if (rc == SQLITE_OK)
		rc = step_done(stmt);
	if (rc != SQLITE_OK)
		ret = sql_failf(st, err, "cannot record the start of run '%s'", run_id);
	release(st, stmt);
	return ret;
}

static int sq_step_set(struct state *base, const char *run_id, int n, const char *action,
		   const char *server, enum step_status status, const char *detail_json,
		   int64_t now_ms, int64_t duration_ms, struct cms_error *err)
{
	struct sqlite_state *st = (struct sqlite_state *)base;
	sqlite3_stmt *stmt = NULL;
	char ts[32];
	int rc, ret = 0;

	if (!state_step_status_text(status))
		return cms_error_set(err, CMS_ERROR, "cannot journal step %d of run '%s': invalid "
				     "status %d", n, run_id, (int)status);
	cms_format_time_ms(ts, now_ms);
	/* started_at is stamped when the step enters running (and cleared when
	 * it is put back to pending: a stop before a step journaled running
	 * began), finished_at when it reaches an end status; NULL action,
	 * server, detail or a negative
	 * duration keep what was recorded before.  The action is looked up
	 * already in VALUES because NOT NULL is checked before the upsert. */
	rc = prepare(st, &stmt,
		     "INSERT INTO steps (run_id, n, action, server, status, detail, started_at,"
		     " finished_at, duration_ms)"
		     " VALUES (?1, ?2,"
		     "  coalesce(?3, (SELECT action FROM steps WHERE run_id = ?1 AND n = ?2)),"
		     "  ?4, ?5, ?6,"
		     "  CASE WHEN ?5 = 'running' THEN ?7 END,"
		     "  CASE WHEN ?5 IN ('done', 'failed', 'skipped', 'undone') THEN ?7 END,"
		     "  CASE WHEN ?8 >= 0 THEN ?8 END)"
		     " ON CONFLICT (run_id, n) DO UPDATE SET"
		     "  action = coalesce(excluded.action, steps.action),"
		     "  server = coalesce(excluded.server, steps.server),"
		     "  status = excluded.status,"
		     "  detail = coalesce(excluded.detail, steps.detail),"
		     "  started_at = CASE WHEN excluded.status = 'pending' THEN NULL"
		     "   WHEN excluded.status = 'running'"
		     "   AND steps.status <> 'running' THEN excluded.started_at"
		     "   ELSE steps.started_at END,"
		     "  finished_at = CASE WHEN excluded.status IN ('pending', 'running') THEN NULL"
		     "   ELSE excluded.finished_at END,"
		     "  duration_ms = coalesce(excluded.duration_ms, steps.duration_ms)",
		     "sdsssssi", run_id, n, action, server, state_step_status_text(status), detail_json, ts,
		     duration_ms);
	if (rc == SQLITE_OK)
		rc = step_done(stmt);
	if (rc != SQLITE_OK)
		ret = sql_failf(st, err, "cannot journal step %d of run '%s'", n, run_id);
	release(st, stmt);
	return ret;
}

static int sq_run_finish(struct state *base, const char *run_id, const char *outcome, int64_t now_ms,
		     struct cms_error *err)
{
	struct sqlite_state *st = (struct sqlite_state *)base;
	sqlite3_stmt *stmt = NULL;
	char ts[32];
	int rc, ret = 0;

	if (!outcome || !strcmp(outcome, "running"))
		return cms_error_set(err, CMS_ERROR, "cannot finish run '%s' with outcome '%s'",
				     run_id, outcome ? outcome : "(none)");
	cms_format_time_ms(ts, now_ms);
	rc = prepare(st, &stmt, "UPDATE runs SET outcome = ?2, finished_at = ?3 WHERE id = ?1",
		     "sss", run_id, outcome, ts);
	if (rc == SQLITE_OK)
		rc = step_done(stmt);
	if (rc != SQLITE_OK)
		ret = sql_failf(st, err, "cannot record the end of run '%s'", run_id);
	else if (sqlite3_changes(st->db) == 0)
		ret = cms_error_set(err, CMS_ENOTFOUND, "run '%s' is not in state database '%s'",
				    run_id, st->path);
	release(st, stmt);
	return ret;
}

/* The newest run of a store (by insertion), unfinished ones only or any. */
static int sq_run_newest(struct state *base, const char *store, bool unfinished,
			 struct run_info *out,
		      struct cms_error *err)
{
	struct sqlite_state *st = (struct sqlite_state *)base;
	sqlite3_stmt *stmt = NULL;
	int rc, ret = 0;

	memset(out, 0, sizeof(*out));
	rc = prepare(st, &stmt,
		     unfinished ?
		     "SELECT id, store, plan_id, kind, operator, outcome, started_at, finished_at"
		     " FROM runs WHERE store = ?1 AND outcome = 'running' ORDER BY rowid DESC LIMIT 1" :
		     "SELECT id, store, plan_id, kind, operator, outcome, started_at, finished_at"
		     " FROM runs WHERE store = ?1 ORDER BY rowid DESC LIMIT 1",
		     "s", store);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW) {
		out->id = col_strdup(stmt, 0);
		out->store = col_strdup(stmt, 1);
		out->plan_id = col_strdup(stmt, 2);
		out->kind = col_strdup(stmt, 3);
		out->operator_name = col_strdup(stmt, 4);
		out->outcome = col_strdup(stmt, 5);
		out->started_at = col_strdup(stmt, 6);
		out->finished_at = col_strdup(stmt, 7);
	} else if (rc == SQLITE_DONE) {
		ret = cms_error_set(err, CMS_ENOTFOUND, "store '%s' has no %srun", store,
				    unfinished ? "unfinished " : "");
	} else {
		ret = sql_failf(st, err, "cannot read the runs of store '%s'", store);
	}
	release(st, stmt);
	return ret;
}

static int sq_run_steps(struct state *base, const char *run_id, struct step_info **out, size_t *n,
		    struct cms_error *err)
{
	struct sqlite_state *st = (struct sqlite_state *)base;
	struct step_info *v = NULL, *s;
	size_t len = 0, alloc = 0;
	sqlite3_stmt *stmt = NULL;
	int rc, ret = 0;

	*out = NULL;
	*n = 0;
	rc = prepare(st, &stmt,
		     "SELECT n, action, server, status, detail, started_at, finished_at,"
		     " duration_ms FROM steps WHERE run_id = ?1 ORDER BY n",
		     "s", run_id);
	while (rc == SQLITE_OK && (rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		const char *status = (const char *)sqlite3_column_text(stmt, 3);

		s = ARRAY_PUSH(v, len, alloc);
		s->n = sqlite3_column_int(stmt, 0);
		if (state_step_status_parse(status, &s->status) < 0) {
			ret = cms_error_set(err, CMS_ERROR, "step %d of run '%s' in state "
					    "database '%s' has an unknown status '%s'", s->n,
					    run_id, st->path, status ? status : "(null)");
			goto done;
		}
		s->action = col_strdup(stmt, 1);
		s->server = col_strdup(stmt, 2);
		s->detail_json = col_strdup(stmt, 4);
		s->started_at = col_strdup(stmt, 5);
		s->finished_at = col_strdup(stmt, 6);
		s->duration_ms = sqlite3_column_int64(stmt, 7);
		rc = SQLITE_OK;
	}
	if (rc != SQLITE_DONE) {
		ret = sql_failf(st, err, "cannot read the steps of run '%s'", run_id);
		goto done;
	}
	*out = v;
	*n = len;
	v = NULL;
done:
	step_info_list_free(v, len);
	release(st, stmt);
	return ret;
}

static int sq_run_list(struct state *base, const char *store, struct run_info **out, size_t *n,
		       struct cms_error *err)
{
	struct sqlite_state *st = (struct sqlite_state *)base;
	struct run_info *v = NULL, *r;
	size_t len = 0, alloc = 0, i;
	sqlite3_stmt *stmt = NULL;
	int rc, ret = 0;

	*out = NULL;
	*n = 0;
	rc = prepare(st, &stmt,
		     "SELECT id, store, plan_id, kind, operator, outcome, started_at, finished_at"
		     " FROM runs WHERE store = ?1 ORDER BY rowid", "s", store);
	while (rc == SQLITE_OK && (rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		r = ARRAY_PUSH(v, len, alloc);
		r->id = col_strdup(stmt, 0);
		r->store = col_strdup(stmt, 1);
		r->plan_id = col_strdup(stmt, 2);
		r->kind = col_strdup(stmt, 3);
		r->operator_name = col_strdup(stmt, 4);
		r->outcome = col_strdup(stmt, 5);
		r->started_at = col_strdup(stmt, 6);
		r->finished_at = col_strdup(stmt, 7);
		rc = SQLITE_OK;
	}
	if (rc != SQLITE_DONE) {
		ret = sql_failf(st, err, "cannot read the runs of store '%s'", store);
		for (i = 0; i < len; i++)
			run_info_free(&v[i]);
		free(v);
	} else {
		*out = v;
		*n = len;
	}
	release(st, stmt);
	return ret;
}

static int sq_history_tip_set(struct state *base, const char *commit_id, int64_t now,
			      struct cms_error *err)
{
	struct sqlite_state *st = (struct sqlite_state *)base;
	sqlite3_stmt *stmt = NULL;
	char ts[32];
	int rc, ret = 0;

	cms_format_time(ts, now);
	rc = prepare(st, &stmt,
		     "INSERT INTO history_tip (id, commit_id, recorded_at) VALUES (1, ?1, ?2)"
		     " ON CONFLICT (id) DO UPDATE SET commit_id = ?1, recorded_at = ?2",
		     "ss", commit_id, ts);
	if (rc == SQLITE_OK)
		rc = step_done(stmt);
	if (rc != SQLITE_OK)
		ret = sql_failf(st, err, "cannot record the history tip %s", commit_id);
	release(st, stmt);
	return ret;
}

static int sq_history_tip(struct state *base, char **commit_id, struct cms_error *err)
{
	struct sqlite_state *st = (struct sqlite_state *)base;
	sqlite3_stmt *stmt = NULL;
	int rc, ret = 0;

	*commit_id = NULL;
	rc = prepare(st, &stmt, "SELECT commit_id FROM history_tip WHERE id = 1", "");
	if (rc == SQLITE_OK)
		rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW)
		*commit_id = col_strdup(stmt, 0);
	else if (rc == SQLITE_DONE)
		ret = cms_error_set(err, CMS_ENOTFOUND, "no history tip recorded in the state");
	else
		ret = sql_failf(st, err, "cannot read the recorded history tip");
	release(st, stmt);
	return ret;
}

static int sq_history_tip_replace(struct state *base, const char *old_id, const char *new_id,
				  int64_t now, bool *replaced, struct cms_error *err)
{
	struct sqlite_state *st = (struct sqlite_state *)base;
	sqlite3_stmt *stmt = NULL;
	char ts[32];
	int rc, ret = 0;

	*replaced = false;
	cms_format_time(ts, now);
	rc = prepare(st, &stmt, "UPDATE history_tip SET commit_id = ?1, recorded_at = ?2"
		     " WHERE id = 1 AND commit_id = ?3", "sss", new_id, ts, old_id);
	if (rc == SQLITE_OK)
		rc = step_done(stmt);
	if (rc != SQLITE_OK)
		ret = sql_failf(st, err, "cannot record the history tip %s", new_id);
	else
		*replaced = sqlite3_changes(st->db) == 1;
	release(st, stmt);
	return ret;
}

/* --- commits, consumed plans and approvals ----------------------------- */

/* Inside a transaction: fails with CMS_ESTALE when plan_id was consumed by
 * another run; *mine is true when run_id itself consumed it already. */
static int plan_unused(struct sqlite_state *st, const char *plan_id, const char *run_id,
		       bool *mine,
		       struct cms_error *err)
{
	sqlite3_stmt *stmt = NULL;
	int rc, ret = 0;

	*mine = false;
	rc = prepare(st, &stmt,
		     "SELECT run_id, consumed_at, store FROM consumed_plans WHERE plan_id = ?1",
		     "s", plan_id);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW) {
		const char *by = (const char *)sqlite3_column_text(stmt, 0);
		const char *at = (const char *)sqlite3_column_text(stmt, 1);
		const char *store = (const char *)sqlite3_column_text(stmt, 2);

		*mine = run_id && by && !strcmp(run_id, by);
		if (!*mine) {
			ret = cms_error_set(err, CMS_ESTALE, "plan '%s' was already applied "
					    "(store '%s', run '%s', %s)", plan_id,
					    store ? store : "", by ? by : "none", at ? at : "");
			cms_error_hint(err, "a plan is used once; make a new one with "
				       "'cmsctl plan'");
		}
	} else if (rc != SQLITE_DONE) {
		ret = sql_failf(st, err, "cannot read the consumed plans");
	}
	release(st, stmt);
	return ret;
}

static int plan_mark_consumed(struct sqlite_state *st, const char *plan_id, const char *store,
			      const char *run_id, const char *ts)
{
	sqlite3_stmt *stmt = NULL;
	int rc;

	rc = prepare(st, &stmt,
		     "INSERT INTO consumed_plans (plan_id, store, run_id, consumed_at)"
		     " VALUES (?1, ?2, ?3, ?4)",
		     "ssss", plan_id, store, run_id, ts);
	if (rc == SQLITE_OK)
		rc = step_done(stmt);
	release(st, stmt);
	return rc;
}

static int sq_commit(struct state *base, const char *store, const char *lineage,
		 int64_t expected_serial, const char *primary, const char *mirror,
		 const char *plan_id, const char *run_id, int64_t now, int64_t *new_serial,
		 struct cms_error *err)
{
	struct sqlite_state *st = (struct sqlite_state *)base;
	sqlite3_stmt *stmt = NULL;
	char *have_lineage = NULL;
	int64_t serial = 0;
	bool exists = false, mine;
	char ts[32];
	int rc, ret = 0;

	if (!plan_id || !primary)
		return cms_error_set(err, CMS_ERROR, "cannot commit store '%s': a plan id and "
				     "a primary are required", store);
	cms_format_time(ts, now);
	rc = begin(st);
	if (rc == SQLITE_OK)
		rc = prepare(st, &stmt, "SELECT serial, lineage FROM stores WHERE name = ?1", "s",
			     store);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW) {
		exists = true;
		serial = sqlite3_column_int64(stmt, 0);
		have_lineage = col_strdup(stmt, 1);
	} else if (rc != SQLITE_DONE) {
		ret = sql_failf(st, err, "cannot commit store '%s'", store);
		goto done;
	}
	release(st, stmt);
	stmt = NULL;

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

	rc = prepare(st, &stmt,
		     "INSERT INTO stores (name, lineage, serial, primary_server, mirror_server,"
		     " updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)"
		     " ON CONFLICT (name) DO UPDATE SET serial = excluded.serial,"
		     " primary_server = excluded.primary_server,"
		     " mirror_server = excluded.mirror_server, updated_at = excluded.updated_at",
		     "ssisss", store, exists ? have_lineage : lineage, serial + 1, primary, mirror,
		     ts);
	if (rc == SQLITE_OK)
		rc = step_done(stmt);
	if (rc == SQLITE_OK && !mine)
		rc = plan_mark_consumed(st, plan_id, store, run_id, ts);
	if (rc == SQLITE_OK)
		rc = commit(st);
	if (rc != SQLITE_OK) {
		ret = sql_failf(st, err, "cannot commit store '%s'", store);
		goto done;
	}
	*new_serial = serial + 1;
done:
	release(st, stmt);
	rollback(st);
	free(have_lineage);
	return ret;
}

static int sq_plan_consumed(struct state *base, const char *plan_id, bool *out,
			    struct cms_error *err)
{
	struct sqlite_state *st = (struct sqlite_state *)base;
	sqlite3_stmt *stmt = NULL;
	int rc, ret = 0;

	*out = false;
	rc = prepare(st, &stmt, "SELECT 1 FROM consumed_plans WHERE plan_id = ?1", "s", plan_id);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW)
		*out = true;
	else if (rc != SQLITE_DONE)
		ret = sql_failf(st, err, "cannot read the consumed plans");
	release(st, stmt);
	return ret;
}

static int sq_consume_plan(struct state *base, const char *plan_id, const char *store,
		       const char *run_id, int64_t now, struct cms_error *err)
{
	struct sqlite_state *st = (struct sqlite_state *)base;
	char ts[32];
	bool mine;
	int rc, ret = 0;

	cms_format_time(ts, now);
	if (begin(st) != SQLITE_OK) {
		ret = sql_failf(st, err, "cannot mark plan '%s' as used", plan_id);
		goto done;
	}
	if ((ret = plan_unused(st, plan_id, run_id, &mine, err)) < 0)
		goto done;
	rc = mine ? SQLITE_OK : plan_mark_consumed(st, plan_id, store, run_id, ts);
	if (rc == SQLITE_OK)
		rc = commit(st);
	if (rc != SQLITE_OK)
		ret = sql_failf(st, err, "cannot mark plan '%s' as used", plan_id);
done:
	rollback(st);
	return ret;
}

static int sq_approve(struct state *base, const char *plan_id, const char *store,
		      const char *approver,
		  int64_t now, struct cms_error *err)
{
	struct sqlite_state *st = (struct sqlite_state *)base;
	sqlite3_stmt *stmt = NULL;
	char ts[32];
	int rc, ret = 0;

	cms_format_time(ts, now);
	rc = prepare(st, &stmt,
		     "INSERT INTO approvals (plan_id, store, approver, approved_at)"
		     " VALUES (?1, ?2, ?3, ?4) ON CONFLICT (plan_id, approver) DO NOTHING",
		     "ssss", plan_id, store, approver, ts);
	if (rc == SQLITE_OK)
		rc = step_done(stmt);
	if (rc != SQLITE_OK)
		ret = sql_failf(st, err, "cannot record the approval of plan '%s'", plan_id);
	else
		ret = sqlite3_changes(st->db) > 0 ? 1 : 0;
	release(st, stmt);
	return ret;
}

static int sq_approvals(struct state *base, const char *plan_id, struct cms_strv *approvers,
			struct cms_error *err)
{
	struct sqlite_state *st = (struct sqlite_state *)base;
	sqlite3_stmt *stmt = NULL;
	int rc, ret = 0;

	rc = prepare(st, &stmt,
		     "SELECT approver FROM approvals WHERE plan_id = ?1 ORDER BY approver", "s",
		     plan_id);
	if (rc == SQLITE_OK)
		rc = read_strings(stmt, approvers);
	if (rc != SQLITE_OK)
		ret = sql_failf(st, err, "cannot read the approvals of plan '%s'", plan_id);
	release(st, stmt);
	return ret;
}

/* --- dump and load (state show, state migrate) ------------------------- */

static int sq_dump(struct state *base, struct state_dump *out, struct cms_error *err)
{
	struct sqlite_state *st = (struct sqlite_state *)base;
	sqlite3_stmt *stmt = NULL;
	size_t alloc;
	int rc, ret = 0;

	memset(out, 0, sizeof(*out));
	/* One read transaction: a consistent picture. */
	rc = sqlite3_exec(st->db, "BEGIN", NULL, NULL, NULL);
	alloc = 0;
	if (rc == SQLITE_OK)
		rc = prepare(st, &stmt, "SELECT name, lineage, serial, primary_server,"
			     " mirror_server, updated_at FROM stores ORDER BY name", "");
	while (rc == SQLITE_OK && (rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		struct state_store_row *r = ARRAY_PUSH(out->stores, out->nstores, alloc);

		r->name = col_strdup(stmt, 0);
		r->rec.exists = true;
		r->rec.lineage = col_strdup(stmt, 1);
		r->rec.serial = sqlite3_column_int64(stmt, 2);
		r->rec.primary = col_strdup(stmt, 3);
		r->rec.mirror = col_strdup(stmt, 4);
		r->rec.updated_at = col_strdup(stmt, 5);
		rc = SQLITE_OK;
	}
	if (rc != SQLITE_DONE)
		goto fail;
	release(st, stmt);
	stmt = NULL;
	alloc = 0;
	rc = prepare(st, &stmt, "SELECT id, store, plan_id, kind, operator, outcome, started_at,"
		     " finished_at FROM runs ORDER BY rowid", "");
	while (rc == SQLITE_OK && (rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		struct run_info *r = ARRAY_PUSH(out->runs, out->nruns, alloc);

		r->id = col_strdup(stmt, 0);
		r->store = col_strdup(stmt, 1);
		r->plan_id = col_strdup(stmt, 2);
		r->kind = col_strdup(stmt, 3);
		r->operator_name = col_strdup(stmt, 4);
		r->outcome = col_strdup(stmt, 5);
		r->started_at = col_strdup(stmt, 6);
		r->finished_at = col_strdup(stmt, 7);
		rc = SQLITE_OK;
	}
	if (rc != SQLITE_DONE)
		goto fail;
	release(st, stmt);
	stmt = NULL;
	alloc = 0;
	rc = prepare(st, &stmt, "SELECT s.run_id, s.n, s.action, s.server, s.status, s.detail,"
		     " s.started_at, s.finished_at, s.duration_ms FROM steps s"
		     " JOIN runs r ON r.id = s.run_id ORDER BY r.rowid, s.n", "");
	while (rc == SQLITE_OK && (rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		struct state_step_row *r = ARRAY_PUSH(out->steps, out->nsteps, alloc);
		const char *status = (const char *)sqlite3_column_text(stmt, 4);

		r->run_id = col_strdup(stmt, 0);
		r->step.n = sqlite3_column_int(stmt, 1);
		r->step.action = col_strdup(stmt, 2);
		r->step.server = col_strdup(stmt, 3);
		if (state_step_status_parse(status, &r->step.status) < 0) {
			ret = cms_error_set(err, CMS_ERROR, "step %d of run '%s' in state database "
					    "'%s' has an unknown status '%s'", r->step.n,
					    r->run_id, st->path, status ? status : "(null)");
			goto done;
		}
		r->step.detail_json = col_strdup(stmt, 5);
		r->step.started_at = col_strdup(stmt, 6);
		r->step.finished_at = col_strdup(stmt, 7);
		r->step.duration_ms = sqlite3_column_type(stmt, 8) == SQLITE_NULL ? -1 :
				      sqlite3_column_int64(stmt, 8);
		rc = SQLITE_OK;
	}
	if (rc != SQLITE_DONE)
		goto fail;
	release(st, stmt);
	stmt = NULL;
	alloc = 0;
	rc = prepare(st, &stmt, "SELECT plan_id, store, approver, approved_at FROM approvals"
		     " ORDER BY plan_id, approver", "");
	while (rc == SQLITE_OK && (rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		struct state_approval_row *r = ARRAY_PUSH(out->approvals, out->napprovals, alloc);

		r->plan_id = col_strdup(stmt, 0);
		r->store = col_strdup(stmt, 1);
		r->approver = col_strdup(stmt, 2);
		r->approved_at = col_strdup(stmt, 3);
		rc = SQLITE_OK;
	}
	if (rc != SQLITE_DONE)
		goto fail;
	release(st, stmt);
	stmt = NULL;
	alloc = 0;
	rc = prepare(st, &stmt, "SELECT plan_id, store, run_id, consumed_at FROM consumed_plans"
		     " ORDER BY plan_id", "");
	while (rc == SQLITE_OK && (rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		struct state_consumed_row *r = ARRAY_PUSH(out->consumed, out->nconsumed, alloc);

		r->plan_id = col_strdup(stmt, 0);
		r->store = col_strdup(stmt, 1);
		r->run_id = col_strdup(stmt, 2);
		r->consumed_at = col_strdup(stmt, 3);
		rc = SQLITE_OK;
	}
	if (rc != SQLITE_DONE)
		goto fail;
	release(st, stmt);
	stmt = NULL;
	alloc = 0;
	rc = prepare(st, &stmt, "SELECT " LOCK_COLUMNS " FROM locks ORDER BY store", "");
	while (rc == SQLITE_OK && (rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		lock_read_row(stmt, ARRAY_PUSH(out->locks, out->nlocks, alloc));
		rc = SQLITE_OK;
	}
	if (rc != SQLITE_DONE)
		goto fail;
	goto done;
fail:
	ret = sql_failf(st, err, "cannot read the state");
done:
	release(st, stmt);
	if (!sqlite3_get_autocommit(st->db))
		sqlite3_exec(st->db, "COMMIT", NULL, NULL, NULL);
	if (ret < 0)
		state_dump_free(out);
	return ret;
}

/* Inside a transaction: whether any table holds a row. */
static int sq_is_empty(struct sqlite_state *st, bool *empty)
{
	sqlite3_stmt *stmt = NULL;
	int rc;

	rc = prepare(st, &stmt, "SELECT (SELECT count(*) FROM stores) + (SELECT count(*) FROM runs)"
		     " + (SELECT count(*) FROM approvals) + (SELECT count(*) FROM consumed_plans)"
		     " + (SELECT count(*) FROM locks)", "");
	if (rc == SQLITE_OK && (rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		*empty = sqlite3_column_int64(stmt, 0) == 0;
		rc = SQLITE_OK;
	}
	release(st, stmt);
	return rc;
}

static int exec_bound(struct sqlite_state *st, const char *sql, const char *types, ...)
{
	sqlite3_stmt *stmt = NULL;
	va_list ap;
	int rc, i;

	rc = sqlite3_prepare_v2(st->db, sql, -1, &stmt, NULL);
	va_start(ap, types);
	for (i = 0; rc == SQLITE_OK && types[i]; i++) {
		if (types[i] == 's')
			rc = sqlite3_bind_text(stmt, i + 1, va_arg(ap, const char *), -1,
					       SQLITE_TRANSIENT);
		else if (types[i] == 'i')
			rc = sqlite3_bind_int64(stmt, i + 1, va_arg(ap, int64_t));
		else if (types[i] == 'n') { /* int64_t, NULL when negative */
			int64_t v = va_arg(ap, int64_t);
			rc = v < 0 ? sqlite3_bind_null(stmt, i + 1) :
				     sqlite3_bind_int64(stmt, i + 1, v);
		}
	}
	va_end(ap);
	if (rc == SQLITE_OK)
		rc = step_done(stmt);
	release(st, stmt);
	return rc;
}

static int sq_load(struct state *base, const struct state_dump *d, struct cms_error *err)
{
	struct sqlite_state *st = (struct sqlite_state *)base;
	bool empty = false;
	size_t i;
	int rc, ret = 0;

	rc = begin(st);
	if (rc == SQLITE_OK)
		rc = sq_is_empty(st, &empty);
	if (rc != SQLITE_OK) {
		ret = sql_failf(st, err, "cannot read the state");
		goto done;
	}
	if (!empty) {
		ret = cms_error_set(err, CMS_ERROR, "state database '%s' is not empty", st->path);
		cms_error_hint(err, "nothing was written; migrate into a new, empty state");
		goto done;
	}
	for (i = 0; rc == SQLITE_OK && i < d->nstores; i++) {
		const struct state_store_row *r = &d->stores[i];
		rc = exec_bound(st, "INSERT INTO stores (name, lineage, serial, primary_server,"
				" mirror_server, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
				"ssisss", r->name, r->rec.lineage, r->rec.serial, r->rec.primary,
				r->rec.mirror, r->rec.updated_at);
	}
	for (i = 0; rc == SQLITE_OK && i < d->nruns; i++) {
		const struct run_info *r = &d->runs[i];
		rc = exec_bound(st, "INSERT INTO runs (id, store, plan_id, kind, operator, started_at,"
				" finished_at, outcome) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
				"ssssssss", r->id, r->store, r->plan_id, r->kind, r->operator_name,
				r->started_at, r->finished_at, r->outcome);
	}
	for (i = 0; rc == SQLITE_OK && i < d->nsteps; i++) {
		const struct state_step_row *r = &d->steps[i];
		rc = exec_bound(st, "INSERT INTO steps (run_id, n, action, server, status, detail,"
				" started_at, finished_at, duration_ms)"
				" VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
				"sissssssn", r->run_id, (int64_t)r->step.n, r->step.action,
				r->step.server, state_step_status_text(r->step.status),
				r->step.detail_json, r->step.started_at, r->step.finished_at,
				r->step.duration_ms);
	}
	for (i = 0; rc == SQLITE_OK && i < d->napprovals; i++) {
		const struct state_approval_row *r = &d->approvals[i];
		rc = exec_bound(st, "INSERT INTO approvals (plan_id, store, approver, approved_at)"
				" VALUES (?1, ?2, ?3, ?4)", "ssss", r->plan_id, r->store,
				r->approver, r->approved_at);
	}
	for (i = 0; rc == SQLITE_OK && i < d->nconsumed; i++) {
		const struct state_consumed_row *r = &d->consumed[i];
		rc = exec_bound(st, "INSERT INTO consumed_plans (plan_id, store, run_id, consumed_at)"
				" VALUES (?1, ?2, ?3, ?4)", "ssss", r->plan_id, r->store,
				r->run_id, r->consumed_at);
	}
	if (rc == SQLITE_OK)
		rc = commit(st);
	if (rc != SQLITE_OK)
		ret = sql_failf(st, err, "cannot write the migrated state");
done:
	rollback(st);
	return ret;
}

static const struct state_backend sqlite_backend = {
	.version = STATE_BACKEND_VERSION,
	.name = "sqlite",
	.close = sq_close_opened,
	.integrity_check = sq_integrity_check,
	.list_stores = sq_list_stores,
	.read_store = sq_read_store,
	.lock = sq_lock,
	.lock_renew = sq_lock_renew,
	.unlock = sq_unlock,
	.lock_list = sq_lock_list,
	.batch = sq_batch,
	.run_begin = sq_run_begin,
	.step_set = sq_step_set,
	.run_finish = sq_run_finish,
	.run_newest = sq_run_newest,
	.run_steps = sq_run_steps,
	.run_list = sq_run_list,
	.history_tip_set = sq_history_tip_set,
	.history_tip = sq_history_tip,
	.history_tip_replace = sq_history_tip_replace,
	.commit = sq_commit,
	.plan_consumed = sq_plan_consumed,
	.consume_plan = sq_consume_plan,
	.approve = sq_approve,
	.approvals = sq_approvals,
	.dump = sq_dump,
	.load = sq_load,
};
