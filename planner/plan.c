/*
 * The planner: desired (config) x recorded (state) x observed (probe) ->
 * plan.  A pure function; the clock and the author come in as inputs so the
 * same inputs always give the same plan, byte for byte (plan_json.c).
 *
 * The rules, in the order they are applied:
 *   - several servers reporting primary: refused (split brain);
 *   - never adopted: adopt what is observed (the first plan of a store);
 *   - observed primary differs from the record: refused as drift, unless
 *     the operator accepts it (a new adopt) or restores the record;
 *   - desired primary equals the recorded one: none, or adopt of a mirror
 *     that is now observed where the config wants it;
 *   - otherwise a move: to a backup is disaster recovery, to a partner
 *     whose old primary is unreachable is failover (both may lose data and
 *     need policy.allow_data_loss), else a switchover;
 *   - a move fences its old primary through its database when it answers,
 *     through its fence targets (from outside) when it does not, or carries
 *     the operator's attestation that it is down (--assume-down); with none
 *     of these it is refused: unreachable is not down.
 */
#include "planner/plan.h"
#include "planner/engines.h"
#include "common/util.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

static const char *const mode_names[] = {
	[PLAN_NONE] = "none",
	[PLAN_ADOPT] = "adopt",
	[PLAN_SWITCHOVER] = "switchover",
	[PLAN_FAILOVER] = "failover",
	[PLAN_DISASTER_RECOVERY] = "disaster-recovery",
};

static const char *const action_names[] = {
	[ACTION_RECORD] = "record",
	[ACTION_CHECK_TARGET] = "check_target",
	[ACTION_FENCE] = "fence",
	[ACTION_CATCH_UP] = "catch_up",
	[ACTION_PROMOTE] = "promote",
	[ACTION_REREAD_ROLES] = "reread_roles",
	[ACTION_DEMOTE] = "demote",
	[ACTION_PUBLISH] = "publish",
	[ACTION_VERIFY] = "verify",
};

const char *plan_mode_name(enum plan_mode m)
{
	return (unsigned)m < ARRAY_SIZE(mode_names) ? mode_names[m] : "unknown";
}

const char *plan_action_name(enum plan_action a)
{
	return (unsigned)a < ARRAY_SIZE(action_names) ? action_names[a] : "unknown";
}

int plan_action_parse(enum plan_action *out, const char *s)
{
	size_t i;

	for (i = 0; i < ARRAY_SIZE(action_names); i++)
		if (action_names[i] && !strcmp(action_names[i], s)) {
			*out = (enum plan_action)i;
			return 0;
		}
	return -1;
}

bool plan_has_changes(const struct plan *p)
{
	return p->mode != PLAN_NONE;
}

void plan_free(struct plan *p)
{
	size_t i;

	if (!p)
		return;
	free(p->store);
	cms_strv_free(&p->databases);
	free(p->from.primary);
	free(p->from.mirror);
	free(p->to.primary);
	free(p->to.mirror);
	free(p->lineage);
	free(p->after_run);
	observation_free(&p->obs);
	free(p->fence.server);
	cms_strv_free(&p->fence.targets);
	free(p->fence.note);
	free(p->assume_down);
	free(p->assume_down_reason);
	free(p->reason);
	free(p->ticket);
	for (i = 0; i < p->nsteps; i++) {
		free(p->steps[i].server);
		free(p->steps[i].description);
		cms_strv_free(&p->steps[i].checks);
	}
	free(p->steps);
	cms_strv_free(&p->pending);
	cms_strv_free(&p->publish);
	free(p->author);
	free(p);
}

char *plan_summary(const struct plan *p)
{
	switch (p->mode) {
	case PLAN_NONE:
		return xasprintf("%s: no changes", p->store);
	case PLAN_ADOPT:
		return xasprintf("%s: adopt %s%s%s", p->store,
				 p->to.primary ? p->to.primary : "(none)",
				 p->to.mirror ? " with mirror " : "", p->to.mirror ? p->to.mirror : "");
	default:
		return xasprintf("%s: %s %s -> %s", p->store, plan_mode_name(p->mode),
				 p->from.primary ? p->from.primary : "(none)",
				 p->to.primary ? p->to.primary : "(none)");
	}
}

/* --- building ----------------------------------------------------------- */

struct builder {
	struct plan *p;
	size_t alloc_steps;
};

