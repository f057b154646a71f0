/*
 * The public state interface (state.h) over its backends (backend.h): the
 * list of backends, opening by target, and one thin dispatcher per
 * operation, so callers never know which backend holds their state.  The
 * value types' free functions and the step status names live here too,
 * shared by every backend.
 */
#include "state/backend.h"
#include "common/util.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char *const status_names[] = {
	[STEP_PENDING] = "pending",
	[STEP_RUNNING] = "running",
	[STEP_DONE] = "done",
	[STEP_FAILED] = "failed",
	[STEP_SKIPPED] = "skipped",
	[STEP_UNDONE] = "undone",
};

const char *state_step_status_text(enum step_status s)
{
	if ((unsigned)s >= ARRAY_SIZE(status_names))
		return NULL;
	return status_names[s];
}

const char *step_status_name(enum step_status s)
{
	const char *name = state_step_status_text(s);

	return name ? name : "unknown";
}

static const char *const kind_names[] = { [RUN_APPLY] = "apply", [RUN_RESTORE] = "restore" };
static const char *const outcome_names[] = {
	[RUN_RUNNING] = "running", [RUN_OK] = "ok", [RUN_FAILED] = "failed",
	[RUN_ROLLED_BACK] = "rolled_back", [RUN_INTERRUPTED] = "interrupted",
	[RUN_RESTORED] = "restored",
};

const char *run_kind_name(enum run_kind k)
{
	return (unsigned)k < ARRAY_SIZE(kind_names) ? kind_names[k] : "unknown";
}

const char *run_outcome_name(enum run_outcome o)
{
	return (unsigned)o < ARRAY_SIZE(outcome_names) ? outcome_names[o] : "unknown";
}

int run_outcome_parse(const char *name, enum run_outcome *out)
{
	size_t i;

	for (i = 0; name && i < ARRAY_SIZE(outcome_names); i++)
		if (!strcmp(name, outcome_names[i])) {
			*out = (enum run_outcome)i;
			return 0;
		}
	return -1;
}

/* --- lock holders ------------------------------------------------------ */

char *lock_holder_text(const struct lock_holder *h)
{
	if (h->pid <= 0)
		return xstrdup(h->name ? h->name : "");
	return xasprintf("%s (pid %" PRId64 " on %s, %s)", h->name ? h->name : "", h->pid,
			 h->host ? h->host : "", h->pid_ns ? h->pid_ns : "pid:[?]");
}

void lock_holder_free(struct lock_holder *h)
{
	if (!h)
		return;
	free(h->name);
	free(h->host);
	free(h->pid_ns);
	memset(h, 0, sizeof(*h));
}

void state_lock_holder_parse_legacy(const char *text, struct lock_holder *out)
{
	const char *p = strstr(text, " (pid "), *host, *ns = NULL, *c, *end;
	char *stop;
	long long pid;

	memset(out, 0, sizeof(*out));
	end = text + strlen(text);
	if (!p || !isdigit((unsigned char)p[6]) || end[-1] != ')')
		goto whole;
	errno = 0;
	pid = strtoll(p + 6, &stop, 10);
	if (errno || pid <= 0 || strncmp(stop, " on ", 4) != 0)
		goto whole;
	host = stop + 4;
	/* The namespace follows the last ", " (a host name has no comma). */
	for (c = host; (c = strstr(c, ", ")) && c < end - 1; c++)
		ns = c;
	if (!ns || ns == host || ns + 2 >= end - 1)
		goto whole;
	out->name = xstrndup(text, (size_t)(p - text));
	out->pid = pid;
	out->host = xstrndup(host, (size_t)(ns - host));
	out->pid_ns = xstrndup(ns + 2, (size_t)(end - 1 - (ns + 2)));
	return;
whole:
	out->name = xstrdup(text);
}

int state_lock_held(struct cms_error *err, const struct lock_info *l)
{
	char since[32], until[32];

	cms_format_time(since, l->acquired_at);
	cms_format_time(until, l->lease_until);
	if (l->reason && *l->reason)
		cms_error_set(err, CMS_ELOCKED,
			      "store '%s' is locked by %s since %s (reason: %s, lease until %s)",
			      l->store, l->holder_text, since, l->reason, until);
	else
		cms_error_set(err, CMS_ELOCKED,
			      "store '%s' is locked by %s since %s (lease until %s)", l->store,
			      l->holder_text, since, until);
	cms_error_hint(err, "wait for it, or break an expired lock with 'cmsctl unlock %s %s'",
		       l->store, l->id);
	return CMS_ELOCKED;
}

int state_step_status_parse(const char *name, enum step_status *out)
{
	size_t i;

	for (i = 0; name && i < ARRAY_SIZE(status_names); i++) {
		if (!strcmp(name, status_names[i])) {
			*out = (enum step_status)i;
			return 0;
		}
	}
	return -1;
}

/* --- opening ----------------------------------------------------------- */

static int open_sqlite(struct state **out, const struct state_target *t, bool create,
		       struct cms_error *err)
{
	if (!t->path || !*t->path)
		return cms_error_set(err, CMS_ERROR, "no path for the sqlite state");
	return state_sqlite_open(out, t->path, create, err);
}

