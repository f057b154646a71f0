/*
 * cmsctl plan: the seed's -WhatIf grown into a reviewable artifact.  Probes
 * (unless --offline), diffs, prints the plan; with -o saves its exact bytes
 * and commits them to the history, so the id a reviewer approves is the id
 * apply executes.
 */
#include "cmd/cmd.h"
#include "cmd/cmdutil.h"
#include "common/buf.h"
#include "common/fileio.h"
#include "common/util.h"
#include "planner/config.h"
#include "planner/plan.h"
#include "state/history.h"
#include "state/state.h"

#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <sys/stat.h>

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const struct cmd_opt cmd_plan_opts[] = {
	{ OPT_STORE, 's', "STORE", "the store to plan (needed when the config has several); "
	  "several -s plan those stores as a plan set, like --all" },
	{ OPT_ALL, 0, NULL, "plan every store of the config (a plan set; -o names a new folder)" },
	{ OPT_OUT, 'o', "FILE", "save the plan there ('-': stdout) and commit it to the history" },
	{ OPT_OFFLINE, 0, NULL, "do not probe the servers (for review only; apply refuses it)" },
	{ OPT_DETAILED_EXITCODE, 0, NULL, "exit 2 when the plan has changes, 0 when none" },
	{ OPT_ACCEPT_DRIFT, 0, NULL, "adopt what the servers report when it differs from the state" },
	{ OPT_ASSUME_DOWN, 0, "SERVER", "attest that the unreachable old primary is down (needs --reason)" },
	{ OPT_REASON, 0, "TEXT", "why the change is made, one line (kept in the plan, its report and the history; with --assume-down also how you know SERVER is down)" },
	{ OPT_TICKET, 0, "ID", "the change's ticket, e.g. CHG-1234 (kept like --reason)" },
	{ 0 },
};

/* Creates the plan set's folder: new, or an existing empty one, so that
 * no plan of an earlier set can be applied with this one. */
static int make_set_folder(const char *dir, struct cms_error *err)
{
	DIR *d;
	struct dirent *de;

	if (mkdir(dir, 0755) == 0)
		return 0;
	if (errno != EEXIST)
		return cms_error_set(err, CMS_ERROR, "cannot create plan set folder '%s': %s", dir,
				     strerror(errno));
	if (!(d = opendir(dir)))
		return cms_error_set(err, CMS_ERROR, "cannot use plan set folder '%s': %s", dir,
				     strerror(errno));
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..")) {
			closedir(d);
			cms_error_set(err, CMS_EUSAGE, "plan set folder '%s' is not empty", dir);
			cms_error_hint(err, "give a new folder: a set holds only the plans made "
				       "together");
			return CMS_EUSAGE;
		}
	}
	closedir(d);
	return 0;
}

/* The stores of plan --all (every store, in config order) or of several
 * -s (those, in the order given): NULL with err set for a name the config
 * does not have or one given twice. */
static const struct store **pick_stores(struct cmd_args *a, const struct config *cfg, size_t *n,
					struct cms_error *err)
{
	const struct store **v;
	size_t i, j;

	if (!a->nstores || cmd_opt_flag(a, OPT_ALL)) {
		v = xcalloc(cfg->nstores + 1, sizeof(*v));
		for (i = 0; i < cfg->nstores; i++)
			v[i] = &cfg->stores[i];
		*n = cfg->nstores;
		return v;
	}
	v = xcalloc(a->nstores, sizeof(*v));
	for (i = 0; i < a->nstores; i++) {
		if (!(v[i] = config_find_store(cfg, a->stores[i]))) {
			cms_error_set(err, CMS_ERROR, "no store '%s' in '%s'", a->stores[i], cfg->path);
			cmd_hint_store(cfg, a->stores[i], err);
			free(v);
			return NULL;
		}
		for (j = 0; j < i; j++)
			if (v[j] == v[i]) {
				cms_error_set(err, CMS_EUSAGE, "store '%s' is given twice", a->stores[i]);
				free(v);
				return NULL;
			}
	}
	*n = a->nstores;
	return v;
}

/* plan --all or several -s: a plan set.  One store that cannot be
 * planned (an interrupted run, a probe that fails) is reported and the
 * others are still planned; the exit status is then 1. */
