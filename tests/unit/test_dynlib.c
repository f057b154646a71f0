/*
 * Unit tests for common/dynlib.c: a library loaded on first use fills its
 * table, and a missing library or function is an error that names it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "common/dynlib.h"
#include "common/lib_git2.h"
#include "common/lib_ldap.h"
#include "common/lib_odbc.h"
#include "common/lib_pq.h"
#include "common/lib_sqlite.h"

struct libc_table {
	size_t (*strlen_fn)(const char *);
	int (*abs_fn)(int);
};

static void test_loads_and_fills_the_table(void **state)
{
	static const char *const names[] = { "strlen", "abs" };
	struct libc_table t = { NULL, NULL };
	struct cms_dynlib l = { "libc.so.6", names, 2, &t, sizeof(t), NULL, false };
	struct cms_error err = CMS_ERROR_INIT;

	(void)state;
	assert_int_equal(cms_dynlib_load(&l, &err), 0);
	assert_null(err.message);
	assert_true(l.loaded);
	assert_int_equal(t.strlen_fn("cmsctl"), 6);
	assert_int_equal(t.abs_fn(-7), 7);
	/* A second load is a no-op. */
	assert_int_equal(cms_dynlib_load(&l, &err), 0);
}

static void test_missing_library_is_named(void **state)
{
	static const char *const names[] = { "strlen" };
	void *t[1] = { NULL };
	struct cms_dynlib l = { "libcmsctl-absent.so.9", names, 1, t, sizeof(t), NULL, false };
	struct cms_error err = CMS_ERROR_INIT;

	(void)state;
	assert_int_equal(cms_dynlib_load(&l, &err), CMS_ERROR);
	assert_non_null(strstr(err.message, "cannot load libcmsctl-absent.so.9: "));
	assert_non_null(err.hint);
	assert_false(l.loaded);
	cms_error_clear(&err);
}

static void test_missing_function_is_named(void **state)
{
	static const char *const names[] = { "strlen", "cmsctl_no_such_function" };
	void *t[2] = { NULL, NULL };
	struct cms_dynlib l = { "libc.so.6", names, 2, t, sizeof(t), NULL, false };
	struct cms_error err = CMS_ERROR_INIT;

	(void)state;
	assert_int_equal(cms_dynlib_load(&l, &err), CMS_ERROR);
	assert_non_null(strstr(err.message, "cannot load libc.so.6: it has no function cmsctl_no_such_function"));
	assert_false(l.loaded);
	cms_error_clear(&err);
}

/* The product's own tables: each library the build found loads, with
 * every function cmsctl lists. */
static void test_product_libraries_load(void **state)
{
	struct cms_error err = CMS_ERROR_INIT;

	(void)state;
	assert_int_equal(cms_lib_git2_load(&err), 0);
	assert_int_equal(cms_lib_pq_load(&err), 0);
	assert_int_equal(cms_lib_ldap_load(&err), 0);
	assert_int_equal(cms_lib_sqlite_load(&err), 0);
	assert_int_equal(cms_lib_odbc_load(&err), 0);
	assert_null(err.message);
	assert_true(cms_lib_git2_lib.loaded && cms_lib_pq_lib.loaded && cms_lib_ldap_lib.loaded &&
		    cms_lib_sqlite_lib.loaded && cms_lib_odbc_lib.loaded);
	/* A call through the table reaches the library. */
	assert_true(PQstatus(NULL) == CONNECTION_BAD);
	assert_non_null(sqlite3_errstr(SQLITE_BUSY));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_loads_and_fills_the_table),
		cmocka_unit_test(test_missing_library_is_named),
		cmocka_unit_test(test_missing_function_is_named),
		cmocka_unit_test(test_product_libraries_load),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
