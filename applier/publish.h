/*
 * Publish targets: where the rest of the world learns the store's location
 * (the job of Lync's Active Directory service connection point).  Each
 * target is written and then read back where it can be.
 */
#ifndef CMS_APPLIER_PUBLISH_H
#define CMS_APPLIER_PUBLISH_H

#include "applier/db.h"
#include "common/buf.h"
#include "common/error.h"
#include "planner/model.h"

#include <stdint.h>

struct published_location {
	const char *store;
	const char *engine;
	const char *primary;
	const char *mirror;        /* or NULL */
	const char *primary_fqdn;  /* or NULL */
	const char *primary_instance; /* or NULL */
	int64_t serial;
	const char *lineage;       /* the store's lineage in the state, or NULL */
	const char *plan_id;       /* or NULL (restore) */
	const char *run_id;
	int64_t now;
};

/* Publishes loc to target t and verifies it.  log receives one line per
 * action for the report; statements sent over ODBC are appended to
 * *stmts and *nstmts (caller frees with db_stmt_log_free). */
int publish_target(const struct publish_target *t, const struct store *st,
		   const struct published_location *loc, struct buf *log,
		   struct db_stmt_log **stmts, size_t *nstmts, struct cms_error *err);

/* Before any change: whether target t may be given loc.  Returns 1 when
 * it was read and holds no newer serial and no other lineage, 0 when it
 * cannot be read back for a serial (command, ldap), CMS_EREFUSED naming
 * what it holds when it must not be overwritten, or another error when it
 * could not be read (down: the publish itself will fail and be left as a
 * follow-up).  publish_target() makes the same check again right before
 * it writes. */
int publish_check_target(const struct publish_target *t, const struct store *st,
			 const struct published_location *loc, struct cms_error *err);

/* The value an ldap target writes for one attribute: tmpl with its
 * placeholders (config_ldap_placeholders) filled from loc and the store's
 * servers.  Returns 1 and *out (caller frees), or 0 and *out NULL when
 * tmpl names a mirror placeholder and loc has no mirror (the attribute is
 * then removed), or CMS_ERROR for a template config loading would refuse. */
int publish_ldap_value(char **out, const char *tmpl, const struct store *st,
		       const struct published_location *loc, struct cms_error *err);

/* The JSON document the file target writes (deterministic). */
int publish_location_json(const struct published_location *loc, struct buf *out,
			  struct cms_error *err);

#endif
