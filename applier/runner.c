/*
 * Apply and restore from their request to their record (runner.h): the
 * checks a saved plan must pass before any run, the history made level
 * with the state and checked writable, the run itself (apply.c), and the
 * commit of its report and location.  cmd/ used to do these in its command
 * files; here they are one path that every caller takes.
 */
#include "applier/runner.h"
#include "applier/engine.h"
#include "applier/planning.h"
#include "applier/publish.h"
#include "applier/record.h"
#include "applier/run.h"
#include "common/util.h"
#include "state/approval.h"
#include "state/level.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void applier_note(const struct applier_env *env, const char *fmt, ...)
{
	struct buf b = BUF_INIT;
	va_list ap;

	if (!env->note)
		return;
	va_start(ap, fmt);
	buf_vaddf(&b, fmt, ap);
	va_end(ap);
	env->note(env->arg, b.ptr ? b.ptr : "");
	buf_free(&b);
}

int64_t applier_lease_s(const struct store *st)
{
	int64_t longest = st->policy.catch_up_timeout_ms;
	size_t i;

	if (st->policy.query_timeout_ms > longest)
		longest = st->policy.query_timeout_ms;
	for (i = 0; i < st->npublish; i++)
		if (st->publish[i].kind == PUBLISH_COMMAND && st->publish[i].timeout_ms > longest)
			longest = st->publish[i].timeout_ms;
	for (i = 0; i < st->nservers; i++) {
		int64_t all = 0;
		size_t j;

		for (j = 0; j < st->servers[i].nfence; j++)
			all += st->servers[i].fence[j].timeout_ms;
		if (all > longest)
			longest = all;
	}
#ifdef CMSCTL_TEST_BUILD
	/* A test build's short lease, for tests of a process stopped past it. */
	{
		const char *t = getenv("CMSCTL_TEST_LEASE_S");

		if (t && atoi(t) > 0)
			return atoi(t);
	}
#endif
	return 900 + 2 * longest / 1000;
}

int applier_find_plan(const struct applier_env *env, struct history *h, const char *id,
		      char **data, size_t *len, struct cms_error *err)
{
	int rc = history_find_plan(h, id, data, len, err);

	if (rc == CMS_ENOTFOUND) {
		cms_error_set(err, CMS_ERROR, "no plan '%s' in the history at '%s'", id,
			      env->history_path);
		cms_error_hint(err, "'cmsctl history' lists the plans saved there; a plan saved with "
			       "another history needs --history PATH");
	}
	return rc;
}

int applier_check_in_history(const struct applier_env *env, const char *ref, const char *id,
			     struct cms_error *err)
{
	struct history *h = NULL;
	char *data = NULL;
	size_t len = 0;
	int rc;

	if ((rc = env->open_history(env->arg, false, &h, err)) < 0)
		return rc;
	rc = history_find_plan(h, id, &data, &len, err);
	if (rc == CMS_ENOTFOUND) {
		cms_error_set(err, CMS_ESTALE, "plan file '%s' (id %s) is not in the history at '%s': "
			      "it was changed after it was saved, or saved with another history, or "
			      "not saved with 'cmsctl plan -o'", ref, id, env->history_path);
		cms_error_hint(err, "pass --history PATH if it was saved with another history; "
			       "otherwise make and review a new plan with 'cmsctl plan -o FILE'");
	}
	free(data);
	history_close(h);
	return rc;
}

int applier_verify_plan(const struct applier_env *env, const struct store *st,
			const struct plan *p, const struct buf *json, const char *id,
			const char *ref, struct cms_error *err)
{
	struct history *h = NULL;
	bool found = false;
	int rc;

	/* Where 'plan -o' saved it (a plan's id is its blob id): one look-up;
	 * else the search of every store's plans. */
	if ((rc = env->open_history(env->arg, false, &h, err)) == 0 && p->store) {
		char *path = history_path_plan(p->store, p->serial, id, "json");

		rc = history_has_blob(h, path, id, &found, err);
		free(path);
	}
	history_close(h);
	if (rc < 0)
		return rc;
	if (!found && (rc = applier_check_in_history(env, ref, id, err)) < 0)
		return rc;
	if (p->offline) {
		cms_error_set(err, CMS_ESTALE, "plan %.12s was made --offline: it relied on no "
			      "observation and cannot be applied", id);
		cms_error_hint(err, "an offline plan is for review; make one that probes the "
			       "servers with 'cmsctl plan -s %s -o FILE'", p->store);
		return CMS_ESTALE;
	}
	return planner_check_rederived(st, p, json, id, err);
}

