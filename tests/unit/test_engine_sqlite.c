/*
 * Unit tests of the sqlite engine (applier/engine_sqlite.c) on real files
 * through real ODBC: each test builds the quick start's three servers with
 * examples/quickstart/setup.sh in a private mkdtemp directory, and clients
 * write with examples/quickstart/write.sh, so the tests also pin that the
 * example and the engine agree on the control-table contract.
 */
#include "applier/engine.h"
#include "common/buf.h"
#include "common/util.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

struct fixture {
	char dir[64];
	char *source_dir;          /* CMSCTL_SOURCE_DIR */
	char *paths[3];
	char *dbnames[2];
	struct server servers[3];
	struct store store;
	struct engine *e;
};

/* Runs argv, stdout discarded; returns the exit status or -1. */
static int run(char *const argv[])
{
	pid_t pid;
	int status;

	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		int fd = open("/dev/null", O_WRONLY);

		if (fd >= 0)
			dup2(fd, 1);
		execvp(argv[0], argv);
		_exit(127);
	}
	if (waitpid(pid, &status, 0) < 0 || !WIFEXITED(status))
		return -1;
	return WEXITSTATUS(status);
}

static int write_rows(struct fixture *f, const char *server, const char *n, const char *db)
{
	char *script = xasprintf("%s/examples/quickstart/write.sh", f->source_dir);
	char *argv[] = { "bash", script, f->dir, (char *)server, (char *)n, (char *)db, NULL };
	int rc = run(argv);

	free(script);
	return rc;
}

/* Runs one SQL statement with the sqlite3 CLI on server/db.db. */
static void sqlite3_cli(struct fixture *f, const char *server, const char *db, const char *sql)
{
	char *file = xasprintf("%s/servers/%s/%s.db", f->dir, server, db);
	char *argv[] = { "sqlite3", "-bail", file, (char *)sql, NULL };

	assert_int_equal(run(argv), 0);
	free(file);
}

static int setup(void **state)
{
	static const char *const names[] = { "pool-a", "pool-b", "dublin-dr" };
	static const enum server_role roles[] = { SERVER_ROLE_PRIMARY, SERVER_ROLE_MIRROR,
						  SERVER_ROLE_BACKUP };
	struct fixture *f = xcalloc(1, sizeof(*f));
	struct cms_error err = CMS_ERROR_INIT;
	const char *src = getenv("CMSCTL_SOURCE_DIR");
	char *script;
	size_t i;
	int rc;

	if (!src || !*src) {
		fprintf(stderr, "CMSCTL_SOURCE_DIR is not set (ctest sets it)\n");
		free(f);
		return -1;
	}
	f->source_dir = xstrdup(src);
	snprintf(f->dir, sizeof(f->dir), "/tmp/cmsctl-test-engine-sqlite-XXXXXX");
	if (!mkdtemp(f->dir))
		return -1;
	script = xasprintf("%s/examples/quickstart/setup.sh", src);
	{
		char *argv[] = { "bash", script, f->dir, NULL };
		rc = run(argv);
	}
	free(script);
	if (rc != 0) {
		fprintf(stderr, "setup.sh failed with %d\n", rc);
		return -1;
	}

	f->dbnames[0] = xstrdup("xds");
	f->dbnames[1] = xstrdup("lis");
	for (i = 0; i < 3; i++) {
		f->paths[i] = xasprintf("%s/servers/%s", f->dir, names[i]);
		f->servers[i].name = (char *)names[i];
		f->servers[i].path = f->paths[i];
		f->servers[i].role = roles[i];
	}
	f->store.name = "quickstart";
	f->store.engine = ENGINE_SQLITE;
	f->store.databases = f->dbnames;
	f->store.ndatabases = 2;
	f->store.servers = f->servers;
	f->store.nservers = 3;
	f->store.location.primary = "pool-a";
	f->store.location.mirror = "pool-b";
	f->store.policy.login_timeout_ms = 5000;
	f->store.policy.query_timeout_ms = 30000;
	f->store.policy.catch_up_timeout_ms = 30000;
	f->store.policy.max_lag_bytes = 16777216;
	if (engine_open(&f->e, &f->store, NULL, NULL, &err) < 0) {
		fprintf(stderr, "engine_open: %s\n", err.message);
		cms_error_clear(&err);
		return -1;
	}
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	char *argv[] = { "rm", "-rf", f->dir, NULL };
	size_t i;

	engine_close(f->e);
	run(argv);
	for (i = 0; i < 3; i++)
		free(f->paths[i]);
	free(f->dbnames[0]);
	free(f->dbnames[1]);
	free(f->source_dir);
	free(f);
	return 0;
}

