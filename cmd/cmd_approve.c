/*
 * cmsctl approve: a reviewer's approval of exactly one plan (its file or its
 * id), signed with
 * the reviewer's SSH key (state/approval.h) and recorded in the history
 * (<store>/approvals/<plan-id>/<principal>.json, Approved-By:) and the state.
 * Only a plan that apply could still carry out can be approved: not stale,
 * consumed or expired, and never by its author.
 */
#include "cmd/cmd.h"
#include "common/json.h"
#include "cmd/cmdutil.h"
#include "applier/runner.h"
#include "common/buf.h"
#include "common/util.h"
#include "planner/config.h"
#include "planner/plan.h"
#include "state/approval.h"
#include "state/history.h"
#include "state/state.h"

#include <jansson.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

const struct cmd_opt cmd_approve_opts[] = {
	{ OPT_AS, 0, "NAME", "the reviewer's name, as allowed_signers lists it (default: CMSCTL_OPERATOR, else user@host)" },
	{ OPT_KEY, 0, "FILE", "the SSH key to sign with (default: CMSCTL_SIGNING_KEY)" },
	{ 0 },
};

/* The plan must still be one apply could carry out: made against the
 * state as it is now, not consumed, not expired. */
static int check_current(struct state *sdb, const struct plan *p, const char *id, int64_t now,
			 struct cms_error *err)
{
	struct recorded rec;
	struct run_info last;
	bool consumed = false, same;
	char when[32];
	int rc;

	memset(&rec, 0, sizeof(rec));
	memset(&last, 0, sizeof(last));
	if ((rc = state_plan_consumed(sdb, id, &consumed, err)) < 0)
		goto done;
	if (consumed) {
		rc = cms_error_set(err, CMS_ESTALE, "plan %.12s was already applied", id);
		goto done;
	}
	if (now > p->expires) {
		cms_format_time(when, p->expires);
		rc = cms_error_set(err, CMS_ESTALE, "plan %.12s has expired (at %s)", id, when);
		goto done;
	}
	if ((rc = state_read_store(sdb, p->store, &rec, err)) < 0)
		goto done;
	if ((rec.exists && (rec.serial != p->serial || strcmp(rec.lineage, p->lineage))) ||
	    (!rec.exists && p->serial != 0)) {
		rc = cms_error_set(err, CMS_ESTALE, "plan %.12s is stale: it was made against serial %"
				   PRId64 ", store '%s' is at serial %" PRId64, id, p->serial, p->store,
				   rec.exists ? rec.serial : 0);
		goto done;
	}
	rc = state_run_last(sdb, p->store, &last, err);
	if (rc == CMS_ENOTFOUND)
		cms_error_clear(err);
	else if (rc < 0)
		goto done;
	rc = 0;
	same = (!last.id && !p->after_run) || (last.id && p->after_run && !strcmp(last.id, p->after_run));
	if (!same)
		rc = cms_error_set(err, CMS_ESTALE, "plan %.12s is stale: run %s of store '%s' happened "
				   "after it was made", id, last.id ? last.id : "-", p->store);
done:
	if (rc == CMS_ESTALE)
		cms_error_hint(err, "nothing was recorded; the author makes a new plan");
	recorded_free(&rec);
	run_info_free(&last);
	return rc;
}

/* Whether the history holds path within about 15 s: 1 yes, 0 no (the
 * history is re-opened and fetched from its remote, when it has one, each
 * time). */
static int wait_for_record(struct cmd_args *a, struct history **h, const char *path,
			   struct cms_error *err)
{
	int i;

	for (i = 0; i < 30; i++) {
		char *data = NULL;
		size_t len = 0;
		int rc;

		if (i) {
			struct timespec ts = { 0, 500 * 1000 * 1000 };

			nanosleep(&ts, NULL);
			history_close(*h);
			*h = NULL;
			/* Fetch again: the other runner pushes its record. */
			if (a->backend)
				a->backend->synced = false;
			if ((rc = cmd_open_history(a, h, err)) < 0)
				return rc;
		}
		rc = history_read(*h, path, &data, &len, err);
		free(data);
		if (rc == 0)
			return 1;
		if (rc != CMS_ENOTFOUND)
			return rc;
		cms_error_clear(err);
	}
	return 0;
}

