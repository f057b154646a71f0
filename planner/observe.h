/*
 * What the servers reported: the observation model the planner diffs
 * against and apply re-checks.  Engines (applier/) fill it; the planner only
 * reads it.  Strings are owned and freed by observation_free().
 */
#ifndef CMS_PLANNER_OBSERVE_H
#define CMS_PLANNER_OBSERVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum obs_role {
	OBS_UNKNOWN,   /* unreachable, or the databases disagree */
	OBS_PRIMARY,   /* accepts writes (unless fenced) */
	OBS_MIRROR,    /* a synchronous copy (mirror, streaming standby) */
	OBS_BACKUP,    /* a disaster-recovery copy (restoring, backup standby) */
	OBS_FENCED,    /* a former primary made read-only, not yet re-seeded */
};

struct db_obs {
	char *name;          /* database name */
	enum obs_role role;
	int64_t epoch;       /* sqlite: control epoch; pg: timeline; mssql: mirroring_role_sequence */
	uint64_t position;   /* sqlite: change counter; pg: LSN; mssql: end-of-log LSN (low bits) */
	bool read_only;
	char *state;         /* engine-specific state text ("SYNCHRONIZED", "streaming"), or NULL */
};

struct server_obs {
	char *server;        /* server name from the config */
	bool reachable;
	bool answered;       /* some of it answered, even when it is not reachable as a
			      * whole (a session connected, one database read): not down */
	char *error;         /* why not reachable (no secrets), or NULL */
	enum obs_role role;  /* consensus of the databases, OBS_UNKNOWN if they disagree */
	int64_t epoch;       /* highest epoch of its databases */
	uint64_t position;   /* lowest position of its databases */
	bool read_only;      /* any database read-only */
	int64_t lag_bytes;   /* behind the observed primary; 0 for the primary; -1 unknown */
	char *upstream;      /* server it replicates from, when the engine can tell; or NULL */
	struct db_obs *dbs;
	size_t ndbs;
};

struct observation {
	bool probed;         /* false for --offline: nothing was asked */
	struct server_obs *servers; /* one per config server, config order */
	size_t nservers;
};

/* Whether a server takes writes: reachable, primary, not read-only.  A
 * primary that reports read-only is a fenced one, whatever its engine calls
 * it. */
static inline bool server_obs_writable(const struct server_obs *o)
{
	return o && o->reachable && o->role == OBS_PRIMARY && !o->read_only;
}

void observation_free(struct observation *obs); /* frees content, not obs itself */
const struct server_obs *observation_find(const struct observation *obs, const char *server);
const char *obs_role_name(enum obs_role r);
int obs_role_parse(enum obs_role *out, const char *s); /* 0 or -1 */

#endif
