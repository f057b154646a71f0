/*
 * Plan files: the deterministic JSON form of a plan, its strict parser, and
 * the human rendering reviewers read.
 *
 * Determinism: jansson with JSON_SORT_KEYS and a fixed indent, integers
 * only (durations in ms, sizes in bytes, times as RFC 3339 text), arrays in
 * a fixed order.  The parser treats a plan file as untrusted input: every
 * key is checked for presence and type, unknown keys are refused, so a hand
 * edit cannot smuggle in something apply would act on.
 */
#include "planner/plan.h"
#include "planner/engines.h"
#include "planner/observe_json.h"
#include "common/json.h"
#include "common/util.h"

#include <inttypes.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

static json_t *jstr_or_null(const char *s)
{
	return s ? json_string(s) : json_null();
}

static json_t *time_json(int64_t t)
{
	char buf[32];

	cms_format_time(buf, t);
	return json_string(buf);
}

static json_t *location_json(const struct plan_location *l)
{
	json_t *o = json_object();

	json_object_set_new(o, "primary", jstr_or_null(l->primary));
	json_object_set_new(o, "mirror", jstr_or_null(l->mirror));
	return o;
}

json_t *observation_to_json(const struct observation *obs)
{
	json_t *o = json_object(), *servers = json_array();
	size_t i, j;

	json_object_set_new(o, "probed", json_boolean(obs->probed));
	for (i = 0; i < obs->nservers; i++) {
		const struct server_obs *s = &obs->servers[i];
		json_t *so = json_object(), *dbs = json_array();

		json_object_set_new(so, "server", json_string(s->server));
		json_object_set_new(so, "reachable", json_boolean(s->reachable));
		json_object_set_new(so, "error", jstr_or_null(s->error));
		json_object_set_new(so, "role", json_string(obs_role_name(s->role)));
		json_object_set_new(so, "epoch", json_integer(s->epoch));
		json_object_set_new(so, "position", json_integer((json_int_t)s->position));
		json_object_set_new(so, "read_only", json_boolean(s->read_only));
		json_object_set_new(so, "lag_bytes", json_integer(s->lag_bytes));
		json_object_set_new(so, "upstream", jstr_or_null(s->upstream));
		for (j = 0; j < s->ndbs; j++) {
			const struct db_obs *d = &s->dbs[j];
			json_t *dobj = json_object();

			json_object_set_new(dobj, "name", json_string(d->name));
			json_object_set_new(dobj, "role", json_string(obs_role_name(d->role)));
			json_object_set_new(dobj, "epoch", json_integer(d->epoch));
			json_object_set_new(dobj, "position", json_integer((json_int_t)d->position));
			json_object_set_new(dobj, "read_only", json_boolean(d->read_only));
			json_object_set_new(dobj, "state", jstr_or_null(d->state));
			json_array_append_new(dbs, dobj);
		}
		json_object_set_new(so, "databases", dbs);
		json_array_append_new(servers, so);
	}
	json_object_set_new(o, "servers", servers);
	return o;
}

static json_t *policy_json(const struct policy *p)
{
	json_t *o = json_object();

	json_object_set_new(o, "allow_data_loss", json_boolean(p->allow_data_loss));
	json_object_set_new(o, "max_lag_bytes", json_integer((json_int_t)p->max_lag_bytes));
	json_object_set_new(o, "catch_up_timeout_ms", json_integer(p->catch_up_timeout_ms));
	json_object_set_new(o, "plan_ttl_s", json_integer(p->plan_ttl_s));
	json_object_set_new(o, "approvals", json_integer(p->approvals));
	json_object_set_new(o, "login_timeout_ms", json_integer(p->login_timeout_ms));
	json_object_set_new(o, "query_timeout_ms", json_integer(p->query_timeout_ms));
	return o;
}

static const char *const fence_via_names[] = {
	[FENCE_VIA_NONE] = "none",
	[FENCE_VIA_DATABASE] = "database",
	[FENCE_VIA_TARGETS] = "targets",
};

static json_t *fence_json(const struct plan_fence *f)
{
	json_t *o = json_object();

	json_object_set_new(o, "server", jstr_or_null(f->server));
	json_object_set_new(o, "via", json_string(fence_via_names[f->via]));
	json_object_set_new(o, "targets", cms_json_strv(&f->targets));
	json_object_set_new(o, "note", jstr_or_null(f->note));
	return o;
}