int cmd_approve(struct cmd_args *a)
{
	struct cms_error err = CMS_ERROR_INIT;
	struct config *cfg = NULL;
	const struct store *st;
	struct applier_env env;
	struct history *h = NULL;
	struct state *sdb = NULL;
	struct plan *p = NULL;
	struct buf msg = BUF_INIT, out = BUF_INIT, json = BUF_INIT;
	struct history_file file;
	char id[41], when[32], *who = NULL, *sig = NULL, *path = NULL, *doc = NULL, *why = NULL;
	char *old = NULL;
	const char *key = cmd_opt_value(a, OPT_KEY);
	size_t oldlen = 0;
	int64_t now, real_now = cms_real_now();
	int rc = EXIT_OK;

	who = cmd_opt_value(a, OPT_AS) ? xstrdup(cmd_opt_value(a, OPT_AS)) : cms_operator();
	if (!*who || strpbrk(who, "\n\r \t")) {
		rc = cmd_usage_error(a->cmd, "'--as' needs a one-word name (a principal of allowed_signers)");
		goto done;
	}
	if (!key && getenv("CMSCTL_SIGNING_KEY") && *getenv("CMSCTL_SIGNING_KEY"))
		key = getenv("CMSCTL_SIGNING_KEY");
	if (cms_now(&now) < 0)
		now = real_now;
	if ((rc = cmd_load_config(a, &cfg)) != EXIT_OK)
		goto done;
	/* A plan file or an id; either way only a plan in the history can be
	 * approved: the id is of its bytes. */
	if (cmd_load_plan(a, a->pos[0], &p, &json, id, &err) < 0 ||
	    cmd_applier_env(a, &env, &err) < 0 ||
	    applier_check_in_history(&env, a->pos[0], id, &err) < 0 ||
	    cmd_open_history(a, &h, &err) < 0)
		goto fail;
	if (!(st = config_find_store(cfg, p->store))) {
		cms_error_set(&err, CMS_ESTALE, "plan %.12s is for store '%s', which '%s' does not have",
			      id, p->store, cfg->path);
		goto fail;
	}
	if (cmd_state_open(a, true, &sdb, &err) < 0 || cmd_level_history(a, st, sdb, &err) < 0 ||
	    check_current(sdb, p, id, now, &err) < 0)
		goto fail;
	if (!strcmp(who, p->author)) {
		cms_error_set(&err, CMS_EREFUSED, "%s is the author of plan %.12s and cannot approve it",
			      who, id);
		cms_error_hint(&err, "another reviewer approves it");
		goto fail;
	}
	/* A second approval by the same principal changes nothing. */
	path = approval_path(p->store, id, who);
	rc = history_read(h, path, &old, &oldlen, &err);
	if (rc == 0) {
		buf_addf(&out, "plan %s of store %s is already approved by %s: nothing recorded\n", id,
			 p->store, who);
		if (cmd_write_stdout(out.ptr, out.len, &err) < 0)
			goto fail;
		rc = EXIT_OK;
		goto done;
	}
	if (rc != CMS_ENOTFOUND)
		goto fail;
	cms_error_clear(&err);
	if (!key && st->signed_approvals) {
		cms_error_set(&err, CMS_EUSAGE, "store '%s' counts only signed approvals: give the SSH "
			      "key to sign with (--key FILE or CMSCTL_SIGNING_KEY)", p->store);
		goto fail;
	}
	if (key) {
		if (approval_sign(key, id, &sig, &err) < 0)
			goto fail;
		/* Checked now rather than discovered at apply. */
		if (st->allowed_signers) {
			rc = approval_verify(st->allowed_signers, who, id, sig, &why, &err);
			if (rc < 0)
				goto fail;
			if (rc == 0) {
				cms_error_set(&err, CMS_EREFUSED, "the approval of plan %.12s as %s would not "
					      "count: %s", id, who, why);
				cms_error_hint(&err, "nothing was recorded; sign with the key '%s' lists for %s",
					       st->allowed_signers, who);
				goto fail;
			}
		}
	}
	cms_format_time(when, real_now);
	if (approval_doc(id, who, when, sig, &doc, &err) < 0)
		goto fail;
	file.path = path;
	file.data = doc;
	file.len = strlen(doc);
	buf_addf(&msg, "%s: approve plan %.12s by %s\n\n", p->store, id, who);
	buf_addf(&msg, "%s approval of plan %s; the record is %s.\n\n", sig ? "Signed" : "Unsigned",
		 id, path);
	{
		char *by[1] = { who };
		struct history_trailers t = {
			.plan_id = id, .has_serial = true, .serial = p->serial, .operator_name = who,
			.kind = "approve", .approved_by = by, .napproved_by = 1,
			.signed_ = sig ? "yes" : "no",
		};

		history_add_trailers(&msg, &t);
	}
	/* The state decides between runners approving at once: only the one
	 * that recorded the approval commits it to the history. */
	if ((rc = state_approve(sdb, id, p->store, who, real_now, &err)) < 0)
		goto fail;
	if (rc == 0) {
		/* Another runner recorded it and commits it to the history now;
		 * or an earlier approve recorded it and then failed to commit.
		 * Wait (re-reading the history, its remote fetched) for the
		 * former; past that, the record is missing: commit it here. */
		if ((rc = wait_for_record(a, &h, path, &err)) < 0)
			goto fail;
		if (rc == 1) {
			buf_addf(&out, "plan %s of store %s is already approved by %s (recorded by "
				 "another runner): nothing recorded\n", id, p->store, who);
			if (cmd_write_stdout(out.ptr, out.len, &err) < 0)
				goto fail;
			rc = EXIT_OK;
			goto done;
		}
		cmd_note("the approval of plan %.12s by %s is in the state but not in the history: "
			 "recording it now", id, who);
	}
	if (cmd_record_commit(a, h, &file, 1, msg.ptr, who, real_now, &err) < 0)
		goto fail;
	if (a->json) {
		json_t *o = json_object();

		json_object_set_new(o, "plan_id", json_string(id));
		json_object_set_new(o, "store", json_string(p->store));
		json_object_set_new(o, "approved_by", json_string(who));
		json_object_set_new(o, "signed", json_boolean(sig != NULL));
		cms_json_add(&out, o, JSON_PRESERVE_ORDER);
		json_decref(o);
	} else
		buf_addf(&out, "approved plan %s of store %s as %s (%s)\n", id, p->store, who,
			 sig ? "signed" : "unsigned");
	if (cmd_write_stdout(out.ptr, out.len, &err) < 0)
		goto fail;
	rc = EXIT_OK;
	goto done;
fail:
	rc = cmd_fail(&err);
done:
	plan_free(p);
	state_close(sdb);
	history_close(h);
	config_free(cfg);
	buf_free(&msg);
	buf_free(&out);
	buf_free(&json);
	free(who);
	free(sig);
	free(path);
	free(doc);
	free(why);
	free(old);
	cms_error_clear(&err);
	return rc;
}
