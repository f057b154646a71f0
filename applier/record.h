/*
 * What a finished apply or restore leaves in the history: its report (JSON
 * and HTML), and when it ended ok with a location, that location.json;
 * the message says what it did, its follow-ups, and the trailers
 * (state/history.h).  cmd/ calls it once the run is over.
 */
#ifndef CMS_APPLIER_RECORD_H
#define CMS_APPLIER_RECORD_H

#include "applier/apply.h"
#include "common/error.h"
#include "state/history.h"
#include "state/state.h"

/* Commits res of store st through record_commit() (the tip into sdb when
 * not NULL; *warn says why it could not be).  op is who ran it. */
int applier_record_run(struct history *h, struct state *sdb, const struct store *st,
		       const struct apply_result *res, const char *plan_id, const char *kind,
		       const char *op, struct cms_error *warn, struct cms_error *err);

#endif
