/*
 * audit verify: checks the history and the state against each other and
 * against themselves, and lists every finding.  What is checked, per
 * store:
 *   plan-hash           a plan file whose bytes do not hash to the id in its name
 *   apply-without-plan  an apply commit whose Plan-Id is not in the history
 *   approval-signature  an approval whose signature does not verify (or is malformed)
 *   approval-without-record  an apply commit whose Approved-By names an approval
 *                       that has no record in the history
 *   serial-sequence     location.json serials that do not go up by one
 *                       (a serial of 1 starts a new lineage; re-asserting
 *                       the same serial is allowed)
 *   state-differs       the state's serial or location is not the last location.json
 *   run-without-report  a finished run in the state without its report in the history
 *   report-without-run  a run's report in the history for a run the state does not have
 *   history-rewritten   the branch tip does not descend from the tip the state
 *                       recorded at the last history commit
 *   unexpected-file     a file where cmsctl writes none (or under a name it
 *                       does not give): the layout of state/history.h
 *   history-edited      a commit that changed or removed a recorded file (a
 *                       plan, its text, an approval, a report); only
 *                       location.json changes, and a run's report is
 *                       written again only by the run's own commit
 */
#ifndef CMS_STATE_AUDIT_H
#define CMS_STATE_AUDIT_H

#include "common/error.h"

#include <stdbool.h>
#include <stddef.h>

struct history;
struct state;

/* What the config says about a store, for checking its approvals. */
struct audit_store {
	const char *name;
	const char *allowed_signers; /* NULL: signatures cannot be checked */
};

struct audit_finding {
	char *kind;    /* one of the names above */
	char *store;   /* or NULL for the history as a whole */
	char *message;
};
void audit_findings_free(struct audit_finding *f, size_t n);

/* What was looked at, for the summary line. */
struct audit_counts {
	size_t stores, plans, applies, approvals, locations, runs;
};

/* Walks the history (and the state when sdb is not NULL) and appends every
 * finding to *out; only_store NULL means every store the history, the state
 * or the config knows.  Errors only when something cannot be read at all;
 * findings are not errors. */
int audit_verify(struct history *h, struct state *sdb, const struct audit_store *stores,
		 size_t nstores, const char *only_store, struct audit_finding **out, size_t *n,
		 struct audit_counts *counts, struct cms_error *err);

#endif
