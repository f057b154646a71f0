/*
 * cmsctl status: for each store, the recorded location, what each server
 * reports, the drift between the two, an interrupted run and what is left
 * of it, and follow-ups the observations call for (a fenced server to
 * re-seed).  Reads only; changes nothing.
 */
#include "cmd/cmd.h"
#include "cmd/cmdutil.h"
#include "applier/apply.h"
#include "common/buf.h"
#include "common/json.h"
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
#include <time.h>

const struct cmd_opt cmd_status_opts[] = {
	{ OPT_STORE, 's', "STORE", "only this store" },
	{ OPT_OFFLINE, 0, NULL, "do not probe the servers" },
	{ OPT_DETAILED_EXITCODE, 0, NULL, "exit 2 when a store has a problem (drift, split brain, "
	  "outage, fence, interrupted run, a required publish target behind) or the history "
	  "remote was rewritten, 0 when healthy (follow-ups alone are not problems)" },
	{ 0 },
};

struct store_status {
	const struct store *st;
	struct recorded rec;
	struct observation obs;
	char *probe_error;          /* the engine could not probe at all */
	struct run_info run;        /* an unfinished run, when run.id */
	bool running;               /* ... whose lock holder is alive: in progress */
	char *run_holder;           /* that holder, or NULL */
	struct step_info *steps;
	size_t nsteps;
	char *drift;                /* description, or NULL */
	struct cms_strv followups;
	json_t *problems;           /* array of {code, message, ...fields} */
	json_t *locks;              /* the store's locks: {id, holder, holder_state, ...} */
	struct cms_strv lock_lines; /* ... as text */
};

/* A problem: a stable code, the message people read, and the facts as
 * fields (what a health check or a script matches on). */
static void add_problem(struct store_status *s, const char *code, json_t *fields, char *message)
{
	json_t *o = fields ? fields : json_object();

	json_object_set_new(o, "code", json_string(code));
	json_object_set_new(o, "message", json_string(message));
	json_array_append_new(s->problems, o);
	free(message);
}

static bool is_recorded_primary(const struct store_status *s, const char *server)
{
	return s->rec.exists && s->rec.primary && !strcmp(s->rec.primary, server);
}

/* What the observations say, against the record: the problems (codes with
 * fields) and the follow-ups (what to do about them). */
static void derive(struct store_status *s)
{
	const struct server_obs *writable = NULL;
	json_t *primaries = json_array();
	bool primary_fenced = false;
	size_t i, nwritable = 0;

	if (s->probe_error)
		add_problem(s, "probe_failed", json_pack("{s:s}", "error", s->probe_error),
			    xasprintf("the servers could not be probed: %s", s->probe_error));
	for (i = 0; i < s->obs.nservers; i++) {
		const struct server_obs *o = &s->obs.servers[i];
		bool fenced = o->reachable && (o->role == OBS_FENCED ||
					       (o->role == OBS_PRIMARY && o->read_only));

		if (server_obs_writable(o)) {
			writable = o;
			nwritable++;
			json_array_append_new(primaries, json_string(o->server));
		}
		if (!o->reachable) {
			const char *why = o->error ? o->error : "no answer";

			if (is_recorded_primary(s, o->server))
				add_problem(s, "primary_unreachable",
					    json_pack("{s:s, s:s}", "server", o->server, "error", why),
					    xasprintf("the recorded primary %s is unreachable (outage): %s",
						      o->server, why));
			else
				add_problem(s, "server_unreachable",
					    json_pack("{s:s, s:s}", "server", o->server, "error", why),
					    xasprintf("%s is unreachable: %s", o->server, why));
			cms_strv_push(&s->followups, xasprintf("%s is unreachable: %s", o->server, why));
		} else if (fenced && is_recorded_primary(s, o->server)) {
			primary_fenced = true;
			add_problem(s, "primary_fenced", json_pack("{s:s}", "server", o->server),
				    xasprintf("the recorded primary %s is fenced (read-only): it takes "
					      "no writes", o->server));
		} else if (fenced) {
			add_problem(s, "server_fenced", json_pack("{s:s}", "server", o->server),
				    xasprintf("%s is fenced (read-only)", o->server));
			cms_strv_push(&s->followups, xasprintf("%s is fenced (read-only): re-seed it as a copy of "
						  "the primary before it serves as mirror; until then "
						  "a move to it is refused", o->server));
		}
	}
	if (nwritable > 1)
		add_problem(s, "split_brain", json_pack("{s:O}", "servers", primaries),
			    xasprintf("%zu servers report being the primary", nwritable));
	if (s->obs.probed && s->rec.exists) {
		s->drift = planner_drift(s->rec.primary, &s->obs);
		if (s->drift && nwritable == 1 && strcmp(writable->server, s->rec.primary))
			add_problem(s, "drift", json_pack("{s:s, s:s}", "recorded_primary",
							  s->rec.primary, "observed_primary",
							  writable->server),
				    xstrdup(s->drift));
		else if (s->drift && nwritable == 0 && !primary_fenced) {
			const struct server_obs *rp = observation_find(&s->obs, s->rec.primary);

			add_problem(s, "drift", json_pack("{s:s, s:n, s:s}", "recorded_primary",
							  s->rec.primary, "observed_primary",
							  "observed_role", rp ? obs_role_name(rp->role) : "unknown"),
				    xstrdup(s->drift));
		}
		if (s->drift)
			cms_strv_push(&s->followups, xstrdup("run 'cmsctl restore' to re-assert the recorded location, or "
						"'cmsctl plan --accept-drift' to adopt what the servers report"));
	}
	json_decref(primaries);
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
	cms_strv_free(&s->followups);
	free(s->run_holder);
	json_decref(s->problems);
	json_decref(s->locks);
	cms_strv_free(&s->lock_lines);
}

