/*
 * Unit tests of the ODBC session (applier/db_odbc.c) against a real driver:
 * unixODBC and the SQLite3 ODBC driver on a file in a private mkdtemp
 * directory.  They pin what the rest of cmsctl relies on: complete results
 * (SQL NULL apart from "", values longer than one fetch chunk), errors
 * carrying the SQLSTATE and native code, the statement log with durations,
 * a missing file not being created, transactions through the ODBC API, and
 * no password in any message.
 */
#include "applier/db.h"
#include "common/buf.h"
#include "common/util.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

struct fixture {
	char dir[64];
	char *file;    /* dir/test.db */
	char *connstr; /* to file, created on first use */
	struct db *db;
};

static int setup(void **state)
{
	struct fixture *f = xcalloc(1, sizeof(*f));
	struct cms_error err = CMS_ERROR_INIT;

	snprintf(f->dir, sizeof(f->dir), "/tmp/cmsctl-test-db-odbc-XXXXXX");
	if (!mkdtemp(f->dir)) {
		free(f);
		return -1;
	}
	f->file = xasprintf("%s/test.db", f->dir);
	f->connstr = xasprintf("Driver=SQLite3;Database=%s;Timeout=5000", f->file);
	if (db_connect_odbc(&f->db, "test", f->connstr, NULL, 5000, 30000, &err) < 0) {
		fprintf(stderr, "setup: %s\n", err.message);
		cms_error_clear(&err);
		return -1;
	}
	*state = f;
	return 0;
}

static void remove_with_sidecars(const char *file)
{
	static const char *const suffixes[] = { "", "-journal", "-wal", "-shm" };
	size_t i;

	for (i = 0; i < ARRAY_SIZE(suffixes); i++) {
		char *p = xasprintf("%s%s", file, suffixes[i]);
		unlink(p);
		free(p);
	}
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	db_close(f->db);
	remove_with_sidecars(f->file);
	rmdir(f->dir);
	free(f->file);
	free(f->connstr);
	free(f);
	return 0;
}

static void exec_ok(struct db *db, const char *sql)
{
	struct cms_error err = CMS_ERROR_INIT;
	int rc = db_exec(db, sql, NULL, &err);

	if (rc < 0)
		fail_msg("%s: %s", sql, err.message);
	cms_error_clear(&err);
}

static void test_rows_come_back_with_null_empty_and_long_values(void **state)
{
	struct fixture *f = *state;
	struct cms_error err = CMS_ERROR_INIT;
	struct db_result *res = NULL;
	size_t i;

	exec_ok(f->db, "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)");
	exec_ok(f->db, "INSERT INTO t VALUES (1, 'one')");
	exec_ok(f->db, "INSERT INTO t VALUES (2, NULL)");
	exec_ok(f->db, "INSERT INTO t VALUES (3, '')");
	/* 20000 bytes: several SQLGetData chunks. */
	exec_ok(f->db, "INSERT INTO t VALUES (4, printf('%.*c', 20000, 'x') || 'END')");
	assert_int_equal(db_exec(f->db, "SELECT id, v FROM t ORDER BY id", &res, &err), 0);
	assert_non_null(res);
	assert_int_equal(res->ncols, 2);
	assert_int_equal(res->nrows, 4);
	assert_string_equal(res->colnames[0], "id");
	assert_string_equal(res->colnames[1], "v");
	assert_string_equal(db_result_get(res, 0, 0), "1");
	assert_string_equal(db_result_get(res, 0, 1), "one");
	assert_null(db_result_get(res, 1, 1));
	assert_non_null(db_result_get(res, 2, 1));
	assert_string_equal(db_result_get(res, 2, 1), "");
	assert_int_equal(strlen(db_result_get(res, 3, 1)), 20003);
	for (i = 0; i < 20000; i++)
		assert_int_equal(db_result_get(res, 3, 1)[i], 'x');
	assert_string_equal(db_result_get(res, 3, 1) + 20000, "END");
	db_result_free(res);
}

