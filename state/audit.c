/*
 * audit verify (state/audit.h): the record checked against itself.  Each
 * check reads the history branch and the state only through their public
 * interfaces, so what it trusts is what any reader of the record sees; a
 * finding is a value appended to a list, never an error.
 */
#include "state/audit.h"
#include "common/buf.h"
#include "common/util.h"
#include "state/approval.h"
#include "state/history.h"
#include "state/state.h"

#include <jansson.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct audit {
	struct history *h;
	struct state *sdb;
	struct audit_finding *v;
	size_t len, alloc;
	struct audit_counts *counts;
};

void audit_findings_free(struct audit_finding *f, size_t n)
{
	size_t i;

	if (!f)
		return;
	for (i = 0; i < n; i++) {
		free(f[i].kind);
		free(f[i].store);
		free(f[i].message);
	}
	free(f);
}

__attribute__((format(printf, 4, 5)))
static void finding(struct audit *au, const char *kind, const char *store, const char *fmt, ...)
{
	struct audit_finding *f = ARRAY_PUSH(au->v, au->len, au->alloc);
	struct buf b = BUF_INIT;
	va_list ap;

	va_start(ap, fmt);
	buf_vaddf(&b, fmt, ap);
	va_end(ap);
	f->kind = xstrdup(kind);
	f->store = xstrdup(store);
	f->message = buf_detach(&b, NULL);
}

/* The author named in a plan's bytes, or NULL. */
static char *plan_author(const char *data, size_t len)
{
	json_t *o = json_loadb(data, len, 0, NULL);
	json_t *a = o ? json_object_get(o, "author") : NULL;
	char *out = json_is_string(a) ? xstrdup(json_string_value(a)) : NULL;

	json_decref(o);
	return out;
}

static int check_plans(struct audit *au, const char *store, struct cms_error *err)
{
	char *dir = xasprintf("%s/plans", store);
	struct cms_strv names = CMS_STRV_INIT;
	size_t i;
	int rc;

	if ((rc = history_list_dir(au->h, dir, &names, err)) < 0)
		goto done;
	for (i = 0; i < names.n; i++) {
		const char *name = names.v[i], *dash = strrchr(name, '-');
		size_t nl = strlen(name);
		char *path, *data = NULL, id[41];
		size_t len = 0;

		if (nl < 6 || strcmp(name + nl - 5, ".json") || !dash)
			continue;
		path = xasprintf("%s/%s", dir, name);
		rc = history_read(au->h, path, &data, &len, err);
		if (rc < 0) {
			free(path);
			goto done;
		}
		au->counts->plans++;
		history_blob_id(data, len, id);
		if ((size_t)(name + nl - 5 - (dash + 1)) != 40 || strncmp(dash + 1, id, 40))
			finding(au, "plan-hash", store, "plan file '%s' does not hash to the id in its "
				"name: its bytes are blob %s", path, id);
		free(path);
		free(data);
	}
	rc = 0;
done:
	cms_strv_free(&names);
	free(dir);
	return rc;
}

static int check_applies(struct audit *au, const char *store, struct cms_error *err)
{
	struct history_entry *log = NULL;
	size_t n = 0, i, j;
	int rc;

	if ((rc = history_log(au->h, store, &log, &n, err)) < 0)
		return rc;
	for (i = 0; i < n; i++) {
		char *data = NULL;
		size_t len = 0;

		if (!log[i].kind || strcmp(log[i].kind, "apply"))
			continue;
		au->counts->applies++;
		if (!log[i].plan_id) {
			finding(au, "apply-without-plan", store, "apply commit %.12s names no plan "
				"(no Plan-Id trailer)", log[i].commit);
			continue;
		}
		rc = strlen(log[i].plan_id) == 40 ?
		     history_find_plan(au->h, log[i].plan_id, &data, &len, err) : CMS_ENOTFOUND;
		free(data);
		if (rc == CMS_ENOTFOUND) {
			cms_error_clear(err);
			finding(au, "apply-without-plan", store, "apply commit %.12s carried out plan "
				"%.12s, which is not in the history", log[i].commit, log[i].plan_id);
		} else if (rc < 0) {
			goto done;
		}
		/* Each approval the run counted has its record (and signature). */
		for (j = 0; j < log[i].napproved_by && strlen(log[i].plan_id) == 40; j++) {
			char *path = approval_path(store, log[i].plan_id, log[i].approved_by[j]);

			rc = history_read(au->h, path, &data, &len, err);
			free(data);
			data = NULL;
			if (rc == CMS_ENOTFOUND) {
				cms_error_clear(err);
				finding(au, "approval-without-record", store, "apply commit %.12s "
					"counted the approval of plan %.12s by %s, but '%s' is not in "
					"the history", log[i].commit, log[i].plan_id,
					log[i].approved_by[j], path);
				rc = 0;
			}
			free(path);
			if (rc < 0)
				goto done;
		}
	}
	rc = 0;
done:
	history_log_free(log, n);
	return rc;
}

