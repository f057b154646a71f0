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

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const struct cmd_opt cmd_plan_opts[] = {
	{ "store", 's', "STORE", "the store to plan (needed when the config has several)" },
	{ "out", 'o', "FILE", "save the plan there ('-': stdout) and commit it to the history" },
	{ "offline", 0, NULL, "do not probe the servers (for review only; apply refuses it)" },
	{ "detailed-exitcode", 0, NULL, "exit 2 when the plan has changes, 0 when none" },
	{ "accept-drift", 0, NULL, "adopt what the servers report when it differs from the state" },
	{ "assume-down", 0, "SERVER", "attest that the unreachable old primary is down (needs --reason)" },
	{ "reason", 0, "TEXT", "why SERVER of --assume-down is known to be down (kept in the plan)" },
	{ 0 },
};

/* An attestation is one line of text: it goes into the plan, the report
 * and a history trailer. */
static bool one_line(const char *s)
{
	const unsigned char *c;

	if (!s || !*s || strlen(s) > 500)
		return false;
	for (c = (const unsigned char *)s; *c; c++)
		if (*c < 0x20 || *c == 0x7f)
			return false;
	return true;
}

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

	if (cmd_opt_value(a, "assume-down") && !one_line(cmd_opt_value(a, "reason"))) {
		rc = cmd_usage_error(a->cmd, "'--assume-down' needs '--reason TEXT': one line (at most 500 "
				     "characters) saying how you know the server is down");
		goto done;
	}
	if (cmd_opt_value(a, "reason") && !cmd_opt_value(a, "assume-down")) {
		rc = cmd_usage_error(a->cmd, "'--reason' goes with '--assume-down SERVER'");
		goto done;
	}
	if ((rc = cmd_load_config(a, &cfg)) != EXIT_OK)
		goto done;
	if ((rc = cmd_pick_store(a, cfg, &st)) != EXIT_OK)
		goto done;
	memset(&req, 0, sizeof(req));
	req.offline = cmd_opt_flag(a, "offline");
	req.accept_drift = cmd_opt_flag(a, "accept-drift");
	req.assume_down = cmd_opt_value(a, "assume-down");
	req.assume_down_reason = cmd_opt_value(a, "reason");
	if (cmd_make_plan(a, st, &req, &p, &json, id, &err) < 0) {
		rc = cmd_fail(&err);
		goto done;
	}
	if (outpath) {
		/* History first: a plan file that exists is always one the history
		 * knows, so apply can tell it from an edited one. */
		if (cmd_commit_plan(a, p, &json, id, &err) < 0 ||
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
	} else if (a->json && outpath) {
		/* The plan's bytes are in the file; stdout says what was saved. */
		json_t *o = json_pack("{s:s, s:s, s:s, s:b, s:s, s:o}", "plan_id", id, "file", outpath,
				      "store", p->store, "has_changes", plan_has_changes(p),
				      "mode", plan_mode_name(p->mode), "plan",
				      json_loadb(json.ptr, json.len, 0, NULL));
		char *t = json_dumps(o, JSON_SORT_KEYS | JSON_INDENT(2));

		json_decref(o);
		buf_adds(&text, t);
		buf_addch(&text, '\n');
		free(t);
		if (cmd_write_stdout(text.ptr, text.len, &err) < 0) {
			rc = cmd_fail(&err);
			goto done;
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
