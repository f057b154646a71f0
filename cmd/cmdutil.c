/*
 * Steps several commands share: loading the config with its diagnostics,
 * choosing the store, opening the state, probing, planning, committing and
 * loading plans.  Kept here so that plan, apply, status and show do each of
 * these the same way.
 */
#include "cmd/cmd.h"
#include "applier/engine.h"
#include "common/buf.h"
#include "common/fileio.h"
#include "common/util.h"
#include "planner/config.h"
#include "planner/plan.h"
#include "applier/publish.h"
#include "state/history.h"
#include "state/level.h"
#include "state/state.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

void cmd_print_diags(const struct diag_list *dl, const struct cms_error *err)
{
	size_t i, positioned = 0;

	for (i = 0; i < dl->len; i++) {
		const struct diag *d = &dl->items[i];

		if (d->line > 0) {
			fprintf(stderr, "%s:%d:%d: error: %s\n", d->file, d->line, d->column,
				d->message);
			positioned++;
		} else {
			fprintf(stderr, "cmsctl: %s\n", d->message);
		}
		if (d->hint)
			fprintf(stderr, "  hint: %s\n", d->hint);
	}
	/* The count closes a list; a file that could not be read is one line. */
	if (positioned && err->message)
		fprintf(stderr, "cmsctl: %s\n", err->message);
}

int cmd_load_config(struct cmd_args *a, struct config **out)
{
	struct diag_list dl = { 0 };
	struct cms_error err = CMS_ERROR_INIT;
	int rc;

	if (config_load(out, a->config, &dl, &err) < 0) {
		cmd_print_diags(&dl, &err);
		rc = cms_error_exit_status(err.code ? err.code : CMS_ERROR);
	} else {
		rc = EXIT_OK;
	}
	diag_list_free(&dl);
	cms_error_clear(&err);
	return rc;
}

int cmd_pick_store(struct cmd_args *a, const struct config *cfg, const struct store **out)
{
	const char *name = cmd_opt_value(a, "store");
	struct cms_error err = CMS_ERROR_INIT;
	int rc;

	*out = NULL;
	if (name) {
		*out = config_find_store(cfg, name);
		if (*out)
			return EXIT_OK;
		cms_error_set(&err, CMS_ERROR, "no store '%s' in '%s'", name, cfg->path);
	} else if (cfg->nstores == 1) {
		*out = &cfg->stores[0];
		return EXIT_OK;
	} else {
		cms_error_set(&err, CMS_EUSAGE, "'%s' has %zu stores: choose one with -s STORE",
			      cfg->path, cfg->nstores);
	}
	rc = cmd_fail(&err);
	cms_error_clear(&err);
	return rc;
}

int cmd_open_state(struct cmd_args *a, bool create, struct state **out, struct cms_error *err)
{
	int rc = state_open(out, a->state, create, err);

	if (rc == CMS_ENOTFOUND && !create) {
		cms_error_clear(err);
		*out = NULL;
		return 0;
	}
	return rc;
}

int cmd_observe(const struct store *st, bool offline, struct observation *out,
		struct cms_error *err)
{
	struct engine *e = NULL;
	int rc;

	memset(out, 0, sizeof(*out));
	if (offline) {
		out->probed = false;
		return 0;
	}
	if ((rc = engine_open(&e, st, NULL, NULL, err)) < 0)
		return rc;
	rc = engine_probe(e, out, err);
	engine_close(e);
	return rc;
}

static int refuse_if_interrupted(struct state *sdb, const char *store, struct cms_error *err)
{
	struct run_info run;
	int rc;

	memset(&run, 0, sizeof(run));
	rc = state_run_unfinished(sdb, store, &run, err);
	if (rc == CMS_ENOTFOUND) {
		cms_error_clear(err);
		return 0;
	}
	if (rc < 0)
		return rc;
	cms_error_set(err, CMS_EINTERRUPTED, "%s run '%s' of store '%s' (plan %.12s) was interrupted",
		      run.kind, run.id, store, run.plan_id ? run.plan_id : "-");
	cms_error_hint(err, "'cmsctl status' shows what is left; 'cmsctl restore' brings the store "
		       "back to one consistent location");
	run_info_free(&run);
	return CMS_EINTERRUPTED;
}

int cmd_make_plan(struct cmd_args *a, const struct store *st, const struct plan_request *req,
		  struct plan **out, struct buf *json, char id[41], struct cms_error *err)
{
	struct state *sdb = NULL;
	struct recorded rec;
	struct recorded_location loc;
	struct observation obs;
	struct plan_inputs in;
	struct run_info last;
	char *author = NULL;
	int64_t now;
	int rc;

