/*
 * Unit tests of the state store (state/state.h) and its backends: the
 * SQLite file's creation and modes, refusal of foreign, newer and corrupt
 * files without changing a byte; then, for every backend, the same suite:
 * locks and their contention between handles and processes, the journal,
 * commits and their staleness checks, approvals, a process killed with
 * SIGKILL in the middle of journaling, dump and load.
 *
 * The SQLite suite runs by default.  With CMSCTL_TEST_BACKEND=postgresql
 * the shared suite (and PostgreSQL's own refusals) runs against the real
 * server named by CMSCTL_TEST_PG (a libpq connection string of a superuser
 * to its maintenance database), each test in a database of its own;
 * tests/unit/with_pg.sh starts such a server.  Each test works in its own
 * mkdtemp folder.
 */
#include "state/state.h"
#include "common/util.h"

#include <libpq-fe.h>

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#define T0 INT64_C(1767225600) /* 2026-01-01T00:00:00Z */
#define T0MS (T0 * 1000) /* the same, in the milliseconds of run and step times */

#define assert_contains(hay, needle)                                                      \
	do {                                                                              \
		const char *h_ = (hay);                                                   \
		if (!h_ || !strstr(h_, (needle)))                                         \
			fail_msg("'%s' does not contain '%s'", h_ ? h_ : "(null)", (needle)); \
	} while (0)

/* Assert that a call, given &err, succeeded or failed with code; they
 * show the error message on failure. */
#define OK(call) FAILS(call, 0)
#define FAILS(call, code)                                                                 \
	do {                                                                              \
		int rc_ = (call);                                                         \
		if (rc_ != (code))                                                        \
			fail_msg("%s returned %d, not %d: %s", #call, rc_, (int)(code),   \
				 err.message ? err.message : "no error");                 \
	} while (0)

/* A lock holder that names no process (as a lock written by hand). */
#define WHO(n) (&(struct lock_holder){ .name = (char *)(n) })

struct fx {
	char *dir;     /* the test's private folder */
	char *db;      /* dir/state.db */
	char *pg_db;   /* postgresql: the test's database, or NULL */
	char *pg_conn; /* postgresql: the connection string to it */
};

/* The backend under test: "sqlite" or "postgresql" (set once by main). */
static const char *backend = "sqlite";
static unsigned pg_counter;

/* Runs one statement on the PostgreSQL server, in dbname (NULL: the
 * maintenance database of CMSCTL_TEST_PG); the first value or NULL. */
static char *pg_run(const char *dbname, const char *sql)
{
	const char *keys[] = { "dbname", "dbname", NULL };
	const char *values[] = { getenv("CMSCTL_TEST_PG"), dbname, NULL };
	PGconn *c;
	PGresult *r;
	char *out = NULL;

	if (!dbname)
		keys[1] = NULL;
	c = PQconnectdbParams(keys, values, 1);
	if (PQstatus(c) != CONNECTION_OK)
		fail_msg("cannot connect to the test server: %s", PQerrorMessage(c));
	r = PQexec(c, sql);
	if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK)
		fail_msg("%s: %s", sql, PQerrorMessage(c));
	if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) > 0 && !PQgetisnull(r, 0, 0))
		out = xstrdup(PQgetvalue(r, 0, 0));
	PQclear(r);
	PQfinish(c);
	return out;
}

static bool is_pg(void)
{
	return !strcmp(backend, "postgresql");
}

/* Opens the fixture's state through the backend under test. */
static int open_fx(struct fx *fx, struct state **out, bool create, struct cms_error *err)
{
	struct state_target t = { 0 };

	if (!is_pg())
		return state_open(out, fx->db, create, err);
	t.backend = "postgresql";
	t.connection = fx->pg_conn;
	return state_open_target(out, &t, create, err);
}

static void rm_rf(const char *path)
{
	struct stat sb;
	DIR *d;
	struct dirent *e;

	if (lstat(path, &sb) != 0)
		return;
	if (S_ISDIR(sb.st_mode) && (d = opendir(path)) != NULL) {
		while ((e = readdir(d)) != NULL) {
			char *sub;
			if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
				continue;
			sub = xasprintf("%s/%s", path, e->d_name);
			rm_rf(sub);
			free(sub);
		}
		closedir(d);
		rmdir(path);
	} else {
		unlink(path);
	}
}

static int setup(void **ctx)
{
	const char *tmp = getenv("TMPDIR");
	struct fx *fx = xcalloc(1, sizeof(*fx));

	fx->dir = xasprintf("%s/test_state.XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(fx->dir))
		return -1;
	fx->db = xasprintf("%s/state.db", fx->dir);
	if (is_pg()) {
		char *sql;

		fx->pg_db = xasprintf("cmsctl_test_%ld_%u", (long)getpid(), ++pg_counter);
		sql = xasprintf("CREATE DATABASE %s", fx->pg_db);
		free(pg_run(NULL, sql));
		free(sql);
		fx->pg_conn = xasprintf("%s dbname=%s", getenv("CMSCTL_TEST_PG"), fx->pg_db);
	}
	*ctx = fx;
	return 0;
}

static int teardown(void **ctx)
{
	struct fx *fx = *ctx;

	rm_rf(fx->dir);
	if (fx->pg_db) {
		char *sql = xasprintf("DROP DATABASE %s WITH (FORCE)", fx->pg_db);

		free(pg_run(NULL, sql));
		free(sql);
	}
	free(fx->pg_db);
	free(fx->pg_conn);
	free(fx->dir);
	free(fx->db);
	free(fx);
	return 0;
}

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *data = NULL;
	size_t alloc = 0, n = 0, r;

	if (!f)
		return NULL;
	do {
		array_grow(&data, &alloc, n + 4096, 1);
		r = fread(data + n, 1, alloc - n, f);
		n += r;
	} while (r > 0);
	fclose(f);
	*len = n;
	return data;
}

static void write_file(const char *path, const void *data, size_t len)
{
	FILE *f = fopen(path, "wb");

	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
}

static bool exists(const char *path)
{
	struct stat sb;
	return stat(path, &sb) == 0;
}

static bool side_file_exists(const char *db, const char *suffix)
{
	char *p = xasprintf("%s%s", db, suffix);
	bool e = exists(p);
	free(p);
	return e;
}

/* Runs SQL through SQLite directly, to make files cmsctl did not write. */
static void raw_exec(const char *path, const char *sql, bool keep_wal)
{
	sqlite3 *db = NULL;

	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	if (keep_wal)
		sqlite3_db_config(db, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, NULL);
	if (sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK)
		fail_msg("%s: %s", sql, sqlite3_errmsg(db));
	assert_int_equal(sqlite3_close(db), SQLITE_OK);
}

static char *raw_text(const char *path, const char *sql)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *stmt = NULL;
	char *out = NULL;

	assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &stmt, NULL), SQLITE_OK);
	if (sqlite3_step(stmt) == SQLITE_ROW)
		out = xstrdup((const char *)sqlite3_column_text(stmt, 0));
	sqlite3_finalize(stmt);
	sqlite3_close(db);
	return out;
}

static struct state *open_ok(const char *path, bool create)
{
	struct cms_error err = CMS_ERROR_INIT;
	struct state *st = NULL;

	if (state_open(&st, path, create, &err) < 0)
		fail_msg("state_open: %s", err.message);
	return st;
}

static struct state *open_fx_ok(struct fx *fx, bool create)
{
	struct cms_error err = CMS_ERROR_INIT;
	struct state *st = NULL;

	if (open_fx(fx, &st, create, &err) < 0)
		fail_msg("opening the %s state: %s", backend, err.message);
	return st;
}

/* Asserts that opening path fails with code and a message containing
 * needle, and that neither the file nor its WAL changed by a byte: the
 * file is compared whole before and after, not by a hash. */
static void assert_refused_unchanged(const char *path, int code, const char *needle)
{
	struct cms_error err = CMS_ERROR_INIT;
	struct state *st = (struct state *)1;
	char *wal = xasprintf("%s-wal", path);
	size_t before_len, after_len, wal_before_len = 0, wal_after_len = 0;
	char *before = slurp(path, &before_len);
	char *wal_before = slurp(wal, &wal_before_len);
	char *after, *wal_after;
	int pass;

	assert_non_null(before);
	for (pass = 0; pass < 2; pass++) {
		FAILS(state_open(&st, path, pass == 0, &err), code);
		assert_null(st);
		assert_int_equal(err.code, code);
		assert_contains(err.message, needle);
		cms_error_clear(&err);
	}
	after = slurp(path, &after_len);
	assert_non_null(after);
	assert_int_equal(after_len, before_len);
	assert_memory_equal(after, before, before_len);
	/* SQLite may have opened an empty WAL beside a WAL-mode file. */
	wal_after = slurp(wal, &wal_after_len);
	if (!wal_before) {
		assert_true(!wal_after || wal_after_len == 0);
	} else {
		assert_int_equal(wal_after_len, wal_before_len);
		assert_memory_equal(wal_after, wal_before, wal_before_len);
	}
	free(before);
	free(after);
	free(wal_before);
	free(wal_after);
	free(wal);
}