static json_t *assume_down_json(const struct plan *p)
{
	json_t *o;

	if (!p->assume_down)
		return json_null();
	o = json_object();
	json_object_set_new(o, "server", json_string(p->assume_down));
	json_object_set_new(o, "reason", json_string(p->assume_down_reason ? p->assume_down_reason : ""));
	return o;
}

int plan_to_json(const struct plan *p, struct buf *out, struct cms_error *err)
{
	json_t *root = json_object(), *steps = json_array();
	char *text = NULL;
	size_t i;
	int rc = 0;

	json_object_set_new(root, "format_version", json_integer(p->format_version));
	json_object_set_new(root, "store", json_string(p->store));
	json_object_set_new(root, "engine", json_string(engine_kind_name(p->engine)));
	json_object_set_new(root, "databases", cms_json_strv(&p->databases));
	json_object_set_new(root, "mode", json_string(plan_mode_name(p->mode)));
	json_object_set_new(root, "from", location_json(&p->from));
	json_object_set_new(root, "to", location_json(&p->to));
	json_object_set_new(root, "lineage", json_string(p->lineage));
	json_object_set_new(root, "serial", json_integer(p->serial));
	json_object_set_new(root, "after_run", jstr_or_null(p->after_run));
	json_object_set_new(root, "offline", json_boolean(p->offline));
	json_object_set_new(root, "observations", observation_to_json(&p->obs));
	json_object_set_new(root, "policy", policy_json(&p->policy));
	json_object_set_new(root, "fence", fence_json(&p->fence));
	json_object_set_new(root, "assume_down", assume_down_json(p));
	/* Only when given: plans without them keep their bytes (and ids). */
	if (p->reason)
		json_object_set_new(root, "reason", json_string(p->reason));
	if (p->ticket)
		json_object_set_new(root, "ticket", json_string(p->ticket));
	for (i = 0; i < p->nsteps; i++) {
		const struct plan_step *s = &p->steps[i];
		json_t *so = json_object();

		json_object_set_new(so, "n", json_integer(s->n));
		json_object_set_new(so, "action", json_string(plan_action_name(s->action)));
		json_object_set_new(so, "server", jstr_or_null(s->server));
		json_object_set_new(so, "description", json_string(s->description));
		json_object_set_new(so, "checks", cms_json_strv(&s->checks));
		json_array_append_new(steps, so);
	}
	json_object_set_new(root, "steps", steps);
	json_object_set_new(root, "pending", cms_json_strv(&p->pending));
	json_object_set_new(root, "publish", cms_json_strv(&p->publish));
	json_object_set_new(root, "author", json_string(p->author));
	json_object_set_new(root, "created", time_json(p->created));
	json_object_set_new(root, "expires", time_json(p->expires));

	text = json_dumps(root, JSON_SORT_KEYS | JSON_INDENT(2) | JSON_ENSURE_ASCII);
	if (!text) {
		rc = cms_error_set(err, CMS_ERROR, "cannot encode plan of store '%s' as JSON", p->store);
		goto done;
	}
	buf_adds(out, text);
	buf_addch(out, '\n');
done:
	free(text);
	json_decref(root);
	return rc;
}

/* --- parsing -------------------------------------------------------------- */

struct reader {
	const char *what;
	struct cms_error *err;
	int failed;
};

static int bad(struct reader *r, const char *path, const char *problem)
{
	if (!r->failed)
		cms_error_set(r->err, CMS_ESTALE, "%s is not a valid plan: '%s' %s", r->what, path,
			      problem);
	r->failed = 1;
	return -1;
}

/* Refuses keys outside allowed (NULL-terminated). */
static void only_keys(struct reader *r, json_t *obj, const char *path, const char *const *allowed)
{
	const char *key;
	json_t *v;

	json_object_foreach(obj, key, v) {
		const char *const *a;
		int ok = 0;

		(void)v;
		for (a = allowed; *a; a++)
			if (!strcmp(*a, key))
				ok = 1;
		if (!ok) {
			char *p = xasprintf("%s%s%s", path, *path ? "." : "", key);
			bad(r, p, "is not a plan field");
			free(p);
			return;
		}
	}
}