int applier_check_history_writable(const struct applier_env *env, struct cms_error *err)
{
	struct history *h = NULL;
	int rc;

	if ((rc = env->open_history(env->arg, false, &h, err)) == 0)
		rc = history_check_writable(h, err);
	history_close(h);
	if (rc == 0 && env->remote.url) {
		/* The shared record too: a run whose commits could not reach the
		 * remote other runners read is refused before it starts. */
		if ((rc = history_remote_check(env->history_path, &env->remote, err)) < 0) {
			err->code = rc = CMS_EREFUSED;
			if (!err->hint) /* a rewritten remote says what to do itself */
				cms_error_hint(err, "nothing was changed; bring the history remote back "
					       "(or, to record only locally, remove 'remote:' from the "
					       "config's backend block and push later with 'cmsctl "
					       "history push')");
		}
	}
	return rc;
}

/* The location.json of the state's current record of st, for the newest
 * run (last); empty when there is no record or no run. */
static int current_location_doc(struct state *sdb, const struct store *st, struct buf *out,
				struct cms_error *err)
{
	struct recorded rec;
	struct run_info last;
	int rc;

	memset(&rec, 0, sizeof(rec));
	memset(&last, 0, sizeof(last));
	if ((rc = state_read_store(sdb, st->name, &rec, err)) < 0)
		goto done;
	if ((rc = applier_last_run(sdb, st->name, &last, err)) < 0)
		goto done;
	if (rec.exists && last.id) {
		const struct server *ps = store_find_server(st, rec.primary);
		struct published_location pl;

		memset(&pl, 0, sizeof(pl));
		pl.store = st->name;
		pl.engine = engine_kind_name(st->engine);
		pl.primary = rec.primary;
		pl.mirror = rec.mirror;
		pl.primary_fqdn = ps ? ps->fqdn : NULL;
		pl.primary_instance = ps ? ps->instance : NULL;
		pl.serial = rec.serial;
		pl.plan_id = last.plan_id;
		pl.run_id = last.id;
		pl.now = cms_real_now();
		rc = publish_location_json(&pl, out, err);
	}
done:
	recorded_free(&rec);
	run_info_free(&last);
	return rc;
}

/* applier_level_history(); under_lock: the caller holds the store's lock
 * (apply, restore).
 * - Without the lock, nothing is recorded while a live process holds it
 *   (applier_live_holder): a run it finished may be on its way into the
 *   history, since apply and restore record and push their run before they
 *   let the lock go; its next apply levels the rest under the lock.
 * - With a remote, what is pending was read from the remote as fetched
 *   when the command began; a runner may have recorded and pushed since.
 *   The remote is fetched again, and only the runs still missing from it
 *   are recorded, of those pending before the lock was looked at (a run
 *   that finished since has a holder that records it). */