static void test_creates_private_folder_and_file_despite_umask(void **ctx)
{
	struct fx *fx = *ctx;
	char *folder = xasprintf("%s/.cmsctl", fx->dir);
	char *path = xasprintf("%s/state.db", folder);
	char *wal = xasprintf("%s-wal", path);
	struct state *st;
	struct stat sb;
	mode_t old = umask(0);

	st = open_ok(path, true);
	umask(old);
	assert_int_equal(stat(folder, &sb), 0);
	assert_true(S_ISDIR(sb.st_mode));
	assert_int_equal(sb.st_mode & 07777, 0700);
	assert_int_equal(stat(path, &sb), 0);
	assert_int_equal(sb.st_mode & 07777, 0600);
	assert_int_equal(stat(wal, &sb), 0);
	assert_int_equal(sb.st_mode & 07777, 0600);
	state_close(st);

	/* Reopening an existing state, with or without create. */
	st = open_ok(path, false);
	state_close(st);
	st = open_ok(path, true);
	state_close(st);
	free(folder);
	free(path);
	free(wal);
}

static void test_missing_file_without_create_is_not_found(void **ctx)
{
	struct fx *fx = *ctx;
	struct cms_error err = CMS_ERROR_INIT;
	char *path = xasprintf("%s/.cmsctl/state.db", fx->dir);
	struct state *st = NULL;

	FAILS(state_open(&st, path, false, &err), CMS_ENOTFOUND);
	assert_null(st);
	assert_contains(err.message, "does not exist");
	assert_false(side_file_exists(fx->dir, "/.cmsctl"));
	cms_error_clear(&err);

	/* An empty file is no state either, and stays empty. */
	write_file(fx->db, "", 0);
	FAILS(state_open(&st, fx->db, false, &err), CMS_ENOTFOUND);
	assert_contains(err.message, "is empty");
	cms_error_clear(&err);
	st = open_ok(fx->db, true);
	state_close(st);
	free(path);
}

static void test_only_the_last_folder_is_created(void **ctx)
{
	struct fx *fx = *ctx;
	struct cms_error err = CMS_ERROR_INIT;
	char *path = xasprintf("%s/a/b/state.db", fx->dir);
	char *a = xasprintf("%s/a", fx->dir);
	struct state *st = NULL;

	FAILS(state_open(&st, path, true, &err), CMS_ERROR);
	assert_null(st);
	assert_contains(err.message, "cannot create state folder");
	assert_contains(err.message, "No such file or directory");
	assert_false(exists(a));
	cms_error_clear(&err);
	free(path);
	free(a);
}

static void test_new_state_is_wal_with_app_id_and_schema(void **ctx)
{
	struct fx *fx = *ctx;
	struct state *st = open_ok(fx->db, true);
	char *s;

	state_close(st);
	s = raw_text(fx->db, "PRAGMA journal_mode");
	assert_string_equal(s, "wal");
	free(s);
	s = raw_text(fx->db, "PRAGMA application_id");
	assert_string_equal(s, "1129141041"); /* 0x434D5331 */
	free(s);
	s = raw_text(fx->db, "PRAGMA user_version");
	assert_string_equal(s, "4");
	free(s);
	s = raw_text(fx->db, "SELECT group_concat(name, ',') FROM (SELECT name FROM sqlite_master"
			     " WHERE type = 'table' ORDER BY name)");
	assert_string_equal(s, "approvals,consumed_plans,history_tip,locks,runs,steps,stores");
	free(s);
}

static void test_refuses_foreign_file_unchanged(void **ctx)
{
	static const char yaml[] = "# cmsctl config\nstores:\n  redmond:\n"
				   "    primary: pool-a\n    mirror: pool-b\n"
				   "    backups: [dr-1, dr-2]\n    approvals: 2\n";
	struct fx *fx = *ctx;

	write_file(fx->db, "hello world", 11);
	assert_refused_unchanged(fx->db, CMS_ERROR, "is not a cmsctl state database");
	assert_false(side_file_exists(fx->db, "-wal"));
	assert_false(side_file_exists(fx->db, "-shm"));
	assert_false(side_file_exists(fx->db, "-journal"));

	/* Longer than a header, still not SQLite. */
	write_file(fx->db, yaml, strlen(yaml));
	assert_refused_unchanged(fx->db, CMS_ERROR, "(not an SQLite database)");
}

static void test_refuses_other_sqlite_database_unchanged(void **ctx)
{
	struct fx *fx = *ctx;

	raw_exec(fx->db, "CREATE TABLE t (x); INSERT INTO t VALUES (1)", false);
	assert_refused_unchanged(fx->db, CMS_ERROR,
				 "is not a cmsctl state database (application_id 0x00000000");
	assert_false(side_file_exists(fx->db, "-wal"));
	assert_false(side_file_exists(fx->db, "-journal"));
	unlink(fx->db);

	/* Another application's id is refused from the raw header. */
	raw_exec(fx->db, "PRAGMA application_id = 305419896; CREATE TABLE t (x)", false);
	assert_refused_unchanged(fx->db, CMS_ERROR,
				 "(application_id 0x12345678, expected 0x434d5331)");
	assert_false(side_file_exists(fx->db, "-wal"));
	unlink(fx->db);

	/* A WAL-mode database is refused before SQLite would open a WAL and
	 * shared memory beside it. */
	raw_exec(fx->db, "PRAGMA journal_mode = WAL; CREATE TABLE t (x)", false);
	assert_false(side_file_exists(fx->db, "-wal"));
	assert_refused_unchanged(fx->db, CMS_ERROR,
				 "(application_id 0x00000000, expected 0x434d5331)");
	assert_false(side_file_exists(fx->db, "-wal"));
	assert_false(side_file_exists(fx->db, "-shm"));
}

static void test_refuses_newer_schema_unchanged(void **ctx)
{
	struct fx *fx = *ctx;
	struct state *st = open_ok(fx->db, true);

	state_close(st);
	raw_exec(fx->db, "PRAGMA user_version = 99", false);
	assert_refused_unchanged(fx->db, CMS_ERROR, "has schema version 99, newer than "
				 "this cmsctl (4); upgrade cmsctl");
}

static void test_refuses_newer_schema_still_in_the_wal_unchanged(void **ctx)
{
	struct fx *fx = *ctx;
	struct state *st = open_ok(fx->db, true);
	char *v;

	state_close(st);
	/* The bump stays in the WAL: the file's header still says 1. */
	raw_exec(fx->db, "PRAGMA user_version = 7", true);
	assert_true(side_file_exists(fx->db, "-wal"));
	assert_refused_unchanged(fx->db, CMS_ERROR, "has schema version 7, newer than this cmsctl");
	v = raw_text(fx->db, "PRAGMA user_version");
	assert_string_equal(v, "7");
	free(v);
}

/* A state with enough rows to span several pages. */
static void fill_state(const char *path)
{
	struct cms_error err = CMS_ERROR_INIT;
	struct state *st = open_ok(path, true);
	int64_t serial;
	int i;

	OK(state_run_begin(st, "run-1", "redmond", "p1", RUN_APPLY, "alice", T0MS, &err));
	for (i = 1; i <= 200; i++)
		OK(state_step_set(st, "run-1", i, "wait for catch-up", "pool-b", STEP_DONE,
				  "{\"statements\":[\"SELECT 1\",\"SELECT 2\"]}", T0MS, 5, &err));
	OK(state_commit(st, "redmond", "lin", 0, "pool-a", "pool-b", "p1", "run-1", T0, &serial,
			&err));
	state_close(st);
}

static void test_refuses_truncated_file(void **ctx)
{
	struct fx *fx = *ctx;
	struct stat sb;

	fill_state(fx->db);
	assert_int_equal(stat(fx->db, &sb), 0);
	assert_true(sb.st_size > 4 * 4096);
	assert_int_equal(truncate(fx->db, 2 * 4096), 0);
	assert_refused_unchanged(fx->db, CMS_ERROR, "is corrupt: database disk image is malformed");

	/* Cut inside the header. */
	assert_int_equal(truncate(fx->db, 50), 0);
	assert_refused_unchanged(fx->db, CMS_ERROR, "is not a cmsctl state database");
}