static void test_update_matching_no_row_succeeds(void **state)
{
	struct fixture *f = *state;
	struct cms_error err = CMS_ERROR_INIT;
	struct db_result *res = NULL;

	exec_ok(f->db, "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)");
	assert_int_equal(db_exec(f->db, "UPDATE t SET v = 'x' WHERE id = 99", &res, &err), 0);
	assert_non_null(res);
	assert_int_equal(res->nrows, 0);
	db_result_free(res);
	assert_int_equal(db_exec(f->db, "DELETE FROM t WHERE id = 99", NULL, &err), 0);
}

static void test_query_value_over_odbc(void **state)
{
	struct fixture *f = *state;
	struct cms_error err = CMS_ERROR_INIT;
	char *v = NULL;

	assert_int_equal(db_query_value(f->db, "SELECT 6 * 7", &v, &err), 0);
	assert_string_equal(v, "42");
	free(v);
	assert_int_equal(db_query_value(f->db, "SELECT NULL", &v, &err), 0);
	assert_null(v);
	assert_int_equal(db_query_value(f->db, "SELECT 1 WHERE 0", &v, &err), CMS_ERROR);
	assert_non_null(strstr(err.message, "returned no row on server 'test'"));
	cms_error_clear(&err);
}

static void test_error_names_server_sqlstate_native_code_and_statement(void **state)
{
	struct fixture *f = *state;
	struct cms_error err = CMS_ERROR_INIT;
	struct db_result *res = NULL;

	assert_int_equal(db_exec(f->db, "SELECT * FROM missing_table", &res, &err), CMS_ERROR);
	assert_null(res);
	assert_non_null(err.message);
	/* [SQLSTATE] native N: message, then the statement. */
	assert_true(strncmp(err.message, "statement failed on server 'test': [HY000] native 1: ",
			    strlen("statement failed on server 'test': [HY000] native 1: ")) == 0);
	assert_non_null(strstr(err.message, "no such table: missing_table"));
	assert_non_null(strstr(err.message, "(in 'SELECT * FROM missing_table')"));
	cms_error_clear(&err);
}

static void test_error_quotes_only_the_first_200_characters_of_the_statement(void **state)
{
	struct fixture *f = *state;
	struct cms_error err = CMS_ERROR_INIT;
	struct buf sql = BUF_INIT;
	size_t i;

	buf_adds(&sql, "SELECT * FROM missing_table WHERE x IN (");
	for (i = 0; i < 100; i++)
		buf_addf(&sql, "%s%zu", i ? ", " : "", i);
	buf_adds(&sql, ") AND marker_after_200 = 1");
	assert_int_equal(db_exec(f->db, sql.ptr, NULL, &err), CMS_ERROR);
	assert_null(strstr(err.message, "marker_after_200"));
	assert_non_null(strstr(err.message, "...')"));
	cms_error_clear(&err);
	buf_free(&sql);
}

static void test_log_has_every_statement_with_outcome_and_duration(void **state)
{
	struct fixture *f = *state;
	struct cms_error err = CMS_ERROR_INIT;
	struct db_stmt_log *log = NULL;
	size_t n = 0;

	exec_ok(f->db, "CREATE TABLE t (id INTEGER)");
	assert_int_equal(db_exec(f->db, "SELECT nope FROM t", NULL, &err), CMS_ERROR);
	cms_error_clear(&err);
	/* Long enough (hundreds of ms) that its duration cannot round to 0. */
	exec_ok(f->db, "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 2000000) "
		       "SELECT count(*) FROM n");
	db_take_log(f->db, &log, &n);
	assert_int_equal(n, 3);
	assert_string_equal(log[0].label, "test");
	assert_string_equal(log[0].sql, "CREATE TABLE t (id INTEGER)");
	assert_int_equal(log[0].ok, 1);
	assert_string_equal(log[1].sql, "SELECT nope FROM t");
	assert_int_equal(log[1].ok, 0);
	assert_int_equal(log[2].ok, 1);
	assert_true(log[0].duration_ms >= 0);
	assert_true(log[1].duration_ms >= 0);
	assert_true(log[2].duration_ms > 0);
	db_stmt_log_free(log, n);
}

