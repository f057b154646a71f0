/*
 * cmsctl apply: execute a saved plan (exactly the bytes reviewed), or plan
 * and ask first (the seed's -Confirm: only the answer "yes" proceeds).
 * Writes the report (the seed's -Report) and commits it, with the new
 * location, to the history.
 */
#include "cmd/cmd.h"
#include "cmd/cmdutil.h"
#include "applier/apply.h"
#include "applier/record.h"
#include "applier/publish.h"
#include "common/buf.h"
#include "common/fileio.h"
#include "common/util.h"
#include "planner/config.h"
#include "planner/plan.h"
#include "state/approval.h"
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

/* location.json in the history: the same document the file target publishes. */
static int record_run(struct cmd_args *a, const struct store *st, const struct apply_result *res,
		      const char *plan_id, const char *kind, const char *report_path,
		      struct cms_error *err)
{
	struct cms_error warn = CMS_ERROR_INIT;
	struct history *h = NULL;
	struct state *sdb = NULL;
	char *op = cms_operator();
	int rc;

	if ((rc = cmd_open_history(a, &h, err)) < 0)
		goto done;
	if (cmd_open_state(a, false, &sdb, &warn) < 0)
		cms_error_clear(&warn); /* the tip alone is not recorded */
	if ((rc = applier_record_run(h, sdb, st, res, plan_id, kind, op, &warn, err)) < 0)
		goto done;
	if (warn.message)
		cmd_note("warning: the history tip was not recorded in the state: %s", warn.message);
	/* The history first: a report file that cannot be written must not
	 * keep the run out of the audit trail. */
	if (report_path)
		rc = cmd_write_output(report_path, res->report_html.ptr, res->report_html.len,
				      "report", err);
done:
	if (rc < 0)
		cms_error_prefix(err, "the run finished with outcome '%s' but its report could not be "
				 "recorded", res->outcome ? res->outcome : "?");
	history_close(h);
	state_close(sdb);
	cms_error_clear(&warn);
	free(op);
	return rc;
}

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
	for (i = 0; i < res->nfollowups; i++)
		buf_addf(&out, "  follow-up: %s\n", res->followups[i]);
	if (cmd_output_is_stdout(cmd_opt_value(a, OPT_REPORT))) {
		/* The report is the data on stdout; the summary is chatter. */
		cmd_write_stderr(out.ptr, out.len);
		rc = 0;
	} else
		rc = cmd_write_stdout(out.ptr, out.len, err);
	buf_free(&out);
	return rc;
}

int cmd_finish_run(struct cmd_args *a, const struct store *st, const struct apply_result *res,
		   const char *plan_id, const char *kind, int arc, struct cms_error *err)
{
	struct cms_error herr = CMS_ERROR_INIT;

	if (!res->run_id)
		return arc;
	cmd_test_hold_before_record(res->run_id);
	/* A run that failed keeps its own error; one that succeeded (it
	 * changed the servers or the state) but cannot be recorded or printed
	 * fails with that instead, as exit 6: never the code of a run that
	 * changed nothing. */
	if (record_run(a, st, res, plan_id, kind, cmd_opt_value(a, OPT_REPORT), &herr) < 0 ||
	    /* A run this one closed (restore) reaches the history now too. */
	    cmd_level_history(a, st, NULL, &herr) < 0) {
		if (arc == 0) {
			cms_error_move(err, &herr);
			err->code = CMS_EINTERRUPTED;
			cms_error_hint(err, "the run is done and in the state ('cmsctl status'); only "
				       "its record in the history or the report is missing");
			arc = CMS_EINTERRUPTED;
		} else {
			cmd_fail(&herr);
		}
	}
	cms_error_clear(&herr);
	if (print_run(a, res, &herr) < 0 && arc == 0) {
		cms_error_move(err, &herr);
		err->code = CMS_EINTERRUPTED;
		arc = CMS_EINTERRUPTED;
	}
	cms_error_clear(&herr);
	return arc;
}

/* What apply counts of a plan's approvals: those the history records,
 * judged by the store's policy (signatures checked against its
 * allowed-signers file), plus the unsigned ones only the state knows. */
struct approvals_arg {
	struct cmd_args *a;
	const struct store *st;
	struct state *sdb;
};

