/*
 * Unit tests of restore_decide(): each row of its decision table
 * (applier/restore_decide.h), and the cases between them, as a table of
 * facts and the expected way.
 */
#include "applier/restore_decide.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

/* A target as restore's probe reports it: role, and per database
 * "P" (primary, writable), "p" (primary, read-only), "m" (mirror),
 * "b" (backup), "f" (fenced), "u" (unknown). */
struct target {
	bool reachable;
	enum obs_role role;
	bool read_only;
	const char *dbs;
};

struct row {
	const char *name;
	bool consumed, recorded;
	int64_t recorded_serial;
	const char *recorded_primary;
	enum plan_mode mode;
	enum step_status promote;
	struct target t;          /* reachable false and role 0 with dbs NULL: no observation */
	bool no_target;
	enum restore_way want;
};

static enum obs_role role_of(char c, bool *ro)
{
	*ro = c == 'p';
	switch (c) {
	case 'P':
	case 'p':
		return OBS_PRIMARY;
	case 'm':
		return OBS_MIRROR;
	case 'b':
		return OBS_BACKUP;
	case 'f':
		return OBS_FENCED;
	default:
		return OBS_UNKNOWN;
	}
}

static const struct row rows[] = {
	/* 1. recorded already */
	{ "recorded at plan serial + 1 naming the target", true, true, 5, "pool-b", PLAN_SWITCHOVER,
	  STEP_RUNNING, { true, OBS_PRIMARY, false, "PP" }, false, RESTORE_FINISHED },
	{ "recorded adoption", true, true, 5, "pool-b", PLAN_ADOPT, STEP_PENDING,
	  { true, OBS_PRIMARY, false, "PP" }, false, RESTORE_FINISHED },
	{ "recorded, target now unreachable: still finished", true, true, 5, "pool-b",
	  PLAN_FAILOVER, STEP_DONE, { false, OBS_UNKNOWN, false, NULL }, false, RESTORE_FINISHED },
	{ "consumed but the record names another server", true, true, 5, "pool-a",
	  PLAN_SWITCHOVER, STEP_DONE, { true, OBS_PRIMARY, false, "PP" }, false, RESTORE_FORWARD },
	{ "consumed but the record is older", true, true, 4, "pool-b", PLAN_SWITCHOVER, STEP_DONE,
	  { true, OBS_MIRROR, false, "mm" }, false, RESTORE_UNDO },
	/* 2. adoptions */
	{ "adoption not recorded", false, false, 0, NULL, PLAN_ADOPT, STEP_PENDING,
	  { true, OBS_PRIMARY, false, "PP" }, false, RESTORE_CLOSE },
	{ "nothing to change", false, true, 4, "pool-a", PLAN_NONE, STEP_PENDING,
	  { true, OBS_MIRROR, false, "mm" }, false, RESTORE_CLOSE },
	/* 3. promote never ran: whatever the target says */
	{ "killed at the fence", false, true, 4, "pool-a", PLAN_SWITCHOVER, STEP_PENDING,
	  { true, OBS_MIRROR, false, "mm" }, false, RESTORE_UNDO },
	{ "killed at catch-up, target unreachable", false, true, 4, "pool-a", PLAN_SWITCHOVER,
	  STEP_PENDING, { false, OBS_UNKNOWN, false, NULL }, false, RESTORE_UNDO },
	/* 4. the target took it */
	{ "promote journaled running, target writable", false, true, 4, "pool-a", PLAN_SWITCHOVER,
	  STEP_RUNNING, { true, OBS_PRIMARY, false, "PP" }, false, RESTORE_FORWARD },
	{ "promote done, target writable", false, true, 4, "pool-a", PLAN_FAILOVER, STEP_DONE,
	  { true, OBS_PRIMARY, false, "PP" }, false, RESTORE_FORWARD },
	/* 5. part way, or closed */
	{ "xds promoted, lis a mirror", false, true, 4, "pool-a", PLAN_SWITCHOVER, STEP_RUNNING,
	  { true, OBS_UNKNOWN, false, "Pm" }, false, RESTORE_FINISH_PROMOTE },
	{ "promoted but still closed (fenced)", false, true, 4, "pool-a", PLAN_SWITCHOVER,
	  STEP_RUNNING, { true, OBS_FENCED, true, "ff" }, false, RESTORE_FINISH_PROMOTE },
	{ "xds promoted, lis unknown", false, true, 4, "pool-a", PLAN_SWITCHOVER, STEP_RUNNING,
	  { true, OBS_UNKNOWN, false, "Pu" }, false, RESTORE_UNKNOWN },
	/* 6. did not take */
	{ "promote failed, target still a mirror", false, true, 4, "pool-a", PLAN_SWITCHOVER,
	  STEP_FAILED, { true, OBS_MIRROR, false, "mm" }, false, RESTORE_UNDO },
	{ "promote running, target a backup", false, true, 4, "pool-a", PLAN_DISASTER_RECOVERY,
	  STEP_RUNNING, { true, OBS_BACKUP, false, "bb" }, false, RESTORE_UNDO },
	/* 7. cannot tell */
	{ "promote running, target unreachable", false, true, 4, "pool-a", PLAN_SWITCHOVER,
	  STEP_RUNNING, { false, OBS_UNKNOWN, false, NULL }, false, RESTORE_UNKNOWN },
	{ "promote done, target not observed at all", false, true, 4, "pool-a", PLAN_FAILOVER,
	  STEP_DONE, { false, OBS_UNKNOWN, false, NULL }, true, RESTORE_UNKNOWN },
	{ "promote running, target read-only primary on every database", false, true, 4, "pool-a",
	  PLAN_SWITCHOVER, STEP_RUNNING, { true, OBS_PRIMARY, true, "pp" }, false,
	  RESTORE_UNKNOWN },
};