static struct plan_step *add_step(struct builder *b, enum plan_action action, const char *server,
				  const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static struct plan_step *add_step(struct builder *b, enum plan_action action, const char *server,
				  const char *fmt, ...)
{
	struct plan_step *s = ARRAY_PUSH(b->p->steps, b->p->nsteps, b->alloc_steps);
	struct buf d = BUF_INIT;
	va_list ap;

	va_start(ap, fmt);
	buf_vaddf(&d, fmt, ap);
	va_end(ap);
	memset(s, 0, sizeof(*s));
	s->n = (int)b->p->nsteps;
	s->action = action;
	s->server = xstrdup(server);
	s->description = buf_detach(&d, NULL);
	return s;
}

static void copy_observation(struct observation *dst, const struct observation *src)
{
	size_t i, j;

	memset(dst, 0, sizeof(*dst));
	dst->probed = src->probed;
	dst->nservers = src->nservers;
	dst->servers = xcalloc(src->nservers, sizeof(*dst->servers));
	for (i = 0; i < src->nservers; i++) {
		const struct server_obs *s = &src->servers[i];
		struct server_obs *d = &dst->servers[i];

		*d = *s;
		d->server = xstrdup(s->server);
		d->error = xstrdup(s->error);
		d->upstream = xstrdup(s->upstream);
		d->dbs = xcalloc(s->ndbs, sizeof(*d->dbs));
		for (j = 0; j < s->ndbs; j++) {
			d->dbs[j] = s->dbs[j];
			d->dbs[j].name = xstrdup(s->dbs[j].name);
			d->dbs[j].state = xstrdup(s->dbs[j].state);
		}
	}
}

char *planner_describe_publish(const struct publish_target *t)
{
	const char *opt = t->required ? "" : " (not required)";

	switch (t->kind) {
	case PUBLISH_FILE:
		return xasprintf("file %s%s", t->path, opt);
	case PUBLISH_ODBC:
		return xasprintf("odbc table %s (%s)%s", t->table ? t->table : "cms_location",
				 t->dsn ? "dsn" : "connection", opt);
	case PUBLISH_COMMAND:
		return xasprintf("command %s%s", t->argv && t->argv[0] ? t->argv[0] : "?", opt);
	case PUBLISH_LDAP:
		return xasprintf("ldap entry %s on %s%s", t->dn ? t->dn : "?", t->uri ? t->uri : "?", opt);
	}
	return xstrdup("?");
}

char *planner_describe_fence_target(const struct fence_target *t)
{
	struct buf b = BUF_INIT;
	size_t i;

	buf_adds(&b, "command");
	for (i = 0; i < t->argc; i++)
		buf_addf(&b, " %s", t->argv[i]);
	buf_addf(&b, " (timeout %" PRId64 " ms)", t->timeout_ms);
	return buf_detach(&b, NULL);
}

const char *planner_fence_note(enum engine_kind k)
{
	const struct engine_traits *t = engine_traits(k);

	return t ? t->fence_note : NULL;
}

static struct plan *plan_new(const struct plan_inputs *in)
{
	const struct store *st = in->desired;
	struct plan *p = xcalloc(1, sizeof(*p));
	size_t i;

	p->format_version = PLAN_FORMAT_VERSION;
	p->store = xstrdup(st->name);
	p->engine = st->engine;
	for (i = 0; i < st->ndatabases; i++)
		cms_strv_add(&p->databases, st->databases[i]);
	p->lineage = xstrdup(in->recorded ? in->recorded->lineage : "");
	p->serial = in->recorded ? in->recorded->serial : 0;
	p->after_run = xstrdup(in->after_run);
	p->offline = !in->obs->probed;
	copy_observation(&p->obs, in->obs);
	p->policy = st->policy;
	for (i = 0; i < st->npublish; i++)
		cms_strv_push(&p->publish, planner_describe_publish(&st->publish[i]));
	p->author = xstrdup(in->author);
	p->reason = xstrdup(in->reason);
	p->ticket = xstrdup(in->ticket);
	p->created = in->now;
	/* Both are bounded (now by cms_now, the ttl by the config), so the sum
	 * cannot overflow; past what a time can say, it is that end. */
	p->expires = st->policy.plan_ttl_s > CMS_TIME_MAX - in->now ? CMS_TIME_MAX
								     : in->now + st->policy.plan_ttl_s;
	if (in->recorded) {
		p->from.primary = xstrdup(in->recorded->primary);
		p->from.mirror = xstrdup(in->recorded->mirror);
	}
	return p;
}

static const char *observed_role_text(const struct server_obs *o)
{
	if (!o)
		return "not probed";
	if (!o->reachable)
		return "unreachable";
	return obs_role_name(o->role);
}

/* The one reachable server reporting primary (fenced ones excluded). */
static int observed_primary(const struct observation *obs, const struct server_obs **out,
			    struct cms_error *err)
{
	const struct server_obs *found = NULL;
	size_t i;

	*out = NULL;
	for (i = 0; i < obs->nservers; i++) {
		const struct server_obs *o = &obs->servers[i];

		if (!server_obs_writable(o))
			continue;
		if (found) {
			cms_error_set(err, CMS_EREFUSED,
				      "both '%s' and '%s' report being the primary", found->server,
				      o->server);
			cms_error_hint(err, "'cmsctl restore' re-fences every server but the recorded "
				       "primary; or fence the wrong one by hand, then plan again");
			return CMS_EREFUSED;
		}
		found = o;
	}
	*out = found;
	return 0;
}

static void add_publish_steps(struct builder *b, const struct store *st, const char *primary,
			      const char *mirror)
{
	size_t i;

	for (i = 0; i < st->npublish; i++) {
		struct plan_step *s = add_step(b, ACTION_PUBLISH, NULL, "publish the location to %s",
					       b->p->publish.v[i]);
		if (st->publish[i].kind == PUBLISH_FILE || st->publish[i].kind == PUBLISH_ODBC)
			cms_strv_addf(&s->checks, "the target holds no newer serial and no other lineage");
		cms_strv_addf(&s->checks, "published primary reads back as %s", primary);
		if (mirror)
			cms_strv_addf(&s->checks, "published mirror reads back as %s", mirror);
	}
}

static int plan_adopt(struct builder *b, const struct plan_inputs *in,
		      const struct server_obs *prim, struct cms_error *err)
{
	const struct store *st = in->desired;
	struct plan *p = b->p;
	const char *mirror = NULL;
	struct plan_step *s;

	p->mode = PLAN_ADOPT;
	if (p->offline) {
		/* Nothing was asked: show the desired location as what would be
		 * recorded.  Apply refuses offline plans. */
		p->to.primary = xstrdup(st->location.primary);
		p->to.mirror = xstrdup(st->location.mirror);
	} else {
		const struct server_obs *m;

		if (!prim) {
			cms_error_set(err, CMS_EREFUSED,
				      "cannot adopt store '%s': no reachable server reports primary",
				      st->name);
			cms_error_hint(err, "adoption records the location the servers report; "
				       "check them with 'cmsctl status'");
			return CMS_EREFUSED;
		}
		size_t i;

		/* The mirror recorded is the one observed: the config's when it
		 * reports mirror, else the first server (config order) that does. */
		m = st->location.mirror ? observation_find(&p->obs, st->location.mirror) : NULL;
		if (m && m->reachable && m->role == OBS_MIRROR)
			mirror = st->location.mirror;
		for (i = 0; !mirror && i < p->obs.nservers; i++)
			if (p->obs.servers[i].reachable && p->obs.servers[i].role == OBS_MIRROR)
				mirror = p->obs.servers[i].server;
		p->to.primary = xstrdup(prim->server);
		p->to.mirror = xstrdup(mirror);
	}
	s = add_step(b, ACTION_RECORD, NULL, "record the location %s%s%s%s (no server is changed)",
		     p->to.primary, p->to.mirror ? ", mirror " : "", p->to.mirror ? p->to.mirror : "",
		     in->recorded ? "" : " as serial 1 of a new lineage");
	cms_strv_addf(&s->checks, "%s still reports primary", p->to.primary);
	if (p->to.mirror)
		cms_strv_addf(&s->checks, "%s still reports mirror", p->to.mirror);
	if (in->recorded)
		cms_strv_addf(&s->checks, "the store is still at serial %" PRId64, in->recorded->serial);
	else
		cms_strv_addf(&s->checks, "the store is still unrecorded");
	add_publish_steps(b, st, p->to.primary, p->to.mirror);
	if (!p->offline && strcmp(p->to.primary, st->location.primary) != 0)
		cms_strv_addf(&b->p->pending, "the config wants primary %s: plan again after this adoption to move there",
			    st->location.primary);
	if (!p->offline && st->location.mirror && (!mirror || strcmp(mirror, st->location.mirror)) &&
	    strcmp(p->to.primary, st->location.primary) == 0)
		cms_strv_addf(&b->p->pending, "the config wants mirror %s, observed %s: it is recorded once it is "
			    "observed as a mirror", st->location.mirror,
			    observed_role_text(observation_find(&p->obs, st->location.mirror)));
	return 0;
}

/* What the old primary reports after demote (engines.h, after_demote). */
static const char *after_demote_text(const struct store *st, const char *old)
{
	const struct engine_traits *t = engine_traits(st->engine);
	const struct server *srv = store_find_server(st, old);

	if (t && t->after_demote)
		return t->after_demote;
	return srv && srv->role == SERVER_ROLE_BACKUP ? "backup" : "mirror";
}

static int check_lag(const struct plan_inputs *in, const struct server_obs *t, struct cms_error *err)
{
	const struct policy *pol = &in->desired->policy;

	if (t->lag_bytes < 0) {
		cms_error_set(err, CMS_EREFUSED, "lag of '%s' behind the primary is unknown", t->server);
		cms_error_hint(err, "check replication with 'cmsctl status'");
		return CMS_EREFUSED;
	}
	if ((uint64_t)t->lag_bytes > pol->max_lag_bytes) {
		cms_error_set(err, CMS_EREFUSED,
			      "'%s' is %" PRId64 " bytes behind the primary, more than "
			      "policy.max_lag_bytes (%" PRIu64 ")",
			      t->server, t->lag_bytes, pol->max_lag_bytes);
		cms_error_hint(err, "wait for it to catch up and plan again, or raise "
			       "policy.max_lag_bytes of store '%s'", in->desired->name);
		return CMS_EREFUSED;
	}
	return 0;
}

/*
 * Which fence keeps the old primary from taking writes once the target is
 * promoted: its database when it answers; its fence targets when it does
 * not; nothing when the operator attests it is down.  Otherwise refused:
 * a primary cmsctl cannot reach may still serve every client that can.
 */
static int choose_fence(struct plan *p, const char *old, const struct server *osrv, bool old_up,
			struct cms_error *err)
{
	size_t i;

	p->fence.server = xstrdup(old);
	if (old_up) {
		p->fence.via = FENCE_VIA_DATABASE;
		p->fence.note = xstrdup(planner_fence_note(p->engine));
		return 0;
	}
	if (osrv && osrv->nfence) {
		p->fence.via = FENCE_VIA_TARGETS;
		for (i = 0; i < osrv->nfence; i++)
			cms_strv_push(&p->fence.targets, planner_describe_fence_target(&osrv->fence[i]));
		return 0;
	}
	if (p->assume_down) {
		p->fence.via = FENCE_VIA_NONE;
		return 0;
	}
	cms_error_set(err, CMS_EREFUSED, "the primary '%s' is unreachable and cannot be fenced: it "
		      "has no fence target, and unreachable is not down", old);
	cms_error_hint(err, "give server '%s' a 'fence:' list (a command that isolates it from "
		       "outside), or, if you know it is down, attest it with 'cmsctl plan "
		       "--assume-down %s --reason TEXT'", old, old);
	return CMS_EREFUSED;
}

/* --assume-down: it must name the old primary, and that primary must not
 * answer; the attestation goes into the plan. */
static int take_assume_down(struct plan *p, const struct plan_inputs *in, const char *old,
			    const struct server_obs *o, bool old_up, struct cms_error *err)
{
	const struct store *st = in->desired;

	if (strcmp(in->assume_down, old) != 0) {
		if (in->assume_down_where_it_applies)
			return 0; /* not this store's old primary: planned without it */
		cms_error_set(err, CMS_EREFUSED, "--assume-down names '%s', but the primary this "
			      "move replaces is '%s'", in->assume_down, old);
		cms_error_hint(err, "an attestation is about the old primary of store '%s'", st->name);
		return CMS_EREFUSED;
	}
	if (old_up && !p->offline) {
		cms_error_set(err, CMS_EREFUSED, "--assume-down '%s': it answers (reports %s), so "
			      "it is not down", old, obs_role_name(o->role));
		cms_error_hint(err, "plan without --assume-down: a primary that answers is fenced "
			       "through its database");
		return CMS_EREFUSED;
	}
	p->assume_down = xstrdup(in->assume_down);
	p->assume_down_reason = xstrdup(in->assume_down_reason);
	return 0;
}

/* A failover or a move to a backup may lose data: refused unless the
 * store's policy allows it. */
static int refuse_data_loss(const struct plan *p, const struct store *st, const char *old,
			    struct cms_error *err)
{
	const char *target = st->location.primary;

	cms_error_set(err, CMS_EREFUSED,
		      "%s of store '%s' to '%s' may lose data and policy.allow_data_loss is false",
		      plan_mode_name(p->mode), st->name, target);
	if (p->mode == PLAN_FAILOVER)
		cms_error_hint(err, "the primary '%s' is unreachable: bring it back for a "
			       "switchover, or set 'allow_data_loss: true' under policy of "
			       "store '%s' to accept losing what it did not send", old, st->name);
	else
		cms_error_hint(err, "'%s' is a backup; set 'allow_data_loss: true' under policy "
			       "of store '%s' to accept losing what it does not have", target,
			       st->name);
	return CMS_EREFUSED;
}

/* The target must answer as a mirror or a backup, and (switchover) be
 * close enough behind. */
static int check_target_observed(const struct plan *p, const struct plan_inputs *in,
				 const struct server_obs *t, struct cms_error *err)
{
	const char *target = in->desired->location.primary;

	if (!t || !t->reachable) {
		cms_error_set(err, CMS_EREFUSED, "target '%s' is unreachable: %s", target,
			      t && t->error ? t->error : "not probed");
		cms_error_hint(err, "a move needs its target reachable; 'cmsctl status' shows "
			       "what each server reports");
		return CMS_EREFUSED;
	}
	if (t->role != OBS_MIRROR && t->role != OBS_BACKUP) {
		cms_error_set(err, CMS_EREFUSED,
			      "target '%s' reports role %s; only a mirror or a backup can be promoted",
			      target, obs_role_name(t->role));
		if (t->role == OBS_FENCED || t->read_only)
			cms_error_hint(err, "'%s' is fenced (read-only): re-seed it as a copy of the "
				       "primary '%s' first; 'cmsctl status' lists it as a follow-up",
				       target, in->recorded ? in->recorded->primary : "-");
		return CMS_EREFUSED;
	}
	if (p->mode == PLAN_SWITCHOVER)
		return check_lag(in, t, err);
	return 0;
}

/* The first step: what apply re-checks of the target before any change. */
static void add_check_target_step(struct builder *b, const struct store *st,
				  const struct server_obs *t)
{
	const struct plan *p = b->p;
	const char *target = st->location.primary;
	struct plan_step *s;

	s = add_step(b, ACTION_CHECK_TARGET, target, "check that %s can be promoted", target);
	cms_strv_addf(&s->checks, "%s is reachable and holds every database (%zu)", target, st->ndatabases);
	if (t && t->reachable) {
		cms_strv_addf(&s->checks, "%s still reports role %s at epoch %" PRId64, target,
			  obs_role_name(t->role), t->epoch);
		if (p->mode == PLAN_SWITCHOVER)
			cms_strv_addf(&s->checks, "lag %" PRId64 " bytes <= max_lag_bytes %" PRIu64, t->lag_bytes,
				  st->policy.max_lag_bytes);
	} else {
		cms_strv_addf(&s->checks, "%s reports role mirror or backup (not probed)", target);
	}
}

/* Fencing the old primary (from outside, or through its database) and,
 * when it answered, the target catching up with it. */
static void add_fence_steps(struct builder *b, const struct store *st, const char *old,
			    const struct server *tsrv, bool old_up)
{
	const struct plan *p = b->p;
	const struct policy *pol = &st->policy;
	const char *target = st->location.primary;
	struct plan_step *s;

	if (p->fence.via == FENCE_VIA_TARGETS) {
		s = add_step(b, ACTION_FENCE, old, "fence %s from outside: it does not answer; run its "
			     "fence targets in order until one exits 0", old);
		cms_strv_addf(&s->checks, "one of the %zu fence target%s of %s exits 0 within its timeout",
			  p->fence.targets.n, p->fence.targets.n == 1 ? "" : "s", old);
		if (p->assume_down)
			cms_strv_addf(&s->checks, "when none does, the operator's attestation that %s is down stands",
				  old);
		else
			cms_strv_addf(&s->checks, "when none does, the move stops before any change");
	}
	if (old_up) {
		if (p->fence.note) {
			s = add_step(b, ACTION_FENCE, old, "fence %s: %s", old, p->fence.note);
		} else {
			s = add_step(b, ACTION_FENCE, old, "fence %s: make it refuse writes", old);
			cms_strv_addf(&s->checks, "a write on %s is refused afterwards", old);
		}
		if (tsrv && tsrv->log_backups) {
			s = add_step(b, ACTION_CATCH_UP, target, "restore on %s every log backup newer "
				     "than its copy from %s, in LSN order, %s's tail-log backup last",
				     target, tsrv->log_backups, old);
			cms_strv_addf(&s->checks, "the chain of log backups has no gap (checked before any change)");
			cms_strv_addf(&s->checks, "%s reaches the LSN of the tail-log backup of %s", target, old);
			cms_strv_addf(&s->checks, "on failure the fence of %s is undone (RESTORE ... WITH RECOVERY "
				  "on it) and apply stops", old);
		} else {
			s = add_step(b, ACTION_CATCH_UP, target, "wait until %s has everything %s has",
				     target, old);
			cms_strv_addf(&s->checks, "%s reaches the position of the fenced %s within %" PRId64 " ms",
				  target, old, pol->catch_up_timeout_ms);
			cms_strv_addf(&s->checks, "on timeout the fence of %s is undone and apply stops", old);
		}
	}
}

/* Promotion, the re-read of every role, and what becomes of the old
 * primary. */
static void add_promote_steps(struct builder *b, const struct store *st, const char *old,
			      const struct server *tsrv, bool old_up, bool loses_data)
{
	const struct engine_traits *traits = engine_traits(st->engine);
	const char *target = st->location.primary;
	struct plan_step *s;
	size_t i;

	s = add_step(b, ACTION_PROMOTE, target, "promote %s, database by database%s", target,
		     loses_data ? " (forced: may lose data)" : "");
	if (!old_up && tsrv && tsrv->log_backups)
		cms_strv_addf(&s->checks, "first, every log backup newer than its copy from %s, in LSN order "
			  "(a gap refuses before any change)", tsrv->log_backups);
	for (i = 0; i < st->ndatabases; i++)
		cms_strv_addf(&s->checks, "%s accepts writes on %s", target, st->databases[i]);
	s = add_step(b, ACTION_REREAD_ROLES, NULL, "re-read every server's role; trust no return value");
	cms_strv_addf(&s->checks, "%s reports primary", target);
	if (old_up)
		cms_strv_addf(&s->checks, "%s no longer accepts writes", old);
	if (old_up && tsrv && tsrv->log_backups && traits->log_backup_fence_note) {
		/* Its tail-log backup left it RESTORING: a copy again. */
		s = add_step(b, ACTION_DEMOTE, old, "leave %s RESTORING after its tail-log backup: a "
			     "copy that log backups of %s can roll forward", old, target);
		cms_strv_addf(&s->checks, "%s reports backup", old);
	} else if (old_up) {
		if (traits->old_primary_stays_fenced)
			s = add_step(b, ACTION_DEMOTE, old, "leave %s fenced: it must be re-seeded from %s "
				     "before it serves again", old, target);
		else
			s = add_step(b, ACTION_DEMOTE, old, "make %s a %s of %s", old,
				     after_demote_text(st, old), target);
		cms_strv_addf(&s->checks, "%s reports %s", old, after_demote_text(st, old));
	}
}

/* What stays to do after the move: the plan's pending items. */
static void add_move_pending(struct builder *b, const struct store *st, const char *old,
			     bool old_up)
{
	const struct plan *p = b->p;
	const struct engine_traits *traits = engine_traits(st->engine);
	const char *target = st->location.primary;

	if (!old_up)
		cms_strv_addf(&b->p->pending, "%s was unreachable: it must not come back as a primary; re-seed it "
			    "from %s", old, target);
	if (st->location.mirror) {
		const struct server_obs *m = observation_find(&p->obs, st->location.mirror);
		bool streams_after = !strcmp(st->location.mirror, old) &&
				     !traits->old_primary_stays_fenced && old_up;

		if (!streams_after && !(m && m->reachable && m->role == OBS_MIRROR &&
					m->upstream && !strcmp(m->upstream, target)))
			cms_strv_addf(&b->p->pending, "mirror %s is pending until it is observed as a mirror of %s",
				    st->location.mirror, target);
	}
	if (p->mode == PLAN_SWITCHOVER && traits->old_primary_stays_fenced)
		cms_strv_addf(&b->p->pending, "%s stays fenced after the switchover: re-seed it as a standby of %s "
			    "(pg_rewind) before it can serve as mirror", old, target);
}

static int plan_move(struct builder *b, const struct plan_inputs *in, struct cms_error *err)
{
	const struct store *st = in->desired;
	const struct policy *pol = &st->policy;
	struct plan *p = b->p;
	const char *target = st->location.primary;
	const char *old = in->recorded->primary;
	const struct server *tsrv = store_find_server(st, target);
	const struct server_obs *t = observation_find(&p->obs, target);
	const struct server_obs *o = observation_find(&p->obs, old);
	const struct server *osrv = store_find_server(st, old);
	const struct engine_traits *traits = engine_traits(st->engine);
	bool old_up = p->offline ? true : (o && o->reachable);
	bool loses_data;
	struct plan_step *s;
	int rc;

	if (in->assume_down && (rc = take_assume_down(p, in, old, o, old_up, err)) < 0)
		return rc;

	if (tsrv && tsrv->role == SERVER_ROLE_BACKUP)
		p->mode = PLAN_DISASTER_RECOVERY;
	else if (!old_up)
		p->mode = PLAN_FAILOVER;
	else
		p->mode = PLAN_SWITCHOVER;
	loses_data = p->mode != PLAN_SWITCHOVER;
	p->to.primary = xstrdup(target);
	p->to.mirror = xstrdup(st->location.mirror);

	if (loses_data && !pol->allow_data_loss)
		return refuse_data_loss(p, st, old, err);
	if (!p->offline && (rc = check_target_observed(p, in, t, err)) < 0)
		return rc;
	if ((rc = choose_fence(p, old, osrv, old_up, err)) < 0)
		return rc;
	if (old_up && tsrv && tsrv->log_backups && traits->log_backup_fence_note) {
		free(p->fence.note);
		p->fence.note = xstrdup(traits->log_backup_fence_note);
	}

	add_check_target_step(b, st, t);
	add_fence_steps(b, st, old, tsrv, old_up);
	add_promote_steps(b, st, old, tsrv, old_up, loses_data);
	add_publish_steps(b, st, target, st->location.mirror);
	s = add_step(b, ACTION_VERIFY, NULL, "verify the new location end to end");
	cms_strv_addf(&s->checks, "exactly one server reports primary: %s", target);
	add_move_pending(b, st, old, old_up);
	return 0;
}

char *planner_drift(const char *recorded_primary, const struct observation *obs)
{
	const struct server_obs *prim = NULL, *rp = observation_find(obs, recorded_primary);
	size_t i, n = 0;

	for (i = 0; i < obs->nservers; i++)
		if (server_obs_writable(&obs->servers[i])) {
			prim = &obs->servers[i];
			n++;
		}
	if (n > 1)
		return xasprintf("%zu servers report being the primary", n);
	if (prim && strcmp(prim->server, recorded_primary) != 0)
		return xasprintf("the state records primary '%s' but '%s' reports being the primary",
				 recorded_primary, prim->server);
	/* A recorded primary that cannot be reached is an outage, not drift. */
	if (!prim && rp && rp->reachable)
		return xasprintf("the state records primary '%s' but it reports %s%s",
				 recorded_primary, obs_role_name(rp->role),
				 rp->read_only && rp->role == OBS_PRIMARY ? " (read-only)" : "");
	return NULL;
}

int planner_diff(struct plan **out, const struct plan_inputs *in, struct cms_error *err)
{
	const struct store *st = in->desired;
	const struct server_obs *prim = NULL;
	struct builder b;
	int rc;

	*out = NULL;
	memset(&b, 0, sizeof(b));
	b.p = plan_new(in);
	if (in->obs->probed && (rc = observed_primary(&b.p->obs, &prim, err)) < 0)
		goto fail;

	if (!in->recorded) {
		if ((rc = plan_adopt(&b, in, prim, err)) < 0)
			goto fail;
		goto done;
	}

	/* Drift: the servers say something other than the record. */
	if (in->obs->probed) {
		char *drift = planner_drift(in->recorded->primary, &b.p->obs);

		if (drift) {
			if (in->accept_drift && prim) {
				free(drift);
				if ((rc = plan_adopt(&b, in, prim, err)) < 0)
					goto fail;
				goto done;
			}
			cms_error_set(err, CMS_EREFUSED, "drift: %s", drift);
			cms_error_hint(err, "run 'cmsctl restore' to re-assert the recorded location, "
				       "or 'cmsctl plan --accept-drift' to adopt what the servers report");
			free(drift);
			rc = CMS_EREFUSED;
			goto fail;
		}
	}

	if (!strcmp(st->location.primary, in->recorded->primary)) {
		const char *want = st->location.mirror;
		const char *have = in->recorded->mirror;
		bool same = (!want && !have) || (want && have && !strcmp(want, have));

		if (!same && !b.p->offline) {
			const struct server_obs *m = want ? observation_find(&b.p->obs, want) : NULL;

			if (!want || (m && m->reachable && m->role == OBS_MIRROR)) {
				if ((rc = plan_adopt(&b, in, prim, err)) < 0)
					goto fail;
				goto done;
			}
			cms_strv_addf(&b.p->pending, "mirror %s is pending until it is observed as a mirror of %s "
				    "(observed %s)", want, st->location.primary, observed_role_text(m));
		} else if (same && want && !b.p->offline) {
			/* Recorded and desired agree, but the servers must too: a
			 * fenced former primary is recorded as mirror until it is
			 * re-seeded and seen following the primary. */
			const struct server_obs *m = observation_find(&b.p->obs, want);

			if (!(m && m->reachable && m->role == OBS_MIRROR &&
			      (!m->upstream || !strcmp(m->upstream, st->location.primary))))
				cms_strv_addf(&b.p->pending, "mirror %s is pending until it is observed as a mirror of "
					    "%s (observed %s)", want, st->location.primary,
					    observed_role_text(m));
		}
		b.p->mode = PLAN_NONE;
		b.p->to.primary = xstrdup(in->recorded->primary);
		b.p->to.mirror = xstrdup(in->recorded->mirror);
		goto done;
	}

	if ((rc = plan_move(&b, in, err)) < 0)
		goto fail;
done:
	if (in->assume_down && !b.p->assume_down && !in->assume_down_where_it_applies) {
		cms_error_set(err, CMS_EREFUSED, "--assume-down '%s' is for a move, and this plan is %s",
			      in->assume_down, plan_mode_name(b.p->mode));
		cms_error_hint(err, "plan again without --assume-down");
		rc = CMS_EREFUSED;
		goto fail;
	}
	*out = b.p;
	return 0;
fail:
	plan_free(b.p);
	return rc;
}

const char *plan_text_problem(const char *s, size_t max, bool spaces)
{
	const unsigned char *c = (const unsigned char *)s;
	size_t len, i, n;
	uint32_t cp;

	if (!s || !*s)
		return "is empty";
	len = strlen(s);
	if (len > max)
		return "is too long";
	for (i = 0; i < len; i += n) {
		if (c[i] < 0x80) {
			n = 1;
			cp = c[i];
		} else if ((c[i] & 0xe0) == 0xc0) {
			n = 2;
			cp = c[i] & 0x1f;
		} else if ((c[i] & 0xf0) == 0xe0) {
			n = 3;
			cp = c[i] & 0x0f;
		} else if ((c[i] & 0xf8) == 0xf0) {
			n = 4;
			cp = c[i] & 0x07;
		} else {
			return "is not valid UTF-8";
		}
		if (i + n > len)
			return "is not valid UTF-8";
		for (size_t k = 1; k < n; k++) {
			if ((c[i + k] & 0xc0) != 0x80)
				return "is not valid UTF-8";
			cp = (cp << 6) | (c[i + k] & 0x3f);
		}
		if ((n == 2 && cp < 0x80) || (n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) ||
		    cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return "is not valid UTF-8";
		if (cp < 0x20 || cp == 0x7f || (cp >= 0x80 && cp <= 0x9f) || cp == 0x2028 || cp == 0x2029)
			return "contains a control character (it must be one line)";
		if (!spaces && (cp == ' ' || cp == 0xa0))
			return "contains white space";
	}
	return NULL;
}