/* An unfinished run whose lock is held by a live process (or by one on
 * another host whose lease has not run out) is in progress, not
 * interrupted. */
static int find_running(struct state *sdb, struct store_status *s, struct cms_error *err)
{
	int rc = applier_live_holder(sdb, s->st->name, &s->run_holder, err);

	if (rc < 0)
		return rc;
	s->running = rc == 1;
	return 0;
}

/* Publish targets left behind: the newest run that ran publish steps,
 * and those of its steps that failed (the move stands; restore publishes
 * again).  A target marked required: false is a follow-up, not a
 * problem. */
static int publish_pending(struct state *sdb, struct store_status *s, struct cms_error *err)
{
	struct run_info *runs = NULL;
	size_t nruns = 0, i, j;
	int rc;

	if (!s->st->npublish)
		return 0;
	if ((rc = state_run_list(sdb, s->st->name, &runs, &nruns, err)) < 0)
		return rc;
	for (i = nruns; i-- > 0;) {
		struct step_info *steps = NULL;
		size_t nsteps = 0;
		bool ran = false;

		if (!strcmp(runs[i].outcome, "running"))
			continue;
		if ((rc = state_run_steps(sdb, runs[i].id, &steps, &nsteps, err)) < 0)
			break;
		for (j = 0; j < nsteps; j++) {
			json_t *d;
			const char *desc, *why;
			bool required;

			if (strcmp(steps[j].action, "publish"))
				continue;
			if (steps[j].status != STEP_DONE && steps[j].status != STEP_FAILED)
				continue;
			ran = true;
			if (steps[j].status != STEP_FAILED)
				continue;
			d = json_loads(steps[j].detail_json ? steps[j].detail_json : "{}", 0, NULL);
			desc = json_string_value(json_object_get(d, "description"));
			why = json_string_value(json_object_get(d, "error"));
			/* The step names its target, and says "(not required)"
			 * for one marked required: false (planner_describe_publish):
			 * the journal, not today's config, says what it was. */
			required = !desc || !strstr(desc, " (not required)");
			if (required)
				add_problem(s, "publish_pending",
					    json_pack("{s:s, s:s, s:s}", "run_id", runs[i].id, "target",
						      desc ? desc : "publish", "error", why ? why : ""),
					    xasprintf("%s failed in run %s: %s", desc ? desc : "publish",
						      runs[i].id, why ? why : "?"));
			cms_strv_push(&s->followups, xasprintf("%s failed in run %s: run 'cmsctl restore -s %s' to "
						  "publish again", desc ? desc : "publish", runs[i].id,
						  s->st->name));
			json_decref(d);
		}
		step_info_list_free(steps, nsteps);
		if (ran)
			break;
	}
	for (i = 0; i < nruns; i++)
		run_info_free(&runs[i]);
	free(runs);
	return rc < 0 ? rc : 0;
}

/* The store's locks, and whether each holder is alive, as 'lock list' says:
 * a lock left by a process that is gone still refuses other hosts' runs
 * (exit 4) until its lease runs out, and a health check must show it. */