	*out = NULL;
	memset(&rec, 0, sizeof(rec));
	memset(&obs, 0, sizeof(obs));
	memset(&last, 0, sizeof(last));
	if (cms_now(&now) < 0)
		return cms_error_set(err, CMS_EUSAGE, "CMSCTL_NOW is not an RFC 3339 UTC time");
	if ((rc = cmd_open_state(a, false, &sdb, err)) < 0)
		goto done;
	if (sdb) {
		if ((rc = state_read_store(sdb, st->name, &rec, err)) < 0)
			goto done;
		if ((rc = refuse_if_interrupted(sdb, st->name, err)) < 0)
			goto done;
		rc = state_run_last(sdb, st->name, &last, err);
		if (rc == CMS_ENOTFOUND)
			cms_error_clear(err);
		else if (rc < 0)
			goto done;
	}
	if ((rc = cmd_observe(st, req->offline, &obs, err)) < 0)
		goto done;
	author = cms_operator();
	memset(&in, 0, sizeof(in));
	in.desired = st;
	if (rec.exists) {
		loc.lineage = rec.lineage;
		loc.serial = rec.serial;
		loc.primary = rec.primary;
		loc.mirror = rec.mirror;
		in.recorded = &loc;
	}
	in.obs = &obs;
	in.now = now;
	in.author = author;
	in.accept_drift = req->accept_drift;
	in.after_run = last.id;
	if ((rc = planner_diff(out, &in, err)) < 0)
		goto done;
	if ((rc = plan_to_json(*out, json, err)) < 0) {
		plan_free(*out);
		*out = NULL;
		goto done;
	}
	history_blob_id(json->ptr, json->len, id);
done:
	free(author);
	run_info_free(&last);
	observation_free(&obs);
	recorded_free(&rec);
	state_close(sdb);
	return rc;
}

int cmd_commit_plan(struct cmd_args *a, const struct plan *p, const struct buf *json,
		    const char *id, struct cms_error *err)
{
	struct history *h = NULL;
	struct buf text = BUF_INIT, msg = BUF_INIT;
	struct history_file files[2];
	char *jpath = NULL, *tpath = NULL, *summary = NULL;
	int rc;

	plan_render(p, id, &text);
	jpath = xasprintf("%s/plans/%" PRId64 "-%s.json", p->store, p->serial, id);
	tpath = xasprintf("%s/plans/%" PRId64 "-%s.txt", p->store, p->serial, id);
	files[0].path = jpath;
	files[0].data = json->ptr;
	files[0].len = json->len;
	files[1].path = tpath;
	files[1].data = text.ptr;
	files[1].len = text.len;
	summary = plan_summary(p);
	buf_addf(&msg, "%s: plan %s\n\n", p->store, summary + strlen(p->store) + 2);
	buf_addf(&msg, "Plan %s of store %s, made against serial %" PRId64 ".\n\n", id, p->store,
		 p->serial);
	buf_addf(&msg, "Plan-Id: %s\nStore-Serial: %" PRId64 "\nOperator: %s\nKind: plan\n", id,
		 p->serial, p->author);
	if ((rc = cmd_open_history(a, &h, err)) < 0)
		goto done;
	rc = cmd_history_commit(a, h, files, 2, msg.ptr, p->author, cms_real_now(), err);
done:
	history_close(h);
	buf_free(&text);
	buf_free(&msg);
	free(jpath);
	free(tpath);
	free(summary);
	return rc;
}

static bool looks_like_id(const char *s)
{
	size_t n = strlen(s);

	if (n < 7 || n > 40)
		return false;
	return strspn(s, "0123456789abcdef") == n;
}

int cmd_load_plan(struct cmd_args *a, const char *ref, struct plan **out, struct buf *json,
		  char id[41], struct cms_error *err)
{
	struct history *h = NULL;
	struct stat stbuf;
	char *data = NULL, *what = NULL;
	size_t len = 0;
	int rc;

	*out = NULL;
	if (stat(ref, &stbuf) == 0 || !looks_like_id(ref)) {
		rc = cms_read_input(&data, &len, ref, 4 << 20, "plan file", err);
		if (rc < 0) {
			if (rc == CMS_ENOTFOUND)
				rc = cms_error_set(err, CMS_ERROR,
						   "cannot read plan file '%s': no such file", ref);
			goto done;
		}
		what = xasprintf("plan file '%s'", ref);
	} else {
		if ((rc = cmd_open_history(a, &h, err)) < 0)
			goto done;
		if ((rc = history_find_plan(h, ref, &data, &len, err)) < 0)
			goto done;
		what = xasprintf("plan '%s'", ref);
	}
	history_blob_id(data, len, id);
	if ((rc = plan_from_json(out, data, len, what, err)) < 0)
		goto done;
	buf_add(json, data, len);
done:
	history_close(h);
	free(data);
	free(what);
	return rc;
}