static void test_refuses_corrupt_pages(void **ctx)
{
	struct fx *fx = *ctx;
	unsigned char junk[4096];
	struct stat sb;
	off_t page;
	int fd;

	fill_state(fx->db);
	assert_int_equal(stat(fx->db, &sb), 0);
	memset(junk, 0x5a, sizeof(junk));
	fd = open(fx->db, O_WRONLY);
	assert_true(fd >= 0);
	/* Every page but the first (the header and the schema). */
	for (page = 4096; page < sb.st_size; page += 4096)
		assert_int_equal(pwrite(fd, junk, sizeof(junk), page), (ssize_t)sizeof(junk));
	assert_int_equal(close(fd), 0);
	assert_refused_unchanged(fx->db, CMS_ERROR, "is corrupt");
}

static void test_lock_unlock_and_relock(void **ctx)
{
	struct fx *fx = *ctx;
	struct cms_error err = CMS_ERROR_INIT;
	struct state *st = open_fx_ok(fx, true);
	struct lock_info *locks = NULL;
	char *id = NULL, *id2 = NULL, *hint;
	size_t n;

	OK(state_lock(st, "redmond", WHO("alice@ci-7"), "apply of plan 1a2b", 300, T0, &id, &err));
	assert_non_null(id);
	assert_int_equal(strlen(id), 16);
	assert_int_equal(strspn(id, "0123456789abcdef"), 16);

	FAILS(state_lock(st, "redmond", WHO("bob@laptop"), "restore", 300, T0 + 10, &id2, &err),
	      CMS_ELOCKED);
	assert_null(id2);
	assert_string_equal(err.message,
			    "store 'redmond' is locked by alice@ci-7 since 2026-01-01T00:00:00Z "
			    "(reason: apply of plan 1a2b, lease until 2026-01-01T00:05:00Z)");
	hint = xasprintf("wait for it, or break an expired lock with "
			 "'cmsctl unlock redmond %s'", id);
	assert_string_equal(err.hint, hint);
	free(hint);
	cms_error_clear(&err);

	/* Another store is independent. */
	OK(state_lock(st, "dublin", WHO("bob@laptop"), NULL, 60, T0, &id2, &err));
	OK(state_lock_list(st, &locks, &n, &err));
	assert_int_equal(n, 2);
	assert_string_equal(locks[0].store, "dublin");
	assert_null(locks[0].reason);
	assert_string_equal(locks[1].store, "redmond");
	assert_string_equal(locks[1].id, id);
	assert_string_equal(locks[1].holder_text, "alice@ci-7");
	assert_int_equal(locks[1].acquired_at, T0);
	assert_int_equal(locks[1].lease_until, T0 + 300);
	lock_info_list_free(locks, n);
	free(id2);
	id2 = NULL;

	FAILS(state_unlock(st, "redmond", "0000000000000000", &err), CMS_ENOTFOUND);
	cms_error_clear(&err);
	FAILS(state_unlock(st, "dublin", id, &err), CMS_ENOTFOUND);
	cms_error_clear(&err);
	OK(state_unlock(st, "redmond", id, &err));
	FAILS(state_unlock(st, "redmond", id, &err), CMS_ENOTFOUND);
	cms_error_clear(&err);
	free(id);
	id = NULL;
	OK(state_lock(st, "redmond", WHO("bob@laptop"), "restore", 300, T0 + 20, &id, &err));
	FAILS(state_lock(st, "redmond", WHO("bob@laptop"), "restore", 0, T0, &id2, &err), CMS_ERROR);
	cms_error_clear(&err);
	free(id);
	free(id2);
	state_close(st);
}

static void test_expired_lock_is_taken_over_and_renew_notices(void **ctx)
{
	struct fx *fx = *ctx;
	struct cms_error err = CMS_ERROR_INIT;
	struct state *st = open_fx_ok(fx, true);
	struct lock_info *locks = NULL;
	char *a = NULL, *b = NULL;
	size_t n;

	OK(state_lock(st, "redmond", WHO("alice"), "apply", 60, T0, &a, &err));
	/* Renewed within the lease: still held at T0 + 100. */
	OK(state_lock_renew(st, "redmond", a, 120, T0 + 50, &err));
	FAILS(state_lock(st, "redmond", WHO("bob"), "apply", 60, T0 + 100, &b, &err), CMS_ELOCKED);
	cms_error_clear(&err);
	/* The lease ends at T0 + 170: from then on the lock may be taken over. */
	OK(state_lock(st, "redmond", WHO("bob"), "apply", 60, T0 + 170, &b, &err));
	assert_string_not_equal(a, b);
	FAILS(state_lock_renew(st, "redmond", a, 60, T0 + 171, &err), CMS_ELOCKED);
	assert_contains(err.message, "is no longer held: bob took the store over at");
	cms_error_clear(&err);
	OK(state_lock_renew(st, "redmond", b, 600, T0 + 180, &err));
	OK(state_lock_list(st, &locks, &n, &err));
	assert_int_equal(n, 1);
	assert_string_equal(locks[0].holder_text, "bob");
	assert_int_equal(locks[0].acquired_at, T0 + 170);
	assert_int_equal(locks[0].lease_until, T0 + 780);
	lock_info_list_free(locks, n);
	/* Most of the lease left (more than nine tenths): checked, not
	 * extended; less: extended. */
	OK(state_lock_renew(st, "redmond", b, 600, T0 + 200, &err));
	OK(state_lock_list(st, &locks, &n, &err));
	assert_int_equal(locks[0].lease_until, T0 + 780);
	lock_info_list_free(locks, n);
	OK(state_lock_renew(st, "redmond", b, 600, T0 + 300, &err));
	OK(state_lock_list(st, &locks, &n, &err));
	assert_int_equal(locks[0].lease_until, T0 + 900);
	lock_info_list_free(locks, n);
	FAILS(state_lock_renew(st, "redmond", a, 600, T0 + 301, &err), CMS_ELOCKED);
	cms_error_clear(&err);
	OK(state_unlock(st, "redmond", b, &err));
	FAILS(state_lock_renew(st, "redmond", b, 60, T0 + 181, &err), CMS_ELOCKED);
	assert_contains(err.message, "was broken");
	cms_error_clear(&err);
	free(a);
	free(b);
	state_close(st);
}

/* A batch is one transaction: all of its writes, or none of them. */
static void test_batch_writes_all_or_nothing(void **ctx)
{
	struct fx *fx = *ctx;
	struct cms_error err = CMS_ERROR_INIT;
	struct state *st = open_fx_ok(fx, true);
	struct step_info *steps = NULL;
	struct run_info run = { 0 };
	size_t n;

	/* Rolled back: neither the run nor its step. */
	OK(state_batch_begin(st, &err));
	OK(state_run_begin(st, "r1", "redmond", "plan1", RUN_APPLY, "alice", T0MS, &err));
	OK(state_step_set(st, "r1", 1, "check target", "pool-b", STEP_PENDING, NULL, T0MS, 0, &err));
	OK(state_batch_end(st, false, &err));
	FAILS(state_run_unfinished(st, "redmond", &run, &err), CMS_ENOTFOUND);
	cms_error_clear(&err);
	OK(state_run_steps(st, "r1", &steps, &n, &err));
	assert_int_equal(n, 0);
	step_info_list_free(steps, n);

	/* Committed: all of it. */
	OK(state_batch_begin(st, &err));
	OK(state_run_begin(st, "r1", "redmond", "plan1", RUN_APPLY, "alice", T0MS, &err));
	OK(state_step_set(st, "r1", 1, "check target", "pool-b", STEP_PENDING, NULL, T0MS, 0, &err));
	OK(state_step_set(st, "r1", 2, "fence", "pool-a", STEP_PENDING, NULL, T0MS, 0, &err));
	OK(state_batch_end(st, true, &err));
	OK(state_run_unfinished(st, "redmond", &run, &err));
	assert_string_equal(run.id, "r1");
	run_info_free(&run);
	OK(state_run_steps(st, "r1", &steps, &n, &err));
	assert_int_equal(n, 2);
	assert_string_equal(steps[1].action, "fence");
	step_info_list_free(steps, n);

	/* A write that fails inside a batch: the batch ends rolled back,
	 * and the run written before it in the batch is gone too. */
	OK(state_batch_begin(st, &err));
	OK(state_run_begin(st, "r2", "dublin", "plan2", RUN_APPLY, "alice", T0MS, &err));
	FAILS(state_step_set(st, "nope", 1, "x", NULL, STEP_PENDING, NULL, T0MS, 0, &err), CMS_ERROR);
	cms_error_clear(&err);
	OK(state_batch_end(st, false, &err));
	FAILS(state_run_unfinished(st, "dublin", &run, &err), CMS_ENOTFOUND);
	cms_error_clear(&err);
	/* And the state takes writes again. */
	OK(state_step_set(st, "r1", 1, NULL, NULL, STEP_DONE, NULL, T0MS + 10, 1, &err));
	state_close(st);
}

