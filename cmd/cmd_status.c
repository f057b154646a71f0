/*
 * cmsctl status: for each store, the recorded location, what each server
 * reports, the drift between the two, an interrupted run and what is left
 * of it, and follow-ups the observations call for (a fenced server to
 * re-seed).  Reads only; changes nothing.
 */
#include "cmd/cmd.h"
#include "common/buf.h"
#include "common/util.h"
#include "planner/config.h"
#include "planner/observe.h"
#include "planner/observe_json.h"
#include "planner/plan.h"
#include "state/history.h"
#include "state/level.h"
#include "state/state.h"

#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const struct cmd_opt cmd_status_opts[] = {
	{ "store", 's', "STORE", "only this store" },
	{ "offline", 0, NULL, "do not probe the servers" },
	{ 0 },
};

struct store_status {
	const struct store *st;
	struct recorded rec;
	struct observation obs;
	char *probe_error;          /* the engine could not probe at all */
	struct run_info run;        /* an interrupted run, when run.id */
	struct step_info *steps;
	size_t nsteps;
	char *drift;                /* description, or NULL */
	char **followups;
	size_t nfollowups, alloc_followups;
};

static void add_followup(struct store_status *s, char *text)
{
	*ARRAY_PUSH(s->followups, s->nfollowups, s->alloc_followups) = text;
}

static void derive(struct store_status *s)
{
	size_t i;

	for (i = 0; i < s->obs.nservers; i++) {
		const struct server_obs *o = &s->obs.servers[i];

		if (o->reachable && o->role == OBS_FENCED &&
		    !(s->rec.exists && s->rec.primary && !strcmp(s->rec.primary, o->server)))
			add_followup(s, xasprintf("%s is fenced (read-only): re-seed it as a copy of "
						  "the primary before it serves as mirror",
						  o->server));
		if (!o->reachable)
			add_followup(s, xasprintf("%s is unreachable: %s", o->server,
						  o->error ? o->error : "no answer"));
	}
	if (!s->obs.probed || !s->rec.exists)
		return;
	s->drift = planner_drift(s->rec.primary, &s->obs);
	if (s->drift)
		add_followup(s, xstrdup("run 'cmsctl restore' to re-assert the recorded location, or "
					"'cmsctl plan --accept-drift' to adopt what the servers report"));
}

static void status_free(struct store_status *s)
{
	size_t i;

	recorded_free(&s->rec);
	observation_free(&s->obs);
	free(s->probe_error);
	run_info_free(&s->run);
	for (i = 0; i < s->nsteps; i++)
		step_info_free(&s->steps[i]);
	free(s->steps);
	free(s->drift);
	for (i = 0; i < s->nfollowups; i++)
		free(s->followups[i]);
	free(s->followups);
}

static int gather(struct cmd_args *a, struct state *sdb, struct store_status *s,
		  struct cms_error *err)
{
	struct cms_error perr = CMS_ERROR_INIT;
	int rc;

	if (sdb) {
		if ((rc = state_read_store(sdb, s->st->name, &s->rec, err)) < 0)
			return rc;
		rc = state_run_unfinished(sdb, s->st->name, &s->run, err);
		if (rc == CMS_ENOTFOUND)
			cms_error_clear(err);
		else if (rc < 0)
			return rc;
		else if ((rc = state_run_steps(sdb, s->run.id, &s->steps, &s->nsteps, err)) < 0)
			return rc;
	}
	if (cmd_observe(s->st, cmd_opt_flag(a, "offline"), &s->obs, &perr) < 0) {
		s->probe_error = xstrdup(perr.message);
		cms_error_clear(&perr);
	}
	derive(s);
	if (s->run.id)
		add_followup(s, xasprintf("%s run %s was interrupted: run 'cmsctl restore -s %s'",
					  s->run.kind, s->run.id, s->st->name));
	return 0;
}

