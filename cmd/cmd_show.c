/*
 * cmsctl show: a saved plan file, or a plan id found in the history, as the
 * same human rendering plan printed, or as its exact JSON bytes.
 */
#include "cmd/cmd.h"
#include "cmd/cmdutil.h"
#include "common/buf.h"
#include "planner/plan.h"
#include "state/history.h"

#include <stdlib.h>
#include <unistd.h>

const struct cmd_opt cmd_show_opts[] = {
	{ 0 },
};

/* A plan file whose id the history does not hold is shown all the same,
 * with a note: a reviewer reading it learns that approve and apply refuse
 * it (it was changed after it was saved, or never saved there). */
static void note_if_not_saved(struct cmd_args *a, const char *id)
{
	struct cms_error err = CMS_ERROR_INIT;
	struct history *h = NULL;
	char *data = NULL;
	size_t len = 0;

	if (cmd_backend(a, &err) < 0 || (!a->backend->remote && access(a->history, F_OK) != 0))
		goto done; /* no history to compare with (showing creates none) */
	if (cmd_open_history(a, &h, &err) < 0)
		goto done;
	if (history_find_plan(h, id, &data, &len, &err) == CMS_ENOTFOUND)
		cmd_note("note: plan %s is not in the history at '%s': approve and apply refuse it "
			 "(it was changed after it was saved, or saved with another history, or "
			 "not saved with 'cmsctl plan -o')", id, a->history);
done:
	free(data);
	history_close(h);
	cms_error_clear(&err);
}

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
	note_if_not_saved(a, id);
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