static void probe(struct fixture *f, struct observation *obs)
{
	struct cms_error err = CMS_ERROR_INIT;

	memset(obs, 0, sizeof(*obs));
	if (engine_probe(f->e, obs, &err) < 0)
		fail_msg("probe: %s", err.message);
	assert_true(obs->probed);
	assert_int_equal(obs->nservers, 3);
}

static const struct server_obs *find(const struct observation *obs, const char *name)
{
	const struct server_obs *so = observation_find(obs, name);

	assert_non_null(so);
	return so;
}

static uint64_t file_size(struct fixture *f, const char *server, const char *db)
{
	char *file = xasprintf("%s/servers/%s/%s.db", f->dir, server, db);
	struct stat sb;

	assert_int_equal(stat(file, &sb), 0);
	free(file);
	return (uint64_t)sb.st_size;
}

static void expect_ok(int rc, const struct cms_error *err, const char *what)
{
	if (rc != 0)
		fail_msg("%s: %d %s", what, rc, err->message ? err->message : "");
}

static void test_probe_reports_roles_epochs_counters_and_lag(void **state)
{
	struct fixture *f = *state;
	struct observation obs;
	const struct server_obs *a, *b, *dr;

	probe(f, &obs);
	/* Config order. */
	assert_string_equal(obs.servers[0].server, "pool-a");
	assert_string_equal(obs.servers[2].server, "dublin-dr");

	a = find(&obs, "pool-a");
	assert_true(a->reachable);
	assert_null(a->error);
	assert_int_equal(a->role, OBS_PRIMARY);
	assert_int_equal(a->epoch, 1);
	assert_int_equal(a->position, 5);
	assert_false(a->read_only);
	assert_int_equal(a->lag_bytes, 0);
	assert_null(a->upstream);
	assert_int_equal(a->ndbs, 2);
	assert_string_equal(a->dbs[0].name, "xds");
	assert_string_equal(a->dbs[1].name, "lis");
	assert_int_equal(a->dbs[1].role, OBS_PRIMARY);
	assert_int_equal(a->dbs[1].position, 5);

	b = find(&obs, "pool-b");
	assert_true(b->reachable);
	assert_int_equal(b->role, OBS_MIRROR);
	assert_int_equal(b->epoch, 1);
	assert_int_equal(b->position, 5);
	assert_int_equal(b->lag_bytes, 0);
	assert_string_equal(b->upstream, "pool-a");

	dr = find(&obs, "dublin-dr");
	assert_true(dr->reachable);
	assert_int_equal(dr->role, OBS_BACKUP);
	assert_int_equal(dr->position, 3);
	/* What catch-up must copy: the primary's files that differ. */
	assert_int_equal(dr->lag_bytes, (int64_t)(file_size(f, "pool-a", "xds") + file_size(f, "pool-a", "lis")));
	assert_true(dr->lag_bytes > 0);
	assert_string_equal(dr->upstream, "pool-a");
	observation_free(&obs);
}

static void test_probe_marks_server_without_directory_unreachable(void **state)
{
	struct fixture *f = *state;
	struct observation obs;
	const struct server_obs *b;
	char *gone = xasprintf("%s.gone", f->paths[1]);
	char *expect = xasprintf("no database file '%s/xds.db'", f->paths[1]);
	struct stat sb;

	assert_int_equal(rename(f->paths[1], gone), 0);
	probe(f, &obs);
	b = find(&obs, "pool-b");
	assert_false(b->reachable);
	assert_non_null(b->error);
	assert_string_equal(b->error, expect);
	assert_int_equal(b->role, OBS_UNKNOWN);
	assert_int_equal(b->lag_bytes, -1);
	assert_null(b->upstream);
	/* Nothing was created in its place. */
	assert_int_equal(stat(f->paths[1], &sb), -1);
	/* The others are unaffected. */
	assert_true(find(&obs, "pool-a")->reachable);
	assert_int_equal(find(&obs, "dublin-dr")->role, OBS_BACKUP);
	observation_free(&obs);
	free(gone);
	free(expect);
}

