/*
 * The engine table (planner/engines.h): one row per engine, in the order
 * of enum engine_kind.
 */
#include "planner/engines.h"

#include <string.h>

static const struct engine_traits rows[] = {
	{
		.version = ENGINE_TRAITS_VERSION,
		.kind = ENGINE_SQLITE,
		.name = "sqlite",
		.servers_are_folders = true,
	},
	{
		.version = ENGINE_TRAITS_VERSION,
		.kind = ENGINE_POSTGRESQL,
		.name = "postgresql",
		.old_primary_stays_fenced = true,
		.after_demote = "fenced",
		/* psqlODBC's logs (Debug, CommLog) hold every connection's
		 * password; the config refuses them, and this overrides a DSN
		 * or driver entry that turns them on. */
		.connection_suffix = ";Debug=0;CommLog=0",
	},
	{
		.version = ENGINE_TRAITS_VERSION,
		.kind = ENGINE_MSSQL,
		.name = "mssql",
		.has_instances = true,
		.after_demote = "mirror",
		.fence_note = "nothing is sent: SQL Server's failover itself takes the principal "
			      "role away, database by database",
		.log_backup_fence_note = "a tail-log backup of each database WITH NORECOVERY into "
					 "the target's log_backups folder leaves it RESTORING (no "
					 "more writes)",
	},
};

const struct engine_traits *engine_traits(enum engine_kind k)
{
	size_t i;

	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
		if (rows[i].kind == k)
			return &rows[i];
	return NULL;
}

const struct engine_traits *engine_traits_by_name(const char *name)
{
	size_t i;

	for (i = 0; name && i < sizeof(rows) / sizeof(rows[0]); i++)
		if (!strcmp(rows[i].name, name))
			return &rows[i];
	return NULL;
}

const struct engine_traits *engine_traits_all(size_t *n)
{
	*n = sizeof(rows) / sizeof(rows[0]);
	return rows;
}
