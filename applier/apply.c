/*
 * The run loop: apply a plan, or restore the recorded location (apply.h has
 * the contract).
 *
 * Every step is written to the journal before it starts (running) and after
 * it ends (done, failed, undone), each write committed before the step (or
 * the next) goes on, so a process killed at any point leaves a journal that
 * says which steps ran; a step's end and the next step's start share one
 * transaction (journal_pair).  The statements an engine sent, their durations and the values
 * each check observed go with the step, and into the report.
 */
#define _GNU_SOURCE
#include "applier/apply.h"
#include "applier/planning.h"
#include "applier/command.h"
#include "applier/publish.h"
#include "applier/report.h"
#include "applier/restore_decide.h"
#include "applier/run.h"
#include "common/util.h"

#include <fcntl.h>
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static void add_check(struct run_check **v, size_t *n, bool ok, const char *check,
		      const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static void add_check(struct run_check **v, size_t *n, bool ok, const char *check,
		      const char *fmt, ...)
{
	struct run_check *c = ARRAY_APPEND(*v, *n);
	struct buf b = BUF_INIT;
	va_list ap;

	va_start(ap, fmt);
	buf_vaddf(&b, fmt, ap);
	va_end(ap);
	c->check = xstrdup(check);
	c->observed = buf_detach(&b, NULL);
	c->ok = ok;
}

void apply_result_free(struct apply_result *r)
{
	if (!r)
		return;
	free(r->run_id);
	free(r->plan_id);
	free(r->outcome);
	free(r->location_primary);
	free(r->location_mirror);
	cms_strv_free(&r->followups);
	cms_strv_free(&r->approvals);
	buf_free(&r->report_json);
	buf_free(&r->report_html);
	free(r->subject);
	free(r->assume_down);
	free(r->assume_down_reason);
	free(r->reason);
	free(r->ticket);
	memset(r, 0, sizeof(*r));
}

/* --- the run ------------------------------------------------------------------ */

static int64_t now_s(void)
{
	int64_t t;

	if (cms_now(&t) < 0)
		t = 0;
	return t;
}

/* The same clock in milliseconds: the times of runs and steps. */
static int64_t now_ms(void)
{
	int64_t t;

	if (cms_now_ms(&t) < 0)
		t = 0;
	return t;
}

static int journal_write(struct run *r, struct run_step *s, struct cms_error *err)
{
	char *detail = report_step_detail_json(s);
	int rc;

	rc = state_step_set(r->ctx->state, r->run_id, s->n, plan_action_name(s->action), s->server,
			    s->status, detail, now_ms(), s->duration_ms, err);
	free(detail);
	return rc;
}

/* What watches the journal (a test build's hold, the progress lines)
 * hears of step s, once it is written. */
static void journal_told(struct run *r, struct run_step *s)
{
	if (r->ctx->on_journal)
		r->ctx->on_journal(r->ctx->on_journal_arg, s->n, s->status);
	if (r->ctx->on_step) {
		struct apply_step_event ev;

		memset(&ev, 0, sizeof(ev));
		ev.n = s->n;
		ev.total = r->nsteps;
		ev.action = plan_action_name(s->action);
		ev.server = s->server;
		ev.description = s->description;
		ev.status = s->status;
		ev.duration_ms = s->duration_ms;
		ev.stmts = s->stmts;
		ev.nstmts = s->nstmts;
		ev.error = s->error;
		r->ctx->on_step(r->ctx->on_step_arg, &ev);
	}
}

static int journal(struct run *r, struct run_step *s, struct cms_error *err)
{
	int rc = journal_write(r, s, err);

	if (rc == 0)
		journal_told(r, s);
	return rc;
}

static void take_statements(struct run *r, struct run_step *s)
{
	struct db_stmt_log *l = NULL;
	size_t n = 0, i;

	if (!r->e)
		return;
	engine_take_log(r->e, &l, &n);
	for (i = 0; i < n; i++) {
		*ARRAY_APPEND(s->stmts, s->nstmts) = l[i];
	}
	free(l);
}

static struct run_step *add_run_step(struct run *r, enum plan_action action, const char *server,
				     const char *description)
{
	struct run_step *s;

	s = ARRAY_APPEND(r->steps, r->nsteps);
	s->n = (int)r->nsteps;
	s->action = action;
	s->server = xstrdup(server);
	s->description = xstrdup(description);
	s->status = STEP_PENDING;
	return s;
}

/* One publish step per target, each naming its target. */
static void add_publish_run_steps(struct run *r, const char *what)
{
	size_t i;

	for (i = 0; i < r->ctx->store->npublish; i++) {
		char *t = planner_describe_publish(&r->ctx->store->publish[i]);
		char *d = xasprintf("%s %s", what, t);

		add_run_step(r, ACTION_PUBLISH, NULL, d);
		free(d);
		free(t);
	}
}

static const struct server *find_server(const struct run *r, const char *name)
{
	return name ? store_find_server(r->ctx->store, name) : NULL;
}

static int lease_guard(void *arg, struct cms_error *err);

static int probe(struct run *r, struct observation *obs, struct cms_error *err)
{
	int rc;

	observation_free(obs);
	memset(obs, 0, sizeof(*obs));
	rc = engine_probe(r->e, obs, err);
	/* Reads the statement guard refused (the lock lost meanwhile) make
	 * servers look unreachable: nothing may be decided from them. */
	if (r->lock_lost) {
		cms_error_clear(err);
		return lease_guard(r, err);
	}
	return rc;
}

/* Exactly `primary` reports primary; old (may be NULL) does not take writes. */
static int verify_roles(struct run *r, struct run_step *s, const char *primary, const char *old,
			struct cms_error *err)
{
	struct observation obs;
	size_t i;
	int rc;

	memset(&obs, 0, sizeof(obs));
	/* Roles are what is checked here; the verification at the end reads
	 * everything, for the report. */
	r->e->probe_roles_only = s->action == ACTION_REREAD_ROLES;
	rc = probe(r, &obs, err);
	r->e->probe_roles_only = false;
	if (rc < 0)
		return rc;
	for (i = 0; i < obs.nservers; i++) {
		const struct server_obs *o = &obs.servers[i];
		bool is_target = !strcmp(o->server, primary);
		char *check;

		if (is_target) {
			check = xasprintf("%s reports primary", o->server);
			add_check(&s->checks, &s->nchecks, server_obs_writable(o), check,
				  "%s, epoch %" PRId64 ", read-only %s",
				  o->reachable ? obs_role_name(o->role) : "unreachable", o->epoch,
				  o->read_only ? "yes" : "no");
		} else {
			check = xasprintf("%s does not accept writes", o->server);
			add_check(&s->checks, &s->nchecks, !server_obs_writable(o), check, "%s%s",
				  o->reachable ? obs_role_name(o->role) : "unreachable: cannot confirm",
				  o->reachable && o->read_only ? " (read-only)" : "");
			/* An unreachable server cannot be seen taking writes, nor seen
			 * not to: say so rather than count it as checked. */
			if (!o->reachable && s->action == ACTION_VERIFY)
				cms_strv_push(&r->followups,
					  xasprintf("%s was unreachable at verification: make sure it does "
						    "not come back as a primary", o->server));
		}
		free(check);
	}
	(void)old;
	for (i = 0; i < s->nchecks; i++)
		if (!s->checks[i].ok) {
			rc = cms_error_set(err, CMS_ERROR, "verification failed: %s (observed %s)",
					   s->checks[i].check, s->checks[i].observed);
			break;
		}
	observation_free(&obs);
	return rc;
}

static int run_publish(struct run *r, struct run_step *s, size_t idx, const char *primary,
		       const char *mirror, int64_t serial, struct cms_error *err)
{
	const struct store *st = r->ctx->store;
	const struct server *ps = find_server(r, primary);
	struct published_location loc;
	struct buf log = BUF_INIT;
	int rc;

	if (idx >= st->npublish)
		return cms_error_set(err, CMS_ESTALE, "the plan publishes to a target the config no longer has");
	memset(&loc, 0, sizeof(loc));
	loc.store = st->name;
	loc.engine = engine_kind_name(st->engine);
	loc.primary = primary;
	loc.mirror = mirror;
	loc.primary_fqdn = ps ? ps->fqdn : NULL;
	loc.primary_instance = ps ? ps->instance : NULL;
	loc.serial = serial;
	loc.lineage = r->pub_lineage;
	loc.plan_id = r->plan_id;
	loc.run_id = r->run_id;
	loc.now = now_s();
	rc = publish_target(&st->publish[idx], st, &loc, &log, &s->stmts, &s->nstmts, err);
	if (log.len)
		buf_add(&s->notes, log.ptr, log.len);
	add_check(&s->checks, &s->nchecks, rc == 0, "published location reads back", "%s",
		  rc == 0 ? "as written" : (err && err->message ? err->message : "failed"));
	buf_free(&log);
	return rc;
}

/* Fences a server that does not answer through its fence targets, in
 * order, until one exits 0.  When none does, the operator's attestation in
 * the plan stands, or the move stops here, before any change (exit 7). */
static int fence_from_outside(struct run *r, struct run_step *s, struct cms_error *err)
{
	const struct plan *p = r->p;
	const struct store *st = r->ctx->store;
	const struct server *srv = find_server(r, s->server);
	struct cms_error ferr = CMS_ERROR_INIT;
	const char *path = getenv("PATH");
	char *envp[8], *last = NULL;
	size_t ne = 0, i;
	int rc = 0;

	if (!srv || !srv->nfence)
		return cms_error_set(err, CMS_ESTALE, "server '%s' has no fence target in the config",
				     s->server);
	envp[ne++] = xasprintf("CMS_STORE=%s", st->name);
	envp[ne++] = xasprintf("CMS_ENGINE=%s", engine_kind_name(st->engine));
	envp[ne++] = xasprintf("CMS_SERVER=%s", srv->name);
	envp[ne++] = xasprintf("CMS_SERVER_FQDN=%s", srv->fqdn ? srv->fqdn : "");
	envp[ne++] = xasprintf("CMS_PLAN_ID=%s", r->plan_id ? r->plan_id : "");
	envp[ne++] = xasprintf("CMS_RUN_ID=%s", r->run_id);
	envp[ne++] = xasprintf("PATH=%s", path ? path : "/usr/bin:/bin");
	envp[ne] = NULL;
	for (i = 0; i < srv->nfence; i++) {
		const struct fence_target *t = &srv->fence[i];
		char *check = xasprintf("fence target %zu of %s exits 0", i + 1, srv->name);
		int64_t t0 = cms_monotonic_ms();

		cms_error_clear(&ferr);
		/* A command can take its whole timeout: the lease before each. */
		if (i > 0 && (rc = lease_guard(r, err)) < 0) {
			free(check);
			goto done;
		}
		rc = applier_run_command(t->argv, envp, t->timeout_ms, "fence command", &ferr);
		add_check(&s->checks, &s->nchecks, rc == 0, check, "%s after %" PRId64 " ms",
			  rc == 0 ? "exit 0" : ferr.message, cms_monotonic_ms() - t0);
		buf_addf(&s->notes, "ran %s: %s\n", t->argv[0], rc == 0 ? "exit 0, fenced" : ferr.message);
		free(check);
		if (rc == 0) {
			free(r->fenced_outside);
			r->fenced_outside = xstrdup(srv->name);
			goto done;
		}
		free(last);
		last = xstrdup(ferr.message);
	}
	if (p && p->assume_down && !strcmp(p->assume_down, srv->name)) {
		add_check(&s->checks, &s->nchecks, true, "attested down by the operator", "%s",
			  p->assume_down_reason ? p->assume_down_reason : "");
		buf_addf(&s->notes, "no fence target succeeded; %s is attested down by %s: %s\n",
			 srv->name, p->author, p->assume_down_reason ? p->assume_down_reason : "");
		rc = 0;
		goto done;
	}
	rc = cms_error_set(err, CMS_EREFUSED, "no fence target of '%s' succeeded (%zu tried; last: "
			   "%s): it may still serve writes, so the move stops before any change",
			   srv->name, srv->nfence, last ? last : "?");
	cms_error_hint(err, "make a fence target of '%s' work and plan again; or, if you know it "
		       "is down, 'cmsctl plan --assume-down %s --reason TEXT'", srv->name, srv->name);
done:
	for (i = 0; i < ne; i++)
		free(envp[i]);
	free(last);
	cms_error_clear(&ferr);
	return rc;
}

/* The check promote_changed_nothing adds, which promote_sent_nothing reads
 * back from the journal. */
#define CHECK_PROMOTE_CHANGED_NOTHING "the failed promotion changed nothing"

/* After a promote that refused (CMS_EREFUSED: an engine refuses before it
 * changes anything) or failed before it sent anything that changes the
 * target (engine.promote_unsent), the servers must agree: the target holds
 * none of the store's databases as primary.  Then the run is still before
 * promotion and ends rolled back (exit 7, or 1 for a failure) rather than
 * interrupted. */
static bool promote_changed_nothing(struct run *r, struct run_step *s)
{
	struct cms_error perr = CMS_ERROR_INIT;
	struct observation obs;
	const struct server_obs *t;
	bool none = false;
	size_t i;

	memset(&obs, 0, sizeof(obs));
	if (probe(r, &obs, &perr) == 0 && (t = observation_find(&obs, s->server)) && t->reachable &&
	    t->role != OBS_PRIMARY) {
		none = true;
		for (i = 0; i < t->ndbs; i++)
			if (t->dbs[i].role == OBS_PRIMARY)
				none = false;
	}
	add_check(&s->checks, &s->nchecks, none, CHECK_PROMOTE_CHANGED_NOTHING, "%s",
		  none ? "the target holds no database as primary" :
		  perr.message ? perr.message : "the target holds a database as primary, or cannot be read");
	cms_error_clear(&perr);
	observation_free(&obs);
	return none;
}

/* What the engine is told about the primary the move replaces, before it
 * checks the target and before it promotes: whether it answered when the
 * plan was made (and re-checked), and whether it is isolated from outside:
 * the plan fences it through its fence targets (a failed fence target stops
 * the move before promotion), or carries the operator's attestation. */
static void tell_engine_move(struct run *r)
{
	const struct plan *p = r->p;
	const struct server_obs *o;

	memset(&r->e->move, 0, sizeof(r->e->move));
	if (!p || !p->from.primary)
		return;
	o = observation_find(&p->obs, p->from.primary);
	r->e->move.old_primary = p->from.primary;
	r->e->move.old_answers = o && o->reachable;
	r->e->move.old_isolated = p->assume_down != NULL || r->fenced_outside != NULL ||
				  p->fence.via == FENCE_VIA_TARGETS;
}

/* Runs one step.  The caller journals before and after. */
static int exec_step(struct run *r, struct run_step *s, struct cms_error *err)
{
	const struct plan *p = r->p;
	const struct engine_ops *ops = r->e->ops;
	const char *target = p ? p->to.primary : r->pub_primary;
	const char *old = p ? p->from.primary : NULL;
	int rc = 0;

	/* The lease again, as the step starts: its renewal came before the
	 * journal's write of this step's start. */
	if (!r->dry && (rc = lease_guard(r, err)) < 0)
		return rc;
	switch (s->action) {
	case ACTION_RECORD:
		add_check(&s->checks, &s->nchecks, true, "observations re-checked before the run",
			  "unchanged");
		return 0;
	case ACTION_CHECK_TARGET:
		tell_engine_move(r);
		rc = ops->check_target(r->e, s->server, err);
		add_check(&s->checks, &s->nchecks, rc == 0, "target can be promoted", "%s",
			  rc == 0 ? "yes" : err->message);
		return rc;
	case ACTION_FENCE:
		if (s->keep) {
			rc = ops->keep_copy(r->e, s->server, err);
			add_check(&s->checks, &s->nchecks, rc == 0, "stays read-only should the "
				  "promotion it was asked for still complete", "%s",
				  rc == 0 ? "read-only, still a copy" : err->message);
			return rc;
		}
		if (s->undo) {
			rc = ops->unfence(r->e, s->server, err);
			if (rc == 0)
				r->w_unfenced = now_ms();
			add_check(&s->checks, &s->nchecks, rc == 0, "takes writes again", "%s",
				  rc == 0 ? "unfenced" : err->message);
			return rc;
		}
		if (p && p->fence.via == FENCE_VIA_TARGETS && p->fence.server &&
		    !strcmp(p->fence.server, s->server))
			return fence_from_outside(r, s, err);
		r->t_fence = cms_monotonic_ms();
		r->e->window_opened = 0;
		/* Marked before the call: a fence that fails half way (one database
		 * of two) is undone like a whole one. */
		free(r->fenced);
		r->fenced = xstrdup(s->server);
		free(r->e->step_note);
		r->e->step_note = NULL;
		rc = ops->fence(r->e, s->server, err);
		if (r->e->window_opened > 0)
			r->t_fence = r->e->window_opened;
		if (rc == 0 && r->e->step_note)
			add_check(&s->checks, &s->nchecks, true, "a write is refused", "%s",
				  r->e->step_note);
		else if (rc == 0 && ops->fence_note)
			add_check(&s->checks, &s->nchecks, true, "fence", "%s", ops->fence_note);
		else
			add_check(&s->checks, &s->nchecks, rc == 0, "a write is refused", "%s",
				  rc == 0 ? "refused (verified by the engine)" : err->message);
		free(r->e->step_note);
		r->e->step_note = NULL;
		return rc;
	case ACTION_CATCH_UP:
		free(r->e->step_note);
		r->e->step_note = NULL;
		rc = ops->catch_up(r->e, old, s->server, p->policy.catch_up_timeout_ms, err);
		add_check(&s->checks, &s->nchecks, rc == 0, "target caught up", "%s",
			  rc < 0 ? err->message : r->e->step_note ? r->e->step_note : "yes");
		free(r->e->step_note);
		r->e->step_note = NULL;
		return rc;
	case ACTION_PROMOTE:
		r->promote_started = true;
		tell_engine_move(r);
		free(r->e->step_note);
		r->e->step_note = NULL;
		r->e->window_closed = 0;
		r->e->promote_unsent = false;
		rc = ops->promote(r->e, s->server, r->fenced ? old : NULL,
				  p->mode != PLAN_SWITCHOVER, err);
		if (rc == 0) {
			int64_t mono = cms_monotonic_ms();

			/* At the engine's mark, on both clocks: the journal's
			 * wall-clock instant is what a restore measures from. */
			r->t_promoted = r->e->window_closed > 0 ? r->e->window_closed : mono;
			r->w_promoted = now_ms() - (mono - r->t_promoted);
		}
		else if ((rc == CMS_EREFUSED || r->e->promote_unsent) && !r->lock_lost &&
			 promote_changed_nothing(r, s))
			r->promote_started = false; /* nothing was changed: undo the fence */
		add_check(&s->checks, &s->nchecks, rc == 0, "target accepts writes", "%s%s%s",
			  rc == 0 ? "yes" : err->message, rc == 0 && r->e->step_note ? "; " : "",
			  rc == 0 && r->e->step_note ? r->e->step_note : "");
		free(r->e->step_note);
		r->e->step_note = NULL;
		return rc;
	case ACTION_REREAD_ROLES:
		return verify_roles(r, s, r->pub_primary, r->fenced ? old : NULL, err);
	case ACTION_DEMOTE:
		rc = ops->demote(r->e, s->server, target, err);
		add_check(&s->checks, &s->nchecks, rc == 0, "old primary demoted", "%s",
			  rc == 0 ? "done (or left for a follow-up)" : err->message);
		return rc;
	case ACTION_PUBLISH:
		return run_publish(r, s, (size_t)r->publish_idx++, r->pub_primary, r->pub_mirror,
				   r->pub_serial, err);
	case ACTION_VERIFY:
		return verify_roles(r, s, r->pub_primary, NULL, err);
	case ACTION_COUNT:
		break;
	}
	return cms_error_set(err, CMS_ERROR, "unknown step action");
}

/* Leases run on the real clock, never on CMSCTL_NOW: a clock set for
 * reproducible plans must not make a live lock look expired. */
static int64_t lease_clock(void)
{
	return (int64_t)time(NULL);
}

static int64_t lease_s(const struct run *r)
{
	return r->ctx->lease_s ? r->ctx->lease_s : 900;
}

/* The process's own clock for its lease: CLOCK_BOOTTIME goes on while
 * the process is stopped and while the machine sleeps. */
static int64_t boot_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_BOOTTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* After the state confirmed the lock at t0 (its lease then ran at least
 * nine tenths of its length: state_lock_renew), the process takes it as
 * surely its own for eight tenths: the rest is a margin for the clocks of
 * other hosts, which judge the lease by theirs. */
static void lease_confirmed(struct run *r, int64_t t0)
{
	r->lease_confirmed_at = t0;
	r->lease_sure_until = t0 + lease_s(r) * 1000 * 8 / 10;
}

static void lost_lock_hint(struct cms_error *err)
{
	cms_error_hint(err, "another run may have taken the store over: 'cmsctl status' shows "
		       "where it stands and 'cmsctl lock list' who holds it");
}

/* Renews the lease (state_lock_renew).  A lock taken over or broken, or
 * one that cannot be confirmed once the process's own margin ran out
 * (stopped, or waiting that long): the run has lost the store and changes
 * nothing more (r->lock_lost). */
static int renew_lock(struct run *r, struct cms_error *err)
{
	int64_t t0 = boot_ms();
	int rc = state_lock_renew(r->ctx->state, r->ctx->store->name, r->lock_id, lease_s(r),
				  lease_clock(), err);

	if (rc == 0) {
		lease_confirmed(r, t0);
		return 0;
	}
	if (rc == CMS_ELOCKED || t0 >= r->lease_sure_until) {
		char *msg = xstrdup(err->message ? err->message : "the lock could not be read");

		r->lock_lost = true;
		r->lock_taken = rc == CMS_ELOCKED;
		cms_error_set(err, CMS_EINTERRUPTED, "this run %s the store's lock (last confirmed "
			      "%" PRId64 " s ago; its lease is %" PRId64 " s): %s; it changes "
			      "nothing more", rc == CMS_ELOCKED ? "no longer holds"
			      : "cannot confirm that it still holds", (t0 - r->lease_confirmed_at) / 1000,
			      lease_s(r), msg);
		lost_lock_hint(err);
		free(msg);
		return CMS_EINTERRUPTED;
	}
	return rc;
}

/* Before the record (the history's commits and the push, which can wait
 * on a remote): the lease renewed when due, so that it does not run out
 * while the run is recorded under it.  false: the lock is lost, and the
 * run is left to whoever holds the store (it records it from the
 * journal).  A renewal that fails otherwise is a follow-up: the lease is
 * still the process's own for its margin. */
static bool lease_for_record(struct run *r, struct apply_result *out, int *rc,
			     struct cms_error *err)
{
	struct cms_error lerr = CMS_ERROR_INIT;

	if (r->lock_lost)
		return false;
	if (r->lock_id && renew_lock(r, &lerr) < 0 && !r->lock_lost) {
		cms_strv_push(&out->followups,
			  xasprintf("the store's lock could not be renewed before the record (%s); "
				    "its lease had not run out", lerr.message ? lerr.message : "?"));
	} else if (r->lock_lost) {
		if (out->run_id)
			cms_strv_push(&out->followups,
				  xasprintf("run %s is not recorded in the history by this process: "
					    "whoever holds the store's lock records it from the journal",
					    out->run_id));
		/* The run's own failure stays what it says; a run that went
		 * through is done but not recorded by this process: exit 6,
		 * as when its record fails. */
		if (*rc == 0) {
			cms_error_move(err, &lerr);
			cms_error_prefix(err, "the run is done, but not recorded in the history by "
					 "this process");
			cms_error_hint(err, "whoever holds the store's lock now records it from the "
				       "state's journal ('cmsctl status' shows it)");
			*rc = CMS_EINTERRUPTED;
		}
		cms_error_clear(&lerr);
		return false;
	}
	cms_error_clear(&lerr);
	return true;
}

/* A run that lost its lock is not recorded by this process (whoever holds
 * the store records it from the journal), but the --report file the
 * operator asked for is still written: what this process did and saw,
 * its outcome "interrupted" and why.  Its failure is a follow-up: the
 * exit status already says the run stopped. */
static void report_file_unrecorded(struct run *r, struct apply_result *out)
{
	const struct apply_ctx *ctx = r->ctx;
	struct cms_error ferr = CMS_ERROR_INIT;

	if (!r->lock_lost || !out->run_id || !ctx->write_report)
		return;
	if (ctx->write_report(ctx->write_report_arg, out, &ferr) < 0)
		cms_strv_push(&out->followups, xasprintf("the --report file was not written: %s",
							 ferr.message ? ferr.message : "?"));
	cms_error_clear(&ferr);
}

/* Before a failed run's rollback, journal write or record: whether the
 * store was lost meanwhile (a process stopped during a long step); err
 * then says so first, as CMS_EINTERRUPTED. */
static bool lost_before_failure(struct run *r, struct cms_error *err)
{
	struct cms_error gerr = CMS_ERROR_INIT;

	if (!r->lock_lost && lease_guard(r, &gerr) < 0 && r->lock_lost) {
		cms_error_prefix(err, "%s", gerr.message);
		err->code = CMS_EINTERRUPTED;
	}
	cms_error_clear(&gerr);
	return r->lock_lost;
}

/* engine.may_change, asked right before a promotion's statement: within
 * the process's margin nothing is asked (no I/O inside the window);
 * past it (the process was stopped, or a step waited that long), the
 * lock is confirmed in the state first. */
static int lease_guard(void *arg, struct cms_error *err)
{
	struct run *r = arg;

	if (r->lock_lost) /* set again below, or by a renewal that failed */
		return cms_error_set(err, CMS_EINTERRUPTED, "this run no longer holds the "
				     "store's lock; it changes nothing more");
	if (!r->lock_id || boot_ms() < r->lease_sure_until)
		return 0;
	return renew_lock(r, err);
}

/* The start time of process pid, in clock ticks since boot (field 22 of
 * /proc/PID/stat); 0 when it cannot be read. */
static unsigned long long proc_start_ticks(long long pid)
{
	char path[64], buf[1024], *p;
	unsigned long long ticks = 0;
	ssize_t n;
	int fd, field;

	snprintf(path, sizeof(path), "/proc/%lld/stat", pid);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	/* The command name (field 2) is in parentheses and may hold anything:
	 * the fields after it follow its last ')'. */
	if (!(p = strrchr(buf, ')')))
		return 0;
	for (field = 2; p && field < 22; field++)
		p = strchr(p + 1, ' ');
	if (p)
		ticks = strtoull(p + 1, NULL, 10);
	return ticks;
}

/* Whether /proc shows this process's own PID namespace (a /proc mounted
 * for another one would make /proc/PID another process). */
static bool proc_is_ours(void)
{
	char link[32];
	ssize_t n = readlink("/proc/self", link, sizeof(link) - 1);

	if (n <= 0)
		return false;
	link[n] = '\0';
	return strtoll(link, NULL, 10) == (long long)getpid();
}

/* This process as a lock holder: the operator, its pid, its host and its
 * PID namespace, so that a process can tell a dead holder of its own host
 * and namespace from a live one it cannot see (another container with the
 * same host name).  The namespace carries the boot and the process's
 * start time too ("pid:[N] boot=ID start=TICKS"): after a reboot, or once
 * the pid is reused, the pid alone would make a dead holder look alive. */
static void process_holder(struct lock_holder *out, const char *operator_name)
{
	char host[256] = "localhost", ns[64] = "pid:[?]", boot[64] = "";
	struct buf id = BUF_INIT;
	unsigned long long start = proc_is_ours() ? proc_start_ticks((long long)getpid()) : 0;
	ssize_t n;
	int fd;

	if (gethostname(host, sizeof(host)) != 0)
		snprintf(host, sizeof(host), "localhost");
	host[sizeof(host) - 1] = '\0';
	n = readlink("/proc/self/ns/pid", ns, sizeof(ns) - 1);
	if (n > 0)
		ns[n] = '\0';
	if ((fd = open("/proc/sys/kernel/random/boot_id", O_RDONLY | O_CLOEXEC)) >= 0) {
		n = read(fd, boot, sizeof(boot) - 1);
		close(fd);
		boot[n > 0 ? n : 0] = '\0';
		boot[strspn(boot, "0123456789abcdef-")] = '\0';
	}
	buf_adds(&id, ns);
	if (*boot)
		buf_addf(&id, " boot=%s", boot);
	if (start)
		buf_addf(&id, " start=%llu", start);
	out->name = xstrdup(operator_name);
	out->pid = (int64_t)getpid();
	out->host = xstrdup(host);
	out->pid_ns = buf_detach(&id, NULL);
}

/* In a holder's "pid:[N] boot=ID start=TICKS": the namespace's length, and
 * the value of key (NULL when absent: a lock taken before these were
 * recorded).  Caller frees the value. */
static size_t holder_ns_len(const char *s)
{
	return strcspn(s, " ");
}

static char *holder_field(const char *s, const char *key)
{
	size_t klen = strlen(key);
	const char *p = s;

	while ((p = strchr(p, ' '))) {
		p++;
		if (!strncmp(p, key, klen) && p[klen] == '=')
			return xstrndup(p + klen + 1, strcspn(p + klen + 1, " "));
	}
	return NULL;
}

enum lock_holder_state applier_lock_holder_state(const struct lock_holder *holder)
{
	struct lock_holder self = { 0 };
	enum lock_holder_state res;
	char *hboot = NULL, *sboot = NULL, *hstart = NULL;
	unsigned long long now_start;
	size_t nslen;

	if (holder->pid <= 0 || !holder->host || !holder->pid_ns)
		return HOLDER_UNKNOWN;
	process_holder(&self, NULL);
	nslen = holder_ns_len(self.pid_ns);
	if (!strncmp(self.pid_ns, "pid:[?]", nslen) || strcmp(holder->host, self.host) != 0 ||
	    holder_ns_len(holder->pid_ns) != nslen || strncmp(holder->pid_ns, self.pid_ns, nslen)) {
		res = HOLDER_ELSEWHERE;
		goto done;
	}
	hboot = holder_field(holder->pid_ns, "boot");
	sboot = holder_field(self.pid_ns, "boot");
	hstart = holder_field(holder->pid_ns, "start");
	if (hboot && sboot && strcmp(hboot, sboot) != 0)
		res = HOLDER_DEAD; /* an earlier boot of this host: every process of it is gone */
	else if (kill((pid_t)holder->pid, 0) < 0 && errno == ESRCH)
		res = HOLDER_DEAD;
	else if (hstart && hboot && sboot && proc_is_ours() &&
		 (now_start = proc_start_ticks(holder->pid)) != 0 &&
		 strtoull(hstart, NULL, 10) != now_start)
		res = HOLDER_DEAD; /* the pid now belongs to a process that started later */
	else
		res = HOLDER_ALIVE;
done:
	free(hboot);
	free(sboot);
	free(hstart);
	lock_holder_free(&self);
	return res;
}

const char *lock_holder_state_name(enum lock_holder_state s)
{
	switch (s) {
	case HOLDER_ALIVE: return "alive";
	case HOLDER_DEAD: return "dead";
	case HOLDER_ELSEWHERE: return "other-host";
	default: return "unknown";
	}
}

static int take_lock_once(struct run *r, const char *reason, struct cms_error *err);

/* Sleeps ms, or less when a signal asked the run to stop (-1 then). */
static int pause_unless_stopped(struct run *r, int64_t ms)
{
	struct timespec ts = { (time_t)(ms / 1000), (long)(ms % 1000) * 1000000L };

	for (;;) {
		if (r->ctx->stop && *r->ctx->stop)
			return -1;
		if (nanosleep(&ts, &ts) == 0 || errno != EINTR)
			break;
	}
	return r->ctx->stop && *r->ctx->stop ? -1 : 0;
}

/* Takes the store's lock.  A lock of a dead process of this host and
 * namespace is broken (once); a lock of another host or namespace never is,
 * whatever its holder's pid: only its lease ending frees it.  With a lock
 * timeout, a held lock is retried about once a second until the deadline. */
static int take_lock(struct run *r, const char *reason, struct cms_error *err)
{
	int64_t deadline = cms_monotonic_ms() + r->ctx->lock_timeout_ms;
	int rc;

	for (;;) {
		int64_t left;

		rc = take_lock_once(r, reason, err);
		if (rc != CMS_ELOCKED || r->ctx->lock_timeout_ms <= 0)
			return rc;
		left = deadline - cms_monotonic_ms();
		if (left <= 0) {
			char *msg = xstrdup(err->message ? err->message : "store is locked");

			cms_error_set(err, CMS_ELOCKED, "%s; still held after waiting %" PRId64
				      " s (--lock-timeout)", msg, r->ctx->lock_timeout_ms / 1000);
			free(msg);
			return CMS_ELOCKED;
		}
		cms_error_clear(err);
		if (pause_unless_stopped(r, left < 1000 ? left : 1000) < 0) {
			int sig = (int)*r->ctx->stop;

			return cms_error_set(err, CMS_ERROR, "interrupted by signal %d (%s) while "
					     "waiting for the store's lock; nothing was changed", sig,
					     strsignal(sig));
		}
	}
}

static int take_lock_once(struct run *r, const char *reason, struct cms_error *err)
{
	struct lock_holder holder = { 0 };
	int rc, attempt;

	process_holder(&holder, r->ctx->operator_name);

	for (attempt = 0; attempt < 2; attempt++) {
		struct lock_info *locks = NULL;
		size_t n = 0, i;
		bool broke = false;

		int64_t t0 = boot_ms();

		rc = state_lock(r->ctx->state, r->ctx->store->name, &holder, reason,
				lease_s(r), lease_clock(), &r->lock_id, err);
		if (rc == 0)
			lease_confirmed(r, t0);
		if (rc != CMS_ELOCKED || attempt > 0)
			break;
		if (state_lock_list(r->ctx->state, &locks, &n, NULL) < 0)
			break;
		for (i = 0; i < n; i++) {
			if (strcmp(locks[i].store, r->ctx->store->name) ||
			    applier_lock_holder_state(&locks[i].holder) != HOLDER_DEAD)
				continue;
			if (state_unlock(r->ctx->state, locks[i].store, locks[i].id, NULL) == 0) {
				cms_strv_push(&r->followups,
					  xasprintf("broke lock %s of %s: that process no longer exists",
						    locks[i].id, locks[i].holder_text));
				broke = true;
			}
		}
		for (i = 0; i < n; i++)
			lock_info_free(&locks[i]);
		free(locks);
		if (!broke)
			break;
		cms_error_clear(err);
	}
	lock_holder_free(&holder);
	return rc;
}

static void release_lock(struct run *r)
{
	struct cms_error ignored = CMS_ERROR_INIT;

	if (r->lock_id)
		state_unlock(r->ctx->state, r->ctx->store->name, r->lock_id, &ignored);
	cms_error_clear(&ignored);
	db_set_guard(NULL, NULL); /* no lease left to check */
}

static void run_free(struct run *r)
{
	db_set_guard(NULL, NULL);
	report_run_free_content(r);
	engine_close(r->e);
	free(r->lock_id);
	free(r->fenced);
	free(r->fenced_outside);
	free(r->fresh_lineage);
	free(r->publish_error);
	cms_strv_free(&r->approvals);
}

/* Facts about the plan itself: CMS_ESTALE with which one changed. */
static int check_plan_facts(struct run *r, struct recorded *rec, struct cms_error *err)
{
	const struct plan *p = r->p;
	const struct store *st = r->ctx->store;
	char when[32];
	bool consumed = false;
	int64_t now = now_s();
	int rc;

	if (strcmp(p->store, st->name) || p->engine != st->engine)
		return cms_error_set(err, CMS_ESTALE, "plan %.12s is for store '%s' (engine %s), not "
				     "this store", r->plan_id, p->store, engine_kind_name(p->engine));
	if (now > p->expires) {
		cms_format_time(when, p->expires);
		cms_error_set(err, CMS_ESTALE, "plan %.12s expired at %s", r->plan_id, when);
		cms_error_hint(err, "make a new plan with 'cmsctl plan'");
		return CMS_ESTALE;
	}
	if ((rc = state_plan_consumed(r->ctx->state, r->plan_id, &consumed, err)) < 0)
		return rc;
	if (consumed)
		return cms_error_set(err, CMS_ESTALE, "plan %.12s was already applied; plans are "
				     "single-use", r->plan_id);
	if ((rc = state_read_store(r->ctx->state, st->name, rec, err)) < 0)
		return rc;
	if (!*p->lineage && rec->exists)
		return cms_error_set(err, CMS_ESTALE, "store '%s' was adopted (serial %" PRId64
				     ") after plan %.12s was made", st->name, rec->serial, r->plan_id);
	if (*p->lineage && !rec->exists)
		return cms_error_set(err, CMS_ESTALE, "plan %.12s was made against lineage %s, but "
				     "the state has no record of store '%s'", r->plan_id, p->lineage,
				     st->name);
	if (rec->exists && strcmp(rec->lineage, p->lineage))
		return cms_error_set(err, CMS_ESTALE, "plan %.12s was made against lineage %s, the "
				     "state has lineage %s", r->plan_id, p->lineage, rec->lineage);
	if (rec->exists && rec->serial != p->serial)
		return cms_error_set(err, CMS_ESTALE, "store '%s' is at serial %" PRId64 ", plan %.12s "
				     "was made against serial %" PRId64, st->name, rec->serial,
				     r->plan_id, p->serial);
	{
		struct run_info last;
		bool same;

		if ((rc = applier_last_run(r->ctx->state, st->name, &last, err)) < 0)
			return rc;
		same = (!last.id && !p->after_run) ||
		       (last.id && p->after_run && !strcmp(last.id, p->after_run));
		if (!same)
			cms_error_set(err, CMS_ESTALE, "run %s of store '%s' happened after plan %.12s "
				      "was made", last.id ? last.id : "-", st->name, r->plan_id);
		run_info_free(&last);
		if (!same)
			return CMS_ESTALE;
	}
	if (!store_find_server(st, p->to.primary) ||
	    (p->from.primary && !store_find_server(st, p->from.primary)))
		return cms_error_set(err, CMS_ESTALE, "plan %.12s names a server the config no longer has",
				     r->plan_id);
	if (p->fence.via == FENCE_VIA_TARGETS) {
		const struct server *fs = store_find_server(st, p->fence.server);
		bool same = fs && fs->nfence == p->fence.targets.n;
		size_t i;

		for (i = 0; same && i < fs->nfence; i++) {
			char *d = planner_describe_fence_target(&fs->fence[i]);

			same = !strcmp(d, p->fence.targets.v[i]);
			free(d);
		}
		if (!same)
			return cms_error_set(err, CMS_ESTALE, "the fence targets of '%s' in the config "
					     "differ from those plan %.12s was made with", p->fence.server,
					     r->plan_id);
	}
	return 0;
}

static int check_approvals(struct run *r, struct cms_error *err)
{
	const struct plan *p = r->p;
	int need = p->policy.approvals > r->ctx->store->policy.approvals ?
		   p->policy.approvals : r->ctx->store->policy.approvals;
	struct buf not_counted = BUF_INIT;
	struct cms_strv who = CMS_STRV_INIT;
	size_t i;
	int rc;

	if (r->ctx->approvals) {
		if ((rc = r->ctx->approvals(r->ctx->approvals_arg, p, r->plan_id, &r->approvals,
					    &not_counted, err)) < 0)
			goto done;
	} else {
		if ((rc = state_approvals(r->ctx->state, r->plan_id, &who, err)) < 0)
			goto done;
		for (i = 0; i < who.n; i++)
			if (strcmp(who.v[i], p->author) != 0) /* an author's own approval does not count */
				cms_strv_add(&r->approvals, who.v[i]);
	}
	rc = 0;
	if ((int)r->approvals.n < need) {
		cms_error_set(err, CMS_EREFUSED, "plan %.12s has %zu approval%s that count%s (from people "
			      "other than its author %s); policy.approvals needs %d%s%s", r->plan_id,
			      r->approvals.n, r->approvals.n == 1 ? "" : "s",
			      r->approvals.n == 1 ? "s" : "", p->author, need,
			      not_counted.len ? "; not counted: " : "", not_counted.ptr);
		cms_error_hint(err, "a reviewer runs 'cmsctl approve %s'", r->plan_id);
		rc = CMS_EREFUSED;
	}
done:
	cms_strv_free(&who);
	buf_free(&not_counted);
	return rc;
}

/* Re-probes and compares with every observation the plan relied on. */
static int recheck_observations(struct run *r, struct cms_error *err)
{
	const struct plan *p = r->p;
	struct observation now;
	size_t i;
	int rc;

	memset(&now, 0, sizeof(now));
	if ((rc = probe(r, &now, err)) < 0)
		goto done;
	for (i = 0; i < p->obs.nservers; i++) {
		const struct server_obs *was = &p->obs.servers[i];
		const struct server_obs *is = observation_find(&now, was->server);
		char *check = xasprintf("%s as planned: %s, epoch %" PRId64, was->server,
					was->reachable ? obs_role_name(was->role) : "unreachable",
					was->epoch);
		bool ok = is && is->reachable == was->reachable &&
			  (!was->reachable || (is->role == was->role && is->epoch == was->epoch));

		add_check(&r->prechecks, &r->nprechecks, ok, check, "%s, epoch %" PRId64 "%s%s",
			  is ? (is->reachable ? obs_role_name(is->role) : "unreachable") : "absent",
			  is ? is->epoch : 0, is && is->error ? ": " : "",
			  is && is->error ? is->error : "");
		free(check);
		if (!ok && rc == 0)
			rc = cms_error_set(err, CMS_ESTALE, "observation changed since plan %.12s: %s "
					   "was %s at epoch %" PRId64 ", now %s at epoch %" PRId64 "%s%s%s",
					   r->plan_id, was->server,
					   was->reachable ? obs_role_name(was->role) : "unreachable",
					   was->epoch,
					   is ? (is->reachable ? obs_role_name(is->role) : "unreachable") : "absent",
					   is ? is->epoch : 0, is && is->error ? " (" : "",
					   is && is->error ? is->error : "", is && is->error ? ")" : "");
	}
	if (rc == 0 && p->mode == PLAN_SWITCHOVER) {
		const struct server_obs *t = observation_find(&now, p->to.primary);
		bool ok = t && t->lag_bytes >= 0 && (uint64_t)t->lag_bytes <= p->policy.max_lag_bytes;
		char *check = xasprintf("lag of %s <= %" PRIu64 " bytes", p->to.primary,
					p->policy.max_lag_bytes);

		add_check(&r->prechecks, &r->nprechecks, ok, check, "%" PRId64 " bytes",
			  t ? t->lag_bytes : -1);
		free(check);
		if (!ok) {
			cms_error_set(err, CMS_EREFUSED, "'%s' is %" PRId64 " bytes behind the primary, "
				      "more than policy.max_lag_bytes (%" PRIu64 ")", p->to.primary,
				      t ? t->lag_bytes : -1, p->policy.max_lag_bytes);
			rc = CMS_EREFUSED;
		}
	}
done:
	observation_free(&now);
	if (rc < 0 && !r->lock_lost && err->code != CMS_EREFUSED && err->code != CMS_ESTALE)
		err->code = CMS_EREFUSED; /* a server that cannot be probed refuses the change */
	return rc;
}

/* Undo of a fence after a failure before promotion. */
/* Undoes the fence steps that ran; the name of a server whose fence could
 * not be undone (the caller frees it), or NULL. */
static char *roll_back_fence(struct run *r)
{
	struct cms_error uerr = CMS_ERROR_INIT;
	char *left = NULL;
	size_t i;
	int urc;

	if (!r->fenced)
		return NULL;
	for (i = 0; i < r->nsteps; i++) {
		struct run_step *s = &r->steps[i];

		if (s->action != ACTION_FENCE || s->undo ||
		    (s->status != STEP_DONE && s->status != STEP_FAILED))
			continue;
		/* A fence that failed before it sent its server anything (it
		 * never reached it: its statements are logged once sent) left
		 * nothing to undo. */
		if (s->status == STEP_FAILED && s->nstmts == 0 && !s->keep &&
		    !(r->fenced_outside && s->server && !strcmp(r->fenced_outside, s->server))) {
			buf_addf(&s->notes, "nothing to undo: the fence sent the server nothing\n");
			continue;
		}
		urc = r->e->ops->unfence(r->e, s->server, &uerr);
		if (urc < 0 && r->lock_lost) {
			/* The store is another run's now: neither journal nor
			 * report an undo that was not this run's to make. */
			take_statements(r, s);
			cms_error_clear(&uerr);
			break;
		}
		if (urc == 0) {
			s->status = STEP_UNDONE;
			buf_addf(&s->notes, "fence undone after a failure before promotion\n");
		} else {
			buf_addf(&s->notes, "could not undo the fence: %s\n", uerr.message);
			/* A fence that failed may have taken in part, or not at
			 * all (a read-only server refuses both): not "still". */
			cms_strv_push(&r->followups,
				  s->status == STEP_FAILED
				  ? xasprintf("%s may still be fenced: its fence failed, perhaps part-way, "
					      "and the undo failed (%s); look at it, then unfence it or "
					      "run 'cmsctl restore'", s->server, uerr.message)
				  : xasprintf("%s is still fenced: the undo failed (%s); unfence it or "
					      "run 'cmsctl restore'", s->server, uerr.message));
			if (!left)
				left = xstrdup(s->server ? s->server : "?");
		}
		take_statements(r, s);
		cms_error_clear(&uerr);
		if (journal(r, s, &uerr) < 0)
			cms_error_clear(&uerr);
	}
	free(r->fenced);
	r->fenced = NULL;
	return left;
}

/* A fence through a fence target cannot be undone by cmsctl. */
static void report_outside_fence(struct run *r)
{
	if (r->fenced_outside)
		cms_strv_push(&r->followups,
			  xasprintf("%s was fenced from outside by its fence target and the move did not "
				    "happen: bring it back by hand, then plan again", r->fenced_outside));
}

/* A publish target that failed never stops the run: the move stands and
 * is recorded; the target becomes a follow-up that status shows and
 * restore retries.  A required target's failure makes the run end with
 * exit 6 (finish_publish). */
static void publish_failed(struct run *r, struct run_step *s, int code)
{
	int idx = r->publish_idx - 1;
	const struct publish_target *t = idx >= 0 && (size_t)idx < r->ctx->store->npublish
		? &r->ctx->store->publish[idx] : NULL;

	r->publish_failed++;
	if (!t || t->required) {
		r->publish_failed_required++;
		if (!r->publish_error)
			r->publish_error = xstrdup(s->error);
	}
	cms_strv_push(&r->followups,
		  xasprintf("%s failed: %s; %s", s->description, s->error ? s->error : "?",
			    code == CMS_EREFUSED ? "the target holds a newer location: find out "
			    "which state wrote it before anything publishes there again"
			    : "'cmsctl restore' publishes it again"));
}

/* After a run that moved or re-asserted the location: exit 6 when a
 * required publish target is left behind. */
static int finish_publish(struct run *r, struct cms_error *err)
{
	if (!r->publish_failed_required)
		return 0;
	cms_error_set(err, CMS_EINTERRUPTED, "%zu required publish target%s failed (%s); the move "
		      "itself is done: store '%s' is at primary '%s', recorded as serial %" PRId64,
		      r->publish_failed_required, r->publish_failed_required == 1 ? "" : "s",
		      r->publish_error ? r->publish_error : "?", r->ctx->store->name,
		      r->pub_primary ? r->pub_primary : "-", r->serial_after);
	cms_error_hint(err, "'cmsctl status' lists it; 'cmsctl restore' publishes again once the "
		       "target is back; plan and apply are not blocked by it");
	return CMS_EINTERRUPTED;
}

/* Before any change: no target is given an older serial or another
 * lineage than it holds.  A target that cannot be read now (down) is let
 * through: its publish will fail and become a follow-up. */
static int check_publish_targets(struct run *r, struct cms_error *err)
{
	const struct store *st = r->ctx->store;
	struct published_location loc;
	size_t i;

	for (i = 0; i < r->nsteps && r->steps[i].action != ACTION_PUBLISH; i++)
		;
	if (r->nsteps && i == r->nsteps)
		return 0; /* this run publishes nothing */
	memset(&loc, 0, sizeof(loc));
	loc.store = st->name;
	loc.primary = r->pub_primary;
	loc.mirror = r->pub_mirror;
	loc.serial = r->pub_serial;
	loc.lineage = r->pub_lineage;
	for (i = 0; i < st->npublish; i++) {
		struct cms_error terr = CMS_ERROR_INIT;
		char *what = planner_describe_publish(&st->publish[i]);
		char *check = xasprintf("%s holds no newer serial and no other lineage", what);
		int rc = publish_check_target(&st->publish[i], st, &loc, &terr);

		if (!r->dry && rc != 0)
			add_check(&r->prechecks, &r->nprechecks, rc > 0, check, "%s%s",
				  rc > 0 ? "yes" : terr.code == CMS_EREFUSED ? "" : "not checked, the target "
				  "cannot be read now (its publish will fail and be left to retry): ",
				  rc > 0 ? "" : terr.message ? terr.message : "?");
		free(check);
		if (rc < 0 && terr.code == CMS_EREFUSED) {
			cms_error_move(err, &terr);
			cms_error_hint(err, "a publish never goes backwards: another state (or an older "
				       "run) must not overwrite it; if the target really is stale, "
				       "clear it by hand and plan again");
			free(what);
			return CMS_EREFUSED;
		}
		cms_error_clear(&terr);
		free(what);
	}
	return 0;
}

/* A signal is acted on between steps: the step in hand is finished,
 * never cut in the middle.  0 when none came. */
static int stop_requested(struct run *r, struct cms_error *err)
{
	int sig;

	if (!r->ctx->stop || !*r->ctx->stop)
		return 0;
	sig = (int)*r->ctx->stop;
	if (r->promote_started || r->committed)
		return cms_error_set(err, CMS_EINTERRUPTED, "interrupted by signal %d "
				     "(%s) after %s", sig, strsignal(sig),
				     r->promote_started ? "promotion began"
				     : "the new location was recorded");
	return cms_error_set(err, CMS_ERROR, "interrupted by signal %d (%s) before "
			     "any promotion%s", sig, strsignal(sig),
			     strcmp(r->kind, "apply") ? ""
			     : "; the run was rolled back");
}

/* What comes before step s starts: the signal check, the lease, and (for
 * the first publish) recording the new location. */
static int before_step(struct run *r, struct run_step *s, struct cms_error *err)
{
	int rc;

	if ((rc = stop_requested(r, err)) < 0 || (rc = renew_lock(r, err)) < 0)
		return rc;
	if (s->action == ACTION_PUBLISH && r->commit_hook && !r->committed) {
		if ((rc = r->commit_hook(r, err)) < 0)
			return rc;
		r->committed = true;
	}
	return 0;
}

/* Journals the end of step s (done) and the start of step next (running)
 * in one transaction, one sync: between two steps that both go ahead,
 * the journal is never at rest with s done and next still pending, and a
 * process killed there leaves s running (it ran) or next running (it may
 * not have started), as two separate writes could too.  next's
 * before_step ran already (and had no location to record: the first
 * publish is journaled on its own, after the commit hook).  On a failure
 * nothing of the two is written.
 *
 * The pair before a catch-up does not wait for its sync (a lazy batch):
 * it is inside the write-unavailable window, and nothing irreversible
 * waits on it.  It survives a SIGKILL at once; after a power loss before
 * the next write, the journal says the fence is running and the promotion
 * pending, which is what restore undoes, and rightly: the pair after the
 * catch-up (the promotion's start) is synced, with this one, before the
 * promotion is sent.  A catch-up only brings the target forward, which
 * no undo has to revert. */
static int journal_pair(struct run *r, struct run_step *s, struct run_step *next,
			struct cms_error *err)
{
	struct cms_error berr = CMS_ERROR_INIT;
	int rc;

	rc = next->action == ACTION_CATCH_UP ? state_batch_begin_lazy(r->ctx->state, err)
					     : state_batch_begin(r->ctx->state, err);
	if (rc < 0)
		return rc;
	if ((rc = journal_write(r, s, err)) == 0)
		rc = journal_write(r, next, err);
	if (state_batch_end(r->ctx->state, rc == 0, rc == 0 ? err : &berr) < 0 && rc == 0)
		rc = CMS_ERROR;
	cms_error_clear(&berr);
	if (rc < 0)
		return rc;
	journal_told(r, s);
	journal_told(r, next);
	return 0;
}

/* Runs steps from up to (not including) to; the commit hook, when it did
 * not run before a publish step, once the last step of the run is done. */
static int run_steps_to(struct run *r, size_t from, size_t to, struct cms_error *err)
{
	bool started = false; /* r->steps[i] is journaled running already */
	size_t i;
	int rc = 0;

	for (i = from; i < to; i++) {
		struct run_step *s = &r->steps[i];
		struct run_step *next = i + 1 < to ? &r->steps[i + 1] : NULL;
		int64_t t0;

		if (!started) {
			if ((rc = before_step(r, s, err)) < 0)
				return rc;
			s->status = STEP_RUNNING;
			cms_format_time_ms(s->started_at, now_ms());
			if ((rc = journal(r, s, err)) < 0)
				return rc;
		} else if ((rc = stop_requested(r, err)) < 0) {
			/* A signal after the pair was written (a watcher of the
			 * journal held it): s never started, and says so. */
			struct cms_error jerr = CMS_ERROR_INIT;

			s->status = STEP_PENDING;
			s->started_at[0] = '\0';
			if (journal(r, s, &jerr) < 0)
				cms_error_clear(&jerr);
			return rc;
		}
		started = false;
		t0 = cms_monotonic_ms();
		rc = exec_step(r, s, err);
		s->duration_ms = cms_monotonic_ms() - t0;
		take_statements(r, s);
		/* A step that may have changed a server: done, or failed after
		 * it sent something (a failure to connect changed nothing). */
		if ((s->action == ACTION_FENCE || s->action == ACTION_PROMOTE ||
		     s->action == ACTION_DEMOTE || s->action == ACTION_PUBLISH) &&
		    (rc == 0 || s->nstmts > 0))
			r->changed = true;
		if (rc < 0 && r->lock_lost)
			return rc; /* the run is another's now: nothing is journaled */
		if (rc < 0) {
			s->status = STEP_FAILED;
			s->error = xstrdup(err->message);
		} else {
			s->status = STEP_DONE;
		}
		/* The next step goes ahead: its start is journaled with this
		 * step's end.  Otherwise (a failure, a signal, the last step) this
		 * step's end alone, and the loop decides. */
		if (rc == 0 && next &&
		    !(next->action == ACTION_PUBLISH && r->commit_hook && !r->committed)) {
			struct cms_error berr = CMS_ERROR_INIT;

			if (before_step(r, next, &berr) == 0) {
				next->status = STEP_RUNNING;
				cms_format_time_ms(next->started_at, now_ms());
				if ((rc = journal_pair(r, s, next, err)) < 0) {
					next->status = STEP_PENDING;
					next->started_at[0] = '\0';
					return rc;
				}
				started = true;
				continue;
			}
			/* A signal, or a lease not renewed: this step's end alone,
			 * and the loop's own before_step says why (or renews on a
			 * second try).  A lock lost: nothing more is journaled. */
			if (r->lock_lost) {
				cms_error_move(err, &berr);
				return CMS_EINTERRUPTED;
			}
			cms_error_clear(&berr);
		}
		{
			struct cms_error jerr = CMS_ERROR_INIT;

			if (journal(r, s, &jerr) < 0 && rc == 0) {
				cms_error_move(err, &jerr);
				rc = CMS_ERROR;
			}
			cms_error_clear(&jerr);
		}
		if (rc < 0 && s->action == ACTION_PUBLISH && s->status == STEP_FAILED) {
			publish_failed(r, s, err->code);
			cms_error_clear(err);
			rc = 0;
			continue;
		}
		if (rc < 0)
			return rc;
	}
	if (to == r->nsteps && r->commit_hook && !r->committed) {
		if ((rc = r->commit_hook(r, err)) < 0)
			return rc;
		r->committed = true;
	}
	return 0;
}

static int run_steps(struct run *r, size_t from, struct cms_error *err)
{
	return run_steps_to(r, from, r->nsteps, err);
}

/* Steps that never ran after a failure are journaled as skipped. */
static void skip_pending(struct run *r)
{
	struct cms_error jerr = CMS_ERROR_INIT;
	size_t i;

	for (i = 0; i < r->nsteps; i++)
		if (r->steps[i].status == STEP_PENDING) {
			r->steps[i].status = STEP_SKIPPED;
			if (journal(r, &r->steps[i], &jerr) < 0)
				cms_error_clear(&jerr);
		}
}

/* The recorded location the run ends with (for the result and report). */
static void set_location(struct run *r, const char *primary, const char *mirror)
{
	free(r->loc_primary);
	free(r->loc_mirror);
	r->loc_primary = xstrdup(primary);
	r->loc_mirror = xstrdup(mirror);
}

static void collect_followups(struct run *r)
{
	size_t i;

	if (r->e)
		for (i = 0; i < r->e->nfollowups; i++)
			cms_strv_add(&r->followups, r->e->followups[i]);
	/* The plan's pending items hold only when its move was carried out:
	 * not after a restore that undid it (the old location stands). */
	if (r->p && !strcmp(r->outcome, "ok") && (!r->settled || !strcmp(r->settled, "finished")))
		for (i = 0; i < r->p->pending.n; i++)
			cms_strv_add(&r->followups, r->p->pending.v[i]);
}

static void fill_result(struct run *r, struct apply_result *out)
{
	size_t i;

	collect_followups(r);
	out->run_id = xstrdup(r->run_id);
	out->plan_id = xstrdup(r->plan_id);
	out->outcome = xstrdup(r->outcome);
	out->serial_after = r->serial_after;
	out->location_primary = xstrdup(r->loc_primary);
	out->location_mirror = xstrdup(r->loc_mirror);
	for (i = 0; i < r->followups.n; i++)
		cms_strv_add(&out->followups, r->followups.v[i]);
	for (i = 0; i < r->approvals.n; i++)
		cms_strv_add(&out->approvals, r->approvals.v[i]);
	report_build(r, &out->report_json, &out->report_html);
	out->subject = report_subject(r);
	{
		const char *ad_server, *ad_reason, *ad_by;

		if (report_attestation(r, &ad_server, &ad_reason, &ad_by)) {
			out->assume_down = xstrdup(ad_server);
			out->assume_down_reason = xstrdup(ad_reason);
		}
	}
	if (r->p) {
		out->reason = xstrdup(r->p->reason);
		out->ticket = xstrdup(r->p->ticket);
	}
}

static void init_run(struct run *r, const struct apply_ctx *ctx, const struct plan *p,
		     const char *plan_id, const char *kind)
{
	memset(r, 0, sizeof(*r));
	r->ctx = ctx;
	r->p = p;
	r->plan_id = plan_id;
	r->kind = kind;
	r->t_fence = -1;
	r->t_promoted = -1;
	r->w_promoted = -1;
	r->w_unfenced = -1;
	r->window_ms = -1;
	r->run_id = cms_random_hex(8);
	r->outcome = "failed";
	r->now = now_s();
	r->started = now_ms();
}

/* Closes the run in the state.  A close that fails leaves the run open
 * ("running"): the next restore closes it.  It is never swallowed: the
 * caller's rc becomes the close's error when the run was otherwise fine,
 * and a note on a run that failed anyway. */
static int finish_run(struct run *r, enum run_outcome outcome, int rc, struct cms_error *err)
{
	struct cms_error ferr = CMS_ERROR_INIT;

	r->outcome = run_outcome_name(outcome);
	r->finished = now_ms();
	if (state_run_finish(r->ctx->state, r->run_id, outcome, r->finished, &ferr) == 0) {
		r->closed = true;
	} else {
		cms_strv_push(&r->followups,
			  xasprintf("run %s could not be closed in the state (%s): 'cmsctl restore' "
				    "closes it", r->run_id, ferr.message ? ferr.message : "?"));
		if (rc == 0) {
			cms_error_move(err, &ferr);
			cms_error_prefix(err, "run %s is done (%s) but cannot be closed in the state",
					 r->run_id, r->outcome);
			cms_error_hint(err, "'cmsctl restore' closes it once the state is writable");
			err->code = CMS_EINTERRUPTED;
			rc = CMS_EINTERRUPTED;
		}
	}
	cms_error_clear(&ferr);
	return rc;
}

/* The commit_hook of apply: the new location into the state (lineage and
 * serial compare-and-swap, the plan consumed). */
static int commit_location(struct run *r, struct cms_error *err)
{
	const struct plan *p = r->p;
	int rc = state_commit(r->ctx->state, r->ctx->store->name, r->pub_lineage, r->serial_before,
			      p->to.primary, p->to.mirror, r->plan_id, r->run_id, now_s(),
			      &r->serial_after, err);

	if (rc == 0)
		set_location(r, p->to.primary, p->to.mirror);
	return rc;
}

/* The commit_hook of a restore that finishes an interrupted run: that
 * run's new location into the state before the first publish step, as
 * apply's, so that no target holds a location the state does not. */
static int commit_finished(struct run *r, struct cms_error *err)
{
	const struct plan *p = r->p;
	int rc = state_commit(r->ctx->state, r->ctx->store->name, r->pub_lineage, r->serial_before,
			      p->to.primary, p->to.mirror, r->plan_id, r->finishing_run, r->now,
			      &r->serial_after, err);

	if (rc == 0)
		set_location(r, p->to.primary, p->to.mirror);
	return rc;
}

/* Under the lock: a run of the store that never finished is restore's
 * first (CMS_EINTERRUPTED). */
static int refuse_unfinished(const struct apply_ctx *ctx, struct cms_error *err)
{
	struct run_info unfinished;
	int rc;

	memset(&unfinished, 0, sizeof(unfinished));
	rc = state_run_unfinished(ctx->state, ctx->store->name, &unfinished, err);
	if (rc == 0) {
		rc = applier_interrupted_error(&unfinished, ctx->store->name, err);
		run_info_free(&unfinished);
		return rc;
	}
	if (rc != CMS_ENOTFOUND)
		return rc;
	cms_error_clear(err);
	return 0;
}

/* The location the run starts from (rec) and the one its publish steps
 * assert. */
static void set_run_locations(struct run *r, const struct recorded *rec)
{
	const struct plan *p = r->p;

	r->serial_before = rec->exists ? rec->serial : 0;
	r->serial_after = r->serial_before;
	r->pub_primary = p->to.primary;
	r->pub_mirror = p->to.mirror;
	r->pub_serial = r->serial_before + 1;
	/* An adoption's lineage is made now, so that its publish steps carry
	 * the lineage the state will record. */
	if (!*p->lineage)
		r->fresh_lineage = cms_random_hex(16);
	r->pub_lineage = *p->lineage ? p->lineage : r->fresh_lineage;
	r->loc_primary = xstrdup(rec->primary);
	r->loc_mirror = xstrdup(rec->mirror);
}

/* Opens the engine and re-checks, before any change, what the plan
 * observed of the servers and of the publish targets. */
static int recheck_servers(struct run *r, struct cms_error *err)
{
	const struct apply_ctx *ctx = r->ctx;
	int rc;

	if ((rc = engine_open(&r->e, ctx->store, ctx->connect, ctx->connect_ctx, err)) < 0)
		return rc;
	r->e->on_database = ctx->on_database;
	r->e->on_database_arg = ctx->on_database_arg;
	r->e->may_change = lease_guard;
	r->e->may_change_arg = r;
	db_set_guard(lease_guard, r); /* every statement, too (run_free ends it) */
	if ((rc = recheck_observations(r, err)) < 0 || (rc = check_publish_targets(r, err)) < 0)
		return rc;
	/* The statements of the pre-run probe are not part of any step. */
	{
		struct db_stmt_log *l = NULL;
		size_t n = 0;

		engine_take_log(r->e, &l, &n);
		db_stmt_log_free(l, n);
	}
	return 0;
}

/* The run and every step of the plan (pending) into the journal. */
static int begin_journal(struct run *r, struct cms_error *err)
{
	const struct apply_ctx *ctx = r->ctx;
	const struct plan *p = r->p;
	struct cms_error berr = CMS_ERROR_INIT;
	size_t i;
	int rc;

	for (i = 0; i < p->nsteps; i++)
		add_run_step(r, p->steps[i].action, p->steps[i].server, p->steps[i].description);
	/* One transaction, one sync: the run and all its steps, or none. */
	if ((rc = state_batch_begin(ctx->state, err)) < 0)
		return rc;
	rc = state_run_begin(ctx->state, r->run_id, ctx->store->name, r->plan_id, RUN_APPLY,
			     ctx->operator_name, now_ms(), err);
	for (i = 0; rc == 0 && i < r->nsteps; i++)
		rc = journal_write(r, &r->steps[i], err);
	if (state_batch_end(ctx->state, rc == 0, rc == 0 ? err : &berr) < 0 && rc == 0)
		rc = CMS_ERROR;
	cms_error_clear(&berr);
	if (rc < 0) {
		report_run_free_steps(r); /* as before: a run never begun has no steps */
		return rc;
	}
	r->begun = true;
	if (r->ctx->stop_phase)
		*r->ctx->stop_phase = 1;
	for (i = 0; i < r->nsteps; i++)
		journal_told(r, &r->steps[i]);
	return 0;
}

/* A step failed (rc, err): after promotion, or once the new location is
 * recorded, the run stops and is left for restore (CMS_EINTERRUPTED);
 * before, the fence is undone and the run ends rolled back. */
static int stop_failed_apply(struct run *r, int rc, struct cms_error *err)
{
	const struct apply_ctx *ctx = r->ctx;
	struct cms_error cerr = CMS_ERROR_INIT;
	char *left;

	lost_before_failure(r, err);
	r->error = xstrdup(err->message);
	if (r->lock_lost) {
		/* Another run may hold the store now: this one neither rolls
		 * back nor journals (its journal may be closed by that run). */
		r->outcome = "interrupted";
		r->finished = now_ms();
		cms_error_set(err, CMS_EINTERRUPTED, "apply of plan %.12s stopped: %s", r->plan_id,
			      r->error);
		lost_lock_hint(err);
		return CMS_EINTERRUPTED;
	}
	if (r->promote_started || r->committed) {
		/* Never roll back after promotion, or once the new
		 * location is recorded: stop and leave it to restore. */
		r->outcome = "interrupted";
		r->finished = now_ms();
		cms_error_set(err, CMS_EINTERRUPTED, "apply of plan %.12s stopped after %s: %s",
			      r->plan_id, r->promote_started ? "promotion began"
			      : "the new location was recorded", r->error);
		cms_error_hint(err, "'cmsctl status' shows what is left; 'cmsctl restore' "
			       "finishes it%s", r->committed ? "" : " (once the state is writable, "
			       "when that is what failed)");
		return CMS_EINTERRUPTED;
	}
	left = roll_back_fence(r);
	if (r->lock_lost) {
		free(left);
		r->outcome = "interrupted";
		r->finished = now_ms();
		cms_error_set(err, CMS_EINTERRUPTED, "apply of plan %.12s stopped: %s; this run no "
			      "longer holds the store's lock and changes nothing more", r->plan_id,
			      r->error);
		lost_lock_hint(err);
		return CMS_EINTERRUPTED;
	}
	report_outside_fence(r);
	skip_pending(r);
	if (state_consume_plan(ctx->state, r->plan_id, ctx->store->name, r->run_id, now_s(), &cerr) < 0)
		cms_error_clear(&cerr);
	rc = finish_run(r, RUN_ROLLED_BACK, rc, err);
	if (left && rc != CMS_EINTERRUPTED) {
		/* A change is left behind (a server fenced, nobody taking
		 * writes if it was the primary): exit 6, as after any change
		 * that something is left to finish. */
		char *msg = xstrdup(err->message ? err->message : "apply failed");

		cms_error_set(err, CMS_EINTERRUPTED, "%s; the fence of '%s' could not be undone",
			      msg, left);
		cms_error_hint(err, "'cmsctl restore' undoes it once '%s' answers ('cmsctl status' "
			       "shows it)", left);
		free(msg);
		rc = CMS_EINTERRUPTED;
	}
	free(left);
	return rc;
}

int applier_apply(const struct apply_ctx *ctx, const struct plan *p, const char *plan_id,
		  struct apply_result *out, struct cms_error *err)
{
	struct run r;
	struct recorded rec;
	char *reason = xasprintf("apply plan %.12s", plan_id);
	int rc;

	memset(out, 0, sizeof(*out));
	memset(&rec, 0, sizeof(rec));
	init_run(&r, ctx, p, plan_id, "apply");
	r.operator_name = ctx->operator_name;
	if ((rc = take_lock(&r, reason, err)) < 0)
		goto done_unlocked;
	if (ctx->after_lock)
		ctx->after_lock(ctx->after_lock_arg);
	if ((rc = refuse_unfinished(ctx, err)) < 0 || (rc = check_plan_facts(&r, &rec, err)) < 0 ||
	    (ctx->level && (rc = ctx->level(ctx->level_arg, err)) < 0))
		goto done;
	set_run_locations(&r, &rec);
	if ((rc = check_approvals(&r, err)) < 0 || (rc = recheck_servers(&r, err)) < 0 ||
	    (rc = begin_journal(&r, err)) < 0) {
		/* Lost before anything began (stopped in the re-check): the
		 * lock is someone else's (4), or cannot be confirmed (1). */
		if (r.lock_lost && !r.begun)
			err->code = rc = r.lock_taken ? CMS_ELOCKED : CMS_ERROR;
		goto done;
	}

	r.commit_hook = commit_location;
	rc = run_steps(&r, 0, err);
	/* The run's close is a write to the journal too: not once another
	 * run took the store over (a process stopped after its last step). */
	if (rc == 0)
		rc = lease_guard(&r, err);
	if (rc < 0)
		rc = stop_failed_apply(&r, rc, err);
	else if ((rc = finish_run(&r, RUN_OK, 0, err)) == 0)
		rc = finish_publish(&r, err);
done:
	if (r.begun)
		fill_result(&r, out);
	/* A run closed in the state: what a signal can still stop is only
	 * its record.  (One left running, interrupted after its promotion
	 * began, is restore's, as the usual messages say.) */
	if (r.closed && ctx->stop_phase)
		*ctx->stop_phase = 2;
	/* A run that lost its lock is recorded by whoever holds the store
	 * now (from the journal), not by this process. */
	if (ctx->record && lease_for_record(&r, out, &rc, err))
		rc = ctx->record(ctx->record_arg, out, rc, err);
	else
		report_file_unrecorded(&r, out);
	release_lock(&r);
done_unlocked:
	recorded_free(&rec);
	run_free(&r);
	free(reason);
	return rc;
}

/* --- restore ------------------------------------------------------------------- */

static enum step_status journaled(const struct step_info *steps, size_t n, enum plan_action a)
{
	size_t i;
	enum step_status st = STEP_PENDING;

	for (i = 0; i < n; i++)
		if (!strcmp(steps[i].action, plan_action_name(a)) && steps[i].status != STEP_PENDING)
			st = steps[i].status;
	return st;
}


static void close_old_run(struct run *r, const struct run_info *old_run, enum run_outcome outcome,
			  bool consume)
{
	struct cms_error ferr = CMS_ERROR_INIT;

	if (consume && state_consume_plan(r->ctx->state, r->plan_id, r->ctx->store->name,
					  old_run->id, r->now, &ferr) < 0)
		cms_error_clear(&ferr);
	if (state_run_finish(r->ctx->state, old_run->id, outcome, now_ms(), &ferr) < 0)
		cms_error_clear(&ferr);
}

/* The step of the journal with action a that ran (neither pending nor
 * skipped), the first one; NULL when none did. */
static const struct step_info *journal_step(const struct step_info *steps, size_t n,
					    enum plan_action a)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (!strcmp(steps[i].action, plan_action_name(a)) && steps[i].status != STEP_PENDING &&
		    steps[i].status != STEP_SKIPPED)
			return &steps[i];
	return NULL;
}

