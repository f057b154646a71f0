/*
 * cmsctl approve's work (approve.h): the plan checked current, the
 * approval signed and checked against the store's allowed signers, then
 * recorded in the state and committed to the history.
 */
#include "applier/approve.h"
#include "applier/planning.h"
#include "common/buf.h"
#include "common/util.h"
#include "planner/config.h"
#include "state/approval.h"
#include "state/history.h"
#include "state/record.h"
#include "state/state.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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
	if ((rc = applier_last_run(sdb, p->store, &last, err)) < 0)
		goto done;
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
static int wait_for_record(const struct applier_env *env, struct history **h, const char *path,
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
			if ((rc = env->open_history(env->arg, true, h, err)) < 0)
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

/* The signature (*sig, the caller's; NULL when no key is given), checked
 * now against the store's allowed signers rather than discovered at
 * apply; a store that counts only signed approvals needs a key. */
static int sign_approval(const struct store *st, const struct plan *p, const char *id,
			 const struct approve_request *req, char **sig, struct cms_error *err)
{
	char *why = NULL;
	int rc;

	*sig = NULL;
	if (!req->key && st->signed_approvals)
		return cms_error_set(err, CMS_EUSAGE, "store '%s' counts only signed approvals: give "
				     "the SSH key to sign with (--key FILE or CMSCTL_SIGNING_KEY)",
				     p->store);
	if (!req->key)
		return 0;
	if ((rc = approval_sign(req->key, id, sig, err)) < 0 || !st->allowed_signers)
		return rc;
	rc = approval_verify(st->allowed_signers, req->who, id, *sig, &why, err);
	if (rc == 0) {
		rc = cms_error_set(err, CMS_EREFUSED, "the approval of plan %.12s as %s would not "
				   "count: %s", id, req->who, why);
		cms_error_hint(err, "nothing was recorded; sign with the key '%s' lists for %s",
			       st->allowed_signers, req->who);
	}
	free(why);
	return rc < 0 ? rc : 0;
}

/* The history message of an approval, with its trailers. */
static void approval_message(struct buf *msg, const struct plan *p, const char *id,
			     const char *who, bool signed_, const char *path)
{
	char *by[1] = { (char *)who };
	struct history_trailers t = {
		.plan_id = id, .has_serial = true, .serial = p->serial, .operator_name = who,
		.kind = "approve", .approved_by = by, .napproved_by = 1,
		.signed_ = signed_ ? "yes" : "no",
	};

	buf_addf(msg, "%s: approve plan %.12s by %s\n\n", p->store, id, who);
	buf_addf(msg, "%s approval of plan %s; the record is %s.\n\n", signed_ ? "Signed" : "Unsigned",
		 id, path);
	history_add_trailers(msg, &t);
}

int applier_approve(const struct applier_env *env, const struct config *cfg, const struct plan *p,
		    const char *id, const char *ref, const struct approve_request *req,
		    enum approve_outcome *out, bool *signed_out, struct cms_error *err)
{
	const struct store *st;
	struct cms_error warn = CMS_ERROR_INIT;
	struct history *h = NULL;
	struct state *sdb = NULL;
	struct buf msg = BUF_INIT;
	struct history_file file;
	const char *who = req->who;
	char when[32], *sig = NULL, *path = NULL, *doc = NULL, *old = NULL;
	size_t oldlen = 0;
	int rc;

	*out = APPROVE_RECORDED;
	*signed_out = false;
	/* A plan file or an id; either way only a plan in the history can be
	 * approved: the id is of its bytes. */
	if ((rc = applier_check_in_history(env, ref, id, err)) < 0 ||
	    (rc = env->open_history(env->arg, false, &h, err)) < 0)
		goto done;
	if (!(st = config_find_store(cfg, p->store))) {
		rc = cms_error_set(err, CMS_ESTALE, "plan %.12s is for store '%s', which '%s' does not "
				   "have", id, p->store, cfg->path);
		goto done;
	}
	if ((rc = env->open_state(env->arg, true, &sdb, err)) < 0 ||
	    (rc = applier_level_history(env, sdb, st, err)) < 0 ||
	    (rc = check_current(sdb, p, id, req->now, err)) < 0)
		goto done;
	if (!strcmp(who, p->author)) {
		rc = cms_error_set(err, CMS_EREFUSED, "%s is the author of plan %.12s and cannot "
				   "approve it", who, id);
		cms_error_hint(err, "another reviewer approves it");
		goto done;
	}
	/* A second approval by the same principal changes nothing. */
	path = approval_path(p->store, id, who);
	rc = history_read(h, path, &old, &oldlen, err);
	if (rc == 0) {
		*out = APPROVE_ALREADY;
		goto done;
	}
	if (rc != CMS_ENOTFOUND)
		goto done;
	cms_error_clear(err);
	if ((rc = sign_approval(st, p, id, req, &sig, err)) < 0)
		goto done;
	*signed_out = sig != NULL;
	cms_format_time(when, req->real_now);
	if ((rc = approval_doc(id, who, when, sig, &doc, err)) < 0)
		goto done;
	file.path = path;
	file.data = doc;
	file.len = strlen(doc);
	approval_message(&msg, p, id, who, sig != NULL, path);
	/* An approval the history cannot take is not recorded in the state
	 * either: apply would count it with no record for auditors. */
	if ((rc = history_check_writable(h, err)) < 0) {
		cms_error_hint(err, "nothing was recorded; approve again once the history can be "
			       "written");
		goto done;
	}
	/* The state decides between runners approving at once: only the one
	 * that recorded the approval commits it to the history. */
	if ((rc = state_approve(sdb, id, p->store, who, req->real_now, err)) < 0)
		goto done;
	if (rc == 0) {
		/* Another runner recorded it and commits it to the history now;
		 * or an earlier approve recorded it and then failed to commit.
		 * Wait (re-reading the history, its remote fetched) for the
		 * former; past that, the record is missing: commit it here. */
		if ((rc = wait_for_record(env, &h, path, err)) < 0)
			goto done;
		if (rc == 1) {
			*out = APPROVE_BY_OTHER;
			rc = 0;
			goto done;
		}
		applier_note(env, "the approval of plan %.12s by %s is in the state but not in the "
			     "history: recording it now", id, who);
	}
	rc = record_commit(h, sdb, &file, 1, msg.ptr, who, req->real_now, NULL, &warn, err);
	if (rc < 0)
		cms_error_hint(err, "the state has the approval, the history does not: the same "
			       "'cmsctl approve' again records it there");
	if (rc == 0 && warn.message)
		applier_note(env, "warning: the history tip was not recorded in the state: %s",
			     warn.message);
done:
	history_close(h);
	state_close(sdb);
	buf_free(&msg);
	cms_error_clear(&warn);
	free(sig);
	free(path);
	free(doc);
	free(old);
	return rc < 0 ? rc : 0;
}