static int plan_all(struct cmd_args *a, const struct config *cfg)
{
	struct cms_error err = CMS_ERROR_INIT;
	const char *dir = cmd_opt_value(a, OPT_OUT);
	const struct store **stores = NULL;
	struct state *sdb = NULL;
	struct history *h = NULL;
	struct buf out = BUF_INIT;
	json_t *jset = NULL;
	const char *assume_down = cmd_opt_value(a, OPT_ASSUME_DOWN);
	size_t i, nchanged = 0, nfailed = 0, nstores = 0, nassumed = 0;
	int rc = EXIT_OK;

	if (dir && !strcmp(dir, "-")) {
		rc = cmd_usage_error(a->cmd, "a plan set is a folder: '-o -' (stdout) takes one "
				     "plan (-s STORE)");
		goto done;
	}
	if (!(stores = pick_stores(a, cfg, &nstores, &err)))
		goto fail;
	if (assume_down) {
		/* A lost site: the attestation is for every store of the set
		 * that has a server of that name; a name none has is a
		 * mistake, refused before anything is probed or written. */
		for (i = 0; i < nstores; i++)
			if (store_find_server(stores[i], assume_down))
				nassumed++;
		if (!nassumed) {
			rc = cmd_usage_error(a->cmd, "--assume-down '%s': no store of the set has a "
					     "server of that name", assume_down);
			goto done;
		}
	}
	if (cmd_open_state(a, false, &sdb, &err) < 0)
		goto fail;
	if (dir && make_set_folder(dir, &err) < 0)
		goto fail;
	if (a->json)
		jset = json_array();
	for (i = 0; i < nstores; i++) {
		const struct store *st = stores[i];
		struct cms_error serr = CMS_ERROR_INIT;
		struct plan_request req;
		struct plan *p = NULL;
		struct buf json = BUF_INIT;
		char id[41], *file = NULL;
		bool changes;

		memset(&req, 0, sizeof(req));
		req.offline = cmd_opt_flag(a, OPT_OFFLINE);
		req.accept_drift = cmd_opt_flag(a, OPT_ACCEPT_DRIFT);
		req.reason = cmd_opt_value(a, OPT_REASON);
		req.ticket = cmd_opt_value(a, OPT_TICKET);
		if (assume_down && store_find_server(st, assume_down)) {
			req.assume_down = assume_down;
			req.assume_down_reason = req.reason;
			req.assume_down_where_it_applies = true;
		}
		if (applier_make_plan(sdb, st, &req, &p, &json, id, &serr) < 0) {
			cms_error_prefix(&serr, "store '%s'", st->name);
			cmd_fail(&serr);
			nfailed++;
			if (jset) {
				json_t *o = json_object();

				json_object_set_new(o, "store", json_string(st->name));
				json_object_set_new(o, "error", json_string(serr.message ? serr.message : ""));
				json_array_append_new(jset, o);
			}
			cms_error_clear(&serr);
			continue;
		}
		changes = plan_has_changes(p);
		if (changes)
			nchanged++;
		/* As a single plan -o: the history level with the state first
		 * (a run left unrecorded is recorded), whether or not the store
		 * has changes now. */
		if (dir && cmd_level_history(a, st, sdb, &serr) < 0) {
			cms_error_move(&err, &serr);
			plan_free(p);
			buf_free(&json);
			goto fail;
		}
		if (dir && changes) {
			file = xasprintf("%s/%s.json", dir, st->name);
			if ((!h && cmd_open_history(a, &h, &serr) < 0) ||
			    cmd_commit_plan_in(a, h, p, &json, id, &serr) < 0 ||
			    cms_write_file_atomic(file, json.ptr, json.len, 0644, "plan file",
						  &serr) < 0) {
				/* The record failing is not one store's problem: stop. */
				cms_error_move(&err, &serr);
				plan_free(p);
				buf_free(&json);
				free(file);
				goto fail;
			}
		}
		if (jset) {
			json_t *o = json_object(), *doc = json_loadb(json.ptr, json.len, 0, NULL);

			json_object_set_new(o, "store", json_string(st->name));
			json_object_set_new(o, "id", json_string(id));
			json_object_set_new(o, "changes", json_boolean(changes));
			json_object_set_new(o, "file", file ? json_string(file) : json_null());
			json_object_set_new(o, "plan", doc ? doc : json_null());
			json_array_append_new(jset, o);
		} else if (changes) {
			plan_render(p, id, &out);
			if (file)
				buf_addf(&out, "  saved as %s\n", file);
			buf_addch(&out, '\n');
		} else {
			buf_addf(&out, "%s: no changes (plan %.12s)\n\n", st->name, id);
		}
		plan_free(p);
		buf_free(&json);
		free(file);
		cms_error_clear(&serr);
		/* Print as we go: a fleet's plan is long. */
		if (out.len > 65536) {
			if (cmd_write_stdout(out.ptr, out.len, &err) < 0)
				goto fail;
			buf_reset(&out);
		}
	}
	if (jset) {
		json_t *doc = json_object();
		char *text;

		json_object_set_new(doc, "stores", jset);
		jset = NULL;
		text = json_dumps(doc, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
		buf_adds(&out, text);
		buf_addch(&out, '\n');
		free(text);
		json_decref(doc);
	} else {
		buf_addf(&out, "%zu store%s: %zu with changes, %zu without, %zu not planned\n",
			 nstores, nstores == 1 ? "" : "s", nchanged, nstores - nchanged - nfailed,
			 nfailed);
	}
	if (cmd_write_stdout(out.ptr, out.len, &err) < 0)
		goto fail;
	if (dir)
		cmd_note("saved %zu plan%s to '%s' and the history", nchanged,
			 nchanged == 1 ? "" : "s", dir);
	if (nfailed)
		rc = EXIT_ERROR;
	else if (cmd_opt_flag(a, OPT_DETAILED_EXITCODE) && nchanged)
		rc = EXIT_CHANGES;
	goto done;
fail:
	rc = cmd_fail(&err);
done:
	free(stores);
	json_decref(jset);
	history_close(h);
	state_close(sdb);
	buf_free(&out);
	cms_error_clear(&err);
	return rc;
}

/* --reason and --ticket go into the plan, the report and history
 * trailers: each is checked here, before anything is read or probed. */
static int check_texts(struct cmd_args *a)
{
	const char *reason = cmd_opt_value(a, OPT_REASON), *ticket = cmd_opt_value(a, OPT_TICKET);
	const char *problem;

	if (cmd_opt_value(a, OPT_ASSUME_DOWN) && !reason)
		return cmd_usage_error(a->cmd, "'--assume-down' needs '--reason TEXT': one line (at most "
				       "500 characters) saying how you know the server is down");
	if (reason && (problem = plan_text_problem(reason, PLAN_REASON_MAX, true)))
		return cmd_usage_error(a->cmd, "'--reason' %s: give one line of text, at most %d bytes",
				       problem, PLAN_REASON_MAX);
	if (ticket && (problem = plan_text_problem(ticket, PLAN_TICKET_MAX, false)))
		return cmd_usage_error(a->cmd, "'--ticket' %s: give the ticket's id, at most %d bytes, "
				       "no spaces", problem, PLAN_TICKET_MAX);
	return EXIT_OK;
}

int cmd_plan(struct cmd_args *a)
{
	struct cms_error err = CMS_ERROR_INIT;
	struct config *cfg = NULL;
	const struct store *st;
	struct state *sdb = NULL;
	struct plan *p = NULL;
	struct plan_request req;
	struct buf json = BUF_INIT, text = BUF_INIT;
	const char *outpath = cmd_opt_value(a, OPT_OUT);
	char id[41];
	int rc;

	if (cmd_opt_flag(a, OPT_ALL) && cmd_opt_value(a, OPT_STORE))
		return cmd_usage_error(a->cmd, "--all and -s do not go together");
	if ((rc = check_texts(a)) != EXIT_OK)
		goto done;
	if ((rc = cmd_load_config(a, &cfg)) != EXIT_OK)
		goto done;
	if (cmd_opt_flag(a, OPT_ALL) || a->nstores > 1) {
		rc = plan_all(a, cfg);
		goto done;
	}
	if ((rc = cmd_pick_store(a, cfg, &st)) != EXIT_OK)
		goto done;
	memset(&req, 0, sizeof(req));
	req.offline = cmd_opt_flag(a, OPT_OFFLINE);
	req.accept_drift = cmd_opt_flag(a, OPT_ACCEPT_DRIFT);
	req.assume_down = cmd_opt_value(a, OPT_ASSUME_DOWN);
	req.assume_down_reason = req.assume_down ? cmd_opt_value(a, OPT_REASON) : NULL;
	req.reason = cmd_opt_value(a, OPT_REASON);
	req.ticket = cmd_opt_value(a, OPT_TICKET);
	if (cmd_open_state(a, false, &sdb, &err) < 0 ||
	    applier_make_plan(sdb, st, &req, &p, &json, id, &err) < 0) {
		rc = cmd_fail(&err);
		goto done;
	}
	state_close(sdb);
	sdb = NULL;
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
	rc = (cmd_opt_flag(a, OPT_DETAILED_EXITCODE) && plan_has_changes(p)) ? EXIT_CHANGES : EXIT_OK;
done:
	state_close(sdb);
	plan_free(p);
	buf_free(&json);
	buf_free(&text);
	config_free(cfg);
	cms_error_clear(&err);
	return rc;
}