static int check_approvals(struct audit *au, const char *store, const char *allowed_signers,
			   struct cms_error *err)
{
	char *dir = history_path_approvals(store, NULL);
	struct cms_strv ids = CMS_STRV_INIT;
	size_t i, j;
	int rc;

	if ((rc = history_list_dir(au->h, dir, &ids, err)) < 0)
		goto done;
	for (i = 0; i < ids.n; i++) {
		struct approval_policy pol = { NULL, allowed_signers, true };
		struct approval *list = NULL;
		char *plan_id, *data = NULL, *author = NULL;
		size_t n = 0, len = 0, il = strlen(ids.v[i]);

		if (il < 2 || ids.v[i][il - 1] != '/')
			continue;
		plan_id = xstrndup(ids.v[i], il - 1);
		rc = il - 1 == 40 ? history_find_plan(au->h, plan_id, &data, &len, err) : CMS_ENOTFOUND;
		if (rc == 0)
			author = plan_author(data, len);
		else if (rc == CMS_ENOTFOUND)
			cms_error_clear(err);
		pol.author = author;
		if (rc == 0 || rc == CMS_ENOTFOUND)
			rc = approval_list(au->h, NULL, store, plan_id, &pol, &list, &n, err);
		for (j = 0; rc == 0 && j < n; j++) {
			au->counts->approvals++;
			if (list[j].invalid)
				finding(au, "approval-signature", store, "the approval of plan %.12s by %s: "
					"%s", plan_id, list[j].principal,
					list[j].why_not ? list[j].why_not : "invalid");
		}
		approval_list_free(list, n);
		free(plan_id);
		free(author);
		free(data);
		if (rc < 0)
			goto done;
	}
	rc = 0;
done:
	cms_strv_free(&ids);
	free(dir);
	return rc;
}

/* Reads "serial", "primary" and "mirror" from a location.json. */
static bool parse_location(const char *data, size_t len, int64_t *serial, char **primary,
			   char **mirror)
{
	json_t *o = json_loadb(data, len, 0, NULL);
	json_t *s = o ? json_object_get(o, "serial") : NULL, *p, *m;
	bool ok = json_is_integer(s);

	*primary = *mirror = NULL;
	if (ok) {
		*serial = (int64_t)json_integer_value(s);
		p = json_object_get(o, "primary");
		m = json_object_get(o, "mirror");
		*primary = json_is_string(p) ? xstrdup(json_string_value(p)) : NULL;
		*mirror = json_is_string(m) ? xstrdup(json_string_value(m)) : NULL;
	}
	json_decref(o);
	return ok;
}

static bool same_str(const char *a, const char *b)
{
	return (!a && !b) || (a && b && !strcmp(a, b));
}