/* The write-unavailable window of the interrupted run this restore closed:
 * from the start of that run's fence (its journal) to the promotion that
 * ended it (that run's, when its journal says it finished; this
 * restore's, when it finished one; else, as an upper bound, the moment
 * this restore saw the target promoted), or, when the run was undone, to
 * the undo of the fence.  Both ends are wall-clock milliseconds.  No fence
 * in the journal, or a fence nobody undid: no window. */
static void measure_closed_window(struct run *r, const struct run_info *old_run,
				  const struct step_info *steps, size_t n, bool forward,
				  bool finish_promote, int64_t seen_at)
{
	const struct step_info *f = journal_step(steps, n, ACTION_FENCE);
	const struct step_info *pr = journal_step(steps, n, ACTION_PROMOTE);
	int64_t from = -1, to = -1;
	char *what = NULL;
	char tf[32], tt[32];

	if (!f || !f->started_at || cms_parse_time_ms(&from, f->started_at) < 0)
		return;
	if (forward) {
		if (finish_promote && r->w_promoted >= 0) {
			to = r->w_promoted;
			what = xstrdup("the promotion this restore finished");
		} else if (pr && pr->status == STEP_DONE && pr->finished_at &&
			   cms_parse_time_ms(&to, pr->finished_at) == 0) {
			what = xasprintf("the promotion run %s finished", old_run->id);
		} else if (seen_at >= 0) {
			to = seen_at;
			what = xstrdup("when this restore found the target promoted (an upper bound: "
				       "the journal does not say when the promotion took)");
		}
	} else if (f->status == STEP_UNDONE && f->finished_at &&
		   cms_parse_time_ms(&to, f->finished_at) == 0) {
		what = xasprintf("the undo of the fence by run %s", old_run->id);
	} else if (r->w_unfenced >= 0) {
		to = r->w_unfenced;
		what = xstrdup("the undo of the fence by this restore");
	}
	if (!what || to < 0) {
		free(what);
		return;
	}
	r->window_ms = to > from ? to - from : 0;
	cms_format_time_ms(tf, from);
	cms_format_time_ms(tt, to);
	free(r->window_note);
	r->window_note = xasprintf("from the fence of run %s at %s to %s at %s", old_run->id, tf,
				   what, tt);
	add_check(&r->steps[0].checks, &r->steps[0].nchecks, true, "write-unavailable window of "
		  "the run closed", "%" PRId64 " ms, %s", r->window_ms, r->window_note);
	free(what);
}