/* The syncs SQLite asks for (it calls fdatasync directly; this
 * definition interposes on libsqlite3's and counts them). */
static int nsyncs;

int fdatasync(int fd)
{
	static int (*real)(int);

	if (!real)
		*(void **)&real = dlsym(RTLD_NEXT, "fdatasync");
	nsyncs++;
	return real ? real(fd) : 0;
}

/* A lazy batch is a batch: all or nothing, seen by another handle once
 * committed.  On SQLite its commit does not sync, and the next write
 * syncs again (synchronous back to FULL). */
static void test_batch_lazy_commits_without_sync(void **ctx)
{
	struct fx *fx = *ctx;
	struct cms_error err = CMS_ERROR_INIT;
	struct state *st = open_fx_ok(fx, true), *other = open_fx_ok(fx, false);
	bool sq = !strcmp(backend, "sqlite");
	struct step_info *steps = NULL;
	struct run_info run = { 0 };
	size_t n;
	int before;

	OK(state_batch_begin(st, &err));
	OK(state_run_begin(st, "r1", "redmond", "plan1", RUN_APPLY, "alice", T0MS, &err));
	OK(state_step_set(st, "r1", 1, "fence", "pool-a", STEP_RUNNING, NULL, T0MS, 0, &err));
	OK(state_step_set(st, "r1", 2, "catch up", "pool-b", STEP_PENDING, NULL, T0MS, 0, &err));
	before = nsyncs;
	OK(state_batch_end(st, true, &err));
	if (sq)
		assert_true(nsyncs > before);

	/* Rolled back: nothing written. */
	OK(state_batch_begin_lazy(st, &err));
	OK(state_step_set(st, "r1", 1, NULL, NULL, STEP_DONE, NULL, T0MS + 5, 5, &err));
	OK(state_batch_end(st, false, &err));
	OK(state_run_steps(other, "r1", &steps, &n, &err));
	assert_int_equal(n, 2);
	assert_int_equal(steps[0].status, STEP_RUNNING);
	step_info_list_free(steps, n);

	/* Committed: without a sync, and seen by the other handle. */
	OK(state_batch_begin_lazy(st, &err));
	OK(state_step_set(st, "r1", 1, NULL, NULL, STEP_DONE, NULL, T0MS + 5, 5, &err));
	OK(state_step_set(st, "r1", 2, NULL, NULL, STEP_RUNNING, NULL, T0MS + 5, 0, &err));
	before = nsyncs;
	OK(state_batch_end(st, true, &err));
	if (sq)
		assert_int_equal(nsyncs, before);
	OK(state_run_steps(other, "r1", &steps, &n, &err));
	assert_int_equal(n, 2);
	assert_int_equal(steps[0].status, STEP_DONE);
	assert_int_equal(steps[1].status, STEP_RUNNING);
	step_info_list_free(steps, n);

	/* The writes after it sync again, one alone as a batch. */
	before = nsyncs;
	OK(state_step_set(st, "r1", 2, NULL, NULL, STEP_DONE, NULL, T0MS + 9, 4, &err));
	if (sq)
		assert_true(nsyncs > before);
	OK(state_batch_begin(st, &err));
	OK(state_run_begin(st, "r2", "dublin", "plan2", RUN_APPLY, "alice", T0MS, &err));
	before = nsyncs;
	OK(state_batch_end(st, true, &err));
	if (sq)
		assert_true(nsyncs > before);
	OK(state_run_unfinished(other, "dublin", &run, &err));
	assert_string_equal(run.id, "r2");
	run_info_free(&run);
	state_close(other);
	state_close(st);
}

static void test_two_handles_contend_for_one_lock(void **ctx)
{
	struct fx *fx = *ctx;
	struct cms_error err = CMS_ERROR_INIT;
	struct state *a = open_fx_ok(fx, true), *b = open_fx_ok(fx, false);
	struct lock_info *locks = NULL;
	char *ida = NULL, *idb = NULL;
	size_t n;

	OK(state_lock(a, "redmond", WHO("runner-a"), "apply", 300, T0, &ida, &err));
	FAILS(state_lock(b, "redmond", WHO("runner-b"), "apply", 300, T0 + 1, &idb, &err), CMS_ELOCKED);
	assert_contains(err.message, "locked by runner-a since 2026-01-01T00:00:00Z");
	cms_error_clear(&err);
	OK(state_unlock(a, "redmond", ida, &err));
	OK(state_lock(b, "redmond", WHO("runner-b"), "apply", 300, T0 + 2, &idb, &err));
	OK(state_lock_list(a, &locks, &n, &err));
	assert_int_equal(n, 1);
	assert_string_equal(locks[0].holder_text, "runner-b");
	assert_string_equal(locks[0].id, idb);
	lock_info_list_free(locks, n);
	FAILS(state_lock_renew(a, "redmond", ida, 300, T0 + 3, &err), CMS_ELOCKED);
	cms_error_clear(&err);
	free(ida);
	free(idb);
	state_close(a);
	state_close(b);
}

/* Runs SQL on the fixture's state behind cmsctl's back: SQLite directly,
 * PostgreSQL through the test's own connection. */
static void fx_raw_exec(struct fx *fx, const char *sqlite_sql, const char *pg_sql)
{
	if (is_pg())
		free(pg_run(fx->pg_db, pg_sql));
	else
		raw_exec(fx->db, sqlite_sql, false);
}

/* The schema version the fixture's state records. */
static void assert_schema_version(struct fx *fx, const char *want)
{
	char *v;

	if (is_pg())
		v = pg_run(fx->pg_db, "SELECT schema_version FROM cmsctl.meta");
	else
		v = raw_text(fx->db, "PRAGMA user_version");
	assert_string_equal(v, want);
	free(v);
}

static void assert_holder(const struct lock_info *l, const char *name, int64_t pid,
			  const char *host, const char *pid_ns, const char *text)
{
	assert_string_equal(l->holder.name, name);
	assert_int_equal(l->holder.pid, pid);
	if (host)
		assert_string_equal(l->holder.host, host);
	else
		assert_null(l->holder.host);
	if (pid_ns)
		assert_string_equal(l->holder.pid_ns, pid_ns);
	else
		assert_null(l->holder.pid_ns);
	assert_string_equal(l->holder_text, text);
}

/* A holder is kept in columns and shown as one text; a state of schema
 * version 3, whose holders are that text, is split into the columns once,
 * when it is opened, and shows the same. */
