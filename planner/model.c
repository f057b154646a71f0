/*
 * The desired-state model: freeing it, borrowed lookups by name, and the
 * names of its enums as they are written in cms.yaml, plans and reports.
 * Loading and checking live in config.c; this file stays small so that every
 * layer can use the model without pulling in the YAML loader's concerns.
 */
#include "planner/model.h"
#include "planner/engines.h"

#include <stdlib.h>
#include <string.h>

static void argv_free(char **argv, size_t argc)
{
	size_t i;

	if (!argv)
		return;
	for (i = 0; i < argc; i++)
		free(argv[i]);
	free(argv);
}

static void server_free(struct server *sv)
{
	size_t i;

	for (i = 0; i < sv->nfence; i++)
		argv_free(sv->fence[i].argv, sv->fence[i].argc);
	free(sv->fence);
	free(sv->name);
	free(sv->fqdn);
	free(sv->instance);
	free(sv->connection);
	free(sv->dsn);
	free(sv->path);
	free(sv->user);
	free(sv->password_env);
	free(sv->password_file);
	free(sv->availability_group);
	free(sv->log_backups);
}

static void publish_free(struct publish_target *t)
{
	size_t i;

	free(t->path);
	free(t->connection);
	free(t->dsn);
	free(t->table);
	free(t->password_env);
	free(t->password_file);
	argv_free(t->argv, t->argc);
	free(t->uri);
	free(t->dn);
	free(t->bind_dn);
	free(t->ca_file);
	for (i = 0; i < t->nattrs; i++) {
		free(t->attrs[i].name);
		free(t->attrs[i].value);
	}
	free(t->attrs);
}

static void store_free(struct store *st)
{
	size_t i;

	free(st->name);
	for (i = 0; i < st->ndatabases; i++)
		free(st->databases[i]);
	free(st->databases);
	for (i = 0; i < st->nservers; i++)
		server_free(&st->servers[i]);
	free(st->servers);
	free(st->location.primary);
	free(st->location.mirror);
	free(st->allowed_signers);
	for (i = 0; i < st->npublish; i++)
		publish_free(&st->publish[i]);
	free(st->publish);
}

void config_free(struct config *cfg)
{
	size_t i;

	if (!cfg)
		return;
	for (i = 0; i < cfg->nstores; i++)
		store_free(&cfg->stores[i]);
	free(cfg->stores);
	free(cfg->backend.state_path);
	free(cfg->backend.connection);
	free(cfg->backend.password_env);
	free(cfg->backend.password_file);
	free(cfg->backend.history);
	free(cfg->backend.remote);
	free(cfg->backend.ssh_key);
	free(cfg->path);
	free(cfg->dir);
	free(cfg);
}

const struct store *config_find_store(const struct config *cfg, const char *name)
{
	size_t i;

	if (!cfg || !name)
		return NULL;
	for (i = 0; i < cfg->nstores; i++)
		if (cfg->stores[i].name && !strcmp(cfg->stores[i].name, name))
			return &cfg->stores[i];
	return NULL;
}

const struct server *store_find_server(const struct store *st, const char *name)
{
	size_t i;

	if (!st || !name)
		return NULL;
	for (i = 0; i < st->nservers; i++)
		if (st->servers[i].name && !strcmp(st->servers[i].name, name))
			return &st->servers[i];
	return NULL;
}

const char *engine_kind_name(enum engine_kind k)
{
	const struct engine_traits *t = engine_traits(k);

	return t ? t->name : "unknown";
}

const char *server_role_name(enum server_role r)
{
	switch (r) {
	case SERVER_ROLE_PRIMARY:
		return "primary";
	case SERVER_ROLE_MIRROR:
		return "mirror";
	case SERVER_ROLE_BACKUP:
		return "backup";
	}
	return "unknown";
}