static void test_probe_marks_server_missing_one_database_unreachable(void **state)
{
	struct fixture *f = *state;
	struct observation obs;
	const struct server_obs *dr;
	char *file = xasprintf("%s/lis.db", f->paths[2]);
	struct stat sb;

	assert_int_equal(unlink(file), 0);
	probe(f, &obs);
	dr = find(&obs, "dublin-dr");
	assert_false(dr->reachable);
	assert_non_null(strstr(dr->error, "no database file"));
	assert_non_null(strstr(dr->error, "/servers/dublin-dr/lis.db'"));
	assert_int_equal(dr->dbs[0].role, OBS_UNKNOWN);
	assert_int_equal(stat(file, &sb), -1);
	observation_free(&obs);
	free(file);
}

static void test_probe_says_when_databases_disagree(void **state)
{
	struct fixture *f = *state;
	struct observation obs;
	const struct server_obs *b;

	sqlite3_cli(f, "pool-b", "lis", "UPDATE cms_control SET role = 'backup'");
	probe(f, &obs);
	b = find(&obs, "pool-b");
	assert_true(b->reachable);
	assert_int_equal(b->role, OBS_UNKNOWN);
	assert_non_null(b->error);
	assert_non_null(strstr(b->error, "disagree"));
	assert_int_equal(b->dbs[0].role, OBS_MIRROR);
	assert_int_equal(b->dbs[1].role, OBS_BACKUP);
	observation_free(&obs);
}

static void test_probe_lag_is_unknown_with_two_writable_primaries(void **state)
{
	struct fixture *f = *state;
	struct observation obs;

	sqlite3_cli(f, "pool-b", "xds", "UPDATE cms_control SET role = 'primary'");
	sqlite3_cli(f, "pool-b", "lis", "UPDATE cms_control SET role = 'primary'");
	probe(f, &obs);
	assert_int_equal(find(&obs, "pool-a")->lag_bytes, -1);
	assert_int_equal(find(&obs, "pool-b")->lag_bytes, -1);
	assert_int_equal(find(&obs, "dublin-dr")->lag_bytes, -1);
	assert_null(find(&obs, "dublin-dr")->upstream);
	observation_free(&obs);
}

static void test_probe_rejects_an_invalid_control_row(void **state)
{
	struct fixture *f = *state;
	struct observation obs;
	const struct server_obs *dr;

	/* What a server says is input: validated, not trusted. */
	sqlite3_cli(f, "dublin-dr", "xds", "UPDATE cms_control SET epoch = 'soon'");
	probe(f, &obs);
	dr = find(&obs, "dublin-dr");
	assert_false(dr->reachable);
	assert_non_null(strstr(dr->error, "invalid epoch 'soon' in the control table of 'dublin-dr/xds'"));
	observation_free(&obs);
}

static void test_fence_takes_and_unfence_restores(void **state)
{
	struct fixture *f = *state;
	struct cms_error err = CMS_ERROR_INIT;
	struct observation obs;

	expect_ok(f->e->ops->fence(f->e, "pool-a", &err), &err, "fence");
	probe(f, &obs);
	assert_true(find(&obs, "pool-a")->read_only);
	assert_true(find(&obs, "pool-a")->dbs[0].read_only);
	assert_true(find(&obs, "pool-a")->dbs[1].read_only);
	assert_int_equal(find(&obs, "pool-a")->role, OBS_PRIMARY);
	/* A fenced primary is still the one others lag behind. */
	assert_int_equal(find(&obs, "dublin-dr")->lag_bytes > 0, 1);
	observation_free(&obs);
	/* Clients honour the fence. */
	assert_int_equal(write_rows(f, "pool-a", "1", NULL), 1);

	expect_ok(f->e->ops->unfence(f->e, "pool-a", &err), &err, "unfence");
	assert_int_equal(write_rows(f, "pool-a", "2", NULL), 0);
	probe(f, &obs);
	assert_false(find(&obs, "pool-a")->read_only);
	assert_int_equal(find(&obs, "pool-a")->position, 7);
	/* The mirror is now behind. */
	assert_true(find(&obs, "pool-b")->lag_bytes > 0);
	observation_free(&obs);
}

