/*
 * cmsctl plan: the seed's -WhatIf grown into a reviewable artifact.  Probes
 * (unless --offline), diffs, prints the plan; with -o saves its exact bytes
 * and commits them to the history, so the id a reviewer approves is the id
 * apply executes.
 */
#include "cmd/cmd.h"
#include "common/buf.h"
#include "common/fileio.h"
#include "common/util.h"
#include "planner/config.h"
#include "planner/plan.h"

#include <stdio.h>
#include <string.h>

const struct cmd_opt cmd_plan_opts[] = {
	{ "store", 's', "STORE", "the store to plan (needed when the config has several)" },
	{ "out", 'o', "FILE", "save the plan there ('-': stdout) and commit it to the history" },
	{ "offline", 0, NULL, "do not probe the servers (for review only; apply refuses it)" },
	{ "detailed-exitcode", 0, NULL, "exit 2 when the plan has changes, 0 when none" },
	{ "accept-drift", 0, NULL, "adopt what the servers report when it differs from the state" },
	{ 0 },
};

int cmd_plan(struct cmd_args *a)
{
	struct cms_error err = CMS_ERROR_INIT;
	struct config *cfg = NULL;
	const struct store *st;
	struct plan *p = NULL;
	struct plan_request req;
	struct buf json = BUF_INIT, text = BUF_INIT;
	const char *outpath = cmd_opt_value(a, "out");
	char id[41];
	int rc;

	if ((rc = cmd_load_config(a, &cfg)) != EXIT_OK)
		goto done;
	if ((rc = cmd_pick_store(a, cfg, &st)) != EXIT_OK)
		goto done;
	memset(&req, 0, sizeof(req));
	req.offline = cmd_opt_flag(a, "offline");
	req.accept_drift = cmd_opt_flag(a, "accept-drift");
	if (cmd_make_plan(a, st, &req, &p, &json, id, &err) < 0) {
		rc = cmd_fail(&err);
		goto done;
	}
	if (outpath) {
		/* History first: a plan file that exists is always one the history
		 * knows, so apply can tell it from an edited one. */
		if (cmd_level_history(a, st, NULL, &err) < 0 ||
		    cmd_commit_plan(a, p, &json, id, &err) < 0 ||
		    cmd_write_output(outpath, json.ptr, json.len, "plan file", &err) < 0) {
			rc = cmd_fail(&err);
			goto done;
		}
	}
	if (cmd_output_is_stdout(outpath)) {
		/* The plan's bytes are the data on stdout; the rendering is
		 * chatter next to them. */
		if (!a->json) {
			plan_render(p, id, &text);
			cmd_write_stderr(text.ptr, text.len);
		}
	} else if (a->json) {
		if (cmd_write_stdout(json.ptr, json.len, &err) < 0) {
			rc = cmd_fail(&err);
			goto done;
		}
	} else {
		plan_render(p, id, &text);
		if (cmd_write_stdout(text.ptr, text.len, &err) < 0) {
			rc = cmd_fail(&err);
			goto done;
		}
	}
	if (outpath)
		cmd_note("saved plan %s to '%s' and the history", id,
			 cmd_output_is_stdout(outpath) ? "standard output" : outpath);
	rc = (cmd_opt_flag(a, "detailed-exitcode") && plan_has_changes(p)) ? EXIT_CHANGES : EXIT_OK;
done:
	plan_free(p);
	buf_free(&json);
	buf_free(&text);
	config_free(cfg);
	cms_error_clear(&err);
	return rc;
}