static int level_history_as(const struct applier_env *env, struct state *sdb,
			    const struct store *st, bool under_lock, struct cms_error *err)
{
	struct history *h = NULL;
	struct state *own = NULL;
	struct buf loc = BUF_INIT;
	struct cms_strv pending = CMS_STRV_INIT, again = CMS_STRV_INIT, recorded = CMS_STRV_INIT;
	char *op = NULL, *holder = NULL;
	size_t i, kept;
	int rc;

	if (!sdb) {
		rc = env->open_state(env->arg, false, &own, err);
		if (rc == CMS_ENOTFOUND) {
			cms_error_clear(err);
			rc = 0;
		}
		if (rc < 0 || !own)
			goto done;
		sdb = own;
	}
	if ((rc = env->open_history(env->arg, false, &h, err)) < 0 ||
	    (rc = level_pending(h, sdb, st->name, &pending, err)) < 0 || !pending.n)
		goto done;
	if (env->before_level)
		env->before_level(env->arg);
	if (!under_lock) {
		if ((rc = applier_live_holder(sdb, st->name, &holder, err)) < 0)
			goto done;
		if (rc > 0) {
			rc = 0;
			applier_note(env, "the history lacks %zu finished run%s of store %s; %s holds "
				     "the store's lock and records %s", pending.n,
				     pending.n == 1 ? "" : "s", st->name, holder,
				     pending.n == 1 ? "it" : "them");
			goto done;
		}
	}
	if (env->remote.url) {
		struct cms_error ferr = CMS_ERROR_INIT;

		history_close(h);
		h = NULL;
		/* A remote that cannot be fetched now leaves the local view,
		 * which may lack what another runner pushed: nothing is
		 * recorded from it. */
		if (!env->fetch || env->fetch(env->arg, &ferr) < 0) {
			applier_note(env, "the history lacks %zu finished run%s of store %s, but its "
				     "remote cannot be fetched (or the history brought level with it) "
				     "to check that %s still missing there "
				     "(%s): left for the next command", pending.n,
				     pending.n == 1 ? "" : "s", st->name,
				     pending.n == 1 ? "it is" : "they are",
				     ferr.message ? ferr.message : "no fetch");
			cms_error_clear(&ferr);
			goto done;
		}
		if ((rc = env->open_history(env->arg, false, &h, err)) < 0 ||
		    (rc = level_pending(h, sdb, st->name, &again, err)) < 0)
			goto done;
		for (i = kept = 0; i < pending.n; i++) {
			if (cms_strv_contains(&again, pending.v[i]))
				pending.v[kept++] = pending.v[i];
			else
				free(pending.v[i]);
		}
		pending.n = kept;
		if (!pending.n)
			goto done;
	}
	if ((rc = current_location_doc(sdb, st, &loc, err)) < 0)
		goto done;
	op = cms_operator();
	/* Each run committed is noted, also when a later one failed. */
	rc = level_history(h, sdb, st->name, engine_kind_name(st->engine), loc.len ? loc.ptr : NULL,
			   op, cms_real_now(), &pending, &recorded, err);
	for (i = 0; i < recorded.n; i++)
		applier_note(env, "recorded run %s of store %s in the history from the state's "
			     "journal (it had not been recorded)", recorded.v[i], st->name);
done:
	cms_strv_free(&pending);
	cms_strv_free(&again);
	cms_strv_free(&recorded);
	buf_free(&loc);
	free(op);
	free(holder);
	history_close(h);
	state_close(own);
	return rc;
}

int applier_level_history(const struct applier_env *env, struct state *sdb,
			  const struct store *st, struct cms_error *err)
{
	return level_history_as(env, sdb, st, false, err);
}

/* What apply counts of a plan's approvals: those the history records,
 * judged by the store's policy (signatures checked against its
 * allowed-signers file), plus the unsigned ones only the state knows. */
struct approvals_arg {
	const struct applier_env *env;
	const struct store *st;
	struct state *sdb;
};

static int count_approvals(void *arg, const struct plan *p, const char *plan_id,
			   struct cms_strv *counted, struct buf *not_counted, struct cms_error *err)
{
	struct approvals_arg *x = arg;
	struct approval_policy pol = { p->author, x->st->allowed_signers, x->st->signed_approvals };
	struct approval *list = NULL;
	struct history *h = NULL;
	size_t n = 0, i;
	int rc;

	if ((rc = x->env->open_history(x->env->arg, false, &h, err)) < 0 ||
	    (rc = approval_list(h, x->sdb, p->store, plan_id, &pol, &list, &n, err)) < 0)
		goto done;
	for (i = 0; i < n; i++) {
		if (list[i].counted) {
			/* one principal counts once, however many records name it */
			cms_strv_add_unique(counted, list[i].principal);
		} else {
			buf_addf(not_counted, "%s%s (%s)", not_counted->len ? "; " : "",
				 list[i].principal, list[i].why_not);
		}
	}
done:
	approval_list_free(list, n);
	history_close(h);
	return rc;
}

/* The report (and, when ok, the location) of a finished run into the
 * history, then --report through ctx->write_report. */
static int commit_run(const struct apply_ctx *ctx, const struct apply_result *res,
		      const char *plan_id, const char *kind, struct cms_error *err)
{
	const struct applier_env *env = ctx->env;
	struct cms_error warn = CMS_ERROR_INIT;
	struct history *h = NULL;
	int rc;

	if ((rc = env->open_history(env->arg, false, &h, err)) < 0)
		goto done;
	if ((rc = applier_record_run(h, ctx->state, ctx->store, res, plan_id, kind,
				     ctx->operator_name, &warn, err)) < 0)
		goto done;
	if (warn.message)
		applier_note(env, "warning: the history tip was not recorded in the state: %s",
			     warn.message);
	/* The history first: a report file that cannot be written must not
	 * keep the run out of the audit trail. */
	if (ctx->write_report)
		rc = ctx->write_report(ctx->write_report_arg, res, err);
done:
	if (rc < 0)
		cms_error_prefix(err, "the run finished with outcome '%s' but its report could not be "
				 "recorded", res->outcome ? res->outcome : "?");
	history_close(h);
	cms_error_clear(&warn);
	return rc;
}

