/*
 * cmsctl lock list and cmsctl unlock: see the state locks, and break one —
 * only when its lease has run out, or with --force — leaving a record of it
 * in the history (applier/unlock.c decides and records).
 */
#include "cmd/cmd.h"
#include "cmd/cmdutil.h"
#include "applier/apply.h"
#include "applier/unlock.h"
#include "common/buf.h"
#include "common/util.h"
#include "state/state.h"

#include <inttypes.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

const struct cmd_opt cmd_lock_opts[] = {
	{ 0 },
};

const struct cmd_opt cmd_unlock_opts[] = {
	{ OPT_FORCE, 0, NULL, "break the lock even though its lease has not run out" },
	{ OPT_YES, 'y', NULL, "with --force, do not ask even when the holder is alive on this host" },
	{ 0 },
};

static void free_locks(struct lock_info *l, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		lock_info_free(&l[i]);
	free(l);
}

int cmd_lock(struct cmd_args *a)
{
	struct cms_error err = CMS_ERROR_INIT;
	struct state *sdb = NULL;
	struct lock_info *locks = NULL;
	struct buf out = BUF_INIT;
	size_t n = 0, i;
	int64_t now;
	int rc = EXIT_OK;

	if (strcmp(a->pos[0], "list") != 0)
		return cmd_unknown_subcommand(a->cmd, a->pos[0], (const char *const[]){ "list" }, 1);
	now = (int64_t)time(NULL); /* leases run on the real clock */
	if (cmd_open_state(a, false, &sdb, &err) < 0 ||
	    (sdb && state_lock_list(sdb, &locks, &n, &err) < 0)) {
		rc = cmd_fail(&err);
		goto done;
	}
	if (a->json) {
		json_t *arr = json_array();
		char *text;

		for (i = 0; i < n; i++) {
			char acq[32], lease[32];

			cms_format_time(acq, locks[i].acquired_at);
			cms_format_time(lease, locks[i].lease_until);
			json_array_append_new(arr, json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:b, s:s}",
							     "store", locks[i].store, "id", locks[i].id,
							     "holder", locks[i].holder_text,
							     "reason", locks[i].reason ? locks[i].reason : "",
							     "acquired_at", acq, "lease_until", lease,
							     "expired", locks[i].lease_until < now,
							     "holder_state", lock_holder_state_name(
								     applier_lock_holder_state(&locks[i].holder))));
		}
		text = json_dumps(arr, JSON_SORT_KEYS | JSON_INDENT(2));
		json_decref(arr);
		buf_adds(&out, text ? text : "[]");
		buf_addch(&out, '\n');
		free(text);
	} else {
		for (i = 0; i < n; i++) {
			char acq[32], lease[32];

			cms_format_time(acq, locks[i].acquired_at);
			cms_format_time(lease, locks[i].lease_until);
			buf_addf(&out, "%s %s held by %s [%s] since %s, lease until %s%s (%s)\n",
				 locks[i].store, locks[i].id, locks[i].holder_text,
				 lock_holder_state_name(applier_lock_holder_state(&locks[i].holder)), acq,
				 lease, locks[i].lease_until < now ? " [expired]" : "",
				 locks[i].reason ? locks[i].reason : "");
		}
		if (!n)
			cmd_note("no locks are held");
	}
	if (cmd_write_stdout(out.ptr, out.len, &err) < 0)
		rc = cmd_fail(&err);
done:
	free_locks(locks, n);
	buf_free(&out);
	state_close(sdb);
	cms_error_clear(&err);
	return rc;
}

/* With --force and a holder alive on this host: ask (--yes: do not). */
static int confirm_break(void *arg, const char *question, struct cms_error *err)
{
	struct cmd_args *a = arg;

	if (cmd_opt_flag(a, OPT_YES))
		return 0;
	return cmd_confirm(question, "stop that process first; pass --yes to break its lock anyway",
			   err);
}

int cmd_unlock(struct cmd_args *a)
{
	struct cms_error err = CMS_ERROR_INIT;
	struct applier_env env;
	struct unlock_result res;
	struct buf out = BUF_INIT;
	const char *store = a->pos[0], *id = a->pos[1];
	char *op = cms_operator();
	int rc = EXIT_OK;

	memset(&res, 0, sizeof(res));
	if (cmd_applier_env(a, &env, &err) < 0 ||
	    applier_unlock(&env, store, id, cmd_opt_flag(a, OPT_FORCE), op, confirm_break, a, &res,
			   &err) < 0)
		goto fail;
	if (a->json) {
		json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:s}", "store", store, "lock_id", id,
				      "holder", res.holder, "holder_state",
				      lock_holder_state_name(res.holder_state), "outcome", res.outcome);
		char *text = json_dumps(o, JSON_SORT_KEYS | JSON_INDENT(2));

		json_decref(o);
		buf_adds(&out, text);
		buf_addch(&out, '\n');
		free(text);
		if (cmd_write_stdout(out.ptr, out.len, &err) < 0)
			goto fail;
	}
	cmd_note("broke lock %s of store %s (held by %s)", id, store, res.holder);
	goto done;
fail:
	rc = cmd_fail(&err);
done:
	unlock_result_free(&res);
	buf_free(&out);
	free(op);
	cms_error_clear(&err);
	return rc;
}
