/*
 * Re-derivation of a saved plan (plan.h, planner_check_rederived): the
 * planner is run again on the plan's own recorded inputs under the config
 * as it is now, and the bytes must be the same.  When they are not, the
 * first JSON path that differs is named.
 */
#include "planner/plan.h"
#include "common/buf.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* The first place where two JSON values differ, as "PATH: A in the plan,
 * B now"; false when equal. */
static bool first_difference(json_t *x, json_t *y, struct buf *path, struct buf *out)
{
	size_t len = path->len;

	if (json_is_object(x) && json_is_object(y)) {
		const char *key;
		json_t *v;

		json_object_foreach(x, key, v) {
			buf_addf(path, "%s%s", path->len ? "." : "", key);
			if (first_difference(v, json_object_get(y, key), path, out))
				return true;
			buf_setlen(path, len);
		}
		json_object_foreach(y, key, v)
			if (!json_object_get(x, key)) {
				buf_addf(out, "%s%s%s: absent in the plan", path->ptr ? path->ptr : "",
					 path->len ? "." : "", key);
				return true;
			}
		return false;
	}
	if (json_is_array(x) && json_is_array(y) && json_array_size(x) == json_array_size(y)) {
		size_t i;

		for (i = 0; i < json_array_size(x); i++) {
			buf_addf(path, "[%zu]", i);
			if (first_difference(json_array_get(x, i), json_array_get(y, i), path, out))
				return true;
			buf_setlen(path, len);
		}
		return false;
	}
	if (json_equal(x, y))
		return false;
	{
		char *a = x ? json_dumps(x, JSON_ENCODE_ANY | JSON_COMPACT) : NULL;
		char *b = y ? json_dumps(y, JSON_ENCODE_ANY | JSON_COMPACT) : NULL;

		buf_addf(out, "%s is %.80s in the plan, %.80s now", path->len ? path->ptr : "the plan",
			 a ? a : "absent", b ? b : "absent");
		free(a);
		free(b);
	}
	return true;
}

static void describe_difference(const struct buf *saved, const struct buf *now, struct buf *out)
{
	json_t *x = json_loadb(saved->ptr, saved->len, 0, NULL);
	json_t *y = json_loadb(now->ptr, now->len, 0, NULL);
	struct buf path = BUF_INIT;

	if (x && y)
		first_difference(x, y, &path, out);
	json_decref(x);
	json_decref(y);
	buf_free(&path);
}

/*
 * A saved plan must be exactly what the planner makes of its own recorded
 * inputs (the record it was made against, its observations, its clock and
 * author) under the config as it is now.  So steps, policy and targets
 * cannot be edited, not even in the history branch, and a config changed
 * since planning is noticed rather than half-honoured.
 */
int planner_check_rederived(const struct store *st, const struct plan *p, const struct buf *json,
			    const char *id, struct cms_error *err)
{
	struct recorded_location loc;
	struct plan_inputs in;
	struct buf what_buf = BUF_INIT;
	const char *what = "";
	int pass;

	memset(&in, 0, sizeof(in));
	in.desired = st;
	if (*p->lineage) {
		loc.lineage = p->lineage;
		loc.serial = p->serial;
		loc.primary = p->from.primary;
		loc.mirror = p->from.mirror;
		in.recorded = &loc;
	}
	in.obs = &p->obs;
	in.now = p->created;
	in.author = p->author;
	in.after_run = p->after_run;
	in.assume_down = p->assume_down;
	in.assume_down_reason = p->assume_down_reason;
	in.reason = p->reason;
	in.ticket = p->ticket;
	for (pass = 0; pass < 2; pass++) {
		struct cms_error ignored = CMS_ERROR_INIT;
		struct buf b = BUF_INIT;
		struct plan *q = NULL;
		bool same, made;

		in.accept_drift = pass == 1;
		made = planner_diff(&q, &in, &ignored) == 0 && plan_to_json(q, &b, &ignored) == 0;
		same = made && b.len == json->len && memcmp(b.ptr, json->ptr, b.len) == 0;
		if (made && !same && (pass == 0 || !*what)) {
			buf_reset(&what_buf);
			describe_difference(json, &b, &what_buf);
			what = what_buf.ptr ? what_buf.ptr : "";
		}
		plan_free(q);
		buf_free(&b);
		cms_error_clear(&ignored);
		if (same) {
			buf_free(&what_buf);
			return 0;
		}
	}
	cms_error_set(err, CMS_ESTALE, "plan %.12s is not what the config now makes of the inputs "
		      "it was made from: the config changed since, or the plan was edited%s%s", id,
		      *what ? ": " : "", what);
	cms_error_hint(err, "make and review a new plan with 'cmsctl plan -o FILE'");
	buf_free(&what_buf);
	return CMS_ESTALE;
}