static void render(const struct store_status *s, struct buf *out)
{
	size_t i;

	buf_addf(out, "Store %s (engine %s)\n", s->st->name, engine_kind_name(s->st->engine));
	if (s->rec.exists)
		buf_addf(out, "  recorded: primary %s, mirror %s (serial %" PRId64 ", lineage %s, %s)\n",
			 s->rec.primary, s->rec.mirror ? s->rec.mirror : "-", s->rec.serial,
			 s->rec.lineage, s->rec.updated_at ? s->rec.updated_at : "-");
	else
		buf_adds(out, "  recorded: nothing yet (the first plan adopts what is observed)\n");
	buf_addf(out, "  desired:  primary %s, mirror %s\n", s->st->location.primary,
		 s->st->location.mirror ? s->st->location.mirror : "-");
	if (s->probe_error)
		buf_addf(out, "  probe failed: %s\n", s->probe_error);
	else if (!s->obs.probed)
		buf_adds(out, "  observed: not probed (--offline)\n");
	else {
		buf_adds(out, "  server          observed      epoch  position      lag bytes  read-only\n");
		for (i = 0; i < s->obs.nservers; i++) {
			const struct server_obs *o = &s->obs.servers[i];

			if (!o->reachable) {
				buf_addf(out, "  %-15s unreachable   (%s)\n", o->server,
					 o->error ? o->error : "no answer");
				continue;
			}
			{
				char lag[32];

				if (o->lag_bytes < 0)
					snprintf(lag, sizeof(lag), "-");
				else
					snprintf(lag, sizeof(lag), "%" PRId64, o->lag_bytes);
				buf_addf(out, "  %-15s %-13s %5" PRId64 "  %-12" PRIu64 "  %-10s %s\n",
					 o->server, obs_role_name(o->role), o->epoch, o->position, lag,
					 o->read_only ? "yes" : "no");
			}
		}
	}
	buf_addf(out, "  drift: %s\n", s->drift ? s->drift : "none");
	if (s->run.id) {
		buf_addf(out, "  interrupted %s run %s (plan %s), started %s:\n", s->run.kind, s->run.id,
			 s->run.plan_id ? s->run.plan_id : "-", s->run.started_at ? s->run.started_at : "-");
		for (i = 0; i < s->nsteps; i++)
			buf_addf(out, "    %d. %-12s %-10s %s\n", s->steps[i].n, s->steps[i].action,
				 s->steps[i].server ? s->steps[i].server : "-",
				 step_status_name(s->steps[i].status));
	}
	for (i = 0; i < s->nfollowups; i++)
		buf_addf(out, "  follow-up: %s\n", s->followups[i]);
}

static json_t *to_json(const struct store_status *s)
{
	json_t *o = json_object(), *rec = json_object(), *fu = json_array();
	size_t i;

	json_object_set_new(o, "store", json_string(s->st->name));
	json_object_set_new(o, "engine", json_string(engine_kind_name(s->st->engine)));
	json_object_set_new(rec, "exists", json_boolean(s->rec.exists));
	if (s->rec.exists) {
		json_object_set_new(rec, "lineage", json_string(s->rec.lineage));
		json_object_set_new(rec, "serial", json_integer(s->rec.serial));
		json_object_set_new(rec, "primary", json_string(s->rec.primary));
		json_object_set_new(rec, "mirror", s->rec.mirror ? json_string(s->rec.mirror) : json_null());
		json_object_set_new(rec, "updated_at", s->rec.updated_at ? json_string(s->rec.updated_at) : json_null());
	}
	json_object_set_new(o, "recorded", rec);
	json_object_set_new(o, "desired", json_pack("{s:s, s:o}", "primary", s->st->location.primary,
						    "mirror", s->st->location.mirror ?
						    json_string(s->st->location.mirror) : json_null()));
	json_object_set_new(o, "observed", observation_to_json(&s->obs));
	json_object_set_new(o, "probe_error", s->probe_error ? json_string(s->probe_error) : json_null());
	json_object_set_new(o, "drift", s->drift ? json_string(s->drift) : json_null());
	if (s->run.id) {
		json_t *run = json_object(), *steps = json_array();

		json_object_set_new(run, "id", json_string(s->run.id));
		json_object_set_new(run, "kind", json_string(s->run.kind));
		json_object_set_new(run, "plan_id", s->run.plan_id ? json_string(s->run.plan_id) : json_null());
		for (i = 0; i < s->nsteps; i++)
			json_array_append_new(steps, json_pack("{s:i, s:s, s:o, s:s}", "n", s->steps[i].n,
							       "action", s->steps[i].action, "server",
							       s->steps[i].server ? json_string(s->steps[i].server) : json_null(),
							       "status", step_status_name(s->steps[i].status)));
		json_object_set_new(run, "steps", steps);
		json_object_set_new(o, "interrupted", run);
	} else {
		json_object_set_new(o, "interrupted", json_null());
	}
	for (i = 0; i < s->nfollowups; i++)
		json_array_append_new(fu, json_string(s->followups[i]));
	json_object_set_new(o, "followups", fu);
	return o;
}

