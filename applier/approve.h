/*
 * A reviewer's approval of one saved plan (cmsctl approve): only a plan
 * apply could still carry out can be approved, never by its author; the
 * approval is signed when the store asks for it (state/approval.h),
 * recorded in the state (which decides between runners approving at once)
 * and committed to the history by the runner that recorded it.
 */
#ifndef CMS_APPLIER_APPROVE_H
#define CMS_APPLIER_APPROVE_H

#include "applier/runner.h"
#include "common/error.h"
#include "planner/model.h"
#include "planner/plan.h"

#include <stdbool.h>
#include <stdint.h>

struct approve_request {
	const char *who;        /* the reviewer's principal */
	const char *key;        /* SSH key to sign with, or NULL: unsigned */
	int64_t now;            /* the plan's clock (CMSCTL_NOW): expiry */
	int64_t real_now;       /* when it is approved */
};

enum approve_outcome {
	APPROVE_RECORDED,       /* recorded in the state and the history */
	APPROVE_ALREADY,        /* the history had this approval: nothing recorded */
	APPROVE_BY_OTHER,       /* another runner recorded it at the same time */
};

/* Approves plan p (blob id id; ref, its file or id, names it in
 * messages) as req->who.  CMS_ESTALE when it is not in the history, is for
 * a store cfg does not have, or apply could no longer carry it out;
 * CMS_EREFUSED for its author or a signature the store would not count;
 * CMS_EUSAGE when the store counts only signed approvals and no key is
 * given.  *signed_out: whether the approval is signed. */
struct config;
int applier_approve(const struct applier_env *env, const struct config *cfg, const struct plan *p,
		    const char *id, const char *ref, const struct approve_request *req,
		    enum approve_outcome *out, bool *signed_out, struct cms_error *err);

#endif