/* After a run: its record, and any run it closed (restore), into the
 * history.  A run that failed keeps its own error; one that succeeded (it
 * changed the servers or the state) but cannot be recorded fails with that
 * instead, as CMS_EINTERRUPTED: never the code of a run that changed
 * nothing. */
static int record_run(const struct apply_ctx *ctx, const struct apply_result *res,
		      const char *plan_id, const char *kind, int arc, struct cms_error *err)
{
	struct cms_error herr = CMS_ERROR_INIT;

	if (res->run_id) {
		if (ctx->before_record)
			ctx->before_record(ctx->before_record_arg, res->run_id);
		if (commit_run(ctx, res, plan_id, kind, &herr) < 0 ||
		    level_history_as(ctx->env, ctx->state, ctx->store, true, &herr) < 0) {
			if (arc == 0) {
				cms_error_move(err, &herr);
				err->code = CMS_EINTERRUPTED;
				cms_error_hint(err, "the run is done and in the state ('cmsctl status'); "
					       "only its record in the history or the report is missing");
				arc = CMS_EINTERRUPTED;
			} else if (ctx->env->warn) {
				ctx->env->warn(ctx->env->arg, &herr);
			}
		}
		cms_error_clear(&herr);
	}
	/* Still under the store's lock (apply_ctx.record): whatever the
	 * history took meanwhile (this run, runs levelled before it began,
	 * even when it was then refused) reaches the remote before another
	 * runner may level with it.  Nothing ahead: nothing is sent. */
	if (ctx->env->push)
		ctx->env->push(ctx->env->arg);
	if (res->run_id && ctx->after_record)
		ctx->after_record(ctx->after_record_arg, res->run_id);
	return arc;
}

struct level_arg {
	const struct applier_env *env;
	const struct store *st;
	struct state *sdb;
};

static int level_locked(void *arg, struct cms_error *err)
{
	struct level_arg *lv = arg;

	return level_history_as(lv->env, lv->sdb, lv->st, true, err);
}

/* apply_ctx.record: record_run() under the store's lock.  plan_id NULL:
 * the run's own (a restore's, known once it ran). */
struct record_arg {
	const struct apply_ctx *ctx;
	const char *plan_id;
	const char *kind;
};

static int record_locked(void *arg, const struct apply_result *res, int rc, struct cms_error *err)
{
	struct record_arg *ra = arg;

	return record_run(ra->ctx, res, ra->plan_id ? ra->plan_id : res->plan_id, ra->kind, rc,
			  err);
}

/* What apply and restore do with the history under the store's lock: c
 * levels it (through lv) before the run and records the run (through ra)
 * before the lock goes; c->state becomes sdb. */
static void history_under_lock(struct apply_ctx *c, struct state *sdb, struct level_arg *lv,
			       struct record_arg *ra, const char *plan_id, const char *kind)
{
	lv->env = c->env;
	lv->st = c->store;
	lv->sdb = sdb;
	c->level = level_locked;
	c->level_arg = lv;
	ra->ctx = c;
	ra->plan_id = plan_id;
	ra->kind = kind;
	c->record = record_locked;
	c->record_arg = ra;
	c->state = sdb;
}

/* The servers' sessions, connected while the plan, the history and the
 * state are checked (an ODBC connect costs tens of milliseconds): only
 * for a plan that would probe them (made online, with changes), with the
 * secrets at hand (their absence is reported by the probe's own check),
 * and with the product's ODBC sessions.  A refused apply closes them
 * unused. */
static void connect_ahead(const struct apply_ctx *ctx, const struct plan *p)
{
	struct cms_error err = CMS_ERROR_INIT;
	const char *fenced[8];
	size_t i, n = 0;

	if (ctx->connect || p->offline || !plan_has_changes(p) ||
	    applier_check_secrets(ctx->store, &err) < 0) {
		cms_error_clear(&err);
		return;
	}
	/* A second session only where the fence goes through the database
	 * (not through fence targets: that server does not answer). */
	for (i = 0; p->fence.via == FENCE_VIA_DATABASE && i < p->nsteps &&
		    n < sizeof(fenced) / sizeof(fenced[0]); i++)
		if (p->steps[i].action == ACTION_FENCE && p->steps[i].server)
			fenced[n++] = p->steps[i].server;
	engine_preconnect(ctx->store, fenced, n);
}

