/*
 * What restore does with an interrupted apply, decided from facts alone
 * (the state's record, the journal, what the target reports now): a pure
 * function, so that every case of the decision table is a unit test
 * (tests/unit/test_restore_decide.c).
 */
#ifndef CMS_APPLIER_RESTORE_DECIDE_H
#define CMS_APPLIER_RESTORE_DECIDE_H

#include "planner/observe.h"
#include "planner/plan.h"
#include "state/state.h"

#include <stdbool.h>
#include <stdint.h>

enum restore_way {
	RESTORE_FINISHED,       /* the new location was recorded already: finish what followed */
	RESTORE_CLOSE,          /* an adoption (or nothing to do): no server was changed; close it */
	RESTORE_UNDO,           /* the promotion never took: undo the fence, keep the record */
	RESTORE_FORWARD,        /* the target took the promotion: record it, finish the run */
	RESTORE_FINISH_PROMOTE, /* it took on some databases (or is still closed): promote the
				 * rest, then as RESTORE_FORWARD */
	RESTORE_UNKNOWN,        /* the target cannot tell: refuse, change nothing */
};

struct restore_facts {
	bool consumed;                   /* the state marks the run's plan consumed */
	bool recorded;                   /* the store has a recorded location */
	int64_t recorded_serial;
	const char *recorded_primary;
	enum plan_mode mode;             /* the interrupted run's plan */
	int64_t plan_serial;             /* the serial the plan was made against */
	const char *to_primary;          /* its target */
	enum step_status promote;        /* its promote step in the journal (PENDING: never ran) */
	enum step_status demote;         /* its demote step in the journal */
	const struct server_obs *target; /* what the target reports now, or NULL */
};

/* The decision table, in order:
 *  1. plan consumed and the record at plan serial + 1 naming the target -> FINISHED
 *  2. an adoption or a plan with nothing to change                     -> CLOSE
 *  3. the promote step never ran                                       -> UNDO
 *  4. the target takes writes                                          -> FORWARD
 *  5. some of its databases take writes and the others are copies, or
 *     it reports fenced (promoted but still closed)                    -> FINISH_PROMOTE
 *  6. it reports mirror or backup                                      -> UNDO
 *  7. otherwise (unreachable, unknown)                                 -> UNKNOWN */
enum restore_way restore_decide(const struct restore_facts *f);
const char *restore_way_name(enum restore_way w);

/* restore --assume-down SERVER: whether the operator's attestation is the
 * one thing that decides (way is restore_decide's answer without it), in
 * order: SERVER is the run's target, the target does not answer at all,
 * the journal does not say the promotion took, and restore cannot tell
 * otherwise.  ATTEST_OK: the run is undone. */
enum restore_attest {
	ATTEST_OK,
	ATTEST_NOT_TARGET,      /* SERVER is not the run's target */
	ATTEST_ANSWERS,         /* the target answers (or reports nothing to go by) */
	ATTEST_PART_ANSWERS,    /* part of it answers: not down */
	ATTEST_PROMOTION_TOOK,  /* the journal says the promotion took (or the demote began) */
	ATTEST_NOT_NEEDED,      /* restore decides without it */
};
enum restore_attest restore_attest(const struct restore_facts *f, const char *server,
				   enum restore_way way);

#endif
