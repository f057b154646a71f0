/*
 * Apply and restore: the run loop of DESIGN.md section 5.
 *
 * applier_apply() takes the store's lock, re-checks the plan (lineage,
 * serial, expiry, single use, approvals) and every observation it relied on,
 * then runs its steps, journaling each in the state before and after with
 * the statements sent and their timings.  Failure before promotion undoes
 * the fence; failure after promotion never rolls back and leaves the run
 * for restore (CMS_EINTERRUPTED).  On success the new location is committed
 * (serial + 1) and the plan id consumed.
 *
 * applier_restore() re-asserts the recorded location: it finishes or undoes
 * an interrupted run from its journal, or re-fences, re-publishes and
 * verifies; it is journaled and reported like an apply.
 *
 * Neither prints.  The report (JSON and HTML) comes back in the result for
 * the caller to write and commit to the history.
 */
#ifndef CMS_APPLIER_APPLY_H
#define CMS_APPLIER_APPLY_H

#include "applier/engine.h"
#include "common/buf.h"
#include "common/error.h"
#include "planner/model.h"
#include "planner/plan.h"
#include "state/state.h"

#include <stdint.h>

struct apply_ctx {
	const struct store *store;    /* desired config: connections and publish targets */
	struct state *state;
	const char *operator_name;
	engine_connect_fn connect;    /* NULL: ODBC */
	void *connect_ctx;
	int64_t lease_s;              /* lock lease, renewed between steps; 0 means 900 */
	int64_t lock_timeout_ms;      /* how long to wait for a lock held by someone else
				       * (retrying); 0: fail at once */
	/* Test hook: called after each journal write with the step number and
	 * status written (lets a test harness stop the process at a boundary). */
	void (*on_journal)(void *arg, int step, enum step_status status);
	void *on_journal_arg;
	/* Restore: reads the plan of an interrupted run by id (from the
	 * history); id_out receives the blob id of the bytes read. */
	int (*load_plan)(void *arg, const char *plan_id, struct plan **out, char id_out[41],
			 struct cms_error *err);
	void *load_plan_arg;
	/* Apply: the approvals of plan_id that count (*counted, each and the
	 * array the caller's) and a description of each one that does not
	 * ("name: why", '; '-separated, into not_counted).  NULL: every
	 * approval the state records counts, except the author's. */
	int (*approvals)(void *arg, const struct plan *p, const char *plan_id, char ***counted,
			 size_t *ncounted, struct buf *not_counted, struct cms_error *err);
	void *approvals_arg;
};

struct apply_result {
	char *run_id;
	char *plan_id;                /* the plan the run carried out or settled, or NULL */
	char *outcome;                /* ok, failed, rolled_back, interrupted, restored */
	int64_t serial_after;         /* the recorded serial when the run ended */
	char *location_primary, *location_mirror; /* the recorded location when the run ended */
	char **followups;
	size_t nfollowups;
	struct buf report_json;       /* per schemas/report.schema.json */
	struct buf report_html;       /* self-contained page */
	char *subject;                /* one-line history subject */
	char **approvals;             /* approvers counted */
	size_t napprovals;
};
void apply_result_free(struct apply_result *r); /* frees content */

int applier_apply(const struct apply_ctx *ctx, const struct plan *p, const char *plan_id,
		  struct apply_result *out, struct cms_error *err);

/* Under the store's lock: closes dead restore runs, then settles the
 * newest interrupted apply (its plan read through ctx->load_plan), or
 * re-asserts the recorded location when there is none. */
int applier_restore(const struct apply_ctx *ctx, struct apply_result *out, struct cms_error *err);

#endif