/* Finishes or undoes an interrupted apply.  The servers, not the journal,
 * decide whether a promotion took: a journal can say "running" for a
 * promotion that completed just before the process died, and a target that
 * cannot be seen is never assumed either way (restore_decide.h has the
 * decision table). */
static int restore_interrupted(struct run *r, const struct run_info *old_run,
			       const struct recorded *rec, struct cms_error *err)
{
	const struct plan *p = r->p;
	struct step_info *steps = NULL;
	struct observation obs;
	const struct server_obs *t, *old, *rp;
	size_t nsteps = 0, i;
	enum step_status promote, fence;
	enum restore_way way;
	enum restore_attest attest = ATTEST_OK;
	bool consumed = false, finish_promote = false;
	size_t kept = 0; /* after the step that keeps the target a copy; 0: none */
	bool unfencing = false, republish = false;
	int64_t seen_at;
	char *desc;
	int rc;

	memset(&obs, 0, sizeof(obs));
	if ((rc = state_run_steps(r->ctx->state, old_run->id, &steps, &nsteps, err)) < 0)
		return rc;
	if ((rc = state_plan_consumed(r->ctx->state, r->plan_id, &consumed, err)) < 0)
		goto done;
	promote = journaled(steps, nsteps, ACTION_PROMOTE);
	fence = journaled(steps, nsteps, ACTION_FENCE);
	if (!r->dry) /* not in the preview */
		engine_database_done(r->e, "probe", "", ""); /* a test build's hold */
	if ((rc = probe(r, &obs, err)) < 0)
		goto done;
	seen_at = now_ms();
	t = p->to.primary ? observation_find(&obs, p->to.primary) : NULL;
	old = p->from.primary ? observation_find(&obs, p->from.primary) : NULL;

	{
		struct restore_facts f = {
			.consumed = consumed, .recorded = rec->exists, .recorded_serial = rec->serial,
			.recorded_primary = rec->primary, .mode = p->mode, .plan_serial = p->serial,
			.to_primary = p->to.primary, .promote = promote,
			.demote = journaled(steps, nsteps, ACTION_DEMOTE), .target = t,
		};

		way = restore_decide(&f);
		if (r->ctx->assume_down)
			attest = restore_attest(&f, r->ctx->assume_down, way);
	}
	if (way == RESTORE_FINISH_PROMOTE) {
		way = RESTORE_FORWARD;
		finish_promote = true;
	}
	if (r->ctx->assume_down) {
		/* The operator's attestation, for the one case it decides
		 * (restore_attest): the target does not answer, so whether it
		 * took the promotion cannot be read; attested down, the run is
		 * undone. */
		const char *ad = r->ctx->assume_down;

		switch (attest) {
		case ATTEST_NOT_TARGET:
			rc = cms_error_set(err, CMS_EREFUSED, "--assume-down '%s': only the target of the "
					   "interrupted run can be attested down, and run %s's target is "
					   "'%s'", ad, old_run->id, p->to.primary ? p->to.primary : "none");
			break;
		case ATTEST_ANSWERS:
			rc = cms_error_set(err, CMS_EREFUSED, "--assume-down '%s': it answers (reports %s), "
					   "so it is not down", ad, t ? obs_role_name(t->role) : "nothing");
			break;
		case ATTEST_PART_ANSWERS:
			rc = cms_error_set(err, CMS_EREFUSED, "--assume-down '%s': part of it answers (%s), "
					   "so it is not down", ad, t && t->error ? t->error : "?");
			break;
		case ATTEST_PROMOTION_TOOK:
			rc = cms_error_set(err, CMS_EREFUSED, "--assume-down '%s': the journal of run %s "
					   "says its promotion took (promote %s): an attestation undoes only "
					   "a promotion that may not have taken", ad, old_run->id,
					   step_status_name(promote));
			break;
		case ATTEST_NOT_NEEDED:
			rc = cms_error_set(err, CMS_EREFUSED, "--assume-down '%s' is not needed: the journal "
					   "of run %s (promote %s) settles it without", ad, old_run->id,
					   step_status_name(promote));
			break;
		case ATTEST_OK:
			break;
		}
		if (rc < 0) {
			cms_error_hint(err, "nothing was changed; 'cmsctl restore --dry-run' without "
				       "--assume-down shows what restore would do");
			goto done;
		}
		way = RESTORE_UNDO;
		r->attested = true;
	}
	if (way == RESTORE_UNKNOWN) {
		cms_error_set(err, CMS_EREFUSED, "cannot tell whether the promotion of '%s' in run %s "
			      "took effect: it reports %s", p->to.primary, old_run->id,
			      t ? (t->reachable ? obs_role_name(t->role) : "unreachable") : "nothing");
		cms_error_hint(err, "bring '%s' back (or check each database by hand), then run "
			       "'cmsctl restore' again; nothing was changed.  If it is lost for good, "
			       "'cmsctl restore --assume-down %s --reason TEXT' undoes the run",
			       p->to.primary, p->to.primary);
		rc = CMS_EREFUSED;
		goto done;
	}

	desc = xasprintf("read the journal of run %s (fence %s, promote %s): %s", old_run->id,
			 step_status_name(fence), step_status_name(promote),
			 way == RESTORE_FINISHED ? "the new location was already recorded: finish what followed"
			 : way == RESTORE_FORWARD && finish_promote ? "the target took the promotion on "
			 "some of the store's databases: promote the rest and finish the run"
			 : way == RESTORE_FORWARD ? "the target took the promotion: finish the run"
			 : way == RESTORE_CLOSE ? "an adoption changes no server: close the run"
			 : r->attested ? "the target does not answer and is attested down: undo the run"
			 : "the promotion did not take: undo the run");
	{
		/* The first step; later add_run_step calls may move the array. */
		struct run_step *first = add_run_step(r, ACTION_RECORD, NULL, desc);

		add_check(&first->checks, &first->nchecks, true, "target role now", "%s",
			  t ? (t->reachable ? obs_role_name(t->role) : "unreachable") : "-");
		if (r->attested)
			add_check(&first->checks, &first->nchecks, true, "attested down by the operator",
				  "%s: %s", r->ctx->operator_name ? r->ctx->operator_name : "?",
				  r->ctx->assume_down_reason ? r->ctx->assume_down_reason : "");
	}
	free(desc);
	if (r->attested)
		cms_strv_push(&r->followups,
			  xasprintf("%s was attested down by %s (%s): if it took the promotion before it "
				    "was lost, it must not come back as a primary; re-seed it from %s",
				    p->to.primary, r->ctx->operator_name ? r->ctx->operator_name : "?",
				    r->ctx->assume_down_reason ? r->ctx->assume_down_reason : "",
				    p->from.primary ? p->from.primary : "the recorded primary"));

	if (way == RESTORE_FORWARD || way == RESTORE_FINISHED) {
		r->pub_primary = p->to.primary;
		r->pub_mirror = p->to.mirror;
		r->pub_serial = way == RESTORE_FINISHED ? rec->serial : (rec->exists ? rec->serial : 0) + 1;
		r->pub_lineage = *p->lineage ? p->lineage : rec->exists ? rec->lineage : NULL;
		if (fence != STEP_PENDING && p->from.primary)
			r->fenced = xstrdup(p->from.primary);
		r->promote_started = true;
		if (finish_promote)
			add_run_step(r, ACTION_PROMOTE, p->to.primary,
				     "promote the databases of the target that are not primary yet");
		add_run_step(r, ACTION_REREAD_ROLES, NULL, "re-read every server's role");
		if (r->fenced)
			add_run_step(r, ACTION_DEMOTE, p->from.primary, "make the old primary a copy of the new one");
		add_publish_run_steps(r, "publish the new location to");
		add_run_step(r, ACTION_VERIFY, NULL, "verify the new location end to end");
	} else {
		unfencing = way == RESTORE_UNDO && fence != STEP_PENDING && fence != STEP_UNDONE &&
			    p->from.primary && old && old->reachable;
		rp = rec->exists ? observation_find(&obs, rec->primary) : NULL;
		/* The recorded location is published again when its primary
		 * takes writes, or will once its fence is undone. */
		republish = rec->exists &&
			    (server_obs_writable(rp) ||
			     (rp && rp->reachable && unfencing && !strcmp(rec->primary, p->from.primary)));
		/* A promotion asked for may still be taken (postgresql: the
		 * startup process promotes once it gets to it): before the old
		 * primary takes writes again, the target is kept read-only, and
		 * the old run is closed only once it is, so that a restore that
		 * cannot keep it leaves the run for the next one to decide.  (An
		 * old primary left fenced is unfenced by a later restore, which
		 * re-fences first any other server that takes writes and keeps
		 * this target read-only: keep_pending_targets.) */
		if ((unfencing || republish) && promote != STEP_PENDING && !r->attested &&
		    r->e->ops->keep_copy && t && t->reachable &&
		    (!rec->exists || strcmp(rec->primary, p->to.primary))) {
			char *d = xasprintf("keep %s read-only: the promotion run %s asked for may "
					    "still complete", p->to.primary, old_run->id);
			struct run_step *s = add_run_step(r, ACTION_FENCE, p->to.primary, d);

			s->keep = true;
			kept = r->nsteps;
			free(d);
		}
		/* The old run is settled first, so that whatever follows cannot
		 * leave the store stuck behind it. */
		if (!r->dry && !kept) {
			/* Not over another run's close: the lease first. */
			if ((rc = lease_guard(r, err)) < 0)
				goto done;
			close_old_run(r, old_run, RUN_ROLLED_BACK, true);
		}
		r->settled = "undid";
		r->pub_primary = rec->exists ? rec->primary : NULL;
		r->pub_mirror = rec->exists ? rec->mirror : NULL;
		r->pub_serial = rec->exists ? rec->serial : 0;
		r->pub_lineage = rec->exists ? rec->lineage : NULL;
		if (way == RESTORE_UNDO && fence != STEP_PENDING && fence != STEP_UNDONE &&
		    p->from.primary) {
			if (old && old->reachable) {
				struct run_step *s = add_run_step(r, ACTION_FENCE, p->from.primary,
								  "undo the fence of the old primary");
				s->undo = true;
			} else {
				cms_strv_push(&r->followups,
					  xasprintf("%s was unreachable: its fence could not be undone; "
						    "run 'cmsctl restore' once it is back", p->from.primary));
				r->fence_left = p->from.primary;
			}
		}
		if (republish) {
			add_publish_run_steps(r, "re-publish the recorded location to");
			add_run_step(r, ACTION_VERIFY, NULL, "verify the recorded location");
		} else if (rec->exists) {
			cms_strv_push(&r->followups,
				  xasprintf("the recorded primary %s does not take writes (%s): plan a move "
					    "to a server that can", rec->primary,
					    rp ? (rp->reachable ? obs_role_name(rp->role) : "unreachable") : "-"));
		}
		if (r->attested)
			cms_strv_push(&r->followups,
				  xasprintf("run %s was closed by restore on the attestation that %s is "
					    "down; plan again to retry", old_run->id, p->to.primary));
		else if (!kept || r->dry)
			cms_strv_push(&r->followups,
				  xasprintf("run %s was closed by restore before any promotion took "
					    "effect; plan again to retry", old_run->id));
	}
	if ((rc = check_publish_targets(r, err)) < 0 || r->dry)
		goto done;
	for (i = 0; i < r->nsteps; i++)
		if ((rc = journal(r, &r->steps[i], err)) < 0)
			goto done;
	r->steps[0].status = STEP_DONE;
	if ((rc = journal(r, &r->steps[0], err)) < 0)
		goto done;
	if (kept) {
		if ((rc = run_steps_to(r, 1, kept, err)) < 0 || (rc = lease_guard(r, err)) < 0)
			goto done;
		/* Said once it held (a failed keep says its own error). */
		cms_strv_push(&r->followups,
			  xasprintf("%s was made read-only (default_transaction_read_only) in "
				    "case the promotion run %s asked for still completes: if it "
				    "ever reports primary, re-seed it from %s", p->to.primary,
				    old_run->id, p->from.primary ? p->from.primary
				    : "the recorded primary"));
		close_old_run(r, old_run, RUN_ROLLED_BACK, true);
		cms_strv_push(&r->followups,
			  xasprintf("run %s was closed by restore before any promotion took "
				    "effect; plan again to retry", old_run->id));
	}
	if (way == RESTORE_FORWARD) {
		r->finishing_run = old_run->id;
		r->commit_hook = commit_finished;
	}
	if ((rc = run_steps(r, kept ? kept : 1, err)) < 0)
		goto done;
	if ((way == RESTORE_FORWARD || way == RESTORE_FINISHED) && (rc = lease_guard(r, err)) < 0)
		goto done;
	if (way == RESTORE_FORWARD || way == RESTORE_FINISHED) {
		set_location(r, p->to.primary, p->to.mirror);
		close_old_run(r, old_run, RUN_RESTORED, false);
		r->settled = "finished";
		cms_strv_push(&r->followups,
			  xasprintf("run %s was finished by restore: %s is the primary", old_run->id,
				    p->to.primary));
	}
	measure_closed_window(r, old_run, steps, nsteps, way == RESTORE_FORWARD ||
			      way == RESTORE_FINISHED, finish_promote, seen_at);
	if (r->window_ms >= 0 && (rc = journal(r, &r->steps[0], err)) < 0)
		goto done;
done:
	for (i = 0; i < nsteps; i++)
		step_info_free(&steps[i]);
	free(steps);
	observation_free(&obs);
	return rc;
}

