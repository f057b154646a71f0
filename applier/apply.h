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
 * the caller to write and commit to the history.  Both are internal to
 * applier/ (run.h): callers go through applier/runner.h, which verifies
 * the plan first and records the run after.
 */
#ifndef CMS_APPLIER_APPLY_H
#define CMS_APPLIER_APPLY_H

#include "applier/engine.h"
#include "common/buf.h"
#include "common/error.h"
#include "common/strv.h"
#include "planner/model.h"
#include "planner/plan.h"
#include "state/state.h"

#include <signal.h>
#include <stdint.h>

/* One step's progress, borrowed for the duration of the callback. */
struct db_stmt_log;
struct apply_step_event {
	int n;                        /* step number, from 1 */
	size_t total;                 /* steps in the run */
	const char *action;           /* plan action name: fence, promote... */
	const char *server;           /* or NULL */
	const char *description;      /* the plan's words for the step */
	enum step_status status;
	int64_t duration_ms;          /* when finished */
	const struct db_stmt_log *stmts; /* statements sent by the step, when finished */
	size_t nstmts;
	const char *error;            /* when failed */
};

struct applier_env;
struct apply_result;
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
	/* Test hook: handed to the engine (engine.h, on_database). */
	void (*on_database)(void *arg, const char *action, const char *server, const char *db);
	void *on_database_arg;
	/* Progress: called after each journal write of a step (running, then
	 * done, failed, skipped or undone), for the command line to show. */
	void (*on_step)(void *arg, const struct apply_step_event *ev);
	void *on_step_arg;
	/* Restore: when set, called under the lock with the steps restore has
	 * decided on (status pending) and its follow-ups, before anything is
	 * changed or journaled; a negative return stops the restore with that
	 * error and nothing changed (a declined prompt, a dry run). */
	int (*confirm)(void *arg, const struct apply_step_event *steps, size_t n,
		       char *const *followups, size_t nfollowups, struct cms_error *err);
	void *confirm_arg;
	/* Restore: reads the plan of an interrupted run by id (from the
	 * history); id_out receives the blob id of the bytes read. */
	int (*load_plan)(void *arg, const char *plan_id, struct plan **out, char id_out[41],
			 struct cms_error *err);
	void *load_plan_arg;
	/* Restore: the operator attests that the interrupted run's target is
	 * down (restore --assume-down SERVER --reason TEXT).  Used only where
	 * restore cannot tell whether the promotion took because the target
	 * does not answer: the run is then undone.  NULL: no attestation. */
	const char *assume_down;
	const char *assume_down_reason;
	/* Non-zero once a signal asked the run to stop (the signal's number);
	 * read between steps.  NULL: never asked. */
	const volatile sig_atomic_t *stop;
	/* Where the run is, for what a signal's message says: 0 before the
	 * run is journaled (nothing changed yet), 1 once it is, 2 once it is
	 * closed in the state and only its record (the history, the push)
	 * is left.  NULL: not told. */
	volatile sig_atomic_t *stop_phase;
	/* Apply: the approvals of plan_id that count (added to *counted) and a
	 * description of each one that does not
	 * ("name: why", '; '-separated, into not_counted).  NULL: every
	 * approval the state records counts, except the author's. */
	int (*approvals)(void *arg, const struct plan *p, const char *plan_id,
			 struct cms_strv *counted, struct buf *not_counted, struct cms_error *err);
	void *approvals_arg;
	/* Where the run is recorded (applier/runner.h): the state and the
	 * history, opened by the caller's functions. */
	const struct applier_env *env;
	/* Test hook: called between the state's record of a run and the
	 * history's, with the run's id. */
	void (*before_record)(void *arg, const char *run_id);
	void *before_record_arg;
	/* Test hook: called once the run is recorded (and pushed), before the
	 * store's lock is released. */
	void (*after_record)(void *arg, const char *run_id);
	void *after_record_arg;
	/* Test hook: called by apply once it holds the store's lock, before
	 * the engine is opened. */
	void (*after_lock)(void *arg);
	void *after_lock_arg;
	/* Called once the run's report is in the history (writes --report); a
	 * failure is the record's. */
	int (*write_report)(void *arg, const struct apply_result *res, struct cms_error *err);
	void *write_report_arg;
	/* Called under the store's lock, once the plan is known to be still
	 * the one to apply and before the run begins: records in the history
	 * the runs the state finished and the history lacks.  Under the lock,
	 * so that it never records the run of another process that is still
	 * recording it (two runners applying one plan at once).  NULL:
	 * nothing. */
	int (*level)(void *arg, struct cms_error *err);
	void *level_arg;
	/* Called by apply and restore once their run has finished (*res
	 * filled), still under the store's lock: records the run in the
	 * history, and returns the command's code (rc, the run's, or the
	 * record's failure).  Under the lock, so that no other process levels
	 * the history with this run from the journal while it is being
	 * recorded here.  NULL: nothing. */
	int (*record)(void *arg, const struct apply_result *res, int rc, struct cms_error *err);
	void *record_arg;
};

struct apply_result {
	char *run_id;
	char *plan_id;                /* the plan the run carried out or settled, or NULL */
	char *outcome;                /* ok, failed, rolled_back, interrupted, restored */
	int64_t serial_after;         /* the recorded serial when the run ended */
	char *location_primary, *location_mirror; /* the recorded location when the run ended */
	struct cms_strv followups;
	struct buf report_json;       /* per schemas/report.schema.json */
	struct buf report_html;       /* self-contained page */
	char *subject;                /* one-line history subject */
	struct cms_strv approvals;    /* approvers counted */
	char *assume_down;            /* the attestation the run acted on (restore's own
				       * --assume-down, else the plan's): server, or NULL */
	char *assume_down_reason;
	char *reason;                 /* the plan's --reason, or NULL */
	char *ticket;                 /* the plan's --ticket, or NULL */
};
void apply_result_free(struct apply_result *r); /* frees content */


/* Whether the process a lock holder names (its pid, host and PID
 * namespace) still exists: alive or dead when it is of this host and PID
 * namespace, elsewhere when it is not, unknown when the holder names no
 * process. */
enum lock_holder_state { HOLDER_UNKNOWN, HOLDER_ALIVE, HOLDER_DEAD, HOLDER_ELSEWHERE };
enum lock_holder_state applier_lock_holder_state(const struct lock_holder *holder);
const char *lock_holder_state_name(enum lock_holder_state s);

#endif