static void test_lock_holder_in_columns_and_migrated_from_text(void **ctx)
{
	struct fx *fx = *ctx;
	struct cms_error err = CMS_ERROR_INIT;
	struct lock_holder me = { .name = (char *)"alice@ci-7", .pid = 4242,
				  .host = (char *)"runner-1", .pid_ns = (char *)"pid:[4026531836]" };
	struct state *st = open_fx_ok(fx, true);
	struct lock_info *locks = NULL;
	char *id = NULL, *id2 = NULL;
	size_t n;

	OK(state_lock(st, "redmond", &me, "apply", 300, T0, &id, &err));
	FAILS(state_lock(st, "redmond", WHO("bob"), "apply", 300, T0 + 1, &id2, &err), CMS_ELOCKED);
	assert_null(id2);
	assert_contains(err.message, "store 'redmond' is locked by alice@ci-7 (pid 4242 on "
			"runner-1, pid:[4026531836]) since");
	cms_error_clear(&err);
	OK(state_lock_list(st, &locks, &n, &err));
	assert_int_equal(n, 1);
	assert_holder(&locks[0], "alice@ci-7", 4242, "runner-1", "pid:[4026531836]",
		      "alice@ci-7 (pid 4242 on runner-1, pid:[4026531836])");
	lock_info_list_free(locks, n);
	state_close(st);
	free(id);

	/* Back to version 3: the holder as text, and rows of other shapes. */
	fx_raw_exec(fx,
		    "ALTER TABLE locks DROP COLUMN holder_pid;"
		    " ALTER TABLE locks DROP COLUMN holder_host;"
		    " ALTER TABLE locks DROP COLUMN holder_pid_ns;"
		    " UPDATE locks SET holder = 'carol@gone (pid 17 on elsewhere, pid:[1])';"
		    " INSERT INTO locks VALUES ('dublin', 'a1', 'bob@other:4242', NULL, 1, 2);"
		    " INSERT INTO locks VALUES ('oslo', 'a2', 'dan (pid 5 on h)', NULL, 1, 2);"
		    " INSERT INTO locks VALUES ('paris', 'a3', 'eve (pid 0 on h, pid:[1])', NULL, 1, 2);"
		    " PRAGMA user_version = 3",
		    "ALTER TABLE cmsctl.locks DROP COLUMN holder_pid, DROP COLUMN holder_host,"
		    " DROP COLUMN holder_pid_ns;"
		    " UPDATE cmsctl.locks SET holder = 'carol@gone (pid 17 on elsewhere, pid:[1])';"
		    " INSERT INTO cmsctl.locks VALUES ('dublin', 'a1', 'bob@other:4242', NULL, 1, 2);"
		    " INSERT INTO cmsctl.locks VALUES ('oslo', 'a2', 'dan (pid 5 on h)', NULL, 1, 2);"
		    " INSERT INTO cmsctl.locks VALUES"
		    "  ('paris', 'a3', 'eve (pid 0 on h, pid:[1])', NULL, 1, 2);"
		    " UPDATE cmsctl.meta SET schema_version = 3");
	st = open_fx_ok(fx, false);
	OK(state_lock_list(st, &locks, &n, &err));
	assert_int_equal(n, 4);
	assert_holder(&locks[0], "bob@other:4242", 0, NULL, NULL, "bob@other:4242");
	assert_holder(&locks[1], "dan (pid 5 on h)", 0, NULL, NULL, "dan (pid 5 on h)");
	assert_holder(&locks[2], "eve (pid 0 on h, pid:[1])", 0, NULL, NULL,
		      "eve (pid 0 on h, pid:[1])");
	assert_holder(&locks[3], "carol@gone", 17, "elsewhere", "pid:[1]",
		      "carol@gone (pid 17 on elsewhere, pid:[1])");
	lock_info_list_free(locks, n);
	state_close(st);
	assert_schema_version(fx, "4");
}

/* Children racing on a path that does not exist yet: all create or open
 * it fine, exactly one gets the lock. */
static void test_racing_processes_share_one_state_and_one_lock(void **ctx)
{
	struct fx *fx = *ctx;
	enum { RACERS = 6 };
	pid_t pids[RACERS];
	int statuses[RACERS], go[2], i, winners = 0, losers = 0;

	assert_int_equal(pipe(go), 0);
	for (i = 0; i < RACERS; i++) {
		pids[i] = fork();
		assert_true(pids[i] >= 0);
		if (pids[i] == 0) {
			struct cms_error err = CMS_ERROR_INIT;
			struct state *st = NULL;
			char *id = NULL, holder[16], c;
			int rc;

			close(go[1]);
			while (read(go[0], &c, 1) < 0 && errno == EINTR)
				;
			if (open_fx(fx, &st, true, &err) < 0) {
				fprintf(stderr, "racer: %s\n", err.message);
				_exit(10);
			}
			snprintf(holder, sizeof(holder), "racer-%d", i);
			rc = state_lock(st, "redmond", WHO(holder), "race", 300, T0, &id, &err);
			if (rc < 0 && rc != CMS_ELOCKED)
				fprintf(stderr, "racer: %s\n", err.message);
			state_close(st);
			_exit(rc == 0 ? 0 : rc == CMS_ELOCKED ? 4 : 11);
		}
	}
	close(go[0]);
	close(go[1]); /* start */
	/* Reap every racer before asserting anything. */
	for (i = 0; i < RACERS; i++)
		if (waitpid(pids[i], &statuses[i], 0) != pids[i])
			statuses[i] = -1;
	for (i = 0; i < RACERS; i++) {
		bool exited = statuses[i] != -1 && WIFEXITED(statuses[i]);

		if (exited && WEXITSTATUS(statuses[i]) == 0)
			winners++;
		else if (exited && WEXITSTATUS(statuses[i]) == 4)
			losers++;
		else
			fail_msg("racer %d ended with status %d", i, statuses[i]);
	}
	assert_int_equal(winners, 1);
	assert_int_equal(losers, RACERS - 1);
	assert_schema_version(fx, "4");
}

static void test_journal_steps_upsert_and_list(void **ctx)
{
	static const char detail[] = "{\"statements\":[{\"sql\":\"SELECT 1\",\"ms\":3}]}";
	struct fx *fx = *ctx;
	struct cms_error err = CMS_ERROR_INIT;
	struct state *st = open_fx_ok(fx, true);
	struct step_info *steps = NULL;
	struct run_info run = { 0 };
	size_t n;

	OK(state_run_begin(st, "r1", "redmond", "plan1", RUN_APPLY, "alice", T0MS, &err));
	FAILS(state_run_begin(st, "r1", "redmond", "plan1", RUN_APPLY, "alice", T0MS, &err), CMS_ERROR);
	assert_contains(err.message, "cannot record the start of run 'r1' in state database");
	cms_error_clear(&err);

	OK(state_step_set(st, "r1", 2, "fence old primary", "pool-a", STEP_PENDING, NULL, T0MS, 0,
			  &err));
	OK(state_step_set(st, "r1", 1, "check target", "pool-b", STEP_PENDING, NULL, T0MS, 0, &err));
	OK(state_step_set(st, "r1", 1, "check target", "pool-b", STEP_RUNNING, NULL, T0MS + 1000, -1,
			  &err));
	OK(state_step_set(st, "r1", 1, NULL, NULL, STEP_DONE, detail, T0MS + 2345, 3, &err));
	OK(state_step_set(st, "r1", 2, "fence old primary", "pool-a", STEP_RUNNING,
			  "{\"statements\":[]}", T0MS + 3000, -1, &err));
	OK(state_step_set(st, "r1", 2, "fence old primary", "pool-a", STEP_FAILED, NULL, T0MS + 4000,
			  1000, &err));
	OK(state_step_set(st, "r1", 2, "fence old primary", "pool-a", STEP_UNDONE, NULL, T0MS + 5000,
			  -1, &err));
	OK(state_step_set(st, "r1", 3, "promote target", NULL, STEP_SKIPPED, NULL, T0MS + 5000, 0,
			  &err));

	OK(state_run_steps(st, "r1", &steps, &n, &err));
	assert_int_equal(n, 3);
	assert_int_equal(steps[0].n, 1);
	assert_string_equal(steps[0].action, "check target");
	assert_string_equal(steps[0].server, "pool-b");
	assert_int_equal(steps[0].status, STEP_DONE);
	assert_string_equal(steps[0].detail_json, detail);
	assert_string_equal(steps[0].started_at, "2026-01-01T00:00:01.000Z");
	assert_string_equal(steps[0].finished_at, "2026-01-01T00:00:02.345Z");
	assert_int_equal(steps[0].duration_ms, 3);
	assert_int_equal(steps[1].n, 2);
	assert_int_equal(steps[1].status, STEP_UNDONE);
	assert_string_equal(steps[1].detail_json, "{\"statements\":[]}");
	assert_string_equal(steps[1].started_at, "2026-01-01T00:00:03.000Z");
	assert_string_equal(steps[1].finished_at, "2026-01-01T00:00:05.000Z");
	assert_int_equal(steps[1].duration_ms, 1000);
	assert_int_equal(steps[2].status, STEP_SKIPPED);
	assert_null(steps[2].server);
	assert_null(steps[2].started_at);
	assert_string_equal(steps[2].finished_at, "2026-01-01T00:00:05.000Z");
	step_info_list_free(steps, n);

	/* A step of an unknown run is refused (foreign key). */
	FAILS(state_step_set(st, "nope", 1, "x", NULL, STEP_PENDING, NULL, T0MS, 0, &err), CMS_ERROR);
	assert_contains(err.message, "cannot journal step 1 of run 'nope' in state database");
	assert_contains(err.message, is_pg() ? "violates foreign key constraint" :
			"FOREIGN KEY constraint failed");
	cms_error_clear(&err);
	FAILS(state_step_set(st, "r1", 4, "x", NULL, (enum step_status)42, NULL, T0MS, 0, &err),
	      CMS_ERROR);
	cms_error_clear(&err);

	/* The newest unfinished run of the store. */
	OK(state_run_begin(st, "r2", "redmond", NULL, RUN_RESTORE, "bob", T0MS + 60000, &err));
	OK(state_run_begin(st, "r3", "dublin", "plan3", RUN_APPLY, "bob", T0MS + 90000, &err));
	OK(state_run_unfinished(st, "redmond", &run, &err));
	assert_string_equal(run.id, "r2");
	assert_string_equal(run.kind, "restore");
	assert_string_equal(run.operator_name, "bob");
	assert_string_equal(run.outcome, "running");
	assert_null(run.plan_id);
	assert_null(run.finished_at);
	run_info_free(&run);
	OK(state_run_finish(st, "r2", RUN_RESTORED, T0MS + 70000, &err));
	OK(state_run_unfinished(st, "redmond", &run, &err));
	assert_string_equal(run.id, "r1");
	assert_string_equal(run.started_at, "2026-01-01T00:00:00.000Z");
	run_info_free(&run);
	OK(state_run_finish(st, "r1", RUN_FAILED, T0MS + 80000, &err));
	FAILS(state_run_unfinished(st, "redmond", &run, &err), CMS_ENOTFOUND);
	assert_null(run.id);
	cms_error_clear(&err);
	FAILS(state_run_finish(st, "r9", RUN_OK, T0MS, &err), CMS_ENOTFOUND);
	cms_error_clear(&err);
	FAILS(state_run_finish(st, "r3", RUN_RUNNING, T0MS, &err), CMS_ERROR);
	cms_error_clear(&err);
	/* The schema itself refuses an outcome that is not one of the names. */
	FAILS(state_run_finish(st, "r3", (enum run_outcome)99, T0MS, &err), CMS_ERROR);
	cms_error_clear(&err);
	OK(state_run_steps(st, "r3", &steps, &n, &err));
	assert_int_equal(n, 0);
	step_info_list_free(steps, n);
	state_close(st);
}

