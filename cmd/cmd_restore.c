/*
 * cmsctl restore: the seed's -Restore.  Re-asserts the recorded location:
 * finishes or undoes an interrupted apply from its journal, or re-fences
 * stray primaries, unfences the recorded one and re-publishes.  Journaled
 * and reported like an apply.  Like apply it shows what it will do and
 * asks (--yes not to, refusal without a terminal); --dry-run only shows.
 */
#include "cmd/cmd.h"
#include "cmd/cmdutil.h"
#include "applier/runner.h"
#include "common/buf.h"
#include "common/util.h"
#include "planner/config.h"
#include "state/history.h"
#include "planner/plan.h"

#include <inttypes.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

const struct cmd_opt cmd_restore_opts[] = {
	{ OPT_STORE, 's', "STORE", "the store (needed when the config has several)" },
	{ OPT_REPORT, 0, "FILE", "also write the HTML report there" },
	{ OPT_YES, 'y', NULL, "do not ask: restore what it shows (for pipelines)" },
	{ OPT_DRY_RUN, 'n', NULL, "show what restore would do, change nothing" },
	{ OPT_LOCK_TIMEOUT, 0, "DURATION", "wait up to DURATION for a held lock, retrying "
	  "(default 0s: fail at once, exit 4)" },
	{ OPT_ASSUME_DOWN, 0, "SERVER", "attest that the interrupted run's target, which does not "
	  "answer, is down: the run is undone (needs --reason)" },
	{ OPT_REASON, 0, "TEXT", "with --assume-down: how you know SERVER is down, one line "
	  "(kept in the report and the history)" },
	{ 0 },
};

struct preview {
	struct cmd_args *a;
	const struct store *st;
	bool shown_dry;             /* --dry-run: shown, stop there */
};

/* Shows the steps restore decided on, then stops (--dry-run), goes on
 * (--yes) or asks. */
static int confirm(void *arg, const struct apply_step_event *steps, size_t n,
		   char *const *followups, size_t nfollowups, struct cms_error *err)
{
	struct preview *pv = arg;
	struct buf out = BUF_INIT;
	bool dry = cmd_opt_flag(pv->a, OPT_DRY_RUN);
	size_t i;
	int rc;

	if (pv->a->json && dry) {
		json_t *o = json_object(), *arr = json_array(), *fu = json_array();
		char *text;

		for (i = 0; i < n; i++)
			json_array_append_new(arr, json_pack("{s:i, s:s, s:o, s:s}", "n", steps[i].n,
							     "action", steps[i].action, "server",
							     steps[i].server ? json_string(steps[i].server)
									     : json_null(),
							     "description", steps[i].description));
		for (i = 0; i < nfollowups; i++)
			json_array_append_new(fu, json_string(followups[i]));
		json_object_set_new(o, "store", json_string(pv->st->name));
		json_object_set_new(o, "dry_run", json_true());
		json_object_set_new(o, "steps", arr);
		json_object_set_new(o, "followups", fu);
		text = json_dumps(o, JSON_SORT_KEYS | JSON_INDENT(2));
		json_decref(o);
		buf_adds(&out, text);
		buf_addch(&out, '\n');
		free(text);
	} else if (!pv->a->json) {
		buf_addf(&out, "Restore of store %s%s:\n", pv->st->name,
			 dry ? " (dry run: nothing is changed)" : "");
		for (i = 0; i < n; i++)
			buf_addf(&out, "  %d. %-12s %-15s %s\n", steps[i].n, steps[i].action,
				 steps[i].server ? steps[i].server : "-", steps[i].description);
		for (i = 0; i < nfollowups; i++)
			buf_addf(&out, "  follow-up: %s\n", followups[i]);
	}
	rc = cmd_write_stdout(out.ptr, out.len, err);
	buf_free(&out);
	if (rc < 0)
		return rc;
	if (dry) {
		pv->shown_dry = true;
		return cms_error_set(err, CMS_EDECLINED, "dry run: nothing was changed");
	}
	if (cmd_opt_flag(pv->a, OPT_YES))
		return 0;
	{
		char *q = xasprintf("Restore store %s as shown?", pv->st->name);

		rc = cmd_confirm(q, "pass --yes to restore without asking, or --dry-run to see what "
				 "it would do", err);
		free(q);
	}
	return rc;
}

int cmd_restore(struct cmd_args *a)
{
	struct cms_error err = CMS_ERROR_INIT;
	struct config *cfg = NULL;
	const struct store *st;
	struct applier_env env;
	struct apply_result res;
	struct apply_ctx ctx;
	struct preview pv = { 0 };
	char *op = cms_operator();
	int64_t lock_timeout_ms;
	int rc, arc;

	memset(&res, 0, sizeof(res));
	if ((rc = cmd_lock_timeout(a, &lock_timeout_ms)) != EXIT_OK)
		goto done; /* a malformed value is refused before anything happens */
	{
		const char *ad = cmd_opt_value(a, OPT_ASSUME_DOWN), *reason = cmd_opt_value(a, OPT_REASON);
		const char *problem;

		if (ad && !reason) {
			rc = cmd_usage_error(a->cmd, "'--assume-down' needs '--reason TEXT': one line (at "
					     "most %d bytes) saying how you know the server is down",
					     PLAN_REASON_MAX);
			goto done;
		}
		if (reason && !ad) {
			rc = cmd_usage_error(a->cmd, "'--reason' goes with '--assume-down SERVER'");
			goto done;
		}
		if (reason && (problem = plan_text_problem(reason, PLAN_REASON_MAX, true))) {
			rc = cmd_usage_error(a->cmd, "'--reason' %s: give one line of text, at most %d "
					     "bytes", problem, PLAN_REASON_MAX);
			goto done;
		}
	}
	/* Every restore records in the history: libgit2 loads meanwhile. */
	history_git_init_early();
	if ((rc = cmd_load_config(a, &cfg)) != EXIT_OK)
		goto done;
	if ((rc = cmd_pick_store(a, cfg, &st)) != EXIT_OK)
		goto done;
	if (cmd_opt_value(a, OPT_ASSUME_DOWN) && !store_find_server(st, cmd_opt_value(a, OPT_ASSUME_DOWN))) {
		rc = cmd_usage_error(a->cmd, "'--assume-down %s': store '%s' has no server of that name",
				     cmd_opt_value(a, OPT_ASSUME_DOWN), st->name);
		goto done;
	}
	if (cmd_applier_env(a, &env, &err) < 0)
		goto fail;
	cmd_run_ctx(a, st, &env, op, &ctx);
	ctx.assume_down = cmd_opt_value(a, OPT_ASSUME_DOWN);
	ctx.assume_down_reason = cmd_opt_value(a, OPT_REASON);
	pv.a = a;
	pv.st = st;
	ctx.confirm = confirm;
	ctx.confirm_arg = &pv;
	arc = applier_run_restore(&ctx, cmd_opt_flag(a, OPT_DRY_RUN), &res, &err);
	if (pv.shown_dry) {
		rc = EXIT_OK;
		goto done;
	}
	arc = cmd_finish_run(a, &res, arc, &err);
	if (arc < 0)
		goto fail;
	rc = EXIT_OK;
	goto done;
fail:
	rc = err.message ? cmd_fail(&err) : EXIT_ERROR;
done:
	apply_result_free(&res);
	config_free(cfg);
	cms_error_clear(&err);
	free(op);
	return rc;
}