static json_t *field(struct reader *r, json_t *obj, const char *path, const char *key, int type)
{
	json_t *v = json_object_get(obj, key);
	char *p = xasprintf("%s%s%s", path, *path ? "." : "", key);

	if (!v) {
		bad(r, p, "is missing");
		v = NULL;
	} else if (type >= 0 && json_typeof(v) != (json_type)type &&
		   !(type == JSON_TRUE && json_is_boolean(v))) {
		bad(r, p, "has the wrong type");
		v = NULL;
	}
	free(p);
	return v;
}

static char *get_str(struct reader *r, json_t *obj, const char *path, const char *key, int nullable)
{
	json_t *v = json_object_get(obj, key);

	if (nullable && v && json_is_null(v))
		return NULL;
	v = field(r, obj, path, key, JSON_STRING);
	return v ? xstrdup(json_string_value(v)) : NULL;
}

static int64_t get_int(struct reader *r, json_t *obj, const char *path, const char *key)
{
	json_t *v = field(r, obj, path, key, JSON_INTEGER);

	return v ? (int64_t)json_integer_value(v) : 0;
}

static bool get_bool(struct reader *r, json_t *obj, const char *path, const char *key)
{
	json_t *v = field(r, obj, path, key, JSON_TRUE);

	return v ? json_is_true(v) : false;
}

static int64_t get_time(struct reader *r, json_t *obj, const char *key)
{
	json_t *v = field(r, obj, "", key, JSON_STRING);
	int64_t t = 0;

	if (v && cms_parse_time(&t, json_string_value(v)) < 0)
		bad(r, key, "is not an RFC 3339 UTC time");
	return t;
}

static void get_strv(struct reader *r, json_t *obj, const char *path, const char *key,
		     struct cms_strv *out)
{
	json_t *a = field(r, obj, path, key, JSON_ARRAY), *v;
	size_t i;

	if (!a)
		return;
	json_array_foreach(a, i, v) {
		if (!json_is_string(v)) {
			char *p = xasprintf("%s%s%s[%zu]", path, *path ? "." : "", key, i);
			bad(r, p, "is not a string");
			free(p);
			continue;
		}
		cms_strv_add(out, json_string_value(v));
	}
}

static void get_location(struct reader *r, json_t *obj, const char *key, struct plan_location *l)
{
	static const char *const keys[] = { "primary", "mirror", NULL };
	json_t *o = field(r, obj, "", key, JSON_OBJECT);

	if (!o)
		return;
	only_keys(r, o, key, keys);
	l->primary = get_str(r, o, key, "primary", 1);
	l->mirror = get_str(r, o, key, "mirror", 1);
}

static enum obs_role get_role(struct reader *r, json_t *obj, const char *path)
{
	char *s = get_str(r, obj, path, "role", 0);
	enum obs_role role = OBS_UNKNOWN;

	if (s && obs_role_parse(&role, s) < 0)
		bad(r, path, "has an unknown role");
	free(s);
	return role;
}

