/*
 * One table of what each engine is and can do, read as data by the config
 * loader, the planner and the applier: no other place compares engine
 * kinds.  Adding an engine is its row here, its implementation under
 * applier/ (engine_<name>.c with an engine_ops table) and its line in
 * applier/engine.c's table of implementations.
 */
#ifndef CMS_PLANNER_ENGINES_H
#define CMS_PLANNER_ENGINES_H

#include "planner/model.h"

#include <stdbool.h>

#define ENGINE_TRAITS_VERSION 1

struct engine_traits {
	int version;              /* ENGINE_TRAITS_VERSION */
	enum engine_kind kind;
	const char *name;         /* as configs and plans spell it */
	/* Servers are folders on this machine ('path'), not connections. */
	bool servers_are_folders;
	/* Servers have SQL Server instance names ('instance'). */
	bool has_instances;
	/* NULL, or why fencing a server through its database sends nothing
	 * (the promotion itself takes the role away). */
	const char *fence_note;
	/* NULL, or how the old primary is fenced through its database when
	 * the target is a backup server with a 'log_backups' folder (mssql:
	 * its tail-log backup WITH NORECOVERY). */
	const char *log_backup_fence_note;
	/* After a move the old primary stays fenced and must be re-seeded
	 * from the new primary before it serves again (PostgreSQL: a timeline
	 * cannot be turned back by a statement); otherwise demote makes it a
	 * copy again, of the role its config gives it. */
	bool old_primary_stays_fenced;
	/* What the old primary reports after demote: a fixed role ("fenced",
	 * "mirror"), or NULL for the role its config gives it (a backup
	 * becomes a backup again, anything else a mirror). */
	const char *after_demote;
	/* Connection attributes cmsctl adds to its own connections (turning
	 * driver logging off), or NULL. */
	const char *connection_suffix;
};

/* The row of kind k (never NULL for a kind the loader produced). */
const struct engine_traits *engine_traits(enum engine_kind k);
/* The row named name, or NULL. */
const struct engine_traits *engine_traits_by_name(const char *name);
/* Every row, in kind order; *n receives the count. */
const struct engine_traits *engine_traits_all(size_t *n);

#endif
