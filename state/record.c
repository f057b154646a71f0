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
	return record_commit_absent(h, sdb, NULL, files, nfiles, message, operator_name, now,
				    commit_out, warn, err);
}

int record_commit_absent(struct history *h, struct state *sdb, const char *absent,
			 const struct history_file *files, size_t nfiles, const char *message,
			 const char *operator_name, int64_t now, char commit_out[41],
			 struct cms_error *warn, struct cms_error *err)
{
	char commit[41];
	int rc;

	rc = absent ? history_commit_absent(h, absent, files, nfiles, message, operator_name, now,
					    commit, err)
		    : history_commit(h, files, nfiles, message, operator_name, now, commit, err);
	if (rc != 0)
		return rc;
	if (commit_out)
		memcpy(commit_out, commit, sizeof(commit));
	/* Leases and tips run on the real clock, never on a test clock. */
	if (sdb)
		state_history_tip_set(sdb, commit, (int64_t)time(NULL), warn);
	return 0;
}