static int check_locations(struct audit *au, const char *store, struct cms_error *err)
{
	char *path = history_path_location(store), *primary = NULL, *mirror = NULL;
	struct history_version *v = NULL;
	struct recorded rec;
	size_t n = 0, i;
	int64_t prev = 0, serial = 0;
	bool have_prev = false, have_last = false;
	int rc;

	memset(&rec, 0, sizeof(rec));
	if ((rc = history_versions(au->h, path, &v, &n, err)) < 0)
		goto done;
	for (i = 0; i < n; i++) {
		free(primary);
		free(mirror);
		au->counts->locations++;
		if (!parse_location(v[i].data, v[i].len, &serial, &primary, &mirror)) {
			finding(au, "serial-sequence", store, "'%s' at commit %.12s has no serial", path,
				v[i].commit);
			have_last = false;
			continue;
		}
		if (have_prev && serial != prev + 1 && serial != prev && serial != 1)
			finding(au, "serial-sequence", store, "'%s' goes from serial %" PRId64 " to %"
				PRId64 " at commit %.12s", path, prev, serial, v[i].commit);
		prev = serial;
		have_prev = have_last = true;
	}
	if (au->sdb) {
		if ((rc = state_read_store(au->sdb, store, &rec, err)) < 0)
			goto done;
		if (rec.exists && !have_last)
			finding(au, "state-differs", store, "the state records serial %" PRId64 " (primary "
				"%s) but the history has no location.json for it", rec.serial, rec.primary);
		else if (rec.exists && (rec.serial != serial || !same_str(rec.primary, primary) ||
					!same_str(rec.mirror, mirror)))
			finding(au, "state-differs", store, "the state records serial %" PRId64
				", primary %s, mirror %s; the history's last location.json says serial %"
				PRId64 ", primary %s, mirror %s", rec.serial, rec.primary,
				rec.mirror ? rec.mirror : "-", serial, primary ? primary : "-",
				mirror ? mirror : "-");
	}
	rc = 0;
done:
	recorded_free(&rec);
	history_versions_free(v, n);
	free(primary);
	free(mirror);
	free(path);
	return rc;
}

static int check_runs(struct audit *au, const char *store, struct cms_error *err)
{
	struct run_info *runs = NULL;
	struct cms_strv dirs = CMS_STRV_INIT;
	char *dir;
	size_t n = 0, i, j;
	int rc;

	if (!au->sdb)
		return 0;
	if ((rc = state_run_list(au->sdb, store, &runs, &n, err)) < 0)
		return rc;
	/* The other way round: a report of a run the state never had. */
	dir = xasprintf("%s/runs", store);
	rc = history_list_dir(au->h, dir, &dirs, err);
	for (i = 0; rc == 0 && i < dirs.n; i++) {
		size_t l = strlen(dirs.v[i]);

		if (l < 2 || dirs.v[i][l - 1] != '/')
			continue; /* unexpected-file's */
		for (j = 0; j < n && (strlen(runs[j].id) != l - 1 ||
				      strncmp(runs[j].id, dirs.v[i], l - 1)); j++)
			;
		if (j == n)
			finding(au, "report-without-run", store, "'%s/%.*s' holds the report of run "
				"%.*s, which the state does not have", dir, (int)(l - 1), dirs.v[i],
				(int)(l - 1), dirs.v[i]);
	}
	cms_strv_free(&dirs);
	free(dir);
	if (rc < 0)
		goto done;
	for (i = 0; i < n; i++) {
		char *path, *data = NULL;
		size_t len = 0;

		if (!runs[i].outcome || !strcmp(runs[i].outcome, "running"))
			continue;
		au->counts->runs++;
		path = history_path_report(store, runs[i].id, "json");
		rc = history_read(au->h, path, &data, &len, err);
		free(data);
		if (rc == CMS_ENOTFOUND) {
			cms_error_clear(err);
			finding(au, "run-without-report", store, "%s run %s (outcome %s) is in the state "
				"but '%s' is not in the history", runs[i].kind, runs[i].id,
				runs[i].outcome, path);
			rc = 0;
		}
		free(path);
		if (rc < 0)
			break;
	}
done:
	for (i = 0; i < n; i++)
		run_info_free(&runs[i]);
	free(runs);
	return rc;
}

static int check_tip(struct audit *au, struct cms_error *err)
{
	char *recorded = NULL, tip[41];
	bool ok = false;
	int rc;

	if (!au->sdb)
		return 0;
	rc = state_history_tip(au->sdb, &recorded, err);
	if (rc == CMS_ENOTFOUND) {
		cms_error_clear(err);
		return 0;
	}
	if (rc < 0)
		return rc;
	if ((rc = history_descends_from(au->h, recorded, &ok, err)) < 0)
		goto done;
	if (!ok) {
		rc = history_tip(au->h, tip, err);
		if (rc == CMS_ENOTFOUND) {
			cms_error_clear(err);
			snprintf(tip, sizeof(tip), "(none)");
		} else if (rc < 0) {
			goto done;
		}
		finding(au, "history-rewritten", NULL, "the history branch tip %.12s does not descend "
			"from %.12s, the tip the state recorded at the last history commit: the "
			"branch was rewritten or reset", tip, recorded);
	}
	rc = 0;
done:
	free(recorded);
	return rc;
}