static int count_approvals(void *arg, const struct plan *p, const char *plan_id, char ***counted,
			   size_t *ncounted, struct buf *not_counted, struct cms_error *err)
{
	struct approvals_arg *x = arg;
	struct approval_policy pol = { p->author, x->st->allowed_signers, x->st->signed_approvals };
	struct approval *list = NULL;
	struct history *h = NULL;
	size_t n = 0, i, len = 0;
	char **v = NULL;
	int rc;

	*counted = NULL;
	*ncounted = 0;
	if ((rc = cmd_open_history(x->a, &h, err)) < 0 ||
	    (rc = approval_list(h, x->sdb, p->store, plan_id, &pol, &list, &n, err)) < 0)
		goto done;
	v = xcalloc(n ? n : 1, sizeof(*v));
	for (i = 0; i < n; i++) {
		if (list[i].counted) {
			v[len++] = xstrdup(list[i].principal);
		} else {
			buf_addf(not_counted, "%s%s (%s)", not_counted->len ? "; " : "",
				 list[i].principal, list[i].why_not);
		}
	}
	*counted = v;
	*ncounted = len;
done:
	approval_list_free(list, n);
	history_close(h);
	return rc;
}

/* Returns 0 on "yes", CMS_EDECLINED otherwise. */
static int confirm(const char *id, struct cms_error *err)
{
	char q[64];

	snprintf(q, sizeof(q), "Apply plan %.12s?", id);
	return cmd_confirm(q, "pass --yes to apply without asking, or apply a saved plan file", err);
}

/* Runs a checked plan that has changes: the lock, the steps, the record. */
static int run_plan(struct cmd_args *a, const struct store *st, const struct plan *p,
		    const char *id, struct cmd_run_summary *sum, struct cms_error *err)
{
	struct state *sdb = NULL;
	struct apply_result res;
	struct apply_ctx ctx;
	struct approvals_arg appr;
	char *op = cms_operator();
	int arc;

	memset(&res, 0, sizeof(res));
	/* A run that could not be recorded is refused before it starts, and
	 * a run the state finished but the history lacks is recorded first. */
	if ((arc = cmd_check_history_writable(a, err)) < 0)
		goto done;
	if ((arc = cmd_state_open(a, true, &sdb, err)) < 0 ||
	    (arc = cmd_level_history(a, st, sdb, err)) < 0)
		goto done;
	memset(&ctx, 0, sizeof(ctx));
	ctx.stop = cmd_catch_stop_signals();
	ctx.store = st;
	ctx.state = sdb;
	ctx.operator_name = op;
	ctx.lease_s = cmd_lease_s(st);
	if (cmd_lock_timeout(a, &ctx.lock_timeout_ms) != EXIT_OK) {
		arc = cms_error_set(err, CMS_EUSAGE, "invalid --lock-timeout");
		goto done;
	}
	cmd_set_progress(a, &ctx);
	appr.a = a;
	appr.st = st;
	appr.sdb = sdb;
	ctx.approvals = count_approvals;
	ctx.approvals_arg = &appr;
	cmd_test_hooks(&ctx);
	arc = applier_apply(&ctx, p, id, &res, err);
	arc = cmd_finish_run(a, st, &res, id, "apply", arc, err);
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
	state_close(sdb);
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
	if (cmd_check_in_history(a, ref, id, &err) < 0)
		goto fail;
	if (p->offline) {
		cms_error_set(&err, CMS_ESTALE, "plan %.12s was made --offline: it relied on no "
			      "observation and cannot be applied", id);
		cms_error_hint(&err, "an offline plan is for review; make one that probes the "
			       "servers with 'cmsctl plan -s %s -o FILE'", p->store);
		goto fail;
	}
	if (planner_check_rederived(st, p, &json, id, &err) < 0)
		goto fail;
	if (!plan_has_changes(p)) {
		cmd_note("plan %.12s has no changes: nothing to apply", id);
		if (sum)
			snprintf(sum->outcome, sizeof(sum->outcome), "unchanged");
		rc = EXIT_OK;
		goto done;
	}
	if (run_plan(a, st, p, id, sum, &err) < 0)
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
	if ((rc = cmd_load_config(a, &cfg)) != EXIT_OK)
		goto done;
	if (a->npos == 1) {
		if (stat(a->pos[0], &stbuf) == 0 && S_ISDIR(stbuf.st_mode))
			rc = cmd_apply_set(a, cfg, a->pos[0]);
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
	if (run_plan(a, st, p, id, NULL, &err) < 0)
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
