/*
 * cmsctl approve: a reviewer's approval of exactly one plan (its file or its
 * id), signed with
 * the reviewer's SSH key (state/approval.h) and recorded in the history
 * (<store>/approvals/<plan-id>/<principal>.json, Approved-By:) and the state.
 * Only a plan that apply could still carry out can be approved: not stale,
 * consumed or expired, and never by its author (applier/approve.c decides
 * and records; this file parses and prints).
 */
#include "cmd/cmd.h"
#include "common/json.h"
#include "cmd/cmdutil.h"
#include "applier/approve.h"
#include "common/buf.h"
#include "common/util.h"
#include "planner/config.h"
#include "planner/plan.h"

#include <jansson.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const struct cmd_opt cmd_approve_opts[] = {
	{ OPT_AS, 0, "NAME", "the reviewer's name, as allowed_signers lists it (default: CMSCTL_OPERATOR, else user@host)" },
	{ OPT_KEY, 0, "FILE", "the SSH key to sign with (default: CMSCTL_SIGNING_KEY)" },
	{ 0 },
};

int cmd_approve(struct cmd_args *a)
{
	struct cms_error err = CMS_ERROR_INIT;
	struct config *cfg = NULL;
	struct applier_env env;
	struct approve_request req;
	enum approve_outcome outcome;
	struct plan *p = NULL;
	struct buf out = BUF_INIT, json = BUF_INIT;
	char id[41], *who = NULL;
	const char *key = cmd_opt_value(a, OPT_KEY);
	bool signed_ = false;
	int64_t now, real_now = cms_real_now();
	int rc = EXIT_OK;

	who = cmd_opt_value(a, OPT_AS) ? xstrdup(cmd_opt_value(a, OPT_AS)) : cms_operator();
	if (!*who || strpbrk(who, "\n\r \t")) {
		rc = cmd_usage_error(a->cmd, "'--as' needs a one-word name (a principal of allowed_signers)");
		goto done;
	}
	if (!key && getenv("CMSCTL_SIGNING_KEY") && *getenv("CMSCTL_SIGNING_KEY"))
		key = getenv("CMSCTL_SIGNING_KEY");
	if (cms_now(&now) < 0)
		now = real_now;
	if ((rc = cmd_load_config(a, &cfg)) != EXIT_OK)
		goto done;
	req.who = who;
	req.key = key;
	req.now = now;
	req.real_now = real_now;
	if (cmd_load_plan(a, a->pos[0], &p, &json, id, &err) < 0 ||
	    cmd_applier_env(a, &env, &err) < 0 ||
	    applier_approve(&env, cfg, p, id, a->pos[0], &req, &outcome, &signed_, &err) < 0)
		goto fail;
	if (outcome == APPROVE_ALREADY) {
		buf_addf(&out, "plan %s of store %s is already approved by %s: nothing recorded\n", id,
			 p->store, who);
	} else if (outcome == APPROVE_BY_OTHER) {
		buf_addf(&out, "plan %s of store %s is already approved by %s (recorded by "
			 "another runner): nothing recorded\n", id, p->store, who);
	} else if (a->json) {
		json_t *o = json_object();

		json_object_set_new(o, "plan_id", json_string(id));
		json_object_set_new(o, "store", json_string(p->store));
		json_object_set_new(o, "approved_by", json_string(who));
		json_object_set_new(o, "signed", json_boolean(signed_));
		cms_json_add(&out, o, JSON_PRESERVE_ORDER);
		json_decref(o);
	} else
		buf_addf(&out, "approved plan %s of store %s as %s (%s)\n", id, p->store, who,
			 signed_ ? "signed" : "unsigned");
	if (cmd_write_stdout(out.ptr, out.len, &err) < 0)
		goto fail;
	rc = EXIT_OK;
	goto done;
fail:
	rc = cmd_fail(&err);
done:
	plan_free(p);
	config_free(cfg);
	buf_free(&out);
	buf_free(&json);
	free(who);
	cms_error_clear(&err);
	return rc;
}