/* No interrupted run: re-assert the recorded location as it stands. */
/* Whether the journal's detail of a promote step has the check that its
 * failure changed nothing (promote_changed_nothing, passed): the promotion
 * was refused or never sent, and the run was rolled back by apply itself. */
static bool promote_sent_nothing(const char *detail_json)
{
	json_t *o, *checks, *c;
	size_t i;
	bool yes = false;

	if (!detail_json || !(o = json_loads(detail_json, 0, NULL)))
		return false;
	checks = json_object_get(o, "checks");
	json_array_foreach(checks, i, c) {
		const char *name = json_string_value(json_object_get(c, "check"));

		if (name && (!strcmp(name, CHECK_PROMOTE_CHANGED_NOTHING) ||
			     !strcmp(name, "the refusal changed nothing") /* its name before */) &&
		    json_is_true(json_object_get(c, "ok")))
			yes = true;
	}
	json_decref(o);
	return yes;
}

/* restore_recorded, before it unfences the recorded primary: a server
 * whose promotion an undone run asked for may still take it (postgresql:
 * its startup process promotes once it gets to it), and an undo that
 * could not reach the old primary kept nothing (the target might have had
 * to serve).  Each such server that still reads as a copy is kept
 * read-only first (engine keep_copy).  The runs looked at are the store's
 * newest ones, back to its last successful apply (at most
 * RECENT_RUNS_MAX). */
