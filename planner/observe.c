/*
 * The observation model's small helpers: freeing, lookup by server name,
 * and the role names used in plans, reports and the state.  The names are
 * part of the plan format (schemas/plan.schema.json): never rename one.
 */
#include "planner/observe.h"

#include <stdlib.h>
#include <string.h>

static const char *const obs_role_names[] = {
	[OBS_UNKNOWN] = "unknown",
	[OBS_PRIMARY] = "primary",
	[OBS_MIRROR] = "mirror",
	[OBS_BACKUP] = "backup",
	[OBS_FENCED] = "fenced",
};

void observation_free(struct observation *obs)
{
	size_t i, j;

	if (!obs)
		return;
	for (i = 0; i < obs->nservers; i++) {
		struct server_obs *so = &obs->servers[i];

		free(so->server);
		free(so->error);
		free(so->upstream);
		for (j = 0; j < so->ndbs; j++) {
			free(so->dbs[j].name);
			free(so->dbs[j].state);
		}
		free(so->dbs);
	}
	free(obs->servers);
	obs->servers = NULL;
	obs->nservers = 0;
	obs->probed = false;
}

const struct server_obs *observation_find(const struct observation *obs, const char *server)
{
	size_t i;

	if (!obs || !server)
		return NULL;
	for (i = 0; i < obs->nservers; i++) {
		if (obs->servers[i].server && strcmp(obs->servers[i].server, server) == 0)
			return &obs->servers[i];
	}
	return NULL;
}

const char *obs_role_name(enum obs_role r)
{
	if ((size_t)r < sizeof(obs_role_names) / sizeof(obs_role_names[0]) && obs_role_names[r])
		return obs_role_names[r];
	return "unknown";
}

int obs_role_parse(enum obs_role *out, const char *s)
{
	size_t i;

	if (!s)
		return -1;
	for (i = 0; i < sizeof(obs_role_names) / sizeof(obs_role_names[0]); i++) {
		if (strcmp(obs_role_names[i], s) == 0) {
			*out = (enum obs_role)i;
			return 0;
		}
	}
	return -1;
}
