/*
 * cmsctl state show and cmsctl state migrate: print everything the state
 * records (the `terraform state show` habit), as text or JSON; and copy a
 * state into another, empty backend (an SQLite file into a shared
 * PostgreSQL database), refusing a target that holds anything and a source
 * with a run in progress.
 */
#include "cmd/cmd.h"
#include "common/json.h"
#include "cmd/cmdutil.h"
#include "common/buf.h"
#include "common/util.h"
#include "state/state.h"

#include <inttypes.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

const struct cmd_opt cmd_state_opts[] = {
	{ OPT_TO, 0, "CONFIG-OR-URL", "migrate: the target state (a config file, postgresql://... "
	  "or sqlite:PATH)" },
	{ 0 },
};

static json_t *str_or_null(const char *s)
{
	return s ? json_string(s) : json_null();
}

/* The whole dump as one JSON document; keys sorted when dumped. */
static json_t *dump_json(const struct state_dump *d)
{
	json_t *root = json_object(), *arr;
	size_t i;

	arr = json_array();
	for (i = 0; i < d->nstores; i++) {
		const struct state_store_row *r = &d->stores[i];

		json_array_append_new(arr, json_pack("{s:s, s:o, s:I, s:o, s:o, s:o}",
						     "name", r->name,
						     "lineage", str_or_null(r->rec.lineage),
						     "serial", (json_int_t)r->rec.serial,
						     "primary", str_or_null(r->rec.primary),
						     "mirror", str_or_null(r->rec.mirror),
						     "updated_at", str_or_null(r->rec.updated_at)));
	}
	json_object_set_new(root, "stores", arr);
	arr = json_array();
	for (i = 0; i < d->nruns; i++) {
		const struct run_info *r = &d->runs[i];
		json_t *steps = json_array();
		size_t k;

		for (k = 0; k < d->nsteps; k++) {
			const struct state_step_row *s = &d->steps[k];

			if (strcmp(s->run_id, r->id) != 0)
				continue;
			json_array_append_new(steps, json_pack(
				"{s:i, s:o, s:o, s:s, s:o, s:o, s:o, s:o}",
				"n", s->step.n, "action", str_or_null(s->step.action),
				"server", str_or_null(s->step.server),
				"status", step_status_name(s->step.status),
				"detail", str_or_null(s->step.detail_json),
				"started_at", str_or_null(s->step.started_at),
				"finished_at", str_or_null(s->step.finished_at),
				"duration_ms", s->step.duration_ms < 0 ? json_null() :
					json_integer((json_int_t)s->step.duration_ms)));
		}
		json_array_append_new(arr, json_pack("{s:s, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o}",
						     "id", r->id, "store", str_or_null(r->store),
						     "plan_id", str_or_null(r->plan_id),
						     "kind", str_or_null(r->kind),
						     "operator", str_or_null(r->operator_name),
						     "outcome", str_or_null(r->outcome),
						     "started_at", str_or_null(r->started_at),
						     "finished_at", str_or_null(r->finished_at),
						     "steps", steps));
	}
	json_object_set_new(root, "runs", arr);
	arr = json_array();
	for (i = 0; i < d->napprovals; i++)
		json_array_append_new(arr, json_pack("{s:s, s:s, s:s, s:s}",
						     "plan_id", d->approvals[i].plan_id,
						     "store", d->approvals[i].store,
						     "approver", d->approvals[i].approver,
						     "approved_at", d->approvals[i].approved_at));
	json_object_set_new(root, "approvals", arr);
	arr = json_array();
	for (i = 0; i < d->nconsumed; i++)
		json_array_append_new(arr, json_pack("{s:s, s:s, s:o, s:s}",
						     "plan_id", d->consumed[i].plan_id,
						     "store", d->consumed[i].store,
						     "run_id", str_or_null(d->consumed[i].run_id),
						     "consumed_at", d->consumed[i].consumed_at));
	json_object_set_new(root, "used_plans", arr);
	arr = json_array();
	for (i = 0; i < d->nlocks; i++) {
		char acq[32], lease[32];

		cms_format_time(acq, d->locks[i].acquired_at);
		cms_format_time(lease, d->locks[i].lease_until);
		json_array_append_new(arr, json_pack("{s:s, s:s, s:s, s:o, s:s, s:s}",
						     "store", d->locks[i].store, "id", d->locks[i].id,
						     "holder", d->locks[i].holder_text,
						     "reason", str_or_null(d->locks[i].reason),
						     "acquired_at", acq, "lease_until", lease));
	}
	json_object_set_new(root, "locks", arr);
	json_object_set_new(root, "history_tip", str_or_null(d->history_tip));
	return root;
}

