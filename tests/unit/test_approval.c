/*
 * Unit tests of the verdict on an approval (state/approval.c): which
 * approvals count towards policy.approvals, as a pure function of what is
 * recorded and of the signature check; and the history path of a
 * principal's approval.
 */
#include "state/approval.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

static void judge(struct approval *a, const char *principal, const char *sig,
		  const struct approval_policy *pol, int verified)
{
	memset(a, 0, sizeof(*a));
	a->principal = strdup(principal);
	a->signature = sig ? strdup(sig) : NULL;
	approval_judge(a, pol, verified, verified == 0 ? "bad key" : NULL);
}

static void clear(struct approval *a)
{
	free(a->principal);
	free(a->signature);
	free(a->why_not);
}

static void test_verified_signature_of_another_counts(void **unused)
{
	struct approval_policy pol = { "alice", "signers", true };
	struct approval a;

	(void)unused;
	judge(&a, "bob", "SIG", &pol, 1);
	assert_true(a.counted);
	assert_null(a.why_not);
	clear(&a);
}

static void test_author_never_counts(void **unused)
{
	struct approval_policy pol = { "alice", "signers", true };
	struct approval_policy lax = { "alice", NULL, false };
	struct approval a;

	(void)unused;
	judge(&a, "alice", "SIG", &pol, 1);
	assert_false(a.counted);
	assert_string_equal(a.why_not, "the plan's author");
	clear(&a);
	judge(&a, "alice", NULL, &lax, -1);
	assert_false(a.counted);
	clear(&a);
}

static void test_failed_signature_never_counts(void **unused)
{
	struct approval_policy lax = { "alice", "signers", false };
	struct approval a;

	(void)unused;
	judge(&a, "bob", "SIG", &lax, 0);
	assert_false(a.counted);
	assert_string_equal(a.why_not, "signature does not verify: bad key");
	clear(&a);
}

static void test_unsigned_counts_only_when_policy_allows(void **unused)
{
	struct approval_policy strict = { "alice", "signers", true };
	struct approval_policy none = { "alice", NULL, true };
	struct approval_policy lax = { "alice", NULL, false };
	struct approval a;

	(void)unused;
	judge(&a, "bob", NULL, &strict, -1);
	assert_false(a.counted);
	assert_string_equal(a.why_not, "not signed, and policy.signed_approvals is true");
	clear(&a);
	judge(&a, "bob", "SIG", &none, -1);
	assert_false(a.counted);
	assert_non_null(strstr(a.why_not, "no policy.allowed_signers"));
	clear(&a);
	judge(&a, "bob", NULL, &lax, -1);
	assert_true(a.counted);
	clear(&a);
}

static void test_path_keeps_names_inside_their_folder(void **unused)
{
	char *p;

	(void)unused;
	p = approval_path("redmond", "abc", "bob@review");
	assert_string_equal(p, "redmond/approvals/abc/bob@review.json");
	free(p);
	p = approval_path("redmond", "abc", "../x y");
	assert_string_equal(p, "redmond/approvals/abc/_._x_y.json");
	free(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_verified_signature_of_another_counts),
		cmocka_unit_test(test_author_never_counts),
		cmocka_unit_test(test_failed_signature_never_counts),
		cmocka_unit_test(test_unsigned_counts_only_when_policy_allows),
		cmocka_unit_test(test_path_keeps_names_inside_their_folder),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
