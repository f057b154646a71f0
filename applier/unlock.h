/*
 * Breaking a store's lock (cmsctl unlock): only when its lease has run out
 * or its process is gone from this host, or when forced; the break is
 * recorded in the history.
 */
#ifndef CMS_APPLIER_UNLOCK_H
#define CMS_APPLIER_UNLOCK_H

#include "applier/apply.h"
#include "applier/runner.h"
#include "common/error.h"

#include <stdbool.h>

struct unlock_result {
	char *holder;                       /* who held it */
	enum lock_holder_state holder_state;
	const char *outcome;                /* forced, expired or holder-dead */
};
void unlock_result_free(struct unlock_result *r); /* frees content */

/* Breaks lock id of store as op.  CMS_ELOCKED while its lease runs and its
 * holder is not known dead, unless force; then, when the holder is alive
 * on this host, confirm (with the question to ask) decides: a negative
 * return stops with nothing changed. */
int applier_unlock(const struct applier_env *env, const char *store, const char *id, bool force,
		   const char *op,
		   int (*confirm)(void *arg, const char *question, struct cms_error *err),
		   void *confirm_arg, struct unlock_result *out, struct cms_error *err);

#endif