static void get_obs(struct reader *r, json_t *root, struct observation *obs)
{
	static const char *const okeys[] = { "probed", "servers", NULL };
	static const char *const skeys[] = { "server", "reachable", "error", "role", "epoch",
					     "position", "read_only", "lag_bytes", "upstream",
					     "databases", NULL };
	static const char *const dkeys[] = { "name", "role", "epoch", "position", "read_only",
					     "state", NULL };
	json_t *o = field(r, root, "", "observations", JSON_OBJECT), *servers, *sv;
	size_t i, j;

	if (!o)
		return;
	only_keys(r, o, "observations", okeys);
	obs->probed = get_bool(r, o, "observations", "probed");
	servers = field(r, o, "observations", "servers", JSON_ARRAY);
	if (!servers)
		return;
	obs->servers = xcalloc(json_array_size(servers) + 1, sizeof(*obs->servers));
	json_array_foreach(servers, i, sv) {
		struct server_obs *s = &obs->servers[obs->nservers];
		char *path = xasprintf("observations.servers[%zu]", i);
		json_t *dbs, *dv;

		if (!json_is_object(sv)) {
			bad(r, path, "is not an object");
			free(path);
			continue;
		}
		obs->nservers++;
		only_keys(r, sv, path, skeys);
		s->server = get_str(r, sv, path, "server", 0);
		s->reachable = get_bool(r, sv, path, "reachable");
		s->error = get_str(r, sv, path, "error", 1);
		s->role = get_role(r, sv, path);
		s->epoch = get_int(r, sv, path, "epoch");
		s->position = (uint64_t)get_int(r, sv, path, "position");
		s->read_only = get_bool(r, sv, path, "read_only");
		s->lag_bytes = get_int(r, sv, path, "lag_bytes");
		s->upstream = get_str(r, sv, path, "upstream", 1);
		dbs = field(r, sv, path, "databases", JSON_ARRAY);
		if (dbs) {
			s->dbs = xcalloc(json_array_size(dbs) + 1, sizeof(*s->dbs));
			json_array_foreach(dbs, j, dv) {
				struct db_obs *d = &s->dbs[s->ndbs];
				char *dpath = xasprintf("%s.databases[%zu]", path, j);

				if (!json_is_object(dv)) {
					bad(r, dpath, "is not an object");
					free(dpath);
					continue;
				}
				s->ndbs++;
				only_keys(r, dv, dpath, dkeys);
				d->name = get_str(r, dv, dpath, "name", 0);
				d->role = get_role(r, dv, dpath);
				d->epoch = get_int(r, dv, dpath, "epoch");
				d->position = (uint64_t)get_int(r, dv, dpath, "position");
				d->read_only = get_bool(r, dv, dpath, "read_only");
				d->state = get_str(r, dv, dpath, "state", 1);
				free(dpath);
			}
		}
		free(path);
	}
}

static void get_policy(struct reader *r, json_t *root, struct policy *p)
{
	static const char *const keys[] = { "allow_data_loss", "max_lag_bytes",
					    "catch_up_timeout_ms", "plan_ttl_s", "approvals",
					    "login_timeout_ms", "query_timeout_ms", NULL };
	json_t *o = field(r, root, "", "policy", JSON_OBJECT);

	if (!o)
		return;
	only_keys(r, o, "policy", keys);
	p->allow_data_loss = get_bool(r, o, "policy", "allow_data_loss");
	p->max_lag_bytes = (uint64_t)get_int(r, o, "policy", "max_lag_bytes");
	p->catch_up_timeout_ms = get_int(r, o, "policy", "catch_up_timeout_ms");
	p->plan_ttl_s = get_int(r, o, "policy", "plan_ttl_s");
	p->approvals = (int)get_int(r, o, "policy", "approvals");
	p->login_timeout_ms = get_int(r, o, "policy", "login_timeout_ms");
	p->query_timeout_ms = get_int(r, o, "policy", "query_timeout_ms");
	if (p->approvals < 0 || p->catch_up_timeout_ms <= 0 || p->login_timeout_ms <= 0 ||
	    p->query_timeout_ms <= 0)
		bad(r, "policy", "has a value out of range");
}

/* fence and assume_down: absent in plans made before they existed (a
 * restore may read one from the history); checked like the rest when there. */
