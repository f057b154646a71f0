/*
 * The in-memory record of one run (apply or restore), shared by the run
 * loop (apply.c) and the report writer (report.c).  Internal to applier/.
 */
#ifndef CMS_APPLIER_RUN_H
#define CMS_APPLIER_RUN_H

#include "applier/apply.h"

#include <stdbool.h>

/* The run loops (apply.c), called by the entries of runner.h: a plan
 * already verified, a state open in ctx->state. */
int applier_apply(const struct apply_ctx *ctx, const struct plan *p, const char *plan_id,
		  struct apply_result *out, struct cms_error *err);

/* Under the store's lock: closes dead restore runs, then settles the
 * newest interrupted apply (its plan read through ctx->load_plan), or
 * re-asserts the recorded location when there is none. */
int applier_restore(const struct apply_ctx *ctx, struct apply_result *out, struct cms_error *err);

struct run_check {
	char *check;      /* what was checked */
	char *observed;   /* what was seen */
	bool ok;
};

struct run_step {
	int n;
	enum plan_action action;
	char *server;
	char *description;
	bool undo;                 /* a fence step that undoes a fence */
	bool keep;                 /* a fence step that keeps a copy read-only (restore:
				    * engine keep_copy, a promotion that may be pending) */
	enum step_status status;
	char started_at[32];       /* RFC 3339 with milliseconds, "" until it runs */
	int64_t duration_ms;
	struct db_stmt_log *stmts; /* statements sent, with durations */
	size_t nstmts;
	struct run_check *checks;
	size_t nchecks;
	struct buf notes;          /* what the step did, for people */
	char *error;
};

struct run {
	const struct apply_ctx *ctx;
	const struct plan *p;      /* NULL for a restore without an interrupted run */
	const char *plan_id;       /* or NULL */
	const char *kind;          /* "apply" or "restore" */
	const char *operator_name;
	char *run_id;
	struct engine *e;
	char *lock_id;
	int64_t lease_confirmed_at; /* CLOCK_BOOTTIME ms of the state's last confirmation */
	int64_t lease_sure_until;  /* CLOCK_BOOTTIME ms: until then the lease is surely ours
				    * without asking the state (0: never asked) */
	bool lock_lost;            /* the lock was found taken, or its lease ran out and it
				    * could not be confirmed: nothing more is changed or
				    * journaled */
	bool lock_taken;           /* ... found taken over or broken (not only unconfirmed) */
	bool begun;                /* the run is in the journal */
	bool closed;           /* its end (outcome) is in the state's journal */
	bool dry;                  /* restore preview: decide the steps, change nothing */
	struct run_step *steps;
	size_t nsteps;
	struct run_check *prechecks; /* facts re-checked before any change */
	size_t nprechecks;
	char *fenced;              /* server fenced by this run and not undone */
	char *fenced_outside;      /* server fenced through a fence target (cmsctl cannot undo) */
	bool promote_started;
	/* Apply: records the new location in the state right before the first
	 * publish step (or after the last step when there is none), so that a
	 * target never holds a location the state does not; committed once it
	 * did (from then on nothing is rolled back). */
	int (*commit_hook)(struct run *r, struct cms_error *err);
	bool committed;
	const char *finishing_run; /* restore: the interrupted run whose new location its
				    * commit_hook records (borrowed) */
	int64_t t_fence, t_promoted; /* monotonic ms, -1 when not reached */
	int64_t w_promoted, w_unfenced; /* wall-clock ms of this run's promotion / undone
					 * fence, -1 when not reached */
	int64_t window_ms;         /* restore: the window of the run it closed, measured from
				    * that run's journal to this run's wall clock; -1: none */
	char *window_note;         /* what window_ms spans, for the page; or NULL */
	int publish_idx;
	const char *pub_primary;   /* the location publish and verify steps assert */
	const char *pub_mirror;
	int64_t pub_serial;
	const char *pub_lineage;   /* the lineage publish steps carry (NULL: none yet) */
	char *fresh_lineage;       /* an adoption's new lineage, made before its first step */
	size_t publish_failed;     /* publish steps that failed (follow-ups) */
	size_t publish_failed_required; /* ... of them, targets not marked required: false */
	char *publish_error;       /* the first required target's error */
	int64_t serial_before, serial_after;
	char *loc_primary, *loc_mirror; /* the recorded location at the end */
	struct cms_strv approvals; /* approvers counted */
	struct cms_strv followups;
	const char *outcome;
	const char *settled;       /* restore: "finished" or "undid" the interrupted run, or NULL */
	const char *fence_left;    /* restore: an old primary whose fence it could not undo */
	bool attested;             /* restore: undid its run on ctx->assume_down */
	bool changed;              /* a step that changes a server is done, or failed after it
				    * sent a statement (which may have changed it) */
	char *error;
	int64_t started, finished; /* wall clock, ms since the epoch */
	int64_t now;               /* the run's clock (CMSCTL_NOW or time), read once */
};

#endif