static int gather_locks(struct state *sdb, struct store_status *s, struct cms_error *err)
{
	struct lock_info *locks = NULL;
	int64_t now = (int64_t)time(NULL); /* leases run on the real clock */
	size_t n = 0, i;
	int rc;

	if ((rc = state_lock_list(sdb, &locks, &n, err)) < 0)
		return rc;
	for (i = 0; i < n; i++) {
		enum lock_holder_state hs = applier_lock_holder_state(&locks[i].holder);
		bool expired = locks[i].lease_until < now;
		char acq[32], lease[32];

		if (strcmp(locks[i].store, s->st->name))
			continue;
		cms_format_time(acq, locks[i].acquired_at);
		cms_format_time(lease, locks[i].lease_until);
		json_array_append_new(s->locks, json_pack("{s:s, s:s, s:s, s:s, s:s, s:b}", "id",
							  locks[i].id, "holder", locks[i].holder_text,
							  "holder_state", lock_holder_state_name(hs),
							  "acquired_at", acq, "lease_until", lease,
							  "expired", expired));
		cms_strv_push(&s->lock_lines, xasprintf("%s held by %s [%s] since %s, lease until %s%s",
							 locks[i].id, locks[i].holder_text,
							 lock_holder_state_name(hs), acq, lease,
							 expired ? " [expired]" : ""));
		/* An unfinished run's lock is the interrupted run's business. */
		if (!s->run.id && (hs == HOLDER_DEAD || expired))
			cms_strv_push(&s->followups, xasprintf("lock %s was left by %s, which is %s: the "
				"next apply or restore on its host breaks it, or 'cmsctl unlock %s %s'",
				locks[i].id, locks[i].holder_text, hs == HOLDER_DEAD ? "gone" :
				"past its lease", s->st->name, locks[i].id));
	}
	lock_info_list_free(locks, n);
	return 0;
}

static int gather(struct cmd_args *a, struct state *sdb, struct store_status *s,
		  struct cms_error *err)
{
	struct cms_error perr = CMS_ERROR_INIT;
	int rc;

	s->problems = json_array();
	s->locks = json_array();
	if (sdb) {
		if ((rc = state_read_store(sdb, s->st->name, &s->rec, err)) < 0)
			return rc;
		rc = state_run_unfinished(sdb, s->st->name, &s->run, err);
		if (rc == CMS_ENOTFOUND)
			cms_error_clear(err);
		else if (rc < 0)
			return rc;
		else if ((rc = state_run_steps(sdb, s->run.id, &s->steps, &s->nsteps, err)) < 0 ||
			 (rc = find_running(sdb, s, err)) < 0)
			return rc;
	}
	if (!cmd_opt_flag(a, OPT_OFFLINE) && (rc = applier_check_secrets(s->st, err)) < 0)
		return rc;
	if (applier_observe(s->st, cmd_opt_flag(a, OPT_OFFLINE), &s->obs, &perr) < 0) {
		s->probe_error = xstrdup(perr.message);
		cms_error_clear(&perr);
	}
	derive(s);
	if (sdb && ((rc = publish_pending(sdb, s, err)) < 0 || (rc = gather_locks(sdb, s, err)) < 0))
		return rc;
	if (s->run.id && !s->running) {
		add_problem(s, "interrupted_run",
			    json_pack("{s:s, s:s, s:o}", "run_id", s->run.id, "kind", s->run.kind,
				      "plan_id", s->run.plan_id ? json_string(s->run.plan_id) : json_null()),
			    xasprintf("%s run %s was interrupted", s->run.kind, s->run.id));
		cms_strv_push(&s->followups, xasprintf("%s run %s was interrupted: run 'cmsctl restore -s %s'",
					  s->run.kind, s->run.id, s->st->name));
	}
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
		int w = 15;

		for (i = 0; i < s->obs.nservers; i++)
			if ((int)strlen(s->obs.servers[i].server) > w)
				w = (int)strlen(s->obs.servers[i].server);
		buf_addf(out, "  %-*s observed      epoch  position      lag bytes  read-only\n", w,
			 "server");
		for (i = 0; i < s->obs.nservers; i++) {
			const struct server_obs *o = &s->obs.servers[i];

			if (!o->reachable) {
				buf_addf(out, "  %-*s unreachable   (%s)\n", w, o->server,
					 o->error ? o->error : "no answer");
				continue;
			}
			{
				char lag[32];

				if (o->lag_bytes < 0)
					snprintf(lag, sizeof(lag), "-");
				else
					snprintf(lag, sizeof(lag), "%" PRId64, o->lag_bytes);
				buf_addf(out, "  %-*s %-13s %5" PRId64 "  %-12" PRIu64 "  %-10s %s\n", w,
					 o->server, obs_role_name(o->role), o->epoch, o->position, lag,
					 o->read_only ? "yes" : "no");
			}
		}
	}
	buf_addf(out, "  drift: %s\n", s->drift ? s->drift : "none");
	for (i = 0; i < s->lock_lines.n; i++)
		buf_addf(out, "  lock: %s\n", s->lock_lines.v[i]);
	if (s->run.id && s->running)
		buf_addf(out, "  running: %s run %s (plan %s), started %s, held by %s:\n", s->run.kind,
			 s->run.id, s->run.plan_id ? s->run.plan_id : "-",
			 s->run.started_at ? s->run.started_at : "-", s->run_holder);
	else if (s->run.id)
		buf_addf(out, "  interrupted %s run %s (plan %s), started %s:\n", s->run.kind, s->run.id,
			 s->run.plan_id ? s->run.plan_id : "-", s->run.started_at ? s->run.started_at : "-");
	if (s->run.id) {
		for (i = 0; i < s->nsteps; i++)
			buf_addf(out, "    %d. %-12s %-10s %s\n", s->steps[i].n, s->steps[i].action,
				 s->steps[i].server ? s->steps[i].server : "-",
				 step_status_name(s->steps[i].status));
	}
	for (i = 0; i < json_array_size(s->problems); i++)
		buf_addf(out, "  problem: %s\n", json_string_value(json_object_get(
				 json_array_get(s->problems, i), "message")));
	for (i = 0; i < s->followups.n; i++)
		buf_addf(out, "  follow-up: %s\n", s->followups.v[i]);
}