#define RECENT_RUNS_MAX 50
static void keep_pending_targets(struct run *r, const struct recorded *rec,
				 const struct observation *obs)
{
	struct cms_error lerr = CMS_ERROR_INIT;
	struct run_info *runs = NULL;
	size_t nruns = 0, k, seen = 0;
	struct cms_strv kept = CMS_STRV_INIT;

	if (!r->e->ops->keep_copy ||
	    state_run_list(r->ctx->state, r->ctx->store->name, &runs, &nruns, &lerr) < 0) {
		cms_error_clear(&lerr);
		return;
	}
	for (k = nruns; k-- > 0 && seen++ < RECENT_RUNS_MAX;) {
		struct step_info *steps = NULL;
		size_t nsteps = 0, j;

		if (runs[k].kind && !strcmp(runs[k].kind, "apply") && runs[k].outcome &&
		    !strcmp(runs[k].outcome, run_outcome_name(RUN_OK)))
			break;
		if (!runs[k].outcome || strcmp(runs[k].outcome, run_outcome_name(RUN_ROLLED_BACK)) ||
		    state_run_steps(r->ctx->state, runs[k].id, &steps, &nsteps, &lerr) < 0) {
			cms_error_clear(&lerr);
			continue;
		}
		for (j = 0; j < nsteps; j++) {
			const struct server_obs *o;
			struct run_step *s;
			char *d;

			if (!steps[j].action || strcmp(steps[j].action, plan_action_name(ACTION_PROMOTE)) ||
			    steps[j].status == STEP_PENDING || steps[j].status == STEP_SKIPPED ||
			    !steps[j].server || !strcmp(steps[j].server, rec->primary) ||
			    cms_strv_contains(&kept, steps[j].server) ||
			    promote_sent_nothing(steps[j].detail_json))
				continue;
			o = observation_find(obs, steps[j].server);
			if (!o || !o->reachable || (o->role != OBS_MIRROR && o->role != OBS_BACKUP) ||
			    o->read_only)
				continue;
			d = xasprintf("keep %s read-only: the promotion run %s asked for may still "
				      "complete", steps[j].server, runs[k].id);
			s = add_run_step(r, ACTION_FENCE, steps[j].server, d);
			s->keep = true;
			free(d);
			cms_strv_add(&kept, steps[j].server);
		}
		step_info_list_free(steps, nsteps);
	}
	for (k = 0; k < nruns; k++)
		run_info_free(&runs[k]);
	free(runs);
	cms_strv_free(&kept);
}