static void test_fence_of_unreachable_server_fails(void **state)
{
	struct fixture *f = *state;
	struct cms_error err = CMS_ERROR_INIT;
	char *gone = xasprintf("%s.gone", f->paths[0]);

	assert_int_equal(rename(f->paths[0], gone), 0);
	assert_true(f->e->ops->fence(f->e, "pool-a", &err) < 0);
	assert_non_null(strstr(err.message, "cannot fence 'pool-a': no database file"));
	cms_error_clear(&err);
	free(gone);
}

static void test_check_target_accepts_mirror_and_refuses_primary_or_unreachable(void **state)
{
	struct fixture *f = *state;
	struct cms_error err = CMS_ERROR_INIT;
	char *gone = xasprintf("%s.gone", f->paths[2]);

	expect_ok(f->e->ops->check_target(f->e, "pool-b", &err), &err, "check pool-b");
	assert_int_equal(f->e->ops->check_target(f->e, "pool-a", &err), CMS_EREFUSED);
	assert_string_equal(err.message, "target 'pool-a' already holds 'xds' as primary");
	assert_int_equal(f->e->ops->check_target(f->e, "nowhere", &err), CMS_ENOTFOUND);
	assert_string_equal(err.message, "server 'nowhere' is not part of store 'quickstart'");
	assert_int_equal(rename(f->paths[2], gone), 0);
	assert_int_equal(f->e->ops->check_target(f->e, "dublin-dr", &err), CMS_EREFUSED);
	assert_non_null(strstr(err.message, "target 'dublin-dr' is unreachable: no database file '"));
	cms_error_clear(&err);
	free(gone);
}

static int count_leftovers(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int n = 0;

	assert_non_null(d);
	while ((de = readdir(d)) != NULL) {
		if (strstr(de->d_name, ".catchup-"))
			n++;
	}
	closedir(d);
	return n;
}

static void test_catch_up_copies_source_into_backup_keeping_its_role(void **state)
{
	struct fixture *f = *state;
	struct cms_error err = CMS_ERROR_INIT;
	struct observation obs;
	const struct server_obs *dr;
	struct db_stmt_log *log = NULL;
	size_t n = 0, i, vacuums = 0;

	expect_ok(f->e->ops->catch_up(f->e, "pool-a", "dublin-dr", 30000, &err), &err, "catch_up");
	probe(f, &obs);
	dr = find(&obs, "dublin-dr");
	assert_true(dr->reachable);
	assert_int_equal(dr->role, OBS_BACKUP);
	assert_int_equal(dr->epoch, 1);
	assert_int_equal(dr->position, 5);
	assert_int_equal(dr->dbs[0].position, 5);
	assert_int_equal(dr->dbs[1].position, 5);
	assert_false(dr->read_only);
	assert_int_equal(dr->lag_bytes, 0);
	observation_free(&obs);
	assert_int_equal(count_leftovers(f->paths[2]), 0);

	engine_take_log(f->e, &log, &n);
	for (i = 0; i < n; i++) {
		if (strncmp(log[i].sql, "VACUUM INTO '", 13) == 0) {
			vacuums++;
			assert_string_equal(log[i].label, "pool-a");
			assert_non_null(strstr(log[i].sql, "/servers/dublin-dr/"));
		}
	}
	assert_int_equal(vacuums, 2);
	db_stmt_log_free(log, n);

	/* Nothing to copy the second time. */
	expect_ok(f->e->ops->catch_up(f->e, "pool-a", "dublin-dr", 30000, &err), &err, "catch_up again");
	engine_take_log(f->e, &log, &n);
	for (i = 0; i < n; i++)
		assert_null(strstr(log[i].sql, "VACUUM"));
	db_stmt_log_free(log, n);
}

static void test_catch_up_never_overwrites_a_target_ahead_of_its_source(void **state)
{
	struct fixture *f = *state;
	struct cms_error err = CMS_ERROR_INIT;
	struct observation obs;

	sqlite3_cli(f, "dublin-dr", "xds", "UPDATE cms_control SET change_counter = 99");
	assert_int_equal(f->e->ops->catch_up(f->e, "pool-a", "dublin-dr", 30000, &err), CMS_EREFUSED);
	assert_non_null(strstr(err.message, "'dublin-dr/xds' is ahead of 'pool-a' (change 99 > 5)"));
	cms_error_clear(&err);
	probe(f, &obs);
	assert_int_equal(find(&obs, "dublin-dr")->dbs[0].position, 99);
	observation_free(&obs);
}

