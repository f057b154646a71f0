/*
 * cmsctl unlock's work (unlock.h): the lock found, the break allowed or
 * refused by its lease and its holder, the state's lock removed and the
 * break committed to the history.
 */
#include "applier/unlock.h"
#include "common/buf.h"
#include "common/util.h"
#include "state/history.h"
#include "state/record.h"
#include "state/state.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

void unlock_result_free(struct unlock_result *r)
{
	if (!r)
		return;
	free(r->holder);
	r->holder = NULL;
}

int applier_unlock(const struct applier_env *env, const char *store, const char *id, bool force,
		   const char *op,
		   int (*confirm)(void *arg, const char *question, struct cms_error *err),
		   void *confirm_arg, struct unlock_result *out, struct cms_error *err)
{
	struct cms_error warn = CMS_ERROR_INIT;
	struct state *sdb = NULL;
	struct history *h = NULL;
	struct lock_info *locks = NULL, *found = NULL;
	struct buf msg = BUF_INIT;
	size_t n = 0, i;
	int64_t now = (int64_t)time(NULL); /* leases run on the real clock */
	enum lock_holder_state hs;
	int rc;

	memset(out, 0, sizeof(*out));
	if ((rc = env->open_state(env->arg, false, &sdb, err)) < 0 ||
	    (rc = state_lock_list(sdb, &locks, &n, err)) < 0)
		goto done;
	for (i = 0; i < n; i++)
		if (!strcmp(locks[i].store, store) && !strcmp(locks[i].id, id))
			found = &locks[i];
	if (!found) {
		rc = cms_error_set(err, CMS_ERROR, "store '%s' has no lock '%s'", store, id);
		cms_error_hint(err, "'cmsctl lock list' shows the locks held");
		goto done;
	}
	hs = applier_lock_holder_state(&found->holder);
	if (found->lease_until >= now && !force && hs != HOLDER_DEAD) {
		char lease[32];

		cms_format_time(lease, found->lease_until);
		rc = cms_error_set(err, CMS_ELOCKED, "lock '%s' of store '%s' is held by %s until %s%s",
				   id, store, found->holder_text, lease,
				   hs == HOLDER_ALIVE ? " and that process is running" : "");
		cms_error_hint(err, "make sure that process is gone, then pass --force");
		goto done;
	}
	if (found->lease_until >= now && hs == HOLDER_ALIVE && confirm) {
		char *q = xasprintf("%s is running and holds lock %s of store %s; breaking it lets "
				    "another run start beside it. Break it?", found->holder_text, id, store);

		rc = confirm(confirm_arg, q, err);
		free(q);
		if (rc < 0)
			goto done;
	}
	if ((rc = state_unlock(sdb, store, id, err)) < 0)
		goto done;
	out->holder = xstrdup(found->holder_text);
	out->holder_state = hs;
	out->outcome = force ? "forced" : found->lease_until < now ? "expired" : "holder-dead";
	buf_addf(&msg, "%s: unlock %s held by %s%s\n\nReason it was taken: %s\n\n", store, id,
		 found->holder_text, force ? " (forced)" : "", found->reason ? found->reason : "-");
	{
		struct history_trailers t = {
			.operator_name = op, .kind = "unlock", .outcome = out->outcome,
		};

		history_add_trailers(&msg, &t);
	}
	if ((rc = env->open_history(env->arg, false, &h, err)) < 0 ||
	    (rc = record_commit(h, sdb, NULL, 0, msg.ptr, op, now, NULL, &warn, err)) < 0)
		goto done;
	if (warn.message)
		applier_note(env, "warning: the history tip was not recorded in the state: %s",
			     warn.message);
done:
	lock_info_list_free(locks, n);
	buf_free(&msg);
	history_close(h);
	state_close(sdb);
	cms_error_clear(&warn);
	return rc;
}