int cmd_open_history(struct cmd_args *a, struct history **out, struct cms_error *err)
{
	char *copy = xstrdup(a->history);
	char *slash = strrchr(copy, '/');
	struct stat stbuf;

	if (slash && slash != copy) {
		*slash = '\0';
		if (stat(copy, &stbuf) < 0 && mkdir(copy, 0700) < 0 && errno != EEXIST) {
			int rc = cms_error_set(err, CMS_ERROR, "cannot create folder '%s' for the history: %s",
					       copy, strerror(errno));
			free(copy);
			return rc;
		}
	}
	free(copy);
	return history_open(out, a->history, NULL, err);
}

int cmd_history_commit(struct cmd_args *a, struct history *h, const struct history_file *files,
		       size_t nfiles, const char *message, const char *operator_name, int64_t now,
		       struct cms_error *err)
{
	struct cms_error serr = CMS_ERROR_INIT;
	struct state *sdb = NULL;
	char commit[41];
	int rc;

	if ((rc = history_commit(h, files, nfiles, message, operator_name, now, commit, err)) < 0)
		return rc;
	/* The tip as of this commit, for audit verify's rewrite check.  A
	 * tip that cannot be recorded leaves an older one, an ancestor:
	 * the check stays right, only less tight. */
	if (cmd_open_state(a, false, &sdb, &serr) < 0 ||
	    (sdb && state_history_tip_set(sdb, commit, cms_real_now(), &serr) < 0))
		cmd_note("warning: the history tip was not recorded in the state: %s", serr.message);
	state_close(sdb);
	cms_error_clear(&serr);
	return 0;
}

int cmd_level_history(struct cmd_args *a, const struct store *st, struct state *sdb,
		      struct cms_error *err)
{
	struct history *h = NULL;
	struct state *own = NULL;
	struct recorded rec;
	struct run_info last;
	struct buf loc = BUF_INIT;
	char **pending = NULL, *op = NULL;
	size_t npending = 0, recorded = 0, i;
	int rc;

	memset(&rec, 0, sizeof(rec));
	memset(&last, 0, sizeof(last));
	if (!sdb) {
		if ((rc = cmd_open_state(a, false, &own, err)) < 0 || !own)
			goto done;
		sdb = own;
	}
	if ((rc = cmd_open_history(a, &h, err)) < 0 ||
	    (rc = level_pending(h, sdb, st->name, &pending, &npending, err)) < 0 || !npending)
		goto done;
	/* The location.json of the state's current record, for the newest run. */
	if ((rc = state_read_store(sdb, st->name, &rec, err)) < 0)
		goto done;
	rc = state_run_last(sdb, st->name, &last, err);
	if (rc == CMS_ENOTFOUND)
		cms_error_clear(err);
	else if (rc < 0)
		goto done;
	if (rec.exists && last.id) {
		const struct server *ps = store_find_server(st, rec.primary);
		struct published_location pl;

		memset(&pl, 0, sizeof(pl));
		pl.store = st->name;
		pl.engine = engine_kind_name(st->engine);
		pl.primary = rec.primary;
		pl.mirror = rec.mirror;
		pl.primary_fqdn = ps ? ps->fqdn : NULL;
		pl.primary_instance = ps ? ps->instance : NULL;
		pl.serial = rec.serial;
		pl.plan_id = last.plan_id;
		pl.run_id = last.id;
		pl.now = cms_real_now();
		if ((rc = publish_location_json(&pl, &loc, err)) < 0)
			goto done;
	}
	op = cms_operator();
	if ((rc = level_history(h, sdb, st->name, engine_kind_name(st->engine),
				loc.len ? loc.ptr : NULL, op, cms_real_now(), &recorded, err)) < 0)
		goto done;
	for (i = 0; i < npending; i++)
		cmd_note("recorded run %s of store %s in the history from the state's journal "
			 "(it had not been recorded)", pending[i], st->name);
done:
	state_strings_free(pending, npending);
	recorded_free(&rec);
	run_info_free(&last);
	buf_free(&loc);
	free(op);
	history_close(h);
	state_close(own);
	return rc;
}

int cmd_check_history_writable(struct cmd_args *a, struct cms_error *err)
{
	struct history *h = NULL;
	int rc;

	if ((rc = cmd_open_history(a, &h, err)) == 0)
		rc = history_check_writable(h, err);
	history_close(h);
	return rc;
}

int64_t cmd_lease_s(const struct store *st)
{
	int64_t longest = st->policy.catch_up_timeout_ms;
	size_t i;

	if (st->policy.query_timeout_ms > longest)
		longest = st->policy.query_timeout_ms;
	for (i = 0; i < st->npublish; i++)
		if (st->publish[i].kind == PUBLISH_COMMAND && st->publish[i].timeout_ms > longest)
			longest = st->publish[i].timeout_ms;
	return 900 + 2 * longest / 1000;
}
