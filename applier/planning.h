/*
 * Making a plan of a store and keeping it: the state's record and journal,
 * a probe of the servers, the planner's diff (planner/plan.h), and the
 * plan's commit to the history.  cmd/ parses the request and prints the
 * plan; everything it decides is here.
 */
#ifndef CMS_APPLIER_PLANNING_H
#define CMS_APPLIER_PLANNING_H

#include "common/buf.h"
#include "common/error.h"
#include "planner/model.h"
#include "planner/observe.h"
#include "planner/plan.h"
#include "state/history.h"
#include "state/state.h"

#include <stdbool.h>

/* What to plan, besides the store: the command line's choices. */
struct plan_request {
	bool offline;
	bool accept_drift;
	const char *assume_down;        /* --assume-down SERVER, or NULL */
	const char *assume_down_reason; /* --reason TEXT, with --assume-down */
	bool assume_down_where_it_applies; /* plan_inputs: a plan set's attestation */
	const char *reason;             /* --reason TEXT: why the change is made, or NULL */
	const char *ticket;             /* --ticket ID, or NULL */
};

/* Reads (and forgets) the password of each server of a store: a missing
 * password variable or unreadable password file is an error naming it. */
int applier_check_secrets(const struct store *st, struct cms_error *err);

/* Probes the servers of a store (or, offline, records that nothing was
 * asked). */
int applier_observe(const struct store *st, bool offline, struct observation *out,
		    struct cms_error *err);

/* 1 with *holder (the caller's) when the store's lock is held by a live
 * process, or by one elsewhere whose lease has not run out: a run in
 * progress; 0 when not; negative on error. */
int applier_live_holder(struct state *sdb, const char *store, char **holder,
			struct cms_error *err);

/* The newest run of store into *last (its id NULL when there is none:
 * that is not an error). */
int applier_last_run(struct state *sdb, const char *store, struct run_info *last,
		     struct cms_error *err);

/* The refusal of anything but restore while a run of store is unfinished
 * (CMS_EINTERRUPTED, with what to do); run is that run. */
int applier_interrupted_error(const struct run_info *run, const char *store,
			      struct cms_error *err);

/* Plans store st: the state's record (sdb, or NULL when there is no state
 * yet), a probe, the diff.  On success *json holds the plan's bytes and id
 * its blob id.  Refuses when a run of the store is unfinished: CMS_ELOCKED
 * when its process is alive, else CMS_EINTERRUPTED. */
int applier_make_plan(struct state *sdb, const struct store *st, const struct plan_request *req,
		      struct plan **out, struct buf *json, char id[41], struct cms_error *err);

/* Commits a plan's JSON and text to the history (record_commit(): the tip
 * into sdb when not NULL; *warn says why it could not be). */
int applier_commit_plan(struct history *h, struct state *sdb, const struct plan *p,
			const struct buf *json, const char *id, struct cms_error *warn,
			struct cms_error *err);

#endif
