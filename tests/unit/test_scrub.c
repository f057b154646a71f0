/*
 * Unit tests of secret scrubbing (db_scrub_secret in applier/db_odbc.c):
 * a password is masked where it stands as a whole word or value, and never
 * inside another word, so that a short password does not mangle a driver's
 * message ("Unexpected EOF" with the password "x").
 */
#include "applier/db.h"
#include "common/buf.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

static void scrubbed(const char *text, const char *secret, const char *want)
{
	struct buf b = BUF_INIT;

	buf_adds(&b, text);
	db_scrub_secret(&b, secret);
	assert_string_equal(b.ptr, want);
	buf_free(&b);
}

static void test_a_short_password_leaves_other_words_alone(void **state)
{
	(void)state;
	scrubbed("[08S01] Unexpected EOF from the server", "x", "[08S01] Unexpected EOF from the server");
	scrubbed("Login failed for user 'sa'; password x rejected", "x",
		 "Login failed for user 'sa'; password *** rejected");
}

static void test_whole_values_are_masked(void **state)
{
	(void)state;
	scrubbed("PWD=hunter2;UID=sa", "hunter2", "PWD=***;UID=sa");
	scrubbed("'hunter2' is wrong, hunter2", "hunter2", "'***' is wrong, ***");
	scrubbed("hunter2", "hunter2", "***");
	scrubbed("no secret here", "hunter2", "no secret here");
	scrubbed("hunter2x and xhunter2 are other words", "hunter2",
		 "hunter2x and xhunter2 are other words");
}

static void test_punctuation_at_the_edges_of_a_secret_bounds_it(void **state)
{
	(void)state;
	scrubbed("bad password p@ss! given", "p@ss!", "bad password *** given");
	scrubbed("value=!x!y", "!x!", "value=***y");
}

static void test_no_secret_is_a_no_op(void **state)
{
	(void)state;
	scrubbed("Unexpected", NULL, "Unexpected");
	scrubbed("Unexpected", "", "Unexpected");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_a_short_password_leaves_other_words_alone),
		cmocka_unit_test(test_whole_values_are_masked),
		cmocka_unit_test(test_punctuation_at_the_edges_of_a_secret_bounds_it),
		cmocka_unit_test(test_no_secret_is_a_no_op),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
