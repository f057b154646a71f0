/*
 * Steps several commands share: loading the config with its diagnostics,
 * choosing the store, opening the state, probing, planning, committing and
 * loading plans.  Kept here so that plan, apply, status and show do each of
 * these the same way.
 */
#include "cmd/cmd.h"
#include "applier/apply.h"
#include "applier/engine.h"
#include "common/buf.h"
#include "common/fileio.h"
#include "common/util.h"
#include "planner/config.h"
#include "planner/plan.h"
#include "state/history.h"
#include "state/state.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

void cmd_print_diags(const struct diag_list *dl, const struct cms_error *err)
{
	size_t i, positioned = 0;

	if (cmd_json_errors()) {
		cmd_fail_json_diags(dl, err);
		return;
	}
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

/* "its stores: a, b, c" */
static char *store_list(const struct config *cfg)
{
	struct buf b = BUF_INIT;
	size_t i;

	for (i = 0; i < cfg->nstores; i++)
		buf_addf(&b, "%s%s", i ? ", " : "", cfg->stores[i].name);
	return buf_detach(&b, NULL);
}

void cmd_hint_store(const struct config *cfg, const char *name, struct cms_error *err)
{
	const char *names[64], *dym;
	char *list = store_list(cfg);
	size_t i, n = 0;

	for (i = 0; i < cfg->nstores && n < ARRAY_SIZE(names); i++)
		names[n++] = cfg->stores[i].name;
	dym = config_did_you_mean(name, names, n);
	if (dym)
		cms_error_hint(err, "did you mean '%s'? (stores of '%s': %s)", dym, cfg->path, list);
	else
		cms_error_hint(err, "the stores of '%s' are: %s", cfg->path, list);
	free(list);
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
		cmd_hint_store(cfg, name, &err);
	} else if (cfg->nstores == 1) {
		*out = &cfg->stores[0];
		return EXIT_OK;
	} else {
		char *list = store_list(cfg);

		cms_error_set(&err, CMS_EUSAGE, "'%s' has %zu stores (%s): choose one with -s STORE",
			      cfg->path, cfg->nstores, list);
		cms_error_hint(&err, "for example 'cmsctl %s -s %s'", a->cmd->name, cfg->stores[0].name);
		free(list);
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

int cmd_check_secrets(const struct store *st, struct cms_error *err)
{
	size_t i;

	for (i = 0; i < st->nservers; i++) {
		const struct server *sv = &st->servers[i];
		char *pw = NULL;
		int rc = config_read_password(&pw, sv->password_env, sv->password_file, err);

		if (pw) {
			memset(pw, 0, strlen(pw));
			free(pw);
		}
		if (rc < 0) {
			cms_error_prefix(err, "cannot log in to server '%s' of store '%s'", sv->name,
					 st->name);
			if (sv->password_env)
				cms_error_hint(err, "export %s=... before running cmsctl (the config names "
					       "it in password_env of server '%s')", sv->password_env,
					       sv->name);
			return rc;
		}
	}
	return 0;
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
	/* A secret the operator forgot is their error, not an unreachable
	 * server. */
	if ((rc = cmd_check_secrets(st, err)) < 0)
		return rc;
	if ((rc = engine_open(&e, st, NULL, NULL, err)) < 0)
		return rc;
	rc = engine_probe(e, out, err);
	engine_close(e);
	return rc;
}

int cmd_live_holder(struct state *sdb, const char *store, char **holder, struct cms_error *err)
{
	struct lock_info *locks = NULL;
	int64_t now = (int64_t)time(NULL); /* leases run on the real clock */
	size_t n = 0, i;
	int rc, found = 0;

	*holder = NULL;
	if ((rc = state_lock_list(sdb, &locks, &n, err)) < 0)
		return rc;
	for (i = 0; i < n && !found; i++) {
		enum lock_holder_state hs;

		if (strcmp(locks[i].store, store))
			continue;
		hs = applier_lock_holder_state(locks[i].holder);
		if (hs == HOLDER_ALIVE || (hs != HOLDER_DEAD && locks[i].lease_until >= now)) {
			*holder = xstrdup(locks[i].holder);
			found = 1;
		}
	}
	lock_info_list_free(locks, n);
	return found;
}

static int refuse_if_interrupted(struct state *sdb, const char *store, struct cms_error *err)
{
	char *holder = NULL;
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
	if ((rc = cmd_live_holder(sdb, store, &holder, err)) < 0) {
		run_info_free(&run);
		return rc;
	}
	if (rc == 1) {
		cms_error_set(err, CMS_ELOCKED, "%s run '%s' of store '%s' (plan %.12s) is in progress, "
			      "held by %s", run.kind, run.id, store, run.plan_id ? run.plan_id : "-",
			      holder);
		cms_error_hint(err, "wait for it to finish; 'cmsctl status' shows its steps");
		free(holder);
		run_info_free(&run);
		return CMS_ELOCKED;
	}
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
	in.assume_down = req->assume_down;
	in.assume_down_reason = req->assume_down_reason;
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
	if (p->assume_down)
		buf_addf(&msg, "Assumed-Down: %s\nAssumed-Down-Reason: %s\n", p->assume_down,
			 p->assume_down_reason);
	if ((rc = cmd_open_history(a, &h, err)) < 0)
		goto done;
	rc = history_commit(h, files, 2, msg.ptr, p->author, cms_real_now(), NULL, err);
done:
	history_close(h);
	buf_free(&text);
	buf_free(&msg);
	free(jpath);
	free(tpath);
	free(summary);
	return rc;
}

int cmd_find_plan(struct cmd_args *a, struct history *h, const char *id, char **data, size_t *len,
		  struct cms_error *err)
{
	int rc = history_find_plan(h, id, data, len, err);

	if (rc == CMS_ENOTFOUND) {
		cms_error_set(err, CMS_ERROR, "no plan '%s' in the history at '%s'", id, a->history);
		cms_error_hint(err, "'cmsctl history' lists the plans saved there; a plan saved with "
			       "another history needs --history PATH");
	}
	return rc;
}

int cmd_check_in_history(struct cmd_args *a, const char *ref, const char *id,
			 struct cms_error *err)
{
	struct history *h = NULL;
	char *data = NULL;
	size_t len = 0;
	int rc;

	if ((rc = cmd_open_history(a, &h, err)) < 0)
		return rc;
	rc = history_find_plan(h, id, &data, &len, err);
	if (rc == CMS_ENOTFOUND) {
		cms_error_set(err, CMS_ESTALE, "plan file '%s' (id %s) is not in the history at '%s': "
			      "it was changed after it was saved, or saved with another history, or "
			      "not saved with 'cmsctl plan -o'", ref, id, a->history);
		cms_error_hint(err, "pass --history PATH if it was saved with another history; "
			       "otherwise make and review a new plan with 'cmsctl plan -o FILE'");
	}
	free(data);
	history_close(h);
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
			cms_error_hint(err, "give a plan file saved with 'cmsctl plan -o FILE', or a plan "
				       "id (7 to 40 hex digits) from 'cmsctl history'");
			goto done;
		}
		what = xasprintf("plan file '%s'", ref);
	} else {
		if ((rc = cmd_open_history(a, &h, err)) < 0)
			goto done;
		if ((rc = cmd_find_plan(a, h, ref, &data, &len, err)) < 0)
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

int64_t cmd_lease_s(const struct store *st)
{
	int64_t longest = st->policy.catch_up_timeout_ms;
	size_t i;

	if (st->policy.query_timeout_ms > longest)
		longest = st->policy.query_timeout_ms;
	for (i = 0; i < st->npublish; i++)
		if (st->publish[i].kind == PUBLISH_COMMAND && st->publish[i].timeout_ms > longest)
			longest = st->publish[i].timeout_ms;
	for (i = 0; i < st->nservers; i++) {
		int64_t all = 0;
		size_t j;

		for (j = 0; j < st->servers[i].nfence; j++)
			all += st->servers[i].fence[j].timeout_ms;
		if (all > longest)
			longest = all;
	}
	return 900 + 2 * longest / 1000;
}