/* Runs the state finished that the history does not have yet: listed
 * (JSON "history_pending", or a line of text) until a command that writes
 * the history records them from the journal. */
static int pending_json(struct cmd_args *a, struct state *sdb, const char *store, json_t *o,
			struct buf *out, struct cms_error *err)
{
	struct history *h = NULL;
	char **ids = NULL;
	size_t n = 0, i;
	int rc = 0;

	if (sdb && ((rc = cmd_open_history(a, &h, err)) < 0 ||
		    (rc = level_pending(h, sdb, store, &ids, &n, err)) < 0))
		goto done;
	if (o) {
		json_t *arr = json_array();

		for (i = 0; i < n; i++)
			json_array_append_new(arr, json_string(ids[i]));
		json_object_set_new(o, "history_pending", arr);
	}
	if (out && n) {
		buf_addf(out, "  history: behind the state: run%s", n == 1 ? "" : "s");
		for (i = 0; i < n; i++)
			buf_addf(out, " %s", ids[i]);
		buf_addf(out, " %s finished but not recorded; the next apply, restore, approve or "
			 "plan -o records %s from the journal\n", n == 1 ? "is" : "are",
			 n == 1 ? "it" : "them");
	}
done:
	state_strings_free(ids, n);
	history_close(h);
	return rc;
}

int cmd_status(struct cmd_args *a)
{
	struct cms_error err = CMS_ERROR_INIT;
	struct config *cfg = NULL;
	struct state *sdb = NULL;
	struct store_status *all = NULL;
	struct buf out = BUF_INIT;
	const struct store *only = NULL;
	json_t *arr = json_array();
	size_t i, n = 0;
	int rc;

	if ((rc = cmd_load_config(a, &cfg)) != EXIT_OK)
		goto done;
	if (cmd_opt_value(a, "store") && (rc = cmd_pick_store(a, cfg, &only)) != EXIT_OK)
		goto done;
	if (cmd_open_state(a, false, &sdb, &err) < 0) {
		rc = cmd_fail(&err);
		goto done;
	}
	all = xcalloc(cfg->nstores, sizeof(*all));
	for (i = 0; i < cfg->nstores; i++) {
		struct store_status *s = &all[n];

		if (only && only != &cfg->stores[i])
			continue;
		s->st = &cfg->stores[i];
		n++;
		if (gather(a, sdb, s, &err) < 0) {
			rc = cmd_fail(&err);
			goto done;
		}
		if (a->json) {
			json_t *o = to_json(s);

			if (pending_json(a, sdb, s->st->name, o, NULL, &err) < 0) {
				json_decref(o);
				rc = cmd_fail(&err);
				goto done;
			}
			json_array_append_new(arr, o);
		} else {
			render(s, &out);
			if (pending_json(a, sdb, s->st->name, NULL, &out, &err) < 0) {
				rc = cmd_fail(&err);
				goto done;
			}
		}
	}
	if (a->json) {
		json_t *root = json_pack("{s:O}", "stores", arr);
		char *text = json_dumps(root, JSON_SORT_KEYS | JSON_INDENT(2));

		json_decref(root);
		buf_adds(&out, text ? text : "");
		buf_addch(&out, '\n');
		free(text);
	}
	rc = cmd_write_stdout(out.ptr, out.len, &err) < 0 ? cmd_fail(&err) : EXIT_OK;
done:
	for (i = 0; i < n; i++)
		status_free(&all[i]);
	free(all);
	json_decref(arr);
	buf_free(&out);
	state_close(sdb);
	config_free(cfg);
	cms_error_clear(&err);
	return rc;
}