static json_t *to_json(const struct store_status *s)
{
	json_t *o = json_object(), *rec = json_object();
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
	json_object_set_new(o, "problems", json_incref(s->problems));
	json_object_set_new(o, "healthy", json_boolean(json_array_size(s->problems) == 0));
	json_object_set_new(o, "locks", json_incref(s->locks));
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
		json_object_set_new(run, "started_at", s->run.started_at ? json_string(s->run.started_at) : json_null());
		json_object_set_new(run, "holder", s->run_holder ? json_string(s->run_holder) : json_null());
		json_object_set_new(o, s->running ? "running" : "interrupted", run);
		json_object_set_new(o, s->running ? "interrupted" : "running", json_null());
	} else {
		json_object_set_new(o, "interrupted", json_null());
		json_object_set_new(o, "running", json_null());
	}
	json_object_set_new(o, "followups", cms_json_strv(&s->followups));
	return o;
}

/* Runs the state finished that the history does not have yet: listed
 * (JSON "history_pending", or a line of text) until a command that writes
 * the history records them from the journal. */
static int pending_json(struct cmd_args *a, struct state *sdb, const char *store, json_t *o,
			struct buf *out, struct cms_error *err)
{
	struct history *h = NULL;
	struct cms_strv ids = CMS_STRV_INIT;
	size_t i;
	int rc = 0;

	if (sdb && ((rc = cmd_open_history(a, &h, err)) < 0 ||
		    (rc = level_pending(h, sdb, store, &ids, err)) < 0))
		goto done;
	if (o)
		json_object_set_new(o, "history_pending", cms_json_strv(&ids));
	if (out && ids.n) {
		buf_addf(out, "  history: behind the state: run%s", ids.n == 1 ? "" : "s");
		for (i = 0; i < ids.n; i++)
			buf_addf(out, " %s", ids.v[i]);
		buf_addf(out, " %s finished but not recorded; the next apply, restore, approve or "
			 "plan -o records %s from the journal\n", ids.n == 1 ? "is" : "are",
			 ids.n == 1 ? "it" : "them");
	}
done:
	cms_strv_free(&ids);
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
	bool rewritten = false;
	int rc;

	if ((rc = cmd_load_config(a, &cfg)) != EXIT_OK)
		goto done;
	if (cmd_opt_value(a, OPT_STORE) && (rc = cmd_pick_store(a, cfg, &only)) != EXIT_OK)
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
		json_t *remote = cmd_history_remote_status(a, NULL);
		char *text;

		rewritten = remote && json_is_true(json_object_get(remote, "rewritten"));
		if (remote)
			json_object_set_new(root, "history_remote", remote);
		text = json_dumps(root, JSON_SORT_KEYS | JSON_INDENT(2));

		json_decref(root);
		buf_adds(&out, text ? text : "");
		buf_addch(&out, '\n');
		free(text);
	}
	else {
		json_t *remote = cmd_history_remote_status(a, &out);

		rewritten = remote && json_is_true(json_object_get(remote, "rewritten"));
		json_decref(remote);
	}
	rc = cmd_write_stdout(out.ptr, out.len, &err) < 0 ? cmd_fail(&err) : EXIT_OK;
	/* A shared record that lost commits is a problem of every store. */
	if (rc == EXIT_OK && cmd_opt_flag(a, OPT_DETAILED_EXITCODE) && rewritten)
		rc = EXIT_CHANGES;
	if (rc == EXIT_OK && cmd_opt_flag(a, OPT_DETAILED_EXITCODE))
		for (i = 0; i < n; i++)
			if (json_array_size(all[i].problems))
				rc = EXIT_CHANGES;
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
