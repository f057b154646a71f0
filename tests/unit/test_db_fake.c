/*
 * Unit tests of the scripted fake session (applier/db_fake.c) and of the
 * generic session layer it shares with ODBC (applier/db.c): matching
 * statements exactly or by prefix, failing at the first divergence with a
 * message naming what was expected, canned errors, and the statement log
 * that the journal and the report are built from.
 */
#include "applier/db.h"
#include "tests/unit/db_fake.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

static const char *const ctl_cols[] = { "role", "epoch" };
static const char *const ctl_cells[] = {
	"primary", "3",
	"mirror", NULL,
};

static void test_fake_answers_scripted_rows(void **state)
{
	const struct db_fake_reply script[] = {
		{ "SELECT role, epoch FROM cms_control", NULL, 2, ctl_cols, 2, ctl_cells },
	};
	struct cms_error err = CMS_ERROR_INIT;
	struct db_result *res = NULL;
	struct db *db = db_fake_new("pool-a", script, 1);

	(void)state;
	assert_int_equal(db_exec(db, "SELECT role, epoch FROM cms_control", &res, &err), 0);
	assert_non_null(res);
	assert_int_equal(res->ncols, 2);
	assert_int_equal(res->nrows, 2);
	assert_string_equal(res->colnames[0], "role");
	assert_string_equal(res->colnames[1], "epoch");
	assert_string_equal(db_result_get(res, 0, 0), "primary");
	assert_string_equal(db_result_get(res, 0, 1), "3");
	assert_string_equal(db_result_get(res, 1, 0), "mirror");
	assert_null(db_result_get(res, 1, 1));   /* SQL NULL */
	assert_null(db_result_get(res, 2, 0));   /* no such row */
	assert_null(db_result_get(res, 0, 2));   /* no such column */
	assert_int_equal(db_fake_consumed(db), 1);
	db_result_free(res);
	db_close(db);
}

static void test_fake_matches_prefix_ending_in_star(void **state)
{
	const struct db_fake_reply script[] = {
		{ "UPDATE cms_control SET read_only = *", NULL, 0, NULL, 0, NULL },
		{ "UPDATE cms_control SET read_only = *", NULL, 0, NULL, 0, NULL },
	};
	struct cms_error err = CMS_ERROR_INIT;
	struct db *db = db_fake_new("pool-a", script, 2);

	(void)state;
	assert_int_equal(db_exec(db, "UPDATE cms_control SET read_only = 1 WHERE id = 1", NULL, &err), 0);
	assert_int_equal(db_fake_consumed(db), 1);
	/* A prefix must still match from the start. */
	assert_int_equal(db_exec(db, "update cms_control SET read_only = 1", NULL, &err), CMS_ERROR);
	assert_string_equal(err.message,
			    "fake session 'pool-a': unexpected statement 'update cms_control SET read_only = 1' "
			    "(expected 'UPDATE cms_control SET read_only = *')");
	assert_int_equal(db_fake_consumed(db), 1);
	cms_error_clear(&err);
	db_close(db);
}

static void test_fake_exact_entry_does_not_match_longer_statement(void **state)
{
	const struct db_fake_reply script[] = {
		{ "SELECT 1", NULL, 0, NULL, 0, NULL },
	};
	struct cms_error err = CMS_ERROR_INIT;
	struct db *db = db_fake_new("pool-b", script, 1);

	(void)state;
	assert_int_equal(db_exec(db, "SELECT 12", NULL, &err), CMS_ERROR);
	assert_string_equal(err.message,
			    "fake session 'pool-b': unexpected statement 'SELECT 12' (expected 'SELECT 1')");
	assert_int_equal(db_fake_consumed(db), 0);
	cms_error_clear(&err);
	db_close(db);
}