static void test_commit_increments_serial_and_refuses_stale(void **ctx)
{
	struct fx *fx = *ctx;
	struct cms_error err = CMS_ERROR_INIT;
	struct state *st = open_fx_ok(fx, true);
	struct recorded rec;
	struct cms_strv names = CMS_STRV_INIT;
	int64_t serial = -1;
	bool used;

	OK(state_read_store(st, "redmond", &rec, &err));
	assert_false(rec.exists);
	assert_null(rec.lineage);
	recorded_free(&rec);

	/* A new store: adoption at serial 0. */
	FAILS(state_commit(st, "redmond", "lin-1", 3, "pool-a", "pool-b", "p0", "r0", T0, &serial,
			   &err), CMS_ESTALE);
	assert_contains(err.message, "store 'redmond' has no recorded state");
	cms_error_clear(&err);
	OK(state_commit(st, "redmond", "lin-1", 0, "pool-a", "pool-b", "p0", "r0", T0, &serial,
			&err));
	assert_int_equal(serial, 1);
	OK(state_read_store(st, "redmond", &rec, &err));
	assert_true(rec.exists);
	assert_string_equal(rec.lineage, "lin-1");
	assert_int_equal(rec.serial, 1);
	assert_string_equal(rec.primary, "pool-a");
	assert_string_equal(rec.mirror, "pool-b");
	assert_string_equal(rec.updated_at, "2026-01-01T00:00:00Z");
	recorded_free(&rec);

	/* A switchover: lineage may be passed or not. */
	OK(state_commit(st, "redmond", NULL, 1, "pool-b", NULL, "p1", "r1", T0 + 60, &serial,
			&err));
	assert_int_equal(serial, 2);
	OK(state_read_store(st, "redmond", &rec, &err));
	assert_string_equal(rec.lineage, "lin-1");
	assert_string_equal(rec.primary, "pool-b");
	assert_null(rec.mirror);
	recorded_free(&rec);

	serial = -1;
	FAILS(state_commit(st, "redmond", "lin-1", 1, "pool-a", "pool-b", "p2", "r2", T0 + 120,
			   &serial, &err), CMS_ESTALE);
	assert_string_equal(err.message,
			    "store 'redmond' is at serial 2, the plan was made against 1");
	assert_int_equal(serial, -1);
	cms_error_clear(&err);
	FAILS(state_commit(st, "redmond", "lin-other", 2, "pool-a", "pool-b", "p2", "r2", T0 + 120,
			   &serial, &err), CMS_ESTALE);
	assert_contains(err.message, "lineage");
	cms_error_clear(&err);
	FAILS(state_commit(st, "redmond", "lin-1", 2, "pool-a", "pool-b", "p1", "r2", T0 + 120,
			   &serial, &err), CMS_ESTALE);
	assert_contains(err.message, "plan 'p1' was already applied");
	cms_error_clear(&err);

	/* Nothing of the refused commits stuck. */
	OK(state_read_store(st, "redmond", &rec, &err));
	assert_int_equal(rec.serial, 2);
	assert_string_equal(rec.primary, "pool-b");
	recorded_free(&rec);
	OK(state_plan_consumed(st, "p2", &used, &err));
	assert_false(used);
	OK(state_plan_consumed(st, "p1", &used, &err));
	assert_true(used);

	/* A failed apply uses up its plan; its own run may still commit it. */
	OK(state_consume_plan(st, "p3", "redmond", "r3", T0 + 130, &err));
	OK(state_consume_plan(st, "p3", "redmond", "r3", T0 + 131, &err));
	FAILS(state_consume_plan(st, "p3", "redmond", "r4", T0 + 132, &err), CMS_ESTALE);
	cms_error_clear(&err);
	FAILS(state_commit(st, "redmond", "lin-1", 2, "pool-a", NULL, "p3", "r4", T0 + 140, &serial,
			   &err), CMS_ESTALE);
	cms_error_clear(&err);
	OK(state_commit(st, "redmond", "lin-1", -1, "pool-a", NULL, "p3", "r3", T0 + 140, &serial,
			&err));
	assert_int_equal(serial, 3);

	FAILS(state_commit(st, "dublin", NULL, 0, "sql-1", NULL, "p9", NULL, T0, &serial, &err),
	      CMS_ERROR);
	cms_error_clear(&err);
	OK(state_commit(st, "dublin", "lin-d", 0, "sql-1", NULL, "p9", NULL, T0, &serial, &err));
	assert_int_equal(serial, 1);
	OK(state_list_stores(st, &names, &err));
	assert_int_equal(names.n, 2);
	assert_string_equal(names.v[0], "dublin");
	assert_string_equal(names.v[1], "redmond");
	cms_strv_free(&names);
	state_close(st);
}

static void test_approvals_are_idempotent_and_sorted(void **ctx)
{
	struct fx *fx = *ctx;
	struct cms_error err = CMS_ERROR_INIT;
	struct state *st = open_fx_ok(fx, true);
	struct cms_strv who = CMS_STRV_INIT;

	OK(state_approvals(st, "p1", &who, &err));
	assert_int_equal(who.n, 0);
	cms_strv_free(&who);
	FAILS(state_approve(st, "p1", "redmond", "carol", T0, &err), 1);
	FAILS(state_approve(st, "p1", "redmond", "bob", T0 + 1, &err), 1);
	OK(state_approve(st, "p1", "redmond", "carol", T0 + 2, &err)); /* there already */
	FAILS(state_approve(st, "p2", "redmond", "dave", T0, &err), 1);
	OK(state_approvals(st, "p1", &who, &err));
	assert_int_equal(who.n, 2);
	assert_string_equal(who.v[0], "bob");
	assert_string_equal(who.v[1], "carol");
	cms_strv_free(&who);
	state_close(st);
}

/* The recorded history tip follows a rebuilt commit only while it still
 * names the commit that was rebuilt. */
static void test_history_tip_replace_is_compare_and_swap(void **ctx)
{
	struct fx *fx = *ctx;
	struct cms_error err = CMS_ERROR_INIT;
	struct state *st = open_fx_ok(fx, true);
	bool replaced = true;
	char *tip = NULL;

	OK(state_history_tip_replace(st, "a1", "a2", T0, &replaced, &err));
	assert_false(replaced); /* nothing recorded yet: nothing replaced */
	assert_int_equal(state_history_tip(st, &tip, &err), CMS_ENOTFOUND);
	cms_error_clear(&err);
	OK(state_history_tip_set(st, "a1", T0, &err));
	OK(state_history_tip_replace(st, "b1", "b2", T0, &replaced, &err));
	assert_false(replaced);
	OK(state_history_tip(st, &tip, &err));
	assert_string_equal(tip, "a1");
	free(tip);
	OK(state_history_tip_replace(st, "a1", "a2", T0 + 1, &replaced, &err));
	assert_true(replaced);
	OK(state_history_tip(st, &tip, &err));
	assert_string_equal(tip, "a2");
	free(tip);
	OK(state_history_tip_replace(st, "a1", "a3", T0 + 2, &replaced, &err));
	assert_false(replaced);
	OK(state_history_tip(st, &tip, &err));
	assert_string_equal(tip, "a2");
	free(tip);
	state_close(st);
}

