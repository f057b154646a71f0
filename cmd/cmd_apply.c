/*
 * cmsctl apply: execute a saved plan (exactly the bytes reviewed), or plan
 * and ask first (the seed's -Confirm: only the answer "yes" proceeds).
 * The applier (applier/runner.c) verifies the plan, runs it and commits
 * its report, with the new location, to the history; this file parses,
 * asks, writes --report (the seed's -Report) when the applier calls back,
 * and prints.
 */
#include "cmd/cmd.h"
#include "cmd/cmdutil.h"
#include "applier/apply.h"
#include "applier/runner.h"
#include "common/buf.h"
#include "common/fileio.h"
#include "common/util.h"
#include "planner/config.h"
#include "planner/plan.h"
#include "state/history.h"
#include "state/state.h"

#include <inttypes.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

const struct cmd_opt cmd_apply_opts[] = {
	{ OPT_STORE, 's', "STORE", "the store (needed without a plan file when the config has several)" },
	{ OPT_YES, 'y', NULL, "do not ask: apply the plan just made (for pipelines)" },
	{ OPT_REPORT, 0, "FILE", "also write the HTML report there ('-': stdout)" },
	{ OPT_PARALLEL, 0, "N", "plan set: apply up to N stores at once (default 4)" },
	{ OPT_LOCK_TIMEOUT, 0, "DURATION", "wait up to DURATION for a held lock, retrying "
	  "(default 0s: fail at once, exit 4)" },
	{ 0 },
};

static int print_run(struct cmd_args *a, const struct apply_result *res, struct cms_error *err)
{
	struct buf out = BUF_INIT;
	size_t i;
	int rc;

	if (a->json) {
		rc = cmd_write_stdout(res->report_json.ptr, res->report_json.len, err);
		return rc;
	}
	buf_addf(&out, "%s\n  run %s, recorded primary %s, mirror %s, serial %" PRId64 "\n",
		 res->subject, res->run_id, res->location_primary ? res->location_primary : "-",
		 res->location_mirror ? res->location_mirror : "-", res->serial_after);
	for (i = 0; i < res->followups.n; i++)
		buf_addf(&out, "  follow-up: %s\n", res->followups.v[i]);
	if (cmd_output_is_stdout(cmd_opt_value(a, OPT_REPORT))) {
		/* The report is the data on stdout; the summary is chatter. */
		cmd_write_stderr(out.ptr, out.len);
		rc = 0;
	} else
		rc = cmd_write_stdout(out.ptr, out.len, err);
	buf_free(&out);
	return rc;
}

static int write_report(void *arg, const struct apply_result *res, struct cms_error *err)
{
	const char *path = cmd_opt_value(arg, OPT_REPORT);

	if (!path)
		return 0;
	return cmd_write_output(path, res->report_html.ptr, res->report_html.len, "report", err);
}

void cmd_run_ctx(struct cmd_args *a, const struct store *st, const struct applier_env *env,
		 const char *op, struct apply_ctx *ctx)
{
	memset(ctx, 0, sizeof(*ctx));
	ctx->stop = cmd_catch_stop_signals();
	ctx->stop_phase = cmd_stop_phase();
	ctx->store = st;
	ctx->operator_name = op;
	cmd_lock_timeout(a, &ctx->lock_timeout_ms);
	cmd_set_progress(a, ctx);
	ctx->env = env;
	ctx->write_report = write_report;
	ctx->write_report_arg = a;
	cmd_test_hooks(ctx);
}

int cmd_finish_run(struct cmd_args *a, const struct apply_result *res, int arc,
		   struct cms_error *err)
{
	struct cms_error perr = CMS_ERROR_INIT;

	if (!res->run_id)
		return arc;
	if (print_run(a, res, &perr) < 0 && arc == 0) {
		cms_error_move(err, &perr);
		err->code = CMS_EINTERRUPTED;
		arc = CMS_EINTERRUPTED;
	}
	cms_error_clear(&perr);
	return arc;
}

/* Returns 0 on "yes", CMS_EDECLINED otherwise. */
static int confirm(const char *id, struct cms_error *err)
{
	char q[64];

	snprintf(q, sizeof(q), "Apply plan %.12s?", id);
	return cmd_confirm(q, "pass --yes to apply without asking, or apply a saved plan file", err);
}

/* Applies a plan through the applier (verified, run, recorded) and
 * prints the outcome; 0 without a run when it has no changes. */
static int run_plan(struct cmd_args *a, const struct store *st, const struct plan *p,
		    const struct buf *json, const char *id, const char *ref,
		    struct cmd_run_summary *sum, struct cms_error *err)
{
	struct applier_env env;
	struct apply_result res;
	struct apply_ctx ctx;
	char *op = cms_operator();
	int arc;

	memset(&res, 0, sizeof(res));
	if ((arc = cmd_applier_env(a, &env, err)) < 0)
		goto done;
	cmd_run_ctx(a, st, &env, op, &ctx);
	arc = applier_run_plan(&ctx, p, json, id, ref, &res, err);
	if (arc == 0 && !res.run_id) {
		cmd_note("plan %.12s has no changes: nothing to apply", id);
		if (sum)
			snprintf(sum->outcome, sizeof(sum->outcome), "unchanged");
		goto done;
	}
	arc = cmd_finish_run(a, &res, arc, err);
	if (sum) {
		snprintf(sum->outcome, sizeof(sum->outcome), "%s",
			 res.outcome ? res.outcome : arc < 0 ? "refused" : "ok");
		snprintf(sum->run_id, sizeof(sum->run_id), "%s", res.run_id ? res.run_id : "");
		sum->serial = res.serial_after;
	}
	if (arc >= 0)
		cmd_note("applied plan %.12s: run %s, serial %" PRId64, id, res.run_id,
			 res.serial_after);
done:
	apply_result_free(&res);
	free(op);
	return arc;
}

