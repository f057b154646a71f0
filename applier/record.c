/*
 * A run's record in the history (record.h): the report, the location it
 * ended with, and a message with the run's follow-ups and trailers.
 */
#include "applier/record.h"
#include "applier/publish.h"
#include "common/util.h"
#include "state/record.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

static int location_doc(struct buf *out, const struct store *st, const struct apply_result *res,
			const char *plan_id, struct cms_error *err)
{
	const struct server *ps = store_find_server(st, res->location_primary);
	struct published_location loc;

	memset(&loc, 0, sizeof(loc));
	loc.store = st->name;
	loc.engine = engine_kind_name(st->engine);
	loc.primary = res->location_primary;
	loc.mirror = res->location_mirror;
	loc.primary_fqdn = ps ? ps->fqdn : NULL;
	loc.primary_instance = ps ? ps->instance : NULL;
	loc.serial = res->serial_after;
	loc.plan_id = plan_id;
	loc.run_id = res->run_id;
	if (cms_now(&loc.now) < 0)
		loc.now = 0;
	return publish_location_json(&loc, out, err);
}

int applier_record_run(struct history *h, struct state *sdb, const struct store *st,
		       const struct apply_result *res, const char *plan_id, const char *kind,
		       const char *op, struct cms_error *warn, struct cms_error *err)
{
	struct history_file files[3];
	struct buf msg = BUF_INIT, loc = BUF_INIT;
	char *p1 = NULL, *p2 = NULL, *p3 = NULL;
	size_t nfiles = 0, i;
	int64_t now;
	int rc = 0;

	p1 = history_path_report(st->name, res->run_id, "json");
	p2 = history_path_report(st->name, res->run_id, "html");
	files[nfiles++] = (struct history_file){ p1, res->report_json.ptr, res->report_json.len };
	files[nfiles++] = (struct history_file){ p2, res->report_html.ptr, res->report_html.len };
	if (res->location_primary && res->outcome && !strcmp(res->outcome, "ok")) {
		p3 = history_path_location(st->name);
		if ((rc = location_doc(&loc, st, res, plan_id, err)) < 0)
			goto done;
		files[nfiles++] = (struct history_file){ p3, loc.ptr, loc.len };
	}
	buf_addf(&msg, "%s\n\nRun %s (%s) of store %s.\n", res->subject, res->run_id, kind, st->name);
	for (i = 0; i < res->followups.n; i++)
		buf_addf(&msg, "Follow-up: %s\n", res->followups.v[i]);
	buf_addch(&msg, '\n');
	{
		struct history_trailers t = {
			.plan_id = plan_id, .has_serial = true, .serial = res->serial_after,
			.operator_name = op, .outcome = res->outcome, .kind = kind,
			.run_id = res->run_id, .approved_by = res->approvals.v,
			.napproved_by = res->approvals.n, .assume_down = res->assume_down,
			.assume_down_reason = res->assume_down_reason, .reason = res->reason,
			.ticket = res->ticket,
		};

		history_add_trailers(&msg, &t);
	}
	if (cms_now(&now) < 0)
		now = 0;
	rc = record_commit(h, sdb, files, nfiles, msg.ptr, op, now, NULL, warn, err);
done:
	buf_free(&msg);
	buf_free(&loc);
	free(p1);
	free(p2);
	free(p3);
	return rc;
}