static void test_fake_unexpected_statement_is_logged_as_failed(void **state)
{
	const struct db_fake_reply script[] = {
		{ "SELECT 1", NULL, 0, NULL, 0, NULL },
	};
	struct cms_error err = CMS_ERROR_INIT;
	struct db_stmt_log *log = NULL;
	size_t n = 0;
	struct db *db = db_fake_new("pool-a", script, 1);

	(void)state;
	assert_int_equal(db_exec(db, "DROP TABLE cms_data", NULL, &err), CMS_ERROR);
	assert_string_equal(err.message,
			    "fake session 'pool-a': unexpected statement 'DROP TABLE cms_data' (expected 'SELECT 1')");
	cms_error_clear(&err);
	db_take_log(db, &log, &n);
	assert_int_equal(n, 1);
	assert_string_equal(log[0].label, "pool-a");
	assert_string_equal(log[0].sql, "DROP TABLE cms_data");
	assert_int_equal(log[0].ok, 0);
	assert_true(log[0].duration_ms >= 0);
	db_stmt_log_free(log, n);
	db_close(db);
}

static void test_fake_fails_statement_beyond_script(void **state)
{
	const struct db_fake_reply script[] = {
		{ "SELECT 1", NULL, 0, NULL, 0, NULL },
	};
	struct cms_error err = CMS_ERROR_INIT;
	struct db *db = db_fake_new("pool-a", script, 1);

	(void)state;
	assert_int_equal(db_exec(db, "SELECT 1", NULL, &err), 0);
	assert_int_equal(db_exec(db, "SELECT 2", NULL, &err), CMS_ERROR);
	assert_string_equal(err.message,
			    "fake session 'pool-a': unexpected statement 'SELECT 2' (expected no more statements)");
	cms_error_clear(&err);
	db_close(db);
}

static void test_fake_scripted_error_fails_with_its_message(void **state)
{
	const struct db_fake_reply script[] = {
		{ "SELECT pg_promote(false)", "statement failed on server 'pool-b': [55000] native 1: not in recovery",
		  0, NULL, 0, NULL },
		{ "SELECT 1", NULL, 0, NULL, 0, NULL },
	};
	struct cms_error err = CMS_ERROR_INIT;
	struct db_result *res = NULL;
	struct db_stmt_log *log = NULL;
	size_t n = 0;
	struct db *db = db_fake_new("pool-b", script, 2);

	(void)state;
	assert_int_equal(db_exec(db, "SELECT pg_promote(false)", &res, &err), CMS_ERROR);
	assert_null(res);
	assert_string_equal(err.message,
			    "statement failed on server 'pool-b': [55000] native 1: not in recovery");
	cms_error_clear(&err);
	/* The failing entry is consumed: the script goes on. */
	assert_int_equal(db_fake_consumed(db), 1);
	assert_int_equal(db_exec(db, "SELECT 1", NULL, &err), 0);
	db_take_log(db, &log, &n);
	assert_int_equal(n, 2);
	assert_int_equal(log[0].ok, 0);
	assert_int_equal(log[1].ok, 1);
	db_stmt_log_free(log, n);
	db_close(db);
}

static void test_log_records_every_statement_in_order_and_moves_out(void **state)
{
	const struct db_fake_reply script[] = {
		{ "SELECT 1", NULL, 0, NULL, 0, NULL },
		{ "UPDATE t SET x = 1", NULL, 0, NULL, 0, NULL },
		{ "SELECT 3", NULL, 0, NULL, 0, NULL },
	};
	struct cms_error err = CMS_ERROR_INIT;
	struct db_stmt_log *log = NULL;
	size_t n = 0;
	struct db *db = db_fake_new("dublin-dr", script, 3);

	(void)state;
	assert_int_equal(db_exec(db, "SELECT 1", NULL, &err), 0);
	assert_int_equal(db_exec(db, "UPDATE t SET x = 1", NULL, &err), 0);
	db_take_log(db, &log, &n);
	assert_int_equal(n, 2);
	assert_string_equal(log[0].sql, "SELECT 1");
	assert_string_equal(log[1].sql, "UPDATE t SET x = 1");
	assert_string_equal(log[1].label, "dublin-dr");
	assert_int_equal(log[1].ok, 1);
	assert_true(log[0].duration_ms >= 0 && log[1].duration_ms >= 0);
	db_stmt_log_free(log, n);

	/* Taken means gone: the next take holds only what came after. */
	assert_int_equal(db_exec(db, "SELECT 3", NULL, &err), 0);
	db_take_log(db, &log, &n);
	assert_int_equal(n, 1);
	assert_string_equal(log[0].sql, "SELECT 3");
	db_stmt_log_free(log, n);
	db_take_log(db, &log, &n);
	assert_int_equal(n, 0);
	assert_null(log);
	db_close(db);
}

