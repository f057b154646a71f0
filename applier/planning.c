/*
 * Planning a store (planning.h): the state's record and its unfinished and
 * last runs, a probe of the servers, the planner's diff; and the commit of
 * a plan to the history.  Used by plan, apply without a plan file, status
 * (the probe) and plan sets.
 */
#include "applier/planning.h"
#include "applier/apply.h"
#include "applier/engine.h"
#include "common/util.h"
#include "planner/config.h"
#include "state/record.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int applier_check_secrets(const struct store *st, struct cms_error *err)
{
	size_t i;

	for (i = 0; i < st->nservers; i++) {
		const struct server *sv = &st->servers[i];
		char *pw = NULL;
		int rc = config_read_password(&pw, sv->password_env, sv->password_file, err);

		cms_free_secret(pw);
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

int applier_observe(const struct store *st, bool offline, struct observation *out,
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
	if ((rc = applier_check_secrets(st, err)) < 0)
		return rc;
	if ((rc = engine_open(&e, st, NULL, NULL, err)) < 0)
		return rc;
	rc = engine_probe(e, out, err);
	engine_close(e);
	return rc;
}

int applier_live_holder(struct state *sdb, const char *store, char **holder, struct cms_error *err)
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
		hs = applier_lock_holder_state(&locks[i].holder);
		if (hs == HOLDER_ALIVE || (hs != HOLDER_DEAD && locks[i].lease_until >= now)) {
			*holder = xstrdup(locks[i].holder_text);
			found = 1;
		}
	}
	lock_info_list_free(locks, n);
	return found;
}

int applier_last_run(struct state *sdb, const char *store, struct run_info *last,
		     struct cms_error *err)
{
	int rc;

	memset(last, 0, sizeof(*last));
	rc = state_run_last(sdb, store, last, err);
	if (rc == CMS_ENOTFOUND) {
		cms_error_clear(err);
		return 0;
	}
	return rc;
}

int applier_interrupted_error(const struct run_info *run, const char *store,
			      struct cms_error *err)
{
	cms_error_set(err, CMS_EINTERRUPTED, "%s run '%s' of store '%s' (plan %.12s) was interrupted",
		      run->kind, run->id, store, run->plan_id ? run->plan_id : "-");
	cms_error_hint(err, "'cmsctl status' shows what is left; 'cmsctl restore' brings the store "
		       "back to one consistent location");
	return CMS_EINTERRUPTED;
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
	if ((rc = applier_live_holder(sdb, store, &holder, err)) < 0) {
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
	rc = applier_interrupted_error(&run, store, err);
	run_info_free(&run);
	return rc;
}

int applier_make_plan(struct state *sdb, const struct store *st, const struct plan_request *req,
		      struct plan **out, struct buf *json, char id[41], struct cms_error *err)
{
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
	if (sdb) {
		if ((rc = state_read_store(sdb, st->name, &rec, err)) < 0)
			goto done;
		if ((rc = refuse_if_interrupted(sdb, st->name, err)) < 0)
			goto done;
		if ((rc = applier_last_run(sdb, st->name, &last, err)) < 0)
			goto done;
	}
	if ((rc = applier_observe(st, req->offline, &obs, err)) < 0)
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
	in.assume_down_where_it_applies = req->assume_down_where_it_applies;
	in.reason = req->reason;
	in.ticket = req->ticket;
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
	return rc;
}

int applier_commit_plan(struct history *h, struct state *sdb, const struct plan *p,
			const struct buf *json, const char *id, struct cms_error *warn,
			struct cms_error *err)
{
	struct buf text = BUF_INIT, msg = BUF_INIT;
	struct history_file files[2];
	char *jpath = NULL, *tpath = NULL, *summary = NULL;
	int rc;

	plan_render(p, id, &text);
	jpath = history_path_plan(p->store, p->serial, id, "json");
	tpath = history_path_plan(p->store, p->serial, id, "txt");
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
	{
		struct history_trailers t = {
			.plan_id = id, .has_serial = true, .serial = p->serial,
			.operator_name = p->author, .kind = "plan", .assume_down = p->assume_down,
			.assume_down_reason = p->assume_down_reason, .reason = p->reason,
			.ticket = p->ticket,
		};

		history_add_trailers(&msg, &t);
	}
	rc = record_commit(h, sdb, files, 2, msg.ptr, p->author, cms_real_now(), NULL, warn, err);
	buf_free(&text);
	buf_free(&msg);
	free(jpath);
	free(tpath);
	free(summary);
	return rc;
}