static int restore_recorded(struct run *r, const struct recorded *rec, struct cms_error *err)
{
	struct observation obs;
	const struct server_obs *rp;
	size_t i;
	int rc;

	memset(&obs, 0, sizeof(obs));
	if (!rec->exists)
		return cms_error_set(err, CMS_EREFUSED, "store '%s' has no recorded location to restore",
				     r->ctx->store->name);
	if ((rc = probe(r, &obs, err)) < 0)
		goto done;
	rp = observation_find(&obs, rec->primary);
	if (!rp || !rp->reachable) {
		cms_error_set(err, CMS_EREFUSED, "the recorded primary '%s' is unreachable: %s",
			      rec->primary, rp && rp->error ? rp->error : "not probed");
		cms_error_hint(err, "restore re-asserts a location that can serve; plan a failover instead");
		rc = CMS_EREFUSED;
		goto done;
	}
	if (rp->role != OBS_PRIMARY && rp->role != OBS_FENCED) {
		cms_error_set(err, CMS_EREFUSED, "the recorded primary '%s' reports %s: restore "
			      "cannot make it primary again", rec->primary, obs_role_name(rp->role));
		cms_error_hint(err, "adopt what the servers report with 'cmsctl plan --accept-drift', "
			       "or plan a move");
		rc = CMS_EREFUSED;
		goto done;
	}
	r->pub_primary = rec->primary;
	r->pub_mirror = rec->mirror;
	r->pub_serial = rec->serial;
	r->pub_lineage = rec->lineage;
	for (i = 0; i < obs.nservers; i++) {
		const struct server_obs *o = &obs.servers[i];

		if (server_obs_writable(o) && strcmp(o->server, rec->primary)) {
			char *d = xasprintf("re-fence %s: it reports primary but the record says %s",
					    o->server, rec->primary);
			add_run_step(r, ACTION_FENCE, o->server, d);
			free(d);
		}
	}
	if (rp->role == OBS_FENCED || rp->read_only) {
		struct run_step *s;

		keep_pending_targets(r, rec, &obs);
		s = add_run_step(r, ACTION_FENCE, rec->primary, "unfence the recorded primary");
		s->undo = true;
	}
	add_publish_run_steps(r, "re-publish the recorded location to");
	add_run_step(r, ACTION_VERIFY, NULL, "verify the recorded location");
	/* A state behind its targets (restored from a backup, say) must not
	 * re-assert its older location: refused before any change. */
	if ((rc = check_publish_targets(r, err)) < 0 || r->dry)
		goto done;
	for (i = 0; i < r->nsteps; i++)
		if ((rc = journal(r, &r->steps[i], err)) < 0)
			goto done;
	rc = run_steps(r, 0, err);
	/* Said of each kept server, whatever failed after it. */
	for (i = 0; i < r->nsteps; i++)
		if (r->steps[i].keep && r->steps[i].status == STEP_DONE)
			cms_strv_push(&r->followups,
				  xasprintf("%s was made read-only (default_transaction_read_only) in "
					    "case a promotion asked for earlier still completes: if it "
					    "ever reports primary, re-seed it from %s", r->steps[i].server,
					    rec->primary));
done:
	observation_free(&obs);
	return rc;
}