static bool all_of(const char *s, size_t n, const char *set)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (!s[i] || !strchr(set, s[i]))
			return false;
	return n > 0;
}

/* "<serial>-<plan id>.json" or ".txt": history_path_plan's names. */
static bool plan_file_name(const char *name)
{
	const char *dash = strchr(name, '-');

	return dash && all_of(name, (size_t)(dash - name), "0123456789") &&
	       all_of(dash + 1, 40, "0123456789abcdef") &&
	       (!strcmp(dash + 41, ".json") || !strcmp(dash + 41, ".txt"));
}

/* What a folder of the history holds that cmsctl never writes there. */
static void unexpected(struct audit *au, const char *store, const char *dir, const char *name,
		       const char *what)
{
	finding(au, "unexpected-file", store, "'%s%s%s' is not a file cmsctl writes (%s)",
		dir, *dir ? "/" : "", name, what);
}

/* The store's folder holds only what the layout (state/history.h) names:
 * location.json, plans/, approvals/<plan id>/<principal>.json and
 * runs/<run id>/report.json and .html. */
static int check_layout(struct audit *au, const char *store, struct cms_error *err)
{
	struct cms_strv top = CMS_STRV_INIT, sub = CMS_STRV_INIT, leaf = CMS_STRV_INIT;
	char *dir = NULL, *inner = NULL;
	size_t i, j, k;
	int rc;

	if ((rc = history_list_dir(au->h, store, &top, err)) < 0)
		goto done;
	for (i = 0; i < top.n; i++) {
		const char *e = top.v[i];
		bool plans = !strcmp(e, "plans/"), approvals = !strcmp(e, "approvals/"),
		     runs = !strcmp(e, "runs/");

		if (!strcmp(e, "location.json"))
			continue;
		if (!plans && !approvals && !runs) {
			unexpected(au, store, store, e, "a store's folder holds location.json, plans/, "
				   "approvals/ and runs/");
			continue;
		}
		free(dir);
		dir = xasprintf("%s/%.*s", store, (int)(strlen(e) - 1), e);
		cms_strv_free(&sub);
		if ((rc = history_list_dir(au->h, dir, &sub, err)) < 0)
			goto done;
		for (j = 0; j < sub.n; j++) {
			size_t l = strlen(sub.v[j]);

			if (plans) {
				if (!plan_file_name(sub.v[j]))
					unexpected(au, store, dir, sub.v[j], "a plan is "
						   "SERIAL-PLANID.json, its text SERIAL-PLANID.txt");
				continue;
			}
			if (sub.v[j][l - 1] != '/' ||
			    (approvals && (l != 41 || !all_of(sub.v[j], 40, "0123456789abcdef")))) {
				unexpected(au, store, dir, sub.v[j], approvals ? "approvals are "
					   "approvals/PLANID/PRINCIPAL.json" : "reports are "
					   "runs/RUNID/report.json and report.html");
				continue;
			}
			free(inner);
			inner = xasprintf("%s/%.*s", dir, (int)(l - 1), sub.v[j]);
			cms_strv_free(&leaf);
			if ((rc = history_list_dir(au->h, inner, &leaf, err)) < 0)
				goto done;
			for (k = 0; k < leaf.n; k++) {
				const char *f = leaf.v[k];
				size_t fl = strlen(f);
				bool ok = approvals ? f[fl - 1] != '/' && fl > 5 &&
						      !strcmp(f + fl - 5, ".json")
						    : !strcmp(f, "report.json") ||
						      !strcmp(f, "report.html");

				if (!ok)
					unexpected(au, store, inner, f, approvals ? "approvals are "
						   "approvals/PLANID/PRINCIPAL.json" : "reports are "
						   "runs/RUNID/report.json and report.html");
			}
		}
	}
	rc = 0;
done:
	cms_strv_free(&top);
	cms_strv_free(&sub);
	cms_strv_free(&leaf);
	free(dir);
	free(inner);
	return rc;
}

