/*
 * The clock of a production build (compiled without CMSCTL_TEST_CLOCK, see
 * tests/CMakeLists.txt): CMSCTL_NOW is refused (-2) and the real time is
 * used, so nobody can backdate a plan, its expiry or an approval.
 */
#include "common/util.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <time.h>

static void test_production_build_refuses_cmsctl_now(void **unused)
{
	int64_t t = 0, before = (int64_t)time(NULL);

	(void)unused;
	setenv("CMSCTL_NOW", "2020-01-01T00:00:00Z", 1);
	assert_int_equal(cms_now(&t), -2);
	assert_true(t >= before);
	unsetenv("CMSCTL_NOW");
	assert_int_equal(cms_now(&t), 0);
	assert_true(t >= before);
	assert_true(cms_real_now() >= before);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_production_build_refuses_cmsctl_now),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