static void get_fence(struct reader *r, json_t *root, struct plan *p)
{
	static const char *const fkeys[] = { "server", "via", "targets", "note", NULL };
	static const char *const akeys[] = { "server", "reason", NULL };
	json_t *o = json_object_get(root, "fence");
	size_t i;
	char *via;

	if (o) {
		if (!json_is_object(o)) {
			bad(r, "fence", "has the wrong type");
			return;
		}
		only_keys(r, o, "fence", fkeys);
		p->fence.server = get_str(r, o, "fence", "server", 1);
		via = get_str(r, o, "fence", "via", 0);
		for (i = 0; via && i < ARRAY_SIZE(fence_via_names) && strcmp(via, fence_via_names[i]); i++)
			;
		if (via && i == ARRAY_SIZE(fence_via_names))
			bad(r, "fence.via", "is not a known way to fence");
		else if (via)
			p->fence.via = (enum plan_fence_via)i;
		free(via);
		get_strv(r, o, "fence", "targets", &p->fence.targets);
		p->fence.note = get_str(r, o, "fence", "note", 1);
		if (p->fence.via == FENCE_VIA_TARGETS && !p->fence.targets.n)
			bad(r, "fence.targets", "is empty for a fence through targets");
		if (p->fence.via != FENCE_VIA_NONE && !p->fence.server)
			bad(r, "fence.server", "is missing");
	}
	o = json_object_get(root, "assume_down");
	if (o && !json_is_null(o)) {
		if (!json_is_object(o)) {
			bad(r, "assume_down", "has the wrong type");
			return;
		}
		only_keys(r, o, "assume_down", akeys);
		p->assume_down = get_str(r, o, "assume_down", "server", 0);
		p->assume_down_reason = get_str(r, o, "assume_down", "reason", 0);
		if (p->assume_down_reason) {
			const unsigned char *c = (const unsigned char *)p->assume_down_reason;

			if (!*c)
				bad(r, "assume_down.reason", "is empty");
			for (; *c; c++)
				if (*c < 0x20 || *c == 0x7f) {
					bad(r, "assume_down.reason", "is not one line of text");
					break;
				}
		}
	}
}

static void get_steps(struct reader *r, json_t *root, struct plan *p)
{
	static const char *const keys[] = { "n", "action", "server", "description", "checks", NULL };
	json_t *a = field(r, root, "", "steps", JSON_ARRAY), *sv;
	size_t i;

	if (!a)
		return;
	p->steps = xcalloc(json_array_size(a) + 1, sizeof(*p->steps));
	json_array_foreach(a, i, sv) {
		struct plan_step *s = &p->steps[p->nsteps];
		char *path = xasprintf("steps[%zu]", i);
		char *action;

		if (!json_is_object(sv)) {
			bad(r, path, "is not an object");
			free(path);
			continue;
		}
		p->nsteps++;
		only_keys(r, sv, path, keys);
		s->n = (int)get_int(r, sv, path, "n");
		if (s->n != (int)i + 1)
			bad(r, path, "is out of order");
		action = get_str(r, sv, path, "action", 0);
		if (action && plan_action_parse(&s->action, action) < 0)
			bad(r, path, "has an unknown action");
		free(action);
		s->server = get_str(r, sv, path, "server", 1);
		s->description = get_str(r, sv, path, "description", 0);
		get_strv(r, sv, path, "checks", &s->checks);
		free(path);
	}
}

int plan_from_json(struct plan **out, const char *data, size_t len, const char *what,
		   struct cms_error *err)
{
	static const char *const keys[] = { "format_version", "store", "engine", "databases",
					    "mode", "from", "to", "lineage", "serial", "after_run", "offline",
					    "observations", "policy", "fence", "assume_down", "steps",
					    "pending", "publish", "author", "created", "expires", "reason",
					    "ticket", NULL };
	struct reader r = { what, err, 0 };
	json_error_t jerr;
	json_t *root;
	struct plan *p;
	char *s;
	size_t i;

