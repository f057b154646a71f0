/*
 * One history commit as cmsctl makes it: the commit, then its new tip
 * recorded in the state (for audit verify's check that the branch only
 * ever grew).  Every history commit goes through here.
 */
#ifndef CMS_STATE_RECORD_H
#define CMS_STATE_RECORD_H

#include "common/error.h"
#include "state/history.h"
#include "state/state.h"

/* history_commit(), then state_history_tip_set() when sdb is not NULL.  A
 * tip that cannot be recorded leaves an older one (an ancestor: the check
 * stays right, only less tight): that is not a failure of the commit, and
 * *warn says why (the caller prints it).  commit_out may be NULL. */
int record_commit(struct history *h, struct state *sdb, const struct history_file *files,
		  size_t nfiles, const char *message, const char *operator_name, int64_t now,
		  char commit_out[41], struct cms_error *warn, struct cms_error *err);
/* record_commit() through history_commit_absent(): HISTORY_PRESENT, and no
 * commit, when the tip already holds the path absent. */
int record_commit_absent(struct history *h, struct state *sdb, const char *absent,
			 const struct history_file *files, size_t nfiles, const char *message,
			 const char *operator_name, int64_t now, char commit_out[41],
			 struct cms_error *warn, struct cms_error *err);

#endif
