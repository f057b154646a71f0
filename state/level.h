/*
 * Bringing the history level with the state.  A run the state has finished
 * but whose report the history lacks (its process was killed between the
 * state commit and the history commit, or the history refused the commit)
 * is committed from the state's journal: its steps with their statements,
 * checks and timings, as the journal kept them.
 */
#ifndef CMS_STATE_LEVEL_H
#define CMS_STATE_LEVEL_H

#include "common/error.h"
#include "common/strv.h"

#include <stddef.h>
#include <stdint.h>

struct history;
struct state;

/* The finished runs of store that have no report in the history, oldest
 * first, into *run_ids (empty at the call; the caller frees it). */
int level_pending(struct history *h, struct state *sdb, const char *store,
		  struct cms_strv *run_ids, struct cms_error *err);

/* Commits each pending run of store from the journal, oldest first, and
 * records the new history tip in the state.  engine is the store's engine
 * name (the report says it); location_json, when not NULL, is the store's
 * location.json for the state's current record, committed with the newest
 * run when that run's outcome is ok and the history's location.json is
 * behind.  only, when not NULL: only the runs it names (level_pending's
 * list of an earlier moment).  recorded: the ids of the runs committed
 * are added to it (a run whose report another process committed
 * meanwhile is not: its commit is not made, history_commit_absent). */
int level_history(struct history *h, struct state *sdb, const char *store, const char *engine,
		  const char *location_json, const char *operator_name, int64_t now,
		  const struct cms_strv *only, struct cms_strv *recorded, struct cms_error *err);

#endif