	*out = NULL;
	root = json_loadb(data, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!root)
		return cms_error_set(err, CMS_ESTALE, "%s is not valid JSON: line %d column %d: %s",
				     what, jerr.line, jerr.column, jerr.text);
	if (!json_is_object(root)) {
		json_decref(root);
		return cms_error_set(err, CMS_ESTALE, "%s is not a plan: not a JSON object", what);
	}
	p = xcalloc(1, sizeof(*p));
	p->format_version = (int)get_int(&r, root, "", "format_version");
	if (!r.failed && p->format_version != PLAN_FORMAT_VERSION) {
		cms_error_set(err, CMS_ESTALE, "%s has plan format_version %d; this cmsctl reads %d",
			      what, p->format_version, PLAN_FORMAT_VERSION);
		r.failed = 1;
		goto done;
	}
	only_keys(&r, root, "", keys);
	p->store = get_str(&r, root, "", "store", 0);
	s = get_str(&r, root, "", "engine", 0);
	if (s) {
		const struct engine_traits *t = engine_traits_by_name(s);

		if (t)
			p->engine = t->kind;
		else
			bad(&r, "engine", "is not a known engine");
	}
	free(s);
	get_strv(&r, root, "", "databases", &p->databases);
	s = get_str(&r, root, "", "mode", 0);
	if (s) {
		int found = 0;

		for (i = 0; i <= PLAN_DISASTER_RECOVERY; i++)
			if (!strcmp(s, plan_mode_name((enum plan_mode)i))) {
				p->mode = (enum plan_mode)i;
				found = 1;
			}
		if (!found)
			bad(&r, "mode", "is not a known mode");
	}
	free(s);
	get_location(&r, root, "from", &p->from);
	get_location(&r, root, "to", &p->to);
	p->lineage = get_str(&r, root, "", "lineage", 0);
	p->serial = get_int(&r, root, "", "serial");
	p->after_run = get_str(&r, root, "", "after_run", 1);
	p->offline = get_bool(&r, root, "", "offline");
	get_obs(&r, root, &p->obs);
	get_policy(&r, root, &p->policy);
	get_fence(&r, root, p);
	get_steps(&r, root, p);
	get_strv(&r, root, "", "pending", &p->pending);
	get_strv(&r, root, "", "publish", &p->publish);
	p->author = get_str(&r, root, "", "author", 0);
	if (json_object_get(root, "reason")) {
		p->reason = get_str(&r, root, "", "reason", 0);
		if (p->reason && plan_text_problem(p->reason, PLAN_REASON_MAX, true))
			bad(&r, "reason", plan_text_problem(p->reason, PLAN_REASON_MAX, true));
	}
	if (json_object_get(root, "ticket")) {
		p->ticket = get_str(&r, root, "", "ticket", 0);
		if (p->ticket && plan_text_problem(p->ticket, PLAN_TICKET_MAX, false))
			bad(&r, "ticket", plan_text_problem(p->ticket, PLAN_TICKET_MAX, false));
	}
	p->created = get_time(&r, root, "created");
	p->expires = get_time(&r, root, "expires");
	if (!r.failed && p->mode != PLAN_NONE && !p->to.primary)
		bad(&r, "to.primary", "is missing");
done:
	json_decref(root);
	if (r.failed) {
		plan_free(p);
		return err ? err->code : CMS_ESTALE;
	}
	*out = p;
	return 0;
}

/* --- human rendering -------------------------------------------------------- */

static const char *or_dash(const char *s)
{
	return s ? s : "-";
}

static const char *after_role(const struct plan *p, const char *server, const struct server_obs *o)
{
	if (p->mode == PLAN_NONE || p->mode == PLAN_ADOPT)
		return o ? (o->reachable ? obs_role_name(o->role) : "unreachable") : "-";
	if (p->to.primary && !strcmp(server, p->to.primary))
		return "primary";
	if (p->from.primary && !strcmp(server, p->from.primary)) {
		size_t i;

		/* The demote step's own check says what it leaves: "X reports R". */
		for (i = 0; i < p->nsteps; i++)
			if (p->steps[i].action == ACTION_DEMOTE) {
				const char *c = p->steps[i].checks.n ? p->steps[i].checks.v[0] : NULL;
				const char *r = c ? strstr(c, " reports ") : NULL;

				return r ? r + strlen(" reports ") : "demoted";
			}
		return "out of service";
	}
	return o ? (o->reachable ? obs_role_name(o->role) : "unreachable") : "-";
}

