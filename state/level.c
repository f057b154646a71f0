/*
 * Levelling the history with the state (state/level.h).  The report of a
 * run recorded here is rebuilt from what the state's journal kept: the run
 * (kind, plan, operator, times, outcome) and each step's detail, which is
 * the step's report entry as it was journaled (statements, checks, notes,
 * timings).  What the journal cannot know is said so in the report: its
 * approvals list is empty and a follow-up tells where it came from.
 */
#include "state/level.h"
#include "common/buf.h"
#include "common/html.h"
#include "common/util.h"
#include "state/history.h"
#include "state/record.h"
#include "state/state.h"

#include <jansson.h>

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void free_runs(struct run_info *runs, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		run_info_free(&runs[i]);
	free(runs);
}

static char *report_path(const char *store, const char *run_id)
{
	return history_path_report(store, run_id, "json");
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Which finished runs of the store have their report in the history:
 * (*have)[i] for runs[i] (the caller frees *have); a run still running
 * counts as having one (there is nothing to record yet).  One listing of
 * the store's runs/ folder for all of them: a run's folder (its report
 * in JSON and HTML) is written whole, by one commit, so a run with a
 * folder has its report.  A store's runs add up over the years: this
 * reads one tree, not one per run. */
static int reports_present(struct history *h, const char *store, const struct run_info *runs,
			   size_t nruns, bool **have, struct cms_error *err)
{
	struct cms_strv names = { 0 };
	char *dir = xasprintf("%s/runs", store);
	size_t i;
	int rc;

	*have = xcalloc(nruns ? nruns : 1, sizeof(**have));
	rc = history_list_dir(h, dir, &names, err); /* sorted; folders end in '/' */
	for (i = 0; rc == 0 && i < nruns; i++) {
		char *key;

		if (!runs[i].outcome || !strcmp(runs[i].outcome, "running")) {
			(*have)[i] = true;
			continue;
		}
		key = xasprintf("%s/", runs[i].id);
		(*have)[i] = names.n && bsearch(&key, names.v, names.n, sizeof(*names.v), cmp_str);
		free(key);
	}
	cms_strv_free(&names);
	free(dir);
	return rc;
}

int level_pending(struct history *h, struct state *sdb, const char *store,
		  struct cms_strv *run_ids, struct cms_error *err)
{
	struct run_info *runs = NULL;
	size_t nruns = 0, i;
	int rc;

	bool *have = NULL;

	if ((rc = state_run_list(sdb, store, &runs, &nruns, err)) < 0)
		return rc;
	if ((rc = reports_present(h, store, runs, nruns, &have, err)) == 0)
		for (i = 0; i < nruns; i++)
			if (!have[i])
				cms_strv_add(run_ids, runs[i].id);
	free(have);
	free_runs(runs, nruns);
	return rc < 0 ? rc : 0;
}

static json_t *jstr(const char *s)
{
	return s ? json_string(s) : json_null();
}

/* A journal time in the report's format (milliseconds): journals written
 * before times had milliseconds say whole seconds. */
static json_t *jtime(const char *s)
{
	char t[32];
	int64_t ms;

	if (!s)
		return json_null();
	if (cms_parse_time_ms(&ms, s) < 0)
		return json_string(s);
	cms_format_time_ms(t, ms);
	return json_string(t);
}

/* A step's report entry: the journaled detail, with the journal's own
 * status and timings (later than the detail when the run was cut short). */
static json_t *step_entry(const struct step_info *s)
{
	json_t *o = s->detail_json ? json_loads(s->detail_json, 0, NULL) : NULL, *stmt;
	size_t i;

	if (!json_is_object(o)) {
		json_decref(o);
		o = json_object();
	}
	json_object_set_new(o, "n", json_integer(s->n));
	json_object_set_new(o, "action", json_string(s->action ? s->action : "record"));
	json_object_set_new(o, "server", jstr(s->server));
	if (!json_object_get(o, "description"))
		json_object_set_new(o, "description", json_null());
	json_object_set_new(o, "status", json_string(step_status_name(s->status)));
	json_object_set_new(o, "started_at", jtime(s->started_at));
	json_object_set_new(o, "duration_ms", json_integer(s->duration_ms > 0 ? s->duration_ms : 0));
	if (!json_is_array(json_object_get(o, "statements")))
		json_object_set_new(o, "statements", json_array());
	/* Journals written before statements named their database. */
	json_array_foreach(json_object_get(o, "statements"), i, stmt)
		if (json_is_object(stmt) && !json_object_get(stmt, "database"))
			json_object_set_new(stmt, "database", json_null());
	if (!json_is_array(json_object_get(o, "checks")))
		json_object_set_new(o, "checks", json_array());
	if (!json_object_get(o, "notes"))
		json_object_set_new(o, "notes", json_null());
	if (!json_object_get(o, "error"))
		json_object_set_new(o, "error", json_null());
	return o;
}

/* The write-unavailable window as far as the journal tells it: the time
 * from the first fence step to the end of the promote step, summed from
 * the steps' durations; -1 when no promotion finished. */
static int64_t journal_window(const struct step_info *s, size_t n)
{
	int64_t sum = 0;
	bool fenced = false;
	size_t i;

	for (i = 0; i < n; i++) {
		if (s[i].action && !strcmp(s[i].action, "fence") && s[i].status != STEP_SKIPPED)
			fenced = true;
		if (!fenced)
			continue;
		sum += s[i].duration_ms > 0 ? s[i].duration_ms : 0;
		if (s[i].action && !strcmp(s[i].action, "promote"))
			return s[i].status == STEP_DONE ? sum : -1;
	}
	return -1;
}

/* A restore journals the window of the run it closed as a check of its
 * first step ("write-unavailable window of the run closed", observed "N
 * ms, from ..."): N, or -1 when no step has it. */
static int64_t journaled_closed_window(const struct step_info *s, size_t n)
{
	size_t i, j;

	for (i = 0; i < n; i++) {
		json_t *d = s[i].detail_json ? json_loads(s[i].detail_json, 0, NULL) : NULL;
		json_t *checks = json_object_get(d, "checks");
		int64_t w = -1;

		for (j = 0; j < json_array_size(checks); j++) {
			json_t *c = json_array_get(checks, j);
			const char *name = json_string_value(json_object_get(c, "check"));
			const char *seen = json_string_value(json_object_get(c, "observed"));
			char *end = NULL;
			long long v;

			if (!name || !seen || strcmp(name, "write-unavailable window of the run closed"))
				continue;
			errno = 0;
			v = strtoll(seen, &end, 10);
			if (!errno && end != seen && v >= 0 && !strncmp(end, " ms", 3))
				w = (int64_t)v;
		}
		json_decref(d);
		if (w >= 0)
			return w;
	}
	return -1;
}

/* A restore's attestation (restore --assume-down), as it journaled it: a
 * check of its first step, "attested down by the operator", observed
 * "OPERATOR: REASON" (applier/apply.c).  The reason (caller frees), or
 * NULL when the run has none. */
static char *journaled_attestation(const struct step_info *s, size_t n, const char *operator_name)
{
	size_t i, j, olen = operator_name ? strlen(operator_name) : 0;
	char *reason = NULL;

	for (i = 0; i < n && !reason; i++) {
		json_t *d = s[i].detail_json ? json_loads(s[i].detail_json, 0, NULL) : NULL;
		json_t *checks = json_object_get(d, "checks");

		for (j = 0; j < json_array_size(checks) && !reason; j++) {
			json_t *c = json_array_get(checks, j);
			const char *name = json_string_value(json_object_get(c, "check"));
			const char *seen = json_string_value(json_object_get(c, "observed"));

			if (!name || !seen || strcmp(name, "attested down by the operator"))
				continue;
			if (operator_name && !strncmp(seen, operator_name, olen) &&
			    !strncmp(seen + olen, ": ", 2))
				seen += olen + 2;
			reason = xstrdup(seen);
		}
		json_decref(d);
	}
	return reason;
}

struct plan_facts {
	json_t *mode, *from, *to, *author, *assume_down, *reason, *ticket; /* owned, or NULL */
	int64_t serial;
};

static void plan_facts(struct history *h, const char *plan_id, struct plan_facts *pf)
{
	struct cms_error ignored = CMS_ERROR_INIT;
	char *data = NULL;
	size_t len = 0;
	json_t *o;

	memset(pf, 0, sizeof(*pf));
	pf->serial = -1;
	if (!plan_id || history_find_plan(h, plan_id, &data, &len, &ignored) < 0) {
		cms_error_clear(&ignored);
		return;
	}
	o = json_loadb(data, len, 0, NULL);
	free(data);
	if (!o)
		return;
	pf->mode = json_incref(json_object_get(o, "mode"));
	pf->from = json_incref(json_object_get(o, "from"));
	pf->to = json_incref(json_object_get(o, "to"));
	pf->author = json_incref(json_object_get(o, "author"));
	pf->assume_down = json_incref(json_object_get(o, "assume_down"));
	pf->reason = json_incref(json_object_get(o, "reason"));
	pf->ticket = json_incref(json_object_get(o, "ticket"));
	if (json_is_integer(json_object_get(o, "serial")))
		pf->serial = (int64_t)json_integer_value(json_object_get(o, "serial"));
	json_decref(o);
}

static const char *loc_primary(json_t *loc)
{
	json_t *p = loc ? json_object_get(loc, "primary") : NULL;

	return json_is_string(p) ? json_string_value(p) : NULL;
}

static int record_one(struct history *h, struct state *sdb, const struct run_info *run,
		      const struct recorded *rec, bool newest, const char *engine,
		      const char *location_json, const char *operator_name, int64_t now,
		      struct cms_error *err)
{
	struct step_info *steps = NULL;
	size_t nsteps = 0, i, nfiles = 0;
	struct plan_facts pf;
	json_t *o = NULL, *arr;
	struct buf html = BUF_INIT, msg = BUF_INIT;
	struct history_file files[3];
	char *json = NULL, *p1 = NULL, *p2 = NULL, *p3 = NULL, commit[41], *subject = NULL;
	int64_t window, serial_after;
	bool ok = run->outcome && !strcmp(run->outcome, "ok");
	char *attested = NULL;
	const char *ad_server = NULL, *ad_reason = NULL;
	int rc;

	plan_facts(h, run->plan_id, &pf);
	if ((rc = state_run_steps(sdb, run->id, &steps, &nsteps, err)) < 0)
		goto done;
	/* The attestation, as the run's own report gives it
	 * (report_attestation): a restore's own first, else its plan's. */
	if (run->kind && !strcmp(run->kind, "restore") &&
	    (attested = journaled_attestation(steps, nsteps, run->operator_name)) != NULL &&
	    loc_primary(pf.to)) {
		json_decref(pf.assume_down);
		pf.assume_down = json_pack("{s:s, s:s}", "server", loc_primary(pf.to), "reason",
					   attested);
	}
	if (json_is_object(pf.assume_down)) {
		ad_server = json_string_value(json_object_get(pf.assume_down, "server"));
		ad_reason = json_string_value(json_object_get(pf.assume_down, "reason"));
	}
	window = journal_window(steps, nsteps);
	if (window < 0)
		window = journaled_closed_window(steps, nsteps);
	serial_after = newest && rec->exists ? rec->serial : (pf.serial >= 0 ? pf.serial : 0);
	o = json_object();
	/* The report format of applier/report.h (REPORT_FORMAT_VERSION). */
	json_object_set_new(o, "format_version", json_integer(2));
	json_object_set_new(o, "run_id", json_string(run->id));
	json_object_set_new(o, "kind", json_string(run->kind));
	json_object_set_new(o, "store", json_string(run->store));
	json_object_set_new(o, "engine", json_string(engine));
	json_object_set_new(o, "operator", json_string(run->operator_name));
	json_object_set_new(o, "author", pf.author ? json_incref(pf.author) : json_null());
	json_object_set_new(o, "plan_id", jstr(run->plan_id));
	json_object_set_new(o, "mode", pf.mode ? json_incref(pf.mode) : json_null());
	json_object_set_new(o, "from", pf.from ? json_incref(pf.from) : json_null());
	json_object_set_new(o, "to", pf.to ? json_incref(pf.to) : json_null());
	json_object_set_new(o, "reason", json_is_string(pf.reason) ? json_incref(pf.reason) : json_null());
	json_object_set_new(o, "ticket", json_is_string(pf.ticket) ? json_incref(pf.ticket) : json_null());
	json_object_set_new(o, "approvals", json_array());
	json_object_set_new(o, "assume_down", ad_server ? json_pack("{s:s, s:s}", "server", ad_server,
								  "reason", ad_reason ? ad_reason : "")
			    : json_null());
	json_object_set_new(o, "started_at", jtime(run->started_at));
	json_object_set_new(o, "finished_at",
			    jtime(run->finished_at ? run->finished_at : run->started_at));
	json_object_set_new(o, "outcome", json_string(run->outcome));
	json_object_set_new(o, "error", json_null());
	json_object_set_new(o, "serial_before", json_integer(pf.serial >= 0 ? pf.serial : serial_after));
	json_object_set_new(o, "serial_after", json_integer(serial_after));
	if (newest && rec->exists)
		json_object_set_new(o, "location", json_pack("{s:s, s:o}", "primary", rec->primary,
							     "mirror", jstr(rec->mirror)));
	else
		json_object_set_new(o, "location", json_incref(ok && pf.to ? pf.to : pf.from ? pf.from
							      : json_null()));
	json_object_set_new(o, "prechecks", json_array());
	arr = json_array();
	for (i = 0; i < nsteps; i++)
		json_array_append_new(arr, step_entry(&steps[i]));
	json_object_set_new(o, "steps", arr);
	json_object_set_new(o, "write_unavailable_ms", window >= 0 ? json_integer(window) : json_null());
	json_object_set_new(o, "followups", json_pack("[s]", "this report was rebuilt from the "
						      "state's journal: the process that ran the run ended "
						      "before recording it in the history"));
	json = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	if (!json) {
		rc = cms_error_set(err, CMS_ERROR, "cannot encode the report of run '%s'", run->id);
		goto done;
	}
	subject = xasprintf("%s: %s %s %s -> %s: %s (recorded from the journal)", run->store,
			    run->kind, pf.mode && json_is_string(pf.mode) ? json_string_value(pf.mode)
			    : "run", loc_primary(pf.from) ? loc_primary(pf.from) : "-",
			    loc_primary(pf.to) ? loc_primary(pf.to) : "-", run->outcome);
	buf_adds(&html, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>");
	buf_add_html(&html, subject);
	buf_adds(&html, "</title></head><body><h1>");
	buf_add_html(&html, subject);
	buf_adds(&html, "</h1><p>Rebuilt from the state's journal.</p><pre>");
	buf_add_html(&html, json);
	buf_adds(&html, "</pre></body></html>\n");
	p1 = report_path(run->store, run->id);
	p2 = history_path_report(run->store, run->id, "html");
	files[nfiles++] = (struct history_file){ p1, json, strlen(json) };
	files[nfiles++] = (struct history_file){ p2, html.ptr, html.len };
	if (newest && ok && location_json) {
		p3 = history_path_location(run->store);
		files[nfiles++] = (struct history_file){ p3, location_json, strlen(location_json) };
	}
	buf_addf(&msg, "%s\n\nRun %s (%s) of store %s, recorded from the state's journal: the process "
		 "that ran it ended before recording it.\n\n", subject, run->id, run->kind, run->store);
	{
		struct history_trailers t = {
			.plan_id = run->plan_id, .has_serial = true, .serial = serial_after,
			.operator_name = run->operator_name, .outcome = run->outcome,
			.kind = run->kind, .run_id = run->id, .recorded_from = "journal",
			.reason = json_string_value(pf.reason), .ticket = json_string_value(pf.ticket),
			.assume_down = ad_server, .assume_down_reason = ad_reason,
		};

		history_add_trailers(&msg, &t);
	}
	{
		struct cms_error warn = CMS_ERROR_INIT;

		/* Only while the history lacks the report: another process may
		 * have recorded the run since it was found missing. */
		rc = record_commit_absent(h, sdb, p1, files, nfiles, msg.ptr, operator_name, now,
					  commit, &warn, err);
		cms_error_clear(&warn);
		if (rc != 0)
			goto done;
	}
done:
	json_decref(o);
	json_decref(pf.mode);
	json_decref(pf.from);
	json_decref(pf.to);
	json_decref(pf.author);
	json_decref(pf.assume_down);
	json_decref(pf.reason);
	json_decref(pf.ticket);
	free(attested);
	step_info_list_free(steps, nsteps);
	buf_free(&html);
	buf_free(&msg);
	free(json);
	free(subject);
	free(p1);
	free(p2);
	free(p3);
	return rc;
}

int level_history(struct history *h, struct state *sdb, const char *store, const char *engine,
		  const char *location_json, const char *operator_name, int64_t now,
		  const struct cms_strv *only, struct cms_strv *recorded, struct cms_error *err)
{
	struct run_info *runs = NULL;
	struct recorded rec;
	size_t nruns = 0, i;
	bool *have = NULL;
	int rc = 0;

	memset(&rec, 0, sizeof(rec));
	if ((rc = state_run_list(sdb, store, &runs, &nruns, err)) < 0 ||
	    (rc = state_read_store(sdb, store, &rec, err)) < 0 ||
	    (rc = reports_present(h, store, runs, nruns, &have, err)) < 0)
		goto done;
	for (i = 0; i < nruns; i++) {
		if (have[i] || (only && !cms_strv_contains(only, runs[i].id)))
			continue;
		rc = record_one(h, sdb, &runs[i], &rec, i + 1 == nruns, engine, location_json,
				operator_name, now, err);
		if (rc == HISTORY_PRESENT) {
			rc = 0;
			continue;
		}
		if (rc < 0)
			goto done;
		cms_strv_add(recorded, runs[i].id);
	}
done:
	if (rc < 0)
		cms_error_prefix(err, "cannot bring the history level with the state");
	recorded_free(&rec);
	free(have);
	free_runs(runs, nruns);
	return rc;
}