int applier_run_plan(const struct apply_ctx *ctx, const struct plan *p, const struct buf *json,
		     const char *id, const char *ref, struct apply_result *out,
		     struct cms_error *err)
{
	const struct applier_env *env = ctx->env;
	struct approvals_arg appr;
	struct level_arg lv;
	struct record_arg ra;
	struct apply_ctx c = *ctx;
	struct state *sdb = NULL;
	int arc;

	memset(out, 0, sizeof(*out));
	connect_ahead(ctx, p);
	if ((arc = applier_verify_plan(env, ctx->store, p, json, id, ref, err)) < 0)
		goto done;
	if (!plan_has_changes(p))
		goto done;
	/* A run that could not be recorded is refused before it starts, and
	 * a run the state finished but the history lacks is recorded first,
	 * under the store's lock (apply_ctx.level). */
	if ((arc = applier_check_history_writable(env, err)) < 0)
		goto done;
	if ((arc = env->open_state(env->arg, true, &sdb, err)) < 0)
		goto done;
	history_under_lock(&c, sdb, &lv, &ra, id, "apply");
	if (!c.lease_s)
		c.lease_s = applier_lease_s(ctx->store);
	if (!c.approvals) {
		appr.env = env;
		appr.st = ctx->store;
		appr.sdb = sdb;
		c.approvals = count_approvals;
		c.approvals_arg = &appr;
	}
	arc = applier_apply(&c, p, id, out, err);
done:
	engine_preconnect_drop();
	state_close(sdb);
	return arc;
}

/* Reads the plan of an interrupted run by id from the history. */
static int load_plan(void *arg, const char *plan_id, struct plan **out, char id[41],
		     struct cms_error *err)
{
	const struct applier_env *env = arg;
	struct history *h = NULL;
	char *data = NULL;
	size_t len = 0;
	int rc;

	*out = NULL;
	if ((rc = env->open_history(env->arg, false, &h, err)) < 0 ||
	    (rc = applier_find_plan(env, h, plan_id, &data, &len, err)) < 0)
		goto done;
	history_blob_id(data, len, id);
	rc = plan_from_json(out, data, len, "plan of the interrupted run", err);
done:
	free(data);
	history_close(h);
	return rc;
}

/* A dry run shows the decided steps (the caller's confirm, when there is
 * one) and stops there, whatever that confirm answers. */
static int confirm_dry_run(void *arg, const struct apply_step_event *steps, size_t n,
			   char *const *followups, size_t nfollowups, struct cms_error *err)
{
	const struct apply_ctx *ctx = arg;
	int rc;

	if (ctx->confirm &&
	    (rc = ctx->confirm(ctx->confirm_arg, steps, n, followups, nfollowups, err)) < 0)
		return rc;
	return cms_error_set(err, CMS_EDECLINED, "dry run: nothing was changed");
}

int applier_run_restore(const struct apply_ctx *ctx, bool dry_run, struct apply_result *out,
			struct cms_error *err)
{
	const struct applier_env *env = ctx->env;
	struct apply_ctx c = *ctx;
	struct level_arg lv;
	struct record_arg ra;
	struct state *sdb = NULL;
	int arc;

	memset(out, 0, sizeof(*out));
	if ((arc = env->open_state(env->arg, false, &sdb, err)) < 0) {
		if (err->code == CMS_ENOTFOUND)
			arc = cms_error_set(err, CMS_ERROR, "no state at '%s': nothing was ever applied",
					    env->state_name);
		return arc;
	}
	/* A dry run changes nothing and records nothing: no history check.
	 * The history is levelled once the restore holds the store's lock. */
	if (!dry_run && (arc = applier_check_history_writable(env, err)) < 0)
		goto done;
	history_under_lock(&c, sdb, &lv, &ra, NULL, "restore");
	if (!c.lease_s)
		c.lease_s = applier_lease_s(ctx->store);
	if (!c.load_plan) {
		c.load_plan = load_plan;
		c.load_plan_arg = (void *)env;
	}
	if (dry_run) {
		c.confirm = confirm_dry_run;
		c.confirm_arg = (void *)ctx;
	}
	arc = applier_restore(&c, out, err);
done:
	state_close(sdb);
	return arc;
}
