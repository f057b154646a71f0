/*
 * cmsctl restore: the seed's -Restore.  Re-asserts the recorded location:
 * finishes or undoes an interrupted apply from its journal, or re-fences
 * stray primaries, unfences the recorded one and re-publishes.  Journaled
 * and reported like an apply.
 */
#include "cmd/cmd.h"
#include "applier/apply.h"
#include "common/buf.h"
#include "common/util.h"
#include "planner/config.h"
#include "planner/plan.h"
#include "state/history.h"
#include "state/state.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

const struct cmd_opt cmd_restore_opts[] = {
	{ "store", 's', "STORE", "the store (needed when the config has several)" },
	{ "report", 0, "FILE", "also write the HTML report there" },
	{ 0 },
};

/* Reads a plan by id from the history, for the applier (under its lock). */
static int load_plan(void *arg, const char *plan_id, struct plan **out, char id[41],
		     struct cms_error *err)
{
	struct cmd_args *a = arg;
	struct history *h = NULL;
	char *data = NULL;
	size_t len = 0;
	int rc;

	*out = NULL;
	if ((rc = cmd_open_history(a, &h, err)) < 0 ||
	    (rc = history_find_plan(h, plan_id, &data, &len, err)) < 0)
		goto done;
	history_blob_id(data, len, id);
	rc = plan_from_json(out, data, len, "plan of the interrupted run", err);
done:
	free(data);
	history_close(h);
	return rc;
}

int cmd_restore(struct cmd_args *a)
{
	struct cms_error err = CMS_ERROR_INIT;
	struct config *cfg = NULL;
	const struct store *st;
	struct state *sdb = NULL;
	struct apply_result res;
	struct apply_ctx ctx;
	char *op = cms_operator();
	int rc, arc;

	memset(&res, 0, sizeof(res));
	if ((rc = cmd_load_config(a, &cfg)) != EXIT_OK)
		goto done;
	if ((rc = cmd_pick_store(a, cfg, &st)) != EXIT_OK)
		goto done;
	if (state_open(&sdb, a->state, false, &err) < 0) {
		if (err.code == CMS_ENOTFOUND)
			cms_error_set(&err, CMS_ERROR, "no state at '%s': nothing was ever applied",
				      a->state);
		goto fail;
	}
	if (cmd_check_history_writable(a, &err) < 0 || cmd_level_history(a, st, sdb, &err) < 0)
		goto fail;
	memset(&ctx, 0, sizeof(ctx));
	ctx.store = st;
	ctx.state = sdb;
	ctx.operator_name = op;
	ctx.lease_s = cmd_lease_s(st);
	ctx.load_plan = load_plan;
	ctx.load_plan_arg = a;
	arc = applier_restore(&ctx, &res, &err);
	arc = cmd_finish_run(a, st, &res, res.plan_id, "restore", arc, &err);
	if (arc < 0)
		goto fail;
	rc = EXIT_OK;
	goto done;
fail:
	rc = err.message ? cmd_fail(&err) : EXIT_ERROR;
done:
	apply_result_free(&res);
	state_close(sdb);
	config_free(cfg);
	cms_error_clear(&err);
	free(op);
	return rc;
}