/* Forgets what a preview pass decided (its steps, and the follow-ups
 * after the first keep), for the pass that does it. */
static void reset_decision(struct run *r, size_t keep)
{
	report_run_free_steps(r);
	cms_strv_truncate(&r->followups, keep);
	free(r->fenced);
	r->fenced = NULL;
	r->fence_left = NULL; /* the old primary may answer the real pass */
	r->promote_started = false;
	r->attested = false;
	r->dry = false;
}

/* The preview pass of restore: decides the steps without changing
 * anything, and hands them to ctx->confirm. */
static int restore_preview(struct run *r, const struct run_info *old_run, const struct recorded *rec,
			   struct cms_error *err)
{
	struct apply_step_event *ev;
	size_t i, keep = r->followups.n;
	int rc;

	r->dry = true;
	rc = old_run->id ? restore_interrupted(r, old_run, rec, err) : restore_recorded(r, rec, err);
	if (rc < 0) {
		reset_decision(r, keep);
		return rc;
	}
	ev = xcalloc(r->nsteps ? r->nsteps : 1, sizeof(*ev));
	for (i = 0; i < r->nsteps; i++) {
		ev[i].n = r->steps[i].n;
		ev[i].total = r->nsteps;
		ev[i].action = plan_action_name(r->steps[i].action);
		ev[i].server = r->steps[i].server;
		ev[i].description = r->steps[i].description;
		ev[i].status = STEP_PENDING;
	}
	rc = r->ctx->confirm(r->ctx->confirm_arg, ev, r->nsteps, r->followups.v, r->followups.n, err);
	free(ev);
	reset_decision(r, keep);
	return rc;
}