/* The backends: adding one is its file and one line here. */
static const struct {
	const char *name;
	int (*open)(struct state **out, const struct state_target *t, bool create,
		    struct cms_error *err);
} backends[] = {
	{ "sqlite", open_sqlite },
	{ "postgresql", state_pg_open },
};

int state_open(struct state **out, const char *path, bool create, struct cms_error *err)
{
	return state_sqlite_open(out, path, create, err);
}

int state_open_target(struct state **out, const struct state_target *t, bool create,
		      struct cms_error *err)
{
	const char *name = t->backend ? t->backend : "sqlite";
	size_t i;
	int rc;

	*out = NULL;
	for (i = 0; i < ARRAY_SIZE(backends); i++) {
		if (strcmp(backends[i].name, name) != 0)
			continue;
		rc = backends[i].open(out, t, create, err);
		if (rc == 0 && (*out)->ops->version != STATE_BACKEND_VERSION) {
			cms_error_set(err, CMS_ERROR, "state backend '%s' has interface version "
				      "%u, expected %u", name, (*out)->ops->version,
				      STATE_BACKEND_VERSION);
			state_close(*out);
			*out = NULL;
			return CMS_ERROR;
		}
		return rc;
	}
	return cms_error_set(err, CMS_ERROR, "unknown state backend '%s'", name);
}

const char *state_name(const struct state *st)
{
	return st->name;
}

void state_close(struct state *st)
{
	if (st)
		st->ops->close(st);
}

/* --- dispatch ---------------------------------------------------------- */

int state_integrity_check(struct state *st, char **out_result, struct cms_error *err)
{
	return st->ops->integrity_check(st, out_result, err);
}

int state_list_stores(struct state *st, struct cms_strv *names, struct cms_error *err)
{
	return st->ops->list_stores(st, names, err);
}

int state_read_store(struct state *st, const char *store, struct recorded *out,
		     struct cms_error *err)
{
	return st->ops->read_store(st, store, out, err);
}

int state_lock(struct state *st, const char *store, const struct lock_holder *holder,
	       const char *reason, int64_t lease_s, int64_t now, char **lock_id_out,
	       struct cms_error *err)
{
	return st->ops->lock(st, store, holder, reason, lease_s, now, lock_id_out, err);
}

int state_lock_renew(struct state *st, const char *store, const char *lock_id,
		     int64_t lease_s, int64_t now, struct cms_error *err)
{
	return st->ops->lock_renew(st, store, lock_id, lease_s, now, err);
}

int state_unlock(struct state *st, const char *store, const char *lock_id, struct cms_error *err)
{
	return st->ops->unlock(st, store, lock_id, err);
}

int state_lock_list(struct state *st, struct lock_info **out, size_t *n, struct cms_error *err)
{
	return st->ops->lock_list(st, out, n, err);
}

int state_batch_begin(struct state *st, struct cms_error *err)
{
	return st->ops->batch(st, 0, err);
}

int state_batch_begin_lazy(struct state *st, struct cms_error *err)
{
	return st->ops->batch(st, 3, err);
}

int state_batch_end(struct state *st, bool commit, struct cms_error *err)
{
	return st->ops->batch(st, commit ? 1 : 2, err);
}

int state_run_begin(struct state *st, const char *run_id, const char *store, const char *plan_id,
		    enum run_kind kind, const char *operator_name, int64_t now, struct cms_error *err)
{
	return st->ops->run_begin(st, run_id, store, plan_id, run_kind_name(kind), operator_name,
				  now, err);
}

int state_step_set(struct state *st, const char *run_id, int n, const char *action,
		   const char *server, enum step_status status, const char *detail_json,
		   int64_t now, int64_t duration_ms, struct cms_error *err)
{
	return st->ops->step_set(st, run_id, n, action, server, status, detail_json, now,
				 duration_ms, err);
}

int state_run_finish(struct state *st, const char *run_id, enum run_outcome outcome, int64_t now,
		     struct cms_error *err)
{
	return st->ops->run_finish(st, run_id, run_outcome_name(outcome), now, err);
}

int state_run_unfinished(struct state *st, const char *store, struct run_info *out,
			 struct cms_error *err)
{
	return st->ops->run_newest(st, store, true, out, err);
}

int state_run_last(struct state *st, const char *store, struct run_info *out,
		   struct cms_error *err)
{
	return st->ops->run_newest(st, store, false, out, err);
}

int state_run_steps(struct state *st, const char *run_id, struct step_info **out, size_t *n,
		    struct cms_error *err)
{
	return st->ops->run_steps(st, run_id, out, n, err);
}

int state_run_list(struct state *st, const char *store, struct run_info **out, size_t *n,
		   struct cms_error *err)
{
	return st->ops->run_list(st, store, out, n, err);
}

int state_history_tip_set(struct state *st, const char *commit_id, int64_t now,
			  struct cms_error *err)
{
	return st->ops->history_tip_set(st, commit_id, now, err);
}

