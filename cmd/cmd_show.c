/*
 * cmsctl show: a saved plan file, or a plan id found in the history, as the
 * same human rendering plan printed, or as its exact JSON bytes.
 */
#include "cmd/cmd.h"
#include "cmd/cmdutil.h"
#include "common/buf.h"
#include "planner/plan.h"

const struct cmd_opt cmd_show_opts[] = {
	{ 0 },
};

int cmd_show(struct cmd_args *a)
{
	struct cms_error err = CMS_ERROR_INIT;
	struct plan *p = NULL;
	struct buf json = BUF_INIT, text = BUF_INIT;
	char id[41];
	int rc = EXIT_OK;

	if (cmd_load_plan(a, a->pos[0], &p, &json, id, &err) < 0) {
		rc = cmd_fail(&err);
		goto done;
	}
	if (a->json) {
		if (cmd_write_stdout(json.ptr, json.len, &err) < 0)
			rc = cmd_fail(&err);
	} else {
		plan_render(p, id, &text);
		if (cmd_write_stdout(text.ptr, text.len, &err) < 0)
			rc = cmd_fail(&err);
	}
done:
	plan_free(p);
	buf_free(&json);
	buf_free(&text);
	cms_error_clear(&err);
	return rc;
}