void plan_render(const struct plan *p, const char *plan_id, struct buf *out)
{
	char created[32], expires[32];
	size_t i, j;

	buf_addf(out, "Plan for store %s (engine %s): %s\n", p->store, engine_kind_name(p->engine),
		 plan_mode_name(p->mode));
	if (p->offline)
		buf_adds(out, "  made --offline: no server was probed; for review only, apply refuses it\n");
	{
		int w = 15;

		if ((int)strlen(or_dash(p->from.primary)) > w)
			w = (int)strlen(or_dash(p->from.primary));
		if ((int)strlen(or_dash(p->from.mirror)) > w)
			w = (int)strlen(or_dash(p->from.mirror));
		buf_addf(out, "\n  location    %-*s proposed\n", w, "current");
		buf_addf(out, "  primary     %-*s %s\n", w, or_dash(p->from.primary),
			 or_dash(p->to.primary));
		buf_addf(out, "  mirror      %-*s %s\n", w, or_dash(p->from.mirror),
			 or_dash(p->to.mirror));
	}

	if (p->obs.nservers) {
		int w = 15;

		for (i = 0; i < p->obs.nservers; i++)
			if ((int)strlen(p->obs.servers[i].server) > w)
				w = (int)strlen(p->obs.servers[i].server);
		buf_addf(out, "\n  %-*s observed      epoch  lag bytes    read-only  after\n", w, "server");
		for (i = 0; i < p->obs.nservers; i++) {
			const struct server_obs *o = &p->obs.servers[i];
			char lag[32];

			if (!o->reachable || o->lag_bytes < 0)
				snprintf(lag, sizeof(lag), "-");
			else
				snprintf(lag, sizeof(lag), "%" PRId64, o->lag_bytes);
			buf_addf(out, "  %-*s %-13s %5" PRId64 "  %-12s %-10s %s\n", w, o->server,
				 o->reachable ? obs_role_name(o->role) : "unreachable", o->epoch, lag,
				 !o->reachable ? "-" : o->read_only ? "yes" : "no",
				 after_role(p, o->server, o));
			if (!o->reachable && o->error)
				buf_addf(out, "      (%s)\n", o->error);
		}
	}

	if (p->fence.server && p->fence.via == FENCE_VIA_DATABASE)
		buf_addf(out, "\nFence of %s: through its database%s%s\n", p->fence.server,
			 p->fence.note ? "; " : "", p->fence.note ? p->fence.note : "");
	if (p->fence.server && p->fence.via == FENCE_VIA_TARGETS) {
		buf_addf(out, "\nFence of %s: from outside, through its fence targets, tried in order "
			 "until one exits 0:\n", p->fence.server);
		for (i = 0; i < p->fence.targets.n; i++)
			buf_addf(out, "  %zu. %s\n", i + 1, p->fence.targets.v[i]);
	}
	if (p->fence.server && p->fence.via == FENCE_VIA_NONE)
		buf_addf(out, "\nFence of %s: none; nothing is sent to it\n", p->fence.server);
	if (p->assume_down)
		buf_addf(out, "ASSUMED DOWN by %s: %s does not answer and is attested down: \"%s\"\n"
			 "  if it is not, the store may have two primaries\n", p->author,
			 p->assume_down, p->assume_down_reason ? p->assume_down_reason : "");

	if (p->reason || p->ticket)
		buf_adds(out, "\n");
	if (p->reason)
		buf_addf(out, "Reason: %s\n", p->reason);
	if (p->ticket)
		buf_addf(out, "Ticket: %s\n", p->ticket);

	if (p->nsteps) {
		buf_adds(out, "\nSteps:\n");
		for (i = 0; i < p->nsteps; i++) {
			const struct plan_step *s = &p->steps[i];

			buf_addf(out, "  %d. %-12s %s\n", s->n, plan_action_name(s->action), s->description);
			for (j = 0; j < s->checks.n; j++)
				buf_addf(out, "       - %s\n", s->checks.v[j]);
		}
	} else {
		buf_adds(out, p->pending.n ?
			 "\nNo changes that a plan can make; what is left is listed as pending.\n" :
			 "\nNo changes. The recorded location matches the config and the servers.\n");
	}
	if (p->pending.n) {
		buf_adds(out, "\nPending (not done by this plan):\n");
		for (i = 0; i < p->pending.n; i++)
			buf_addf(out, "  - %s\n", p->pending.v[i]);
	}
	cms_format_time(created, p->created);
	cms_format_time(expires, p->expires);
	buf_addf(out, "\nPolicy: allow_data_loss %s, max_lag_bytes %" PRIu64 ", catch_up_timeout %" PRId64
		 " ms, approvals %d\n", p->policy.allow_data_loss ? "true" : "false",
		 p->policy.max_lag_bytes, p->policy.catch_up_timeout_ms, p->policy.approvals);
	buf_addf(out, "Made by %s at %s against serial %" PRId64 "%s%s%s%s; expires %s\n", p->author,
		 created, p->serial, *p->lineage ? " of lineage " : " (never recorded)", p->lineage,
		 p->after_run ? ", after run " : "", p->after_run ? p->after_run : "", expires);
	if (plan_id)
		buf_addf(out, "Plan id: %s\n", plan_id);
}