static void dump_text(const struct state_dump *d, struct buf *out)
{
	size_t i, k;

	for (i = 0; i < d->nstores; i++) {
		const struct state_store_row *r = &d->stores[i];
		size_t runs = 0;

		for (k = 0; k < d->nruns; k++)
			runs += d->runs[k].store && !strcmp(d->runs[k].store, r->name);
		buf_addf(out, "store %s\n  serial:     %" PRId64 "\n  primary:    %s\n", r->name,
			 r->rec.serial, r->rec.primary ? r->rec.primary : "-");
		buf_addf(out, "  mirror:     %s\n  lineage:    %s\n  updated at: %s\n  runs:       %zu\n",
			 r->rec.mirror ? r->rec.mirror : "-", r->rec.lineage ? r->rec.lineage : "-",
			 r->rec.updated_at ? r->rec.updated_at : "-", runs);
		for (k = 0; k < d->nlocks; k++)
			if (!strcmp(d->locks[k].store, r->name))
				buf_addf(out, "  locked by:  %s (lock %s)\n", d->locks[k].holder_text,
					 d->locks[k].id);
	}
	if (d->nruns) {
		buf_adds(out, "runs\n");
		for (i = 0; i < d->nruns; i++) {
			const struct run_info *r = &d->runs[i];

			buf_addf(out, "  %s %s %s %s by %s, plan %.12s, %s%s%s\n", r->id,
				 r->store ? r->store : "-", r->kind ? r->kind : "-",
				 r->outcome ? r->outcome : "-",
				 r->operator_name ? r->operator_name : "-",
				 r->plan_id ? r->plan_id : "-", r->started_at ? r->started_at : "",
				 r->finished_at ? " - " : "", r->finished_at ? r->finished_at : "");
		}
	}
	if (d->napprovals) {
		buf_adds(out, "approvals\n");
		for (i = 0; i < d->napprovals; i++)
			buf_addf(out, "  plan %.12s (%s) approved by %s at %s\n",
				 d->approvals[i].plan_id, d->approvals[i].store,
				 d->approvals[i].approver, d->approvals[i].approved_at);
	}
	if (d->history_tip)
		buf_addf(out, "history tip %s (as of the last history commit)\n", d->history_tip);
	if (d->nconsumed) {
		buf_adds(out, "used plans\n");
		for (i = 0; i < d->nconsumed; i++)
			buf_addf(out, "  plan %.12s (%s) by run %s at %s\n", d->consumed[i].plan_id,
				 d->consumed[i].store,
				 d->consumed[i].run_id ? d->consumed[i].run_id : "-",
				 d->consumed[i].consumed_at);
	}
}

static int state_show(struct cmd_args *a)
{
	struct cms_error err = CMS_ERROR_INIT;
	struct state_dump d = { 0 };
	struct state *sdb = NULL;
	struct buf out = BUF_INIT;
	int rc = EXIT_OK;

	if (cmd_open_state(a, false, &sdb, &err) < 0 || (sdb && state_dump(sdb, &d, &err) < 0)) {
		rc = cmd_fail(&err);
		goto done;
	}
	if (a->json) {
		json_t *root = dump_json(&d);

		cms_json_add(&out, root, JSON_SORT_KEYS | JSON_INDENT(2));
		json_decref(root);
	} else {
		dump_text(&d, &out);
		if (!sdb)
			cmd_note("no state at '%s' yet", a->state);
		else if (!d.nstores)
			cmd_note("no store recorded in '%s' yet", a->state);
	}
	if (cmd_write_stdout(out.ptr, out.len, &err) < 0)
		rc = cmd_fail(&err);
done:
	state_dump_free(&d);
	state_close(sdb);
	buf_free(&out);
	cms_error_clear(&err);
	return rc;
}

static int state_migrate(struct cmd_args *a)
{
	const char *to = cmd_opt_value(a, OPT_TO);
	struct cms_error err = CMS_ERROR_INIT;
	struct state_dump d = { 0 };
	struct state *src = NULL, *dst = NULL;
	struct buf out = BUF_INIT;
	char *dst_name = NULL;
	int rc = EXIT_OK;

	if (!to)
		return cmd_usage_error(a->cmd, "'state migrate' needs --to CONFIG-OR-URL");
	if (cmd_state_open(a, false, &src, &err) < 0) {
		if (err.code == CMS_ENOTFOUND)
			cms_error_set(&err, CMS_ERROR, "no state at '%s' to migrate", a->state);
		goto fail;
	}
	if (state_dump(src, &d, &err) < 0)
		goto fail;
	if (d.nlocks) {
		cms_error_set(&err, CMS_ELOCKED, "store '%s' is locked by %s: a run is in progress",
			      d.locks[0].store, d.locks[0].holder_text);
		cms_error_hint(&err, "migrate when no run holds a lock ('cmsctl lock list')");
		goto fail;
	}
	if (cmd_state_open_spec(to, true, &dst, &dst_name, &err) < 0)
		goto fail;
	if (!strcmp(state_name(dst), state_name(src))) {
		cms_error_set(&err, CMS_ERROR, "the target is the source ('%s')", state_name(src));
		goto fail;
	}
	if (state_load(dst, &d, &err) < 0)
		goto fail;
	cmd_note("migrated %zu store%s, %zu run%s, %zu approval%s and %zu used plan%s from "
		 "'%s' to '%s'", d.nstores, d.nstores == 1 ? "" : "s", d.nruns,
		 d.nruns == 1 ? "" : "s", d.napprovals, d.napprovals == 1 ? "" : "s", d.nconsumed,
		 d.nconsumed == 1 ? "" : "s", state_name(src), state_name(dst));
	cmd_note("the source was left as it was; point the config's backend at the target");
	if (a->json) {
		json_t *o = json_pack("{s:s, s:s, s:I, s:I, s:I, s:I}", "from", state_name(src), "to",
				      state_name(dst), "stores", (json_int_t)d.nstores, "runs",
				      (json_int_t)d.nruns, "approvals", (json_int_t)d.napprovals,
				      "used_plans", (json_int_t)d.nconsumed);

		cms_json_add(&out, o, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
		json_decref(o);
		if (cmd_write_stdout(out.ptr, out.len, &err) < 0)
			goto fail;
	}
	goto done;
fail:
	rc = cmd_fail(&err);
done:
	state_dump_free(&d);
	state_close(src);
	state_close(dst);
	free(dst_name);
	buf_free(&out);
	cms_error_clear(&err);
	return rc;
}

int cmd_state(struct cmd_args *a)
{
	if (!strcmp(a->pos[0], "show"))
		return state_show(a);
	if (!strcmp(a->pos[0], "migrate"))
		return state_migrate(a);
	return cmd_unknown_subcommand(a->cmd, a->pos[0],
				      (const char *const[]){ "show", "migrate" }, 2);
}