static void test_catch_up_stops_when_the_timeout_passes(void **state)
{
	struct fixture *f = *state;
	struct cms_error err = CMS_ERROR_INIT;

	/* Enough data that copying xds takes well over a millisecond, so the
	 * check before lis sees the 0 ms budget spent. */
	assert_int_equal(write_rows(f, "pool-a", "20000", "xds"), 0);
	assert_int_equal(f->e->ops->catch_up(f->e, "pool-a", "dublin-dr", 0, &err), CMS_EREFUSED);
	assert_string_equal(err.message, "catch-up of 'dublin-dr' did not finish within 0ms");
	cms_error_clear(&err);
	assert_int_equal(count_leftovers(f->paths[2]), 0);
}

static void test_promote_refuses_while_another_primary_is_writable_unless_forced(void **state)
{
	struct fixture *f = *state;
	struct cms_error err = CMS_ERROR_INIT;
	struct observation obs;

	assert_int_equal(f->e->ops->promote(f->e, "pool-b", "pool-a", false, &err), CMS_EREFUSED);
	assert_string_equal(err.message, "cannot promote 'pool-b': 'pool-a' still accepts writes on 'xds'");
	assert_non_null(err.hint);
	probe(f, &obs);
	assert_int_equal(find(&obs, "pool-b")->role, OBS_MIRROR);
	observation_free(&obs);

	expect_ok(f->e->ops->promote(f->e, "pool-b", "pool-a", true, &err), &err, "forced promote");
	probe(f, &obs);
	assert_int_equal(find(&obs, "pool-b")->role, OBS_PRIMARY);
	assert_int_equal(find(&obs, "pool-b")->epoch, 2);
	observation_free(&obs);
	cms_error_clear(&err);
}

static void test_switchover_fence_catch_up_promote_demote(void **state)
{
	struct fixture *f = *state;
	struct cms_error err = CMS_ERROR_INIT;
	struct observation obs;
	const struct server_obs *a, *b, *dr;
	struct db_stmt_log *log = NULL;
	size_t n = 0, i, fences = 0;

	expect_ok(f->e->ops->check_target(f->e, "pool-b", &err), &err, "check_target");
	expect_ok(f->e->ops->fence(f->e, "pool-a", &err), &err, "fence");
	expect_ok(f->e->ops->catch_up(f->e, "pool-a", "pool-b", 30000, &err), &err, "catch_up");
	expect_ok(f->e->ops->promote(f->e, "pool-b", "pool-a", false, &err), &err, "promote");
	expect_ok(f->e->ops->demote(f->e, "pool-a", "pool-b", &err), &err, "demote");
	assert_int_equal(f->e->nfollowups, 0);

	probe(f, &obs);
	b = find(&obs, "pool-b");
	assert_int_equal(b->role, OBS_PRIMARY);
	assert_int_equal(b->epoch, 2);
	assert_int_equal(b->dbs[0].epoch, 2);
	assert_int_equal(b->dbs[1].epoch, 2);
	assert_false(b->read_only);
	assert_int_equal(b->lag_bytes, 0);
	a = find(&obs, "pool-a");
	assert_int_equal(a->role, OBS_MIRROR);
	assert_int_equal(a->epoch, 1);
	assert_false(a->read_only);
	assert_string_equal(a->upstream, "pool-b");
	assert_int_equal(a->lag_bytes, 0);
	dr = find(&obs, "dublin-dr");
	assert_string_equal(dr->upstream, "pool-b");
	assert_true(dr->lag_bytes > 0);
	observation_free(&obs);

	/* Clients follow: the new primary takes writes, the old refuses. */
	assert_int_equal(write_rows(f, "pool-b", "1", NULL), 0);
	assert_int_equal(write_rows(f, "pool-a", "1", NULL), 1);

	/* Promoting again changes nothing (an interrupted run resumed). */
	expect_ok(f->e->ops->promote(f->e, "pool-b", "pool-a", false, &err), &err, "promote again");
	probe(f, &obs);
	assert_int_equal(find(&obs, "pool-b")->epoch, 2);
	observation_free(&obs);

	engine_take_log(f->e, &log, &n);
	assert_true(n > 0);
	for (i = 0; i < n; i++) {
		assert_true(log[i].duration_ms >= 0);
		assert_int_equal(log[i].ok, 1);
		assert_true(strcmp(log[i].label, "pool-a") == 0 || strcmp(log[i].label, "pool-b") == 0 ||
			    strcmp(log[i].label, "dublin-dr") == 0);
		if (strcmp(log[i].sql, "UPDATE cms_control SET read_only = 1 WHERE id = 1") == 0) {
			assert_string_equal(log[i].label, "pool-a");
			fences++;
		}
	}
	assert_int_equal(fences, 2);
	db_stmt_log_free(log, n);
}