struct report {
	int n;      /* step number */
	int status; /* the status just written */
};

static void child_journal(struct fx *fx, int fd)
{
	struct cms_error err = CMS_ERROR_INIT;
	struct state *st = NULL;
	struct report r;
	int i;

	if (open_fx(fx, &st, false, &err) < 0)
		_exit(2);
	for (i = 1;; i++) {
		if (state_step_set(st, "run-k", i, "promote target", "pool-b", STEP_RUNNING, NULL,
				   T0MS + i, -1, &err) < 0)
			_exit(3);
		r.n = i;
		r.status = STEP_RUNNING;
		if (write(fd, &r, sizeof(r)) != (ssize_t)sizeof(r))
			_exit(4);
		if (state_step_set(st, "run-k", i, "promote target", "pool-b", STEP_DONE,
				   "{\"statements\":[{\"sql\":\"ALTER DATABASE cms SET PARTNER "
				   "FAILOVER\"}]}",
				   T0MS + i, 7, &err) < 0)
			_exit(3);
		r.status = STEP_DONE;
		if (write(fd, &r, sizeof(r)) != (ssize_t)sizeof(r))
			_exit(4);
	}
}

static bool read_report(int fd, struct report *r)
{
	size_t got = 0;

	while (got < sizeof(*r)) {
		ssize_t k = read(fd, (char *)r + got, sizeof(*r) - got);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return false;
		got += (size_t)k;
	}
	return true;
}

/* SIGKILL in the middle of journaling: the state stays readable and holds
 * every write whose call had returned. */
static void test_sigkill_mid_journal_keeps_every_returned_write(void **ctx)
{
	struct fx *fx = *ctx;
	struct cms_error err = CMS_ERROR_INIT;
	struct state *st = open_fx_ok(fx, true);
	struct report r, last = { 0, 0 };
	struct step_info *steps = NULL;
	struct run_info run = { 0 };
	char *check = NULL;
	int fds[2], status, seen = 0;
	size_t n, i;
	pid_t pid;

	OK(state_run_begin(st, "run-k", "redmond", "plan-k", RUN_APPLY, "alice", T0MS, &err));
	state_close(st); /* no connection crosses fork() */

	assert_int_equal(pipe(fds), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(fds[0]);
		child_journal(fx, fds[1]);
	}
	close(fds[1]);
	while (seen < 150 && read_report(fds[0], &r)) {
		last = r;
		seen++;
	}
	assert_int_equal(kill(pid, SIGKILL), 0);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFSIGNALED(status));
	assert_int_equal(WTERMSIG(status), SIGKILL);
	while (read_report(fds[0], &r)) /* reported before it died */
		last = r;
	close(fds[0]);
	assert_true(last.n >= 75);

	st = open_fx_ok(fx, false);
	OK(state_integrity_check(st, &check, &err));
	assert_string_equal(check, "ok");
	free(check);
	OK(state_run_steps(st, "run-k", &steps, &n, &err));
	if (last.status == STEP_RUNNING)
		assert_int_equal(n, (size_t)last.n);
	else
		assert_true(n == (size_t)last.n || n == (size_t)last.n + 1);
	for (i = 0; i < n; i++) {
		assert_int_equal(steps[i].n, (int)i + 1);
		if (steps[i].n < last.n) {
			assert_int_equal(steps[i].status, STEP_DONE);
			assert_non_null(steps[i].detail_json);
			assert_non_null(steps[i].finished_at);
		}
	}
	if (last.status == STEP_DONE)
		assert_int_equal(steps[last.n - 1].status, STEP_DONE);
	else
		assert_true(steps[last.n - 1].status == STEP_RUNNING ||
			    steps[last.n - 1].status == STEP_DONE);
	if (n > (size_t)last.n)
		assert_int_equal(steps[n - 1].status, STEP_RUNNING);
	step_info_list_free(steps, n);

	/* status and restore find the interrupted run. */
	OK(state_run_unfinished(st, "redmond", &run, &err));
	assert_string_equal(run.id, "run-k");
	run_info_free(&run);
	state_close(st);
}

/* Fills a state with one of everything: an adopted store, a run with
 * steps (one without a duration), approvals, consumed plans, a lock. */
static void fill_everything(struct state *st)
{
	struct cms_error err = CMS_ERROR_INIT;
	int64_t serial;
	char *id = NULL;

	OK(state_run_begin(st, "run-1", "redmond", "plan-1", RUN_APPLY, "alice", T0MS, &err));
	OK(state_step_set(st, "run-1", 1, "fence", "pool-a", STEP_DONE, "{\"s\":1}", T0MS, 12, &err));
	OK(state_step_set(st, "run-1", 2, "promote", "pool-b", STEP_RUNNING, NULL, T0MS + 1000, -1,
			  &err));
	OK(state_commit(st, "redmond", "lin-1", 0, "pool-b", "pool-a", "plan-1", "run-1", T0 + 2,
			&serial, &err));
	OK(state_run_finish(st, "run-1", RUN_OK, T0MS + 3000, &err));
	OK(state_run_begin(st, "run-2", "dublin", NULL, RUN_RESTORE, "bob", T0MS + 4000, &err));
	OK(state_commit(st, "dublin", "lin-2", 0, "dr-1", NULL, "plan-2", NULL, T0 + 5, &serial,
			&err));
	OK(state_consume_plan(st, "plan-3", "redmond", "run-9", T0 + 6, &err));
	FAILS(state_approve(st, "plan-4", "redmond", "carol", T0 + 7, &err), 1);
	FAILS(state_approve(st, "plan-4", "redmond", "bob", T0 + 8, &err), 1);
	OK(state_lock(st, "redmond", WHO("alice (pid 1 on h)"), "apply", 300, T0, &id, &err));
	free(id);
}

#define SAME_STR(a, b) \
	do { if ((a) || (b)) { assert_non_null(a); assert_non_null(b); assert_string_equal(a, b); } } while (0)

static void assert_same_dump(const struct state_dump *a, const struct state_dump *b)
{
	size_t i;

	assert_int_equal(a->nstores, b->nstores);
	for (i = 0; i < a->nstores; i++) {
		SAME_STR(a->stores[i].name, b->stores[i].name);
		SAME_STR(a->stores[i].rec.lineage, b->stores[i].rec.lineage);
		assert_int_equal(a->stores[i].rec.serial, b->stores[i].rec.serial);
		SAME_STR(a->stores[i].rec.primary, b->stores[i].rec.primary);
		SAME_STR(a->stores[i].rec.mirror, b->stores[i].rec.mirror);
		SAME_STR(a->stores[i].rec.updated_at, b->stores[i].rec.updated_at);
	}
	assert_int_equal(a->nruns, b->nruns);
	for (i = 0; i < a->nruns; i++) {
		SAME_STR(a->runs[i].id, b->runs[i].id);
		SAME_STR(a->runs[i].store, b->runs[i].store);
		SAME_STR(a->runs[i].plan_id, b->runs[i].plan_id);
		SAME_STR(a->runs[i].kind, b->runs[i].kind);
		SAME_STR(a->runs[i].operator_name, b->runs[i].operator_name);
		SAME_STR(a->runs[i].outcome, b->runs[i].outcome);
		SAME_STR(a->runs[i].started_at, b->runs[i].started_at);
		SAME_STR(a->runs[i].finished_at, b->runs[i].finished_at);
	}
	assert_int_equal(a->nsteps, b->nsteps);
	for (i = 0; i < a->nsteps; i++) {
		SAME_STR(a->steps[i].run_id, b->steps[i].run_id);
		assert_int_equal(a->steps[i].step.n, b->steps[i].step.n);
		SAME_STR(a->steps[i].step.action, b->steps[i].step.action);
		SAME_STR(a->steps[i].step.server, b->steps[i].step.server);
		assert_int_equal(a->steps[i].step.status, b->steps[i].step.status);
		SAME_STR(a->steps[i].step.detail_json, b->steps[i].step.detail_json);
		SAME_STR(a->steps[i].step.started_at, b->steps[i].step.started_at);
		SAME_STR(a->steps[i].step.finished_at, b->steps[i].step.finished_at);
		assert_int_equal(a->steps[i].step.duration_ms, b->steps[i].step.duration_ms);
	}
	assert_int_equal(a->napprovals, b->napprovals);
	for (i = 0; i < a->napprovals; i++) {
		SAME_STR(a->approvals[i].plan_id, b->approvals[i].plan_id);
		SAME_STR(a->approvals[i].store, b->approvals[i].store);
		SAME_STR(a->approvals[i].approver, b->approvals[i].approver);
		SAME_STR(a->approvals[i].approved_at, b->approvals[i].approved_at);
	}
	assert_int_equal(a->nconsumed, b->nconsumed);
	for (i = 0; i < a->nconsumed; i++) {
		SAME_STR(a->consumed[i].plan_id, b->consumed[i].plan_id);
		SAME_STR(a->consumed[i].store, b->consumed[i].store);
		SAME_STR(a->consumed[i].run_id, b->consumed[i].run_id);
		SAME_STR(a->consumed[i].consumed_at, b->consumed[i].consumed_at);
	}
}