/* Each logged statement names the database it hit: the one it acts on
 * (db_exec_on), else the session's; NULL until the session has one. */
static void test_log_names_the_database_each_statement_hit(void **state)
{
	const struct db_fake_reply script[] = {
		{ "SELECT 1", NULL, 0, NULL, 0, NULL },
		{ "SELECT 2", NULL, 0, NULL, 0, NULL },
		{ "ALTER DATABASE \"lis\" WITH ALLOW_CONNECTIONS false", NULL, 0, NULL, 0, NULL },
		{ "SELECT 4", NULL, 0, NULL, 0, NULL },
	};
	struct cms_error err = CMS_ERROR_INIT;
	struct db_stmt_log *log = NULL;
	size_t n = 0;
	struct db *db = db_fake_new("pool-a", script, 4);

	(void)state;
	assert_int_equal(db_exec(db, "SELECT 1", NULL, &err), 0);
	db_set_database(db, "postgres");
	assert_int_equal(db_exec(db, "SELECT 2", NULL, &err), 0);
	assert_int_equal(db_exec_on(db, "lis", "ALTER DATABASE \"lis\" WITH ALLOW_CONNECTIONS false",
				    NULL, &err), 0);
	assert_int_equal(db_exec_on(db, NULL, "SELECT 4", NULL, &err), 0);
	db_take_log(db, &log, &n);
	assert_int_equal(n, 4);
	assert_null(log[0].database);
	assert_string_equal(log[1].database, "postgres");
	assert_string_equal(log[2].database, "lis");
	assert_string_equal(log[3].database, "postgres");
	db_stmt_log_free(log, n);
	db_close(db);
}

static void test_query_value_returns_first_cell_or_fails_without_row(void **state)
{
	static const char *const one_col[] = { "v" };
	static const char *const one_cell[] = { "42" };
	static const char *const null_cell[] = { NULL };
	const struct db_fake_reply script[] = {
		{ "SELECT v", NULL, 1, one_col, 1, one_cell },
		{ "SELECT NULL", NULL, 1, one_col, 1, null_cell },
		{ "SELECT nothing", NULL, 1, one_col, 0, NULL },
	};
	struct cms_error err = CMS_ERROR_INIT;
	char *value = NULL;
	struct db *db = db_fake_new("pool-a", script, 3);

	(void)state;
	assert_int_equal(db_query_value(db, "SELECT v", &value, &err), 0);
	assert_string_equal(value, "42");
	free(value);
	assert_int_equal(db_query_value(db, "SELECT NULL", &value, &err), 0);
	assert_null(value);
	assert_int_equal(db_query_value(db, "SELECT nothing", &value, &err), CMS_ERROR);
	assert_null(value);
	assert_string_equal(err.message, "statement returned no row on server 'pool-a': SELECT nothing");
	cms_error_clear(&err);
	db_close(db);
}

static void test_free_and_close_accept_null(void **state)
{
	(void)state;
	db_result_free(NULL);
	db_close(NULL);
	db_stmt_log_free(NULL, 0);
	assert_null(db_result_get(NULL, 0, 0));
	assert_int_equal(db_fake_consumed(NULL), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fake_answers_scripted_rows),
		cmocka_unit_test(test_log_names_the_database_each_statement_hit),
		cmocka_unit_test(test_fake_matches_prefix_ending_in_star),
		cmocka_unit_test(test_fake_exact_entry_does_not_match_longer_statement),
		cmocka_unit_test(test_fake_unexpected_statement_is_logged_as_failed),
		cmocka_unit_test(test_fake_fails_statement_beyond_script),
		cmocka_unit_test(test_fake_scripted_error_fails_with_its_message),
		cmocka_unit_test(test_log_records_every_statement_in_order_and_moves_out),
		cmocka_unit_test(test_query_value_returns_first_cell_or_fails_without_row),
		cmocka_unit_test(test_free_and_close_accept_null),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