static void test_disaster_recovery_promotes_backup_and_records_follow_up(void **state)
{
	struct fixture *f = *state;
	struct cms_error err = CMS_ERROR_INIT;
	struct observation obs;
	char *gone = xasprintf("%s.gone", f->paths[0]);

	assert_int_equal(rename(f->paths[0], gone), 0); /* the primary is down */
	expect_ok(f->e->ops->check_target(f->e, "dublin-dr", &err), &err, "check_target");
	expect_ok(f->e->ops->promote(f->e, "dublin-dr", "pool-a", true, &err), &err, "promote");
	expect_ok(f->e->ops->demote(f->e, "pool-a", "dublin-dr", &err), &err, "demote");
	assert_int_equal(f->e->nfollowups, 1);
	assert_string_equal(f->e->followups[0],
			    "server 'pool-a' was unreachable: re-seed it as mirror of 'dublin-dr' before it serves again");

	probe(f, &obs);
	assert_int_equal(find(&obs, "dublin-dr")->role, OBS_PRIMARY);
	/* Epoch above every reachable server's, pool-b's included. */
	assert_int_equal(find(&obs, "dublin-dr")->epoch, 2);
	assert_int_equal(find(&obs, "dublin-dr")->position, 3);
	assert_false(find(&obs, "pool-a")->reachable);
	/* pool-b holds data dublin-dr lost: it differs, so it lags. */
	assert_true(find(&obs, "pool-b")->lag_bytes > 0);
	observation_free(&obs);
	free(gone);
}

static void test_engine_open_keeps_the_log_until_taken(void **state)
{
	struct fixture *f = *state;
	struct observation obs;
	struct db_stmt_log *log = NULL;
	size_t n = 0, i;

	probe(f, &obs);
	observation_free(&obs);
	engine_take_log(f->e, &log, &n);
	/* One control read per server and database. */
	assert_int_equal(n, 6);
	for (i = 0; i < n; i++) {
		assert_string_equal(log[i].sql,
				    "SELECT role, epoch, change_counter, read_only FROM cms_control WHERE id = 1");
		assert_true(log[i].duration_ms >= 0);
	}
	assert_string_equal(log[0].label, "pool-a");
	assert_string_equal(log[5].label, "dublin-dr");
	db_stmt_log_free(log, n);
	engine_take_log(f->e, &log, &n);
	assert_int_equal(n, 0);
}

int main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_probe_reports_roles_epochs_counters_and_lag),
		T(test_probe_marks_server_without_directory_unreachable),
		T(test_probe_marks_server_missing_one_database_unreachable),
		T(test_probe_says_when_databases_disagree),
		T(test_probe_lag_is_unknown_with_two_writable_primaries),
		T(test_probe_rejects_an_invalid_control_row),
		T(test_fence_takes_and_unfence_restores),
		T(test_fence_of_unreachable_server_fails),
		T(test_check_target_accepts_mirror_and_refuses_primary_or_unreachable),
		T(test_catch_up_copies_source_into_backup_keeping_its_role),
		T(test_catch_up_never_overwrites_a_target_ahead_of_its_source),
		T(test_catch_up_stops_when_the_timeout_passes),
		T(test_promote_refuses_while_another_primary_is_writable_unless_forced),
		T(test_switchover_fence_catch_up_promote_demote),
		T(test_disaster_recovery_promotes_backup_and_records_follow_up),
		T(test_engine_open_keeps_the_log_until_taken),
	};
#undef T

	return cmocka_run_group_tests(tests, NULL, NULL);
}