/* Whether rel (a path inside a store's folder) is runs/<run_id>/report.*. */
static bool is_report_of(const char *rel, const char *run_id)
{
	size_t n = strlen(run_id);

	return run_id[0] && !strncmp(rel, "runs/", 5) && !strncmp(rel + 5, run_id, n) &&
	       (!strcmp(rel + 5 + n, "/report.json") || !strcmp(rel + 5 + n, "/report.html"));
}

/* Files are only ever added, except location.json (each run rewrites it)
 * and a run's report written again by the run's own commit (a report
 * recorded from the journal first: see "A run recorded twice"). */
static int check_edits(struct audit *au, const char *only_store, struct cms_error *err)
{
	struct history_change *c = NULL;
	size_t n = 0, i;
	int rc;

	if ((rc = history_changes(au->h, &c, &n, err)) < 0)
		return rc;
	for (i = 0; i < n; i++) {
		const char *slash = strchr(c[i].path, '/'), *rel = slash ? slash + 1 : c[i].path;
		char *store = slash ? xstrndup(c[i].path, (size_t)(slash - c[i].path)) : NULL;

		if ((only_store && (!store || strcmp(store, only_store))) ||
		    (store && !strcmp(rel, "location.json")) ||
		    (store && !c[i].removed && c[i].run_id && is_report_of(rel, c[i].run_id))) {
			free(store);
			continue;
		}
		if (c[i].removed)
			finding(au, "history-edited", store, "commit %.12s removed '%s': cmsctl never "
				"removes a recorded file", c[i].commit, c[i].path);
		else
			finding(au, "history-edited", store, "commit %.12s changed '%s' after it was "
				"recorded: cmsctl never rewrites a recorded file", c[i].commit,
				c[i].path);
		free(store);
	}
	history_changes_free(c, n);
	return 0;
}

int audit_verify(struct history *h, struct state *sdb, const struct audit_store *stores,
		 size_t nstores, const char *only_store, struct audit_finding **out, size_t *n,
		 struct audit_counts *counts, struct cms_error *err)
{
	struct audit au = { h, sdb, NULL, 0, 0, counts };
	struct cms_strv names = CMS_STRV_INIT, dirs = CMS_STRV_INIT, recorded = CMS_STRV_INIT;
	size_t i, j;
	int rc;

	*out = NULL;
	*n = 0;
	memset(counts, 0, sizeof(*counts));
	/* Every store any part of the record knows. */
	for (i = 0; i < nstores; i++)
		cms_strv_add_unique(&names, stores[i].name);
	if ((rc = history_list_dir(h, "", &dirs, err)) < 0)
		goto done;
	for (i = 0; i < dirs.n; i++) {
		size_t l = strlen(dirs.v[i]);

		if (l > 1 && dirs.v[i][l - 1] == '/') {
			dirs.v[i][l - 1] = '\0';
			cms_strv_add_unique(&names, dirs.v[i]);
		} else if (!only_store) {
			unexpected(&au, NULL, "", dirs.v[i], "the history holds one folder per store");
		}
	}
	if (sdb) {
		if ((rc = state_list_stores(sdb, &recorded, err)) < 0)
			goto done;
		for (i = 0; i < recorded.n; i++)
			cms_strv_add_unique(&names, recorded.v[i]);
	}
	if ((rc = check_tip(&au, err)) < 0 || (rc = check_edits(&au, only_store, err)) < 0)
		goto done;
	for (i = 0; i < names.n; i++) {
		const char *store = names.v[i], *signers = NULL;

		if (only_store && strcmp(store, only_store))
			continue;
		for (j = 0; j < nstores; j++)
			if (!strcmp(stores[j].name, store))
				signers = stores[j].allowed_signers;
		counts->stores++;
		if ((rc = check_layout(&au, store, err)) < 0 ||
		    (rc = check_plans(&au, store, err)) < 0 ||
		    (rc = check_applies(&au, store, err)) < 0 ||
		    (rc = check_approvals(&au, store, signers, err)) < 0 ||
		    (rc = check_locations(&au, store, err)) < 0 ||
		    (rc = check_runs(&au, store, err)) < 0)
			goto done;
	}
	rc = 0;
done:
	cms_strv_free(&names);
	cms_strv_free(&dirs);
	cms_strv_free(&recorded);
	if (rc < 0) {
		audit_findings_free(au.v, au.len);
	} else {
		*out = au.v;
		*n = au.len;
	}
	return rc;
}