static void test_transactions_commit_and_roll_back(void **state)
{
	struct fixture *f = *state;
	struct cms_error err = CMS_ERROR_INIT;
	struct db_stmt_log *log = NULL;
	size_t n = 0, i, begins = 0, rollbacks = 0;
	char *v = NULL;

	exec_ok(f->db, "CREATE TABLE t (id INTEGER)");
	assert_int_equal(db_begin(f->db, &err), 0);
	exec_ok(f->db, "INSERT INTO t VALUES (1)");
	assert_int_equal(db_rollback(f->db, &err), 0);
	assert_int_equal(db_query_value(f->db, "SELECT count(*) FROM t", &v, &err), 0);
	assert_string_equal(v, "0");
	free(v);

	assert_int_equal(db_begin(f->db, &err), 0);
	exec_ok(f->db, "INSERT INTO t VALUES (2)");
	assert_int_equal(db_commit(f->db, &err), 0);
	/* Autocommit is back: this insert stands without a commit. */
	exec_ok(f->db, "INSERT INTO t VALUES (3)");
	assert_int_equal(db_query_value(f->db, "SELECT group_concat(id) FROM t", &v, &err), 0);
	assert_string_equal(v, "2,3");
	free(v);

	db_take_log(f->db, &log, &n);
	for (i = 0; i < n; i++) {
		begins += strcmp(log[i].sql, "BEGIN") == 0;
		rollbacks += strcmp(log[i].sql, "ROLLBACK") == 0;
	}
	assert_int_equal(begins, 2);
	assert_int_equal(rollbacks, 1);
	db_stmt_log_free(log, n);
}

static void test_connect_to_missing_file_with_nocreat_fails_and_creates_nothing(void **state)
{
	struct fixture *f = *state;
	struct cms_error err = CMS_ERROR_INIT;
	struct db *db = NULL;
	struct stat sb;
	char *file = xasprintf("%s/absent.db", f->dir);
	char *cs = xasprintf("Driver=SQLite3;Database=%s;NoCreat=1", file);

	assert_int_equal(db_connect_odbc(&db, "pool-b", cs, NULL, 1000, 1000, &err), CMS_ERROR);
	assert_null(db);
	assert_non_null(err.message);
	assert_true(strncmp(err.message, "cannot connect to server 'pool-b': [",
			    strlen("cannot connect to server 'pool-b': [")) == 0);
	assert_non_null(strstr(err.message, "native "));
	assert_int_equal(stat(file, &sb), -1);
	assert_int_equal(errno, ENOENT);
	cms_error_clear(&err);
	free(cs);
	free(file);
}

static void test_password_never_appears_in_a_connect_error(void **state)
{
	struct cms_error err = CMS_ERROR_INIT;
	struct db *db = NULL;

	(void)state;
	/* A driver that does not exist: the driver manager fails. */
	assert_int_equal(db_connect_odbc(&db, "pool-a", "Driver=cmsctl-no-such-driver;Database=x",
					 "s3cr3t-xyz", 1000, 1000, &err), CMS_ERROR);
	assert_null(db);
	assert_non_null(strstr(err.message, "cannot connect to server 'pool-a': ["));
	assert_null(strstr(err.message, "s3cr3t-xyz"));
	cms_error_clear(&err);

	/* The driver manager echoes the driver name: make it the secret, and
	 * the message must still not carry it. */
	assert_int_equal(db_connect_odbc(&db, "pool-a", "Driver=s3cr3t-xyz", "s3cr3t-xyz", 1000, 1000,
					 &err), CMS_ERROR);
	assert_non_null(strstr(err.message, "'***'"));
	assert_null(strstr(err.message, "s3cr3t-xyz"));
	cms_error_clear(&err);

	/* A password with '}' is sent escaped ("}}"): neither form leaks. */
	assert_int_equal(db_connect_odbc(&db, "pool-a", "Driver={s3cr}}3t}", "s3cr}3t", 1000, 1000,
					 &err), CMS_ERROR);
	assert_null(strstr(err.message, "s3cr}3t"));
	assert_null(strstr(err.message, "s3cr}}3t"));
	cms_error_clear(&err);
}

