/*
 * The desired state: what an operator wrote in cms.yaml, loaded and checked.
 *
 * Every string is owned by the model and freed by config_free().  Positions
 * (line, column, 1-based) of the items that later checks may complain about
 * are kept so that such complaints can name file:line:column too.
 */
#ifndef CMS_PLANNER_MODEL_H
#define CMS_PLANNER_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum engine_kind {
	ENGINE_SQLITE,     /* embedded default: directories of SQLite files via the SQLite3 ODBC driver */
	ENGINE_POSTGRESQL, /* streaming replication via psqlODBC */
	ENGINE_MSSQL,      /* database mirroring / availability groups via FreeTDS */
};

/* What a server is for.  A move to a server of role `primary` or `mirror`
 * loses no data; a move to a `backup` may, and needs allow_data_loss. */
enum server_role {
	SERVER_ROLE_PRIMARY, /* default: a full partner that can hold the primary */
	SERVER_ROLE_MIRROR,  /* a synchronous partner */
	SERVER_ROLE_BACKUP,  /* a disaster-recovery copy */
};

struct pos {
	int line;   /* 1-based, 0 when unknown */
	int column; /* 1-based */
};

/* A way to isolate a server from outside (power it off through a
 * hypervisor, cut its network, withdraw its DNS name), for when it cannot
 * be fenced through its database.  Exit 0 means "fenced". */
struct fence_target {
	char **argv;         /* program and arguments, NULL-terminated */
	size_t argc;
	int64_t timeout_ms;  /* default 30 s */
	struct pos at;
};

struct server {
	char *name;          /* the id used everywhere: [A-Za-z0-9][A-Za-z0-9_.-]{0,62} */
	char *fqdn;          /* optional, for people and reports */
	char *instance;      /* optional SQL instance name (mssql), a plain identifier */
	char *connection;    /* ODBC connection string without secrets, or NULL */
	char *dsn;           /* ODBC data source name, or NULL */
	char *path;          /* sqlite engine: the server's directory (resolved against the config's folder) */
	char *user;          /* optional login name */
	char *password_env;  /* name of an environment variable holding the password */
	char *password_file; /* path of a file (mode 0600) holding the password */
	char *availability_group; /* mssql: an availability group to fail over instead of mirroring */
	char *log_backups;   /* mssql, role backup: the folder of log backups it restores before it
			      * takes over, as SQL Server sees it (a share both servers reach), or NULL */
	enum server_role role;
	struct fence_target *fence; /* tried in order; none: only a database fence */
	size_t nfence;
	struct pos at;       /* position of the server's mapping */
};

struct location {
	char *primary;       /* server name; required */
	char *mirror;        /* server name or NULL */
	struct pos primary_at;
	struct pos mirror_at;
};

struct policy {
	bool allow_data_loss;      /* the seed's -Force */
	uint64_t max_lag_bytes;    /* default 16 MiB */
	int64_t catch_up_timeout_ms; /* default 30 s */
	int64_t plan_ttl_s;        /* default 24 h */
	int approvals;             /* reviewers needed before apply, default 0 */
	int64_t login_timeout_ms;  /* default 5 s; every connection has one */
	int64_t query_timeout_ms;  /* default 30 s; every statement has one */
};

enum publish_kind {
	PUBLISH_FILE,    /* atomic JSON write */
	PUBLISH_ODBC,    /* upsert of one row */
	PUBLISH_COMMAND, /* program run with the location in its environment */
	PUBLISH_LDAP,    /* one modify of a directory entry (Lync's service connection point) */
};

/* ldap: one attribute of the entry and the template of its value
 * ("{primary_sql}"); see config_ldap_placeholders. */
struct publish_attr {
	char *name;          /* an LDAP attribute description: letter, then letters, digits, '-' */
	char *value;         /* the template */
	struct pos at;
};

struct publish_target {
	enum publish_kind kind;
	char *path;          /* file: destination (resolved against the config's folder) */
	char *connection;    /* odbc: connection string without secrets */
	char *dsn;           /* odbc: data source name */
	char *table;         /* odbc: table name, default cms_location; a plain identifier */
	char *password_env;  /* odbc: optional; ldap: one of the two required */
	char *password_file; /* odbc: optional; ldap: one of the two required */
	char **argv;         /* command: program and arguments, NULL-terminated */
	size_t argc;
	int64_t timeout_ms;  /* command: default 30 s */
	char *uri;           /* ldap: ldaps://host[:port] (TLS), or ldap://host[:port] (StartTLS, required) */
	char *dn;            /* ldap: the entry modified */
	char *bind_dn;       /* ldap: simple bind as this DN, with password_env/password_file */
	char *ca_file;       /* ldap: CA certificates that sign the server's; NULL: the system's */
	struct publish_attr *attrs; /* ldap: at least one */
	size_t nattrs;
	bool required;       /* false: a failure is a follow-up, never a failed run (default true) */
	struct pos at;
};

struct store {
	char *name;
	enum engine_kind engine;
	char **databases;    /* plain identifiers, in config order */
	size_t ndatabases;
	struct server *servers;
	size_t nservers;
	struct location location;
	struct policy policy;
	char *allowed_signers;  /* policy.allowed_signers: git's allowed-signers file, or NULL */
	bool signed_approvals;  /* policy.signed_approvals: only signed approvals count (default true) */
	struct publish_target *publish;
	size_t npublish;
	struct pos at;
};

enum state_backend_kind {
	STATE_BACKEND_SQLITE,     /* embedded default: one SQLite file */
	STATE_BACKEND_POSTGRESQL, /* shared: a PostgreSQL database through libpq */
};

/* Where the state and the history live (the top-level `backend:` block).
 * Paths are resolved against the config file's folder; without the block
 * every field has its default, so running from another directory with -c
 * reaches the same state. */
struct backend {
	enum state_backend_kind state_kind;
	char *state_path;    /* sqlite: the state file, default <dir>/.cmsctl/state.db */
	char *connection;    /* postgresql: libpq connection string or URI, without secrets */
	char *password_env;  /* postgresql: variable holding the password, or NULL */
	char *password_file; /* postgresql: file (mode 0600) holding it, or NULL */
	char *history;       /* the history repository, default <dir>/.cmsctl/history */
	char *remote;        /* the shared history remote (URL or resolved path), or NULL */
	char *ssh_key;       /* private key file for an ssh remote, or NULL (ssh-agent) */
	bool given;          /* the config has a `backend:` block */
	struct pos at;       /* position of the block */
};

struct config {
	char *path;          /* the file it was loaded from */
	char *dir;           /* its folder, for resolving relative paths */
	int version;         /* 1 */
	struct backend backend;
	struct store *stores;
	size_t nstores;
};

void config_free(struct config *cfg);

/* Borrowed lookups; NULL when absent. */
const struct store *config_find_store(const struct config *cfg, const char *name);
const struct server *store_find_server(const struct store *st, const char *name);

const char *engine_kind_name(enum engine_kind k);
const char *server_role_name(enum server_role r);

#endif