int state_history_tip(struct state *st, char **commit_id, struct cms_error *err)
{
	return st->ops->history_tip(st, commit_id, err);
}

int state_history_tip_replace(struct state *st, const char *old_id, const char *new_id,
			      int64_t now, bool *replaced, struct cms_error *err)
{
	return st->ops->history_tip_replace(st, old_id, new_id, now, replaced, err);
}

int state_commit(struct state *st, const char *store, const char *lineage,
		 int64_t expected_serial, const char *primary, const char *mirror,
		 const char *plan_id, const char *run_id, int64_t now, int64_t *new_serial,
		 struct cms_error *err)
{
	return st->ops->commit(st, store, lineage, expected_serial, primary, mirror, plan_id,
			       run_id, now, new_serial, err);
}

int state_plan_consumed(struct state *st, const char *plan_id, bool *out, struct cms_error *err)
{
	return st->ops->plan_consumed(st, plan_id, out, err);
}

int state_consume_plan(struct state *st, const char *plan_id, const char *store,
		       const char *run_id, int64_t now, struct cms_error *err)
{
	return st->ops->consume_plan(st, plan_id, store, run_id, now, err);
}

int state_approve(struct state *st, const char *plan_id, const char *store, const char *approver,
		  int64_t now, struct cms_error *err)
{
	return st->ops->approve(st, plan_id, store, approver, now, err);
}

int state_approvals(struct state *st, const char *plan_id, struct cms_strv *approvers,
		    struct cms_error *err)
{
	return st->ops->approvals(st, plan_id, approvers, err);
}

int state_dump(struct state *st, struct state_dump *out, struct cms_error *err)
{
	int rc = st->ops->dump(st, out, err);

	if (rc < 0)
		return rc;
	rc = st->ops->history_tip(st, &out->history_tip, err);
	if (rc == CMS_ENOTFOUND) {
		cms_error_clear(err);
		out->history_tip = NULL;
		rc = 0;
	}
	if (rc < 0)
		state_dump_free(out);
	return rc < 0 ? rc : 0;
}

int state_load(struct state *st, const struct state_dump *d, struct cms_error *err)
{
	int rc = st->ops->load(st, d, err);

	if (rc == 0 && d->history_tip)
		rc = st->ops->history_tip_set(st, d->history_tip, (int64_t)time(NULL), err);
	return rc;
}

/* --- freeing ----------------------------------------------------------- */

void recorded_free(struct recorded *r)
{
	if (!r)
		return;
	free(r->lineage);
	free(r->primary);
	free(r->mirror);
	free(r->updated_at);
	memset(r, 0, sizeof(*r));
}

void lock_info_free(struct lock_info *l)
{
	if (!l)
		return;
	free(l->store);
	free(l->id);
	lock_holder_free(&l->holder);
	free(l->holder_text);
	free(l->reason);
	memset(l, 0, sizeof(*l));
}

void lock_info_list_free(struct lock_info *l, size_t n)
{
	size_t i;

	if (!l)
		return;
	for (i = 0; i < n; i++)
		lock_info_free(&l[i]);
	free(l);
}

void run_info_free(struct run_info *r)
{
	if (!r)
		return;
	free(r->id);
	free(r->store);
	free(r->plan_id);
	free(r->kind);
	free(r->operator_name);
	free(r->outcome);
	free(r->started_at);
	free(r->finished_at);
	memset(r, 0, sizeof(*r));
}

void step_info_free(struct step_info *s)
{
	if (!s)
		return;
	free(s->action);
	free(s->server);
	free(s->detail_json);
	free(s->started_at);
	free(s->finished_at);
	memset(s, 0, sizeof(*s));
}

void step_info_list_free(struct step_info *s, size_t n)
{
	size_t i;

	if (!s)
		return;
	for (i = 0; i < n; i++)
		step_info_free(&s[i]);
	free(s);
}

void state_dump_free(struct state_dump *d)
{
	size_t i;

	if (!d)
		return;
	for (i = 0; i < d->nstores; i++) {
		free(d->stores[i].name);
		recorded_free(&d->stores[i].rec);
	}
	free(d->stores);
	for (i = 0; i < d->nruns; i++)
		run_info_free(&d->runs[i]);
	free(d->runs);
	for (i = 0; i < d->nsteps; i++) {
		free(d->steps[i].run_id);
		step_info_free(&d->steps[i].step);
	}
	free(d->steps);
	for (i = 0; i < d->napprovals; i++) {
		free(d->approvals[i].plan_id);
		free(d->approvals[i].store);
		free(d->approvals[i].approver);
		free(d->approvals[i].approved_at);
	}
	free(d->approvals);
	for (i = 0; i < d->nconsumed; i++) {
		free(d->consumed[i].plan_id);
		free(d->consumed[i].store);
		free(d->consumed[i].run_id);
		free(d->consumed[i].consumed_at);
	}
	free(d->consumed);
	lock_info_list_free(d->locks, d->nlocks);
	free(d->history_tip);
	memset(d, 0, sizeof(*d));
}