static void test_pwd_attribute_echoed_by_a_driver_is_masked(void **state)
{
	struct cms_error err = CMS_ERROR_INIT;
	struct db *db = NULL;

	(void)state;
	/* The driver manager echoes the driver name, here one that reads
	 * like a PWD attribute. */
	assert_int_equal(db_connect_odbc(&db, "pool-a", "Driver={PWD=hunter2}", NULL, 1000, 1000, &err),
			 CMS_ERROR);
	assert_null(strstr(err.message, "hunter2"));
	cms_error_clear(&err);
}

/* The threads of this process (/proc/self/status). */
static int threads_now(void)
{
	FILE *fp = fopen("/proc/self/status", "r");
	char line[256];
	int n = -1;

	if (!fp)
		return -1;
	while (fgets(line, sizeof(line), fp))
		if (sscanf(line, "Threads: %d", &n) == 1)
			break;
	fclose(fp);
	return n;
}

/* A session to a file (db_connect_odbc_file) connects, runs statements
 * and closes on the calling thread: a process that starts one (a child of
 * fork(), which has one thread) still has one thread after, while a
 * session made with db_connect_odbc has its connect worker and watchdog. */
static void test_a_file_session_uses_no_thread(void **state)
{
	struct fixture *f = *state;
	int status = 0, want;
	pid_t pid;

	for (want = 1; want <= 2; want++) {
		pid = fork();
		assert_true(pid >= 0);
		if (pid == 0) {
			struct cms_error err = CMS_ERROR_INIT;
			struct db *db = NULL;
			struct db_result *res = NULL;
			int ok, n;

			if (want == 1)
				ok = db_connect_odbc_file(&db, "file", f->connstr, 5000, 5000,
							  &err) == 0;
			else
				ok = db_connect_odbc(&db, "net", f->connstr, NULL, 5000, 5000,
						     &err) == 0;
			ok = ok && db_exec(db, "SELECT 1", &res, &err) == 0 && res && res->nrows == 1;
			n = threads_now();
			db_result_free(res);
			db_close(db);
			/* 0: as expected; 1: the session failed; 2: one thread
			 * where more were expected, or more where one was. */
			_exit(!ok ? 1 : (want == 1 ? n == 1 : n > 1) ? 0 : 2);
		}
		assert_int_equal(waitpid(pid, &status, 0), pid);
		assert_true(WIFEXITED(status));
		assert_int_equal(WEXITSTATUS(status), 0);
	}
}

static void test_empty_connection_string_is_refused(void **state)
{
	struct cms_error err = CMS_ERROR_INIT;
	struct db *db = NULL;

	(void)state;
	assert_int_equal(db_connect_odbc(&db, "pool-a", "", NULL, 1000, 1000, &err), CMS_ERROR);
	assert_string_equal(err.message, "cannot connect to server 'pool-a': no connection string");
	cms_error_clear(&err);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_rows_come_back_with_null_empty_and_long_values, setup, teardown),
		cmocka_unit_test_setup_teardown(test_update_matching_no_row_succeeds, setup, teardown),
		cmocka_unit_test_setup_teardown(test_query_value_over_odbc, setup, teardown),
		cmocka_unit_test_setup_teardown(test_error_names_server_sqlstate_native_code_and_statement, setup, teardown),
		cmocka_unit_test_setup_teardown(test_error_quotes_only_the_first_200_characters_of_the_statement, setup, teardown),
		cmocka_unit_test_setup_teardown(test_log_has_every_statement_with_outcome_and_duration, setup, teardown),
		cmocka_unit_test_setup_teardown(test_transactions_commit_and_roll_back, setup, teardown),
		cmocka_unit_test_setup_teardown(test_connect_to_missing_file_with_nocreat_fails_and_creates_nothing, setup, teardown),
		cmocka_unit_test(test_password_never_appears_in_a_connect_error),
		cmocka_unit_test(test_pwd_attribute_echoed_by_a_driver_is_masked),
		cmocka_unit_test(test_empty_connection_string_is_refused),
		cmocka_unit_test_setup_teardown(test_a_file_session_uses_no_thread, setup,
						teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