/* An SQLite state copied into a fresh state of the backend under test
 * reads back the same, locks excepted; a second copy into the now
 * non-empty target is refused and writes nothing. */
static void test_dump_and_load_round_trip_and_refuse_non_empty(void **ctx)
{
	struct fx *fx = *ctx;
	struct cms_error err = CMS_ERROR_INIT;
	struct state_dump a = { 0 }, b = { 0 }, c = { 0 };
	char *src_path = xasprintf("%s/source.db", fx->dir);
	struct state *src = open_ok(src_path, true), *dst;

	fill_everything(src);
	OK(state_dump(src, &a, &err));
	assert_int_equal(a.nstores, 2);
	assert_string_equal(a.stores[0].name, "dublin");
	assert_int_equal(a.nruns, 2);
	assert_string_equal(a.runs[0].id, "run-1");
	assert_int_equal(a.nsteps, 2);
	assert_int_equal(a.steps[0].step.duration_ms, 12);
	assert_int_equal(a.steps[1].step.duration_ms, -1);
	assert_int_equal(a.napprovals, 2);
	assert_string_equal(a.approvals[0].approver, "bob");
	assert_int_equal(a.nconsumed, 3);
	assert_int_equal(a.nlocks, 1);

	dst = open_fx_ok(fx, true);
	OK(state_load(dst, &a, &err));
	OK(state_dump(dst, &b, &err));
	assert_same_dump(&a, &b);
	assert_int_equal(b.nlocks, 0);
	FAILS(state_load(dst, &a, &err), CMS_ERROR);
	assert_contains(err.message, "is not empty");
	cms_error_clear(&err);
	OK(state_dump(dst, &c, &err));
	assert_same_dump(&b, &c);
	/* The copy goes on working: the consumed plan stays consumed. */
	{
		int64_t serial;

		FAILS(state_commit(dst, "redmond", NULL, 1, "pool-a", NULL, "plan-1", "run-x",
				   T0 + 9, &serial, &err), CMS_ESTALE);
		cms_error_clear(&err);
		OK(state_commit(dst, "redmond", NULL, 1, "pool-a", NULL, "plan-5", "run-x", T0 + 9,
				&serial, &err));
		assert_int_equal(serial, 2);
	}
	state_dump_free(&a);
	state_dump_free(&b);
	state_dump_free(&c);
	state_dump_free(NULL);
	state_close(src);
	state_close(dst);
	free(src_path);
}

/* PostgreSQL: a schema 'cmsctl' that is not ours, or a newer one, is
 * refused and left as it was; an empty database is "no state yet". */
static void test_pg_refuses_foreign_and_newer_schema_unchanged(void **ctx)
{
	struct fx *fx = *ctx;
	struct cms_error err = CMS_ERROR_INIT;
	struct state *st = NULL;
	char *v;

	FAILS(open_fx(fx, &st, false, &err), CMS_ENOTFOUND);
	assert_contains(err.message, "holds no cmsctl state");
	cms_error_clear(&err);
	v = pg_run(fx->pg_db, "SELECT count(*) FROM pg_namespace WHERE nspname = 'cmsctl'");
	assert_string_equal(v, "0");
	free(v);

	free(pg_run(fx->pg_db, "CREATE SCHEMA cmsctl; CREATE TABLE cmsctl.t (x int)"));
	FAILS(open_fx(fx, &st, true, &err), CMS_ERROR);
	assert_contains(err.message, "is not a cmsctl state database");
	cms_error_clear(&err);
	v = pg_run(fx->pg_db, "SELECT string_agg(tablename, ',') FROM pg_tables"
		   " WHERE schemaname = 'cmsctl'");
	assert_string_equal(v, "t");
	free(v);
	free(pg_run(fx->pg_db, "DROP SCHEMA cmsctl CASCADE"));

	st = open_fx_ok(fx, true);
	state_close(st);
	free(pg_run(fx->pg_db, "UPDATE cmsctl.meta SET schema_version = 99"));
	FAILS(open_fx(fx, &st, true, &err), CMS_ERROR);
	assert_contains(err.message, "has schema version 99, newer than this cmsctl");
	cms_error_clear(&err);
	v = pg_run(fx->pg_db, "SELECT schema_version FROM cmsctl.meta");
	assert_string_equal(v, "99");
	free(v);
	free(pg_run(fx->pg_db, "UPDATE cmsctl.meta SET application = 'other', schema_version = 1"));
	FAILS(open_fx(fx, &st, true, &err), CMS_ERROR);
	assert_contains(err.message, "application 'other'");
	cms_error_clear(&err);
}

static void test_names_and_frees(void **ctx)
{
	(void)ctx;
	assert_string_equal(step_status_name(STEP_PENDING), "pending");
	assert_string_equal(step_status_name(STEP_RUNNING), "running");
	assert_string_equal(step_status_name(STEP_DONE), "done");
	assert_string_equal(step_status_name(STEP_FAILED), "failed");
	assert_string_equal(step_status_name(STEP_SKIPPED), "skipped");
	assert_string_equal(step_status_name(STEP_UNDONE), "undone");
	assert_string_equal(step_status_name((enum step_status)99), "unknown");
	recorded_free(NULL);
	lock_info_free(NULL);
	lock_info_list_free(NULL, 0);
	run_info_free(NULL);
	step_info_free(NULL);
	step_info_list_free(NULL, 0);
	cms_strv_free(NULL);
	state_close(NULL);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

/* The suite every backend passes. */
#define SHARED_TESTS                                                    \
	T(test_lock_unlock_and_relock),                                 \
	T(test_expired_lock_is_taken_over_and_renew_notices),           \
	T(test_batch_writes_all_or_nothing),                            \
	T(test_batch_lazy_commits_without_sync),                        \
	T(test_two_handles_contend_for_one_lock),                       \
	T(test_lock_holder_in_columns_and_migrated_from_text),          \
	T(test_racing_processes_share_one_state_and_one_lock),          \
	T(test_journal_steps_upsert_and_list),                          \
	T(test_commit_increments_serial_and_refuses_stale),             \
	T(test_approvals_are_idempotent_and_sorted),                    \
	T(test_history_tip_replace_is_compare_and_swap),                \
	T(test_sigkill_mid_journal_keeps_every_returned_write),         \
	T(test_dump_and_load_round_trip_and_refuse_non_empty)

int main(void)
{
	const struct CMUnitTest sqlite_tests[] = {
		T(test_creates_private_folder_and_file_despite_umask),
		T(test_missing_file_without_create_is_not_found),
		T(test_only_the_last_folder_is_created),
		T(test_new_state_is_wal_with_app_id_and_schema),
		T(test_refuses_foreign_file_unchanged),
		T(test_refuses_other_sqlite_database_unchanged),
		T(test_refuses_newer_schema_unchanged),
		T(test_refuses_newer_schema_still_in_the_wal_unchanged),
		T(test_refuses_truncated_file),
		T(test_refuses_corrupt_pages),
		SHARED_TESTS,
		T(test_names_and_frees),
	};
	const struct CMUnitTest pg_tests[] = {
		SHARED_TESTS,
		T(test_pg_refuses_foreign_and_newer_schema_unchanged),
	};
	const char *b = getenv("CMSCTL_TEST_BACKEND");

	if (b && !strcmp(b, "postgresql")) {
		if (!getenv("CMSCTL_TEST_PG")) {
			fprintf(stderr, "CMSCTL_TEST_PG must name the test server "
				"(tests/unit/with_pg.sh sets it)\n");
			return 1;
		}
		backend = "postgresql";
		return cmocka_run_group_tests_name("state, postgresql backend", pg_tests, NULL,
						   NULL);
	}
	return cmocka_run_group_tests_name("state, sqlite backend", sqlite_tests, NULL, NULL);
}
