/*
 * cmsctl approve: a reviewer's approval of exactly one plan id, recorded in
 * the state (where apply counts it) and in the history (Approved-By:).
 */
#include "cmd/cmd.h"
#include "common/buf.h"
#include "common/util.h"
#include "planner/plan.h"
#include "state/history.h"
#include "state/state.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const struct cmd_opt cmd_approve_opts[] = {
	{ "as", 0, "NAME", "the reviewer's name (default: CMSCTL_OPERATOR, else user@host)" },
	{ 0 },
};

int cmd_approve(struct cmd_args *a)
{
	struct cms_error err = CMS_ERROR_INIT;
	struct history *h = NULL;
	struct state *sdb = NULL;
	struct plan *p = NULL;
	struct buf json = BUF_INIT, msg = BUF_INIT, out = BUF_INIT;
	char id[41], *who = NULL;
	bool consumed = false;
	int64_t now;
	int rc = EXIT_OK;

	who = cmd_opt_value(a, "as") ? xstrdup(cmd_opt_value(a, "as")) : cms_operator();
	if (!*who || strchr(who, '\n')) {
		rc = cmd_usage_error(a->cmd, "'--as' needs a one-line name");
		goto done;
	}
	if (cms_now(&now) < 0) {
		cms_error_set(&err, CMS_EUSAGE, "CMSCTL_NOW is not an RFC 3339 UTC time");
		goto fail;
	}
	/* Only a plan in the history can be approved: the id is of its bytes. */
	if (cmd_open_history(a, &h, &err) < 0)
		goto fail;
	{
		char *data = NULL;
		size_t len = 0;

		if (history_find_plan(h, a->pos[0], &data, &len, &err) < 0)
			goto fail;
		history_blob_id(data, len, id);
		rc = plan_from_json(&p, data, len, "plan", &err);
		free(data);
		if (rc < 0)
			goto fail;
	}
	if (cmd_state_open(a, true, &sdb, &err) < 0 ||
	    state_plan_consumed(sdb, id, &consumed, &err) < 0)
		goto fail;
	if (consumed) {
		cms_error_set(&err, CMS_ESTALE, "plan %.12s was already applied", id);
		goto fail;
	}
	if (now > p->expires) {
		cms_error_set(&err, CMS_ESTALE, "plan %.12s has expired", id);
		goto fail;
	}
	if (state_approve(sdb, id, p->store, who, now, &err) < 0)
		goto fail;
	buf_addf(&msg, "%s: approve plan %.12s by %s\n\n", p->store, id, who);
	if (!strcmp(who, p->author))
		buf_addf(&msg, "%s is the plan's author: this approval does not count towards "
			 "policy.approvals.\n\n", who);
	buf_addf(&msg, "Plan-Id: %s\nStore-Serial: %" PRId64 "\nOperator: %s\nKind: approve\n"
		 "Approved-By: %s\n", id, p->serial, who, who);
	if (history_commit(h, NULL, 0, msg.ptr, who, now, NULL, &err) < 0)
		goto fail;
	buf_addf(&out, "approved plan %s of store %s as %s%s\n", id, p->store, who,
		 strcmp(who, p->author) ? "" : " (the author: does not count)");
	if (cmd_write_stdout(out.ptr, out.len, &err) < 0)
		goto fail;
	rc = EXIT_OK;
	goto done;
fail:
	rc = cmd_fail(&err);
done:
	plan_free(p);
	state_close(sdb);
	history_close(h);
	buf_free(&json);
	buf_free(&msg);
	buf_free(&out);
	free(who);
	cms_error_clear(&err);
	return rc;
}