int applier_restore(const struct apply_ctx *ctx, struct apply_result *out, struct cms_error *err)
{
	struct run r;
	struct recorded rec;
	struct run_info old_run;
	struct plan *p = NULL;
	char plan_id[41] = "";
	int rc;

	memset(out, 0, sizeof(*out));
	memset(&rec, 0, sizeof(rec));
	memset(&old_run, 0, sizeof(old_run));
	init_run(&r, ctx, NULL, NULL, "restore");
	r.operator_name = ctx->operator_name;
	if ((rc = take_lock(&r, "restore", err)) < 0)
		goto done_unlocked;
	if ((ctx->level && (rc = ctx->level(ctx->level_arg, err)) < 0) ||
	    (rc = state_read_store(ctx->state, ctx->store->name, &rec, err)) < 0)
		goto done;
	r.serial_before = rec.exists ? rec.serial : 0;
	r.serial_after = r.serial_before;
	r.loc_primary = xstrdup(rec.primary);
	r.loc_mirror = xstrdup(rec.mirror);
	/* Under the lock, every unfinished run is a dead one.  A dead restore
	 * is closed (restore is idempotent: this one does its work again); a
	 * dead apply is what this restore settles.  (Closing a dead restore
	 * is bookkeeping under the lock: a preview does it too.) */
	for (;;) {
		run_info_free(&old_run);
		memset(&old_run, 0, sizeof(old_run));
		rc = state_run_unfinished(ctx->state, ctx->store->name, &old_run, err);
		if (rc == CMS_ENOTFOUND) {
			cms_error_clear(err);
			break;
		}
		if (rc < 0)
			goto done;
		if (!strcmp(old_run.kind, "apply"))
			break;
		if ((rc = state_run_finish(ctx->state, old_run.id, RUN_INTERRUPTED, now_ms(), err)) < 0)
			goto done;
		cms_strv_push(&r.followups,
			  xasprintf("closed %s run %s, which was interrupted", old_run.kind, old_run.id));
	}
	if (old_run.id) {
		if (!old_run.plan_id || !ctx->load_plan) {
			rc = cms_error_set(err, CMS_ERROR, "interrupted run '%s' names no plan that can be read",
					   old_run.id);
			goto done;
		}
		if ((rc = ctx->load_plan(ctx->load_plan_arg, old_run.plan_id, &p, plan_id, err)) < 0)
			goto done;
		if (strcmp(plan_id, old_run.plan_id) || strcmp(p->store, ctx->store->name)) {
			rc = cms_error_set(err, CMS_ERROR, "the plan found for run '%s' is not plan %s",
					   old_run.id, old_run.plan_id);
			goto done;
		}
		r.p = p;
		r.plan_id = plan_id;
	} else if (ctx->assume_down) {
		rc = cms_error_set(err, CMS_EREFUSED, "--assume-down '%s': store '%s' has no "
				   "interrupted run to settle", ctx->assume_down, ctx->store->name);
		cms_error_hint(err, "nothing was changed; to move the store off a lost server, "
			       "'cmsctl plan --assume-down %s --reason TEXT'", ctx->assume_down);
		goto done;
	}
	if ((rc = engine_open(&r.e, ctx->store, ctx->connect, ctx->connect_ctx, err)) < 0)
		goto done;
	r.e->on_database = ctx->on_database;
	r.e->on_database_arg = ctx->on_database_arg;
	r.e->may_change = lease_guard;
	r.e->may_change_arg = &r;
	db_set_guard(lease_guard, &r);
	/* The prompt can wait on the operator past the lease. */
	if (ctx->confirm)
		rc = restore_preview(&r, &old_run, &rec, err);
	if (rc == 0)
		rc = lease_guard(&r, err);
	if (rc < 0) {
		/* Nothing of this restore began: a lock taken over is someone
		 * else's (4); one that cannot be confirmed is an error (1). */
		if (r.lock_lost)
			err->code = rc = r.lock_taken ? CMS_ELOCKED : CMS_ERROR;
		goto done;
	}
	if ((rc = state_run_begin(ctx->state, r.run_id, ctx->store->name, r.plan_id, RUN_RESTORE,
				  ctx->operator_name, now_ms(), err)) < 0)
		goto done;
	r.begun = true;
	if (ctx->stop_phase)
		*ctx->stop_phase = 1;
	if (r.e->ops->tidy && (rc = r.e->ops->tidy(r.e, err)) < 0) {
		r.error = xstrdup(err->message);
		finish_run(&r, RUN_FAILED, rc, err);
		goto done;
	}
	if (old_run.id)
		rc = restore_interrupted(&r, &old_run, &rec, err);
	else
		rc = restore_recorded(&r, &rec, err);
	if (rc == 0)
		rc = lease_guard(&r, err); /* before the run's close, as apply */
	/* Before the failure is journaled, as apply (stop_failed_apply). */
	if (rc < 0 && !r.lock_lost && lost_before_failure(&r, err))
		rc = CMS_EINTERRUPTED;
	if (rc < 0 && r.lock_lost) {
		/* Whatever an engine made of the refusal (a server "unreachable"),
		 * the cause is the lock: exit 6, as apply. */
		r.error = xstrdup(err->message);
		r.outcome = "interrupted";
		r.finished = now_ms();
		cms_error_set(err, CMS_EINTERRUPTED, "restore stopped: %s%s", r.error,
			      strstr(r.error, "changes nothing more") ? "" : "; this run no longer "
			      "holds the store's lock and changes nothing more");
		lost_lock_hint(err);
		rc = CMS_EINTERRUPTED;
		goto done;
	}
	if (rc < 0) {
		r.error = xstrdup(err->message);
		skip_pending(&r);
		rc = finish_run(&r, RUN_FAILED, rc, err);
		if (r.changed && rc != CMS_EINTERRUPTED) {
			/* It changed servers before it failed: something is left
			 * (exit 6, as after an apply's change); a restore again
			 * converges. */
			char *msg = xstrdup(err->message ? err->message : "restore failed");

			cms_error_set(err, CMS_EINTERRUPTED, "restore stopped after it may have changed "
				      "servers: %s", msg);
			cms_error_hint(err, "'cmsctl status' shows where the store stands; 'cmsctl "
				       "restore' again finishes the job once the cause is fixed");
			free(msg);
			rc = CMS_EINTERRUPTED;
		}
		goto done;
	}
	if ((rc = finish_run(&r, RUN_OK, 0, err)) == 0)
		rc = finish_publish(&r, err);
	if (rc == 0 && r.fence_left) {
		/* The run is settled, but a change is left: the old primary
		 * stays fenced until it answers again (exit 6, as apply). */
		cms_error_set(err, CMS_EINTERRUPTED, "restore settled the interrupted run, but the "
			      "fence of '%s' could not be undone: it was unreachable", r.fence_left);
		cms_error_hint(err, "run 'cmsctl restore' again once '%s' answers", r.fence_left);
		rc = CMS_EINTERRUPTED;
	}
done:
	if (r.begun)
		fill_result(&r, out);
	/* A run closed in the state: what a signal can still stop is only
	 * its record.  (One left running, interrupted after its promotion
	 * began, is restore's, as the usual messages say.) */
	if (r.closed && ctx->stop_phase)
		*ctx->stop_phase = 2;
	if (ctx->record && lease_for_record(&r, out, &rc, err))
		rc = ctx->record(ctx->record_arg, out, rc, err);
	else
		report_file_unrecorded(&r, out);
	release_lock(&r);
done_unlocked:
	run_info_free(&old_run);
	recorded_free(&rec);
	run_free(&r);
	plan_free(p);
	return rc;
}
