/*
 * record_commit(): a history commit and its tip in the state (record.h).
 */
#include "state/record.h"

#include <string.h>
#include <time.h>

int record_commit(struct history *h, struct state *sdb, const struct history_file *files,
		  size_t nfiles, const char *message, const char *operator_name, int64_t now,
		  char commit_out[41], struct cms_error *warn, struct cms_error *err)
{
	char commit[41];
	int rc;

	if ((rc = history_commit(h, files, nfiles, message, operator_name, now, commit, err)) < 0)
		return rc;
	if (commit_out)
		memcpy(commit_out, commit, sizeof(commit));
	/* Leases and tips run on the real clock, never on a test clock. */
	if (sdb)
		state_history_tip_set(sdb, commit, (int64_t)time(NULL), warn);
	return 0;
}