static void test_table(void **state)
{
	size_t i, j, bad = 0;

	(void)state;
	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		const struct row *r = &rows[i];
		struct db_obs dbs[4];
		struct server_obs t;
		struct restore_facts f;
		enum restore_way got;

		memset(&t, 0, sizeof(t));
		memset(dbs, 0, sizeof(dbs));
		t.server = (char *)"pool-b";
		t.reachable = r->t.reachable;
		t.role = r->t.role;
		t.read_only = r->t.read_only;
		for (j = 0; r->t.dbs && r->t.dbs[j] && j < 4; j++) {
			dbs[j].name = (char *)(j ? "lis" : "xds");
			dbs[j].role = role_of(r->t.dbs[j], &dbs[j].read_only);
		}
		t.dbs = dbs;
		t.ndbs = j;
		memset(&f, 0, sizeof(f));
		f.consumed = r->consumed;
		f.recorded = r->recorded;
		f.recorded_serial = r->recorded_serial;
		f.recorded_primary = r->recorded_primary;
		f.mode = r->mode;
		f.plan_serial = 4;
		f.to_primary = "pool-b";
		f.promote = r->promote;
		f.target = r->no_target ? NULL : &t;
		got = restore_decide(&f);
		if (got != r->want) {
			print_error("%s: %s, expected %s\n", r->name, restore_way_name(got),
				    restore_way_name(r->want));
			bad++;
		}
	}
	assert_int_equal(bad, 0);
}

/* restore --assume-down: when the attestation decides, and why not. */
static void test_attest(void **state)
{
	static const struct {
		const char *name, *server;
		bool no_target, reachable, answered;
		enum step_status promote, demote;
		enum restore_way way;
		enum restore_attest want;
	} cases[] = {
		{ "target down, promotion running", "pool-b", false, false, false, STEP_RUNNING,
		  STEP_PENDING, RESTORE_UNKNOWN, ATTEST_OK },
		{ "target down, promotion failed part way", "pool-b", false, false, false, STEP_FAILED,
		  STEP_PENDING, RESTORE_UNKNOWN, ATTEST_OK },
		{ "another server", "pool-a", false, false, false, STEP_RUNNING, STEP_PENDING,
		  RESTORE_UNKNOWN, ATTEST_NOT_TARGET },
		{ "no server named", NULL, false, false, false, STEP_RUNNING, STEP_PENDING,
		  RESTORE_UNKNOWN, ATTEST_NOT_TARGET },
		{ "the target answers", "pool-b", false, true, true, STEP_RUNNING, STEP_PENDING,
		  RESTORE_UNDO, ATTEST_ANSWERS },
		{ "no observation of the target", "pool-b", true, false, false, STEP_RUNNING,
		  STEP_PENDING, RESTORE_UNKNOWN, ATTEST_ANSWERS },
		{ "part of the target answers", "pool-b", false, false, true, STEP_RUNNING,
		  STEP_PENDING, RESTORE_UNKNOWN, ATTEST_PART_ANSWERS },
		{ "the journal says the promotion took", "pool-b", false, false, false, STEP_DONE,
		  STEP_PENDING, RESTORE_UNKNOWN, ATTEST_PROMOTION_TOOK },
		{ "the demote began", "pool-b", false, false, false, STEP_RUNNING, STEP_RUNNING,
		  RESTORE_UNKNOWN, ATTEST_PROMOTION_TOOK },
		{ "never promoted: the journal decides", "pool-b", false, false, false, STEP_PENDING,
		  STEP_PENDING, RESTORE_UNDO, ATTEST_NOT_NEEDED },
		{ "the location recorded already", "pool-b", false, false, false, STEP_RUNNING,
		  STEP_PENDING, RESTORE_FINISHED, ATTEST_NOT_NEEDED },
	};
	size_t i, bad = 0;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct server_obs t;
		struct restore_facts f;
		enum restore_attest got;

		memset(&t, 0, sizeof(t));
		t.server = (char *)"pool-b";
		t.reachable = cases[i].reachable;
		t.answered = cases[i].answered;
		memset(&f, 0, sizeof(f));
		f.to_primary = "pool-b";
		f.mode = PLAN_SWITCHOVER;
		f.promote = cases[i].promote;
		f.demote = cases[i].demote;
		f.target = cases[i].no_target ? NULL : &t;
		got = restore_attest(&f, cases[i].server, cases[i].way);
		if (got != cases[i].want) {
			print_error("%s: %d, expected %d\n", cases[i].name, (int)got, (int)cases[i].want);
			bad++;
		}
	}
	assert_int_equal(bad, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_attest),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