int cmd_apply_saved(struct cmd_args *a, const struct config *cfg, const char *ref,
		    struct cmd_run_summary *sum)
{
	struct cms_error err = CMS_ERROR_INIT;
	const struct store *st = NULL;
	struct plan *p = NULL;
	struct buf json = BUF_INIT;
	char id[41];
	int rc;

	if (cmd_load_plan(a, ref, &p, &json, id, &err) < 0)
		goto fail;
	if (sum) {
		snprintf(sum->store, sizeof(sum->store), "%s", p->store);
		snprintf(sum->plan_id, sizeof(sum->plan_id), "%s", id);
	}
	st = config_find_store(cfg, p->store);
	if (!st) {
		cms_error_set(&err, CMS_ESTALE, "plan %.12s is for store '%s', which '%s' does not have",
			      id, p->store, cfg->path);
		goto fail;
	}
	if (cmd_opt_value(a, OPT_STORE) && strcmp(cmd_opt_value(a, OPT_STORE), p->store)) {
		cms_error_set(&err, CMS_EUSAGE, "plan %.12s is for store '%s', not '%s'", id,
			      p->store, cmd_opt_value(a, OPT_STORE));
		goto fail;
	}
	if (run_plan(a, st, p, &json, id, ref, sum, &err) < 0)
		goto fail;
	rc = EXIT_OK;
	goto done;
fail:
	if (err.code == CMS_ESTALE && !err.hint)
		cms_error_hint(&err, "a plan is good for one apply against the record it was made "
			       "from; make and review a new one with 'cmsctl plan%s%s -o FILE'",
			       st ? " -s " : "", st ? st->name : "");
	rc = err.message ? cmd_fail(&err) : EXIT_ERROR;
	if (sum) {
		if (!*sum->outcome)
			snprintf(sum->outcome, sizeof(sum->outcome), "refused");
		snprintf(sum->message, sizeof(sum->message), "%s",
			 err.message ? err.message : "failed");
	}
done:
	plan_free(p);
	buf_free(&json);
	cms_error_clear(&err);
	return rc;
}

int cmd_apply(struct cmd_args *a)
{
	struct cms_error err = CMS_ERROR_INIT;
	struct config *cfg = NULL;
	const struct store *st = NULL;
	struct plan *p = NULL;
	struct buf json = BUF_INIT, text = BUF_INIT;
	struct plan_request req = { .offline = false };
	struct state *sdb = NULL;
	struct stat stbuf;
	char id[41];
	int rc;

	{
		int64_t lock_timeout_ms;

		/* a malformed value is refused before anything happens */
		if ((rc = cmd_lock_timeout(a, &lock_timeout_ms)) != EXIT_OK)
			goto done;
	}
	/* Every apply records in the history: libgit2 loads meanwhile. */
	history_git_init_early();
	if ((rc = cmd_load_config(a, &cfg)) != EXIT_OK)
		goto done;
	if (a->npos == 1) {
		if (stat(a->pos[0], &stbuf) == 0 && S_ISDIR(stbuf.st_mode))
			rc = cmd_apply_set(a, cfg, a->pos[0]);
		else if (cmd_opt_value(a, OPT_PARALLEL))
			rc = cmd_usage_error(a->cmd, "--parallel goes with a plan set (a folder), and "
					     "'%s' is one plan", a->pos[0]);
		else
			rc = cmd_apply_saved(a, cfg, a->pos[0], NULL);
		goto done;
	}
	if (cmd_opt_value(a, OPT_PARALLEL)) {
		rc = cmd_usage_error(a->cmd, "--parallel needs a plan set (a folder made by "
				     "'cmsctl plan --all -o FOLDER')");
		goto done;
	}
	if ((rc = cmd_pick_store(a, cfg, &st)) != EXIT_OK)
		goto done;
	if (cmd_open_state(a, false, &sdb, &err) < 0 ||
	    applier_make_plan(sdb, st, &req, &p, &json, id, &err) < 0)
		goto fail;
	state_close(sdb);
	sdb = NULL;
	plan_render(p, id, &text);
	if (cmd_write_stdout(text.ptr, text.len, &err) < 0)
		goto fail;
	if (!plan_has_changes(p)) {
		cmd_note("nothing to apply");
		rc = EXIT_OK;
		goto done;
	}
	if (!cmd_opt_flag(a, OPT_YES) && confirm(id, &err) < 0)
		goto fail;
	if (cmd_commit_plan(a, p, &json, id, &err) < 0)
		goto fail;
	if (run_plan(a, st, p, &json, id, id, NULL, &err) < 0)
		goto fail;
	rc = EXIT_OK;
	goto done;
fail:
	if (err.code == CMS_ESTALE && !err.hint)
		cms_error_hint(&err, "a plan is good for one apply against the record it was made "
			       "from; make and review a new one with 'cmsctl plan%s%s -o FILE'",
			       st ? " -s " : "", st ? st->name : "");
	rc = err.message ? cmd_fail(&err) : EXIT_ERROR;
done:
	state_close(sdb);
	plan_free(p);
	buf_free(&json);
	buf_free(&text);
	config_free(cfg);
	cms_error_clear(&err);
	return rc;
}
