/*
 * Unit tests of the config loader (planner/config.c) and the model helpers
 * (planner/model.c): every field of a full config and the defaults, the
 * value parsers, did-you-mean, the alias-bomb limit, the password file mode
 * check, and that one load reports every problem (and never a secret).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "common/buf.h"
#include "common/util.h"
#include "planner/config.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Loads text as "t.yaml" in folder /etc/cms. */
static int load(struct config **out, struct diag_list *dl, const char *text)
{
	struct cms_error err = CMS_ERROR_INIT;
	int rc = config_load_buffer(out, "t.yaml", "/etc/cms", text, strlen(text), dl, &err);

	if (rc == 0)
		assert_null(err.message);
	else
		assert_non_null(err.message);
	cms_error_clear(&err);
	return rc;
}

/* Whether some diagnostic's message contains needle. */
static const struct diag *find_diag(const struct diag_list *dl, const char *needle)
{
	size_t i;

	for (i = 0; i < dl->len; i++)
		if (strstr(dl->items[i].message, needle))
			return &dl->items[i];
	return NULL;
}

static void dump_diags(const struct diag_list *dl)
{
	size_t i;

	for (i = 0; i < dl->len; i++)
		print_message("%s:%d:%d: %s [%s]\n", dl->items[i].file, dl->items[i].line,
			      dl->items[i].column, dl->items[i].message,
			      dl->items[i].hint ? dl->items[i].hint : "");
}

static const char full_config[] =
	"version: 1\n"
	"stores:\n"
	"  - name: redmond\n"
	"    engine: mssql\n"
	"    databases: [xds, lis]\n"
	"    servers:\n"
	"      - name: sql-a\n"
	"        fqdn: sql-a.litwareinc.com\n"
	"        instance: RTC\n"
	"        connection: \"Driver=FreeTDS;Server=sql-a;Port=1433;Database=master\"\n"
	"        user: cmsctl\n"
	"        password_env: CMS_SQL_PASSWORD\n"
	"      - name: sql-b\n"
	"        role: mirror\n"
	"        dsn: sql-b\n"
	"        password_file: secrets/sql-b\n"
	"        availability_group: CMS_AG\n"
	"      - name: redmond-cs-001\n"
	"        role: backup\n"
	"        dsn: cs-001\n"
	"    location:\n"
	"      primary: sql-b\n"
	"      mirror: sql-a\n"
	"    policy:\n"
	"      allow_data_loss: true\n"
	"      max_lag_bytes: 512KiB\n"
	"      catch_up_timeout: 1m30s\n"
	"      plan_ttl: 2d\n"
	"      approvals: 2\n"
	"      login_timeout: 250ms\n"
	"      query_timeout: 1h\n"
	"    publish:\n"
	"      - file: published/location.json\n"
	"      - odbc: \"DSN=cms\"\n"
	"        password_file: /run/secrets/publish\n"
	"      - odbc: \"DSN=cms2\"\n"
	"        table: cms_where\n"
	"        password_env: CMS_PUBLISH\n"
	"      - command: [notify.sh, --store, redmond, \"\"]\n"
	"        timeout: 10s\n"
	"      - command: [/usr/bin/logger]\n"
	"  - name: dublin\n"
	"    engine: sqlite\n"
	"    databases: [xds]\n"
	"    servers:\n"
	"      - name: pool-a\n"
	"        path: servers/pool-a\n"
	"      - name: pool-b\n"
	"        path: /srv/pool-b\n"
	"    location:\n"
	"      primary: pool-a\n";

static void test_full_config_reads_every_field(void **state)
{
	struct diag_list dl = { 0 };
	struct config *cfg = NULL;
	const struct store *st;
	const struct server *sv;
	const struct publish_target *t;

	(void)state;
	if (load(&cfg, &dl, full_config) != 0)
		dump_diags(&dl);
	assert_non_null(cfg);
	assert_int_equal(dl.len, 0);
	assert_string_equal(cfg->path, "t.yaml");
	assert_string_equal(cfg->dir, "/etc/cms");
	assert_int_equal(cfg->version, 1);
	assert_int_equal(cfg->nstores, 2);

	st = config_find_store(cfg, "redmond");
	assert_ptr_equal(st, &cfg->stores[0]);
	assert_int_equal(st->engine, ENGINE_MSSQL);
	assert_int_equal(st->ndatabases, 2);
	assert_string_equal(st->databases[0], "xds");
	assert_string_equal(st->databases[1], "lis");
	assert_int_equal(st->at.line, 3);
	assert_int_equal(st->at.column, 5);

	assert_int_equal(st->nservers, 3);
	sv = store_find_server(st, "sql-a");
	assert_ptr_equal(sv, &st->servers[0]);
	assert_string_equal(sv->fqdn, "sql-a.litwareinc.com");
	assert_string_equal(sv->instance, "RTC");
	assert_string_equal(sv->connection, "Driver=FreeTDS;Server=sql-a;Port=1433;Database=master");
	assert_null(sv->dsn);
	assert_null(sv->path);
	assert_string_equal(sv->user, "cmsctl");
	assert_string_equal(sv->password_env, "CMS_SQL_PASSWORD");
	assert_null(sv->password_file);
	assert_null(sv->availability_group);
	assert_int_equal(sv->role, SERVER_ROLE_PRIMARY);
	assert_int_equal(sv->at.line, 7);
	assert_int_equal(sv->at.column, 9);

	sv = store_find_server(st, "sql-b");
	assert_non_null(sv);
	assert_int_equal(sv->role, SERVER_ROLE_MIRROR);
	assert_string_equal(sv->dsn, "sql-b");
	assert_null(sv->connection);
	assert_string_equal(sv->password_file, "/etc/cms/secrets/sql-b");
	assert_string_equal(sv->availability_group, "CMS_AG");
	assert_int_equal(store_find_server(st, "redmond-cs-001")->role, SERVER_ROLE_BACKUP);
	assert_null(store_find_server(st, "sql-c"));

	assert_string_equal(st->location.primary, "sql-b");
	assert_string_equal(st->location.mirror, "sql-a");
	assert_int_equal(st->location.primary_at.line, 22);
	assert_int_equal(st->location.primary_at.column, 16);
	assert_int_equal(st->location.mirror_at.line, 23);

	assert_true(st->policy.allow_data_loss);
	assert_int_equal(st->policy.max_lag_bytes, 512 * 1024);
	assert_int_equal(st->policy.catch_up_timeout_ms, 90000);
	assert_int_equal(st->policy.plan_ttl_s, 2 * 86400);
	assert_int_equal(st->policy.approvals, 2);
	assert_int_equal(st->policy.login_timeout_ms, 250);
	assert_int_equal(st->policy.query_timeout_ms, 3600000);

	assert_int_equal(st->npublish, 5);
	t = &st->publish[0];
	assert_int_equal(t->kind, PUBLISH_FILE);
	assert_string_equal(t->path, "/etc/cms/published/location.json");
	t = &st->publish[1];
	assert_int_equal(t->kind, PUBLISH_ODBC);
	assert_string_equal(t->connection, "DSN=cms");
	assert_string_equal(t->table, "cms_location");
	assert_string_equal(t->password_file, "/run/secrets/publish");
	assert_null(t->password_env);
	t = &st->publish[2];
	assert_string_equal(t->table, "cms_where");
	assert_string_equal(t->password_env, "CMS_PUBLISH");
	t = &st->publish[3];
	assert_int_equal(t->kind, PUBLISH_COMMAND);
	assert_int_equal(t->argc, 4);
	assert_string_equal(t->argv[0], "/etc/cms/notify.sh");
	assert_string_equal(t->argv[1], "--store");
	assert_string_equal(t->argv[2], "redmond");
	assert_string_equal(t->argv[3], "");
	assert_null(t->argv[4]);
	assert_int_equal(t->timeout_ms, 10000);
	t = &st->publish[4];
	assert_int_equal(t->argc, 1);
	assert_string_equal(t->argv[0], "/usr/bin/logger");
	assert_int_equal(t->timeout_ms, 30000);

	st = config_find_store(cfg, "dublin");
	assert_ptr_equal(st, &cfg->stores[1]);
	assert_int_equal(st->engine, ENGINE_SQLITE);
	assert_string_equal(st->servers[0].path, "/etc/cms/servers/pool-a");
	assert_string_equal(st->servers[1].path, "/srv/pool-b");
	assert_null(st->location.mirror);
	assert_int_equal(st->location.mirror_at.line, 0);
	assert_int_equal(st->npublish, 0);
	/* No policy: every default. */
	assert_false(st->policy.allow_data_loss);
	assert_int_equal(st->policy.max_lag_bytes, 16 * 1024 * 1024);
	assert_int_equal(st->policy.catch_up_timeout_ms, 30000);
	assert_int_equal(st->policy.plan_ttl_s, 86400);
	assert_int_equal(st->policy.approvals, 0);
	assert_int_equal(st->policy.login_timeout_ms, 5000);
	assert_int_equal(st->policy.query_timeout_ms, 30000);
	assert_null(config_find_store(cfg, "zurich"));

	config_free(cfg);
	diag_list_free(&dl);
}

static void test_relative_paths_without_folder(void **state)
{
	static const char text[] =
		"version: 1\n"
		"stores:\n"
		"  - {name: s, engine: sqlite, databases: [d], location: {primary: a},\n"
		"     servers: [{name: a, path: servers/a}],\n"
		"     publish: [{command: [hook]}, {file: out.json}]}\n";
	struct cms_error err = CMS_ERROR_INIT;
	struct diag_list dl = { 0 };
	struct config *cfg = NULL;

	(void)state;
	assert_int_equal(config_load_buffer(&cfg, "cms.yaml", ".", text, strlen(text), &dl, &err), 0);
	assert_string_equal(cfg->stores[0].servers[0].path, "servers/a");
	/* A program is run by path, never looked up in PATH. */
	assert_string_equal(cfg->stores[0].publish[0].argv[0], "./hook");
	assert_string_equal(cfg->stores[0].publish[1].path, "out.json");
	config_free(cfg);
	diag_list_free(&dl);
}

static void test_parse_duration(void **state)
{
	static const struct {
		const char *text;
		int64_t ms; /* -1: refused */
	} cases[] = {
		{ "250ms", 250 }, { "30s", 30000 }, { "5m", 300000 }, { "24h", 86400000 },
		{ "2d", 172800000 }, { "1h30m", 5400000 }, { "1d2h3m4s5ms", 93784005 },
		{ "0s", 0 }, { "1m1ms", 60001 },
		{ "", -1 }, { "30", -1 }, { "s", -1 }, { "30m1h", -1 }, { "1h1h", -1 },
		{ "30 s", -1 }, { "-5s", -1 }, { "+5s", -1 }, { "1.5h", -1 }, { "5sec", -1 },
		{ "5S", -1 }, { "5us", -1 }, { "99999999999999999999s", -1 },
		{ "9223372036854775807d", -1 },
	};
	size_t i;

	(void)state;
	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		int64_t ms = -42;
		int rc = config_parse_duration_ms(&ms, cases[i].text);

		if (cases[i].ms < 0) {
			if (rc != -1)
				fail_msg("'%s' was accepted as %lld ms", cases[i].text, (long long)ms);
		} else {
			if (rc != 0 || ms != cases[i].ms)
				fail_msg("'%s': rc %d, %lld ms, want %lld", cases[i].text, rc,
					 (long long)ms, (long long)cases[i].ms);
		}
	}
	assert_int_equal(config_parse_duration_ms(&(int64_t){ 0 }, NULL), -1);
}

static void test_parse_size(void **state)
{
	static const struct {
		const char *text;
		int ok;
		uint64_t bytes;
	} cases[] = {
		{ "16777216", 1, 16777216 }, { "0", 1, 0 }, { "16MiB", 1, 16777216 },
		{ "512KiB", 1, 524288 }, { "1GiB", 1, 1073741824 }, { "2TiB", 1, 2199023255552ULL },
		{ "10MB", 1, 10000000 }, { "1kB", 1, 1000 }, { "3GB", 1, 3000000000ULL },
		{ "1TB", 1, 1000000000000ULL }, { "7B", 1, 7 },
		{ "9223372036854775807", 1, 9223372036854775807ULL },
		{ "", 0, 0 }, { "MiB", 0, 0 }, { "16 MiB", 0, 0 }, { "16mib", 0, 0 },
		{ "16KB", 0, 0 }, { "16M", 0, 0 }, { "1.5GiB", 0, 0 }, { "-1", 0, 0 },
		{ "9223372036854775808", 0, 0 }, { "9007199254740992KiB", 0, 0 },
		{ "99999999999999999999999", 0, 0 },
	};
	size_t i;

	(void)state;
	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		uint64_t n = 42;
		int rc = config_parse_size(&n, cases[i].text);

		if (!cases[i].ok && rc != -1)
			fail_msg("'%s' was accepted as %llu", cases[i].text, (unsigned long long)n);
		if (cases[i].ok && (rc != 0 || n != cases[i].bytes))
			fail_msg("'%s': rc %d, %llu, want %llu", cases[i].text, rc,
				 (unsigned long long)n, (unsigned long long)cases[i].bytes);
	}
}

static void test_identifiers_and_names(void **state)
{
	char longest[129], too_long[130];

	(void)state;
	assert_true(config_is_identifier("xds"));
	assert_true(config_is_identifier("_x9"));
	assert_true(config_is_identifier("CMS_POOL_A_PASSWORD"));
	assert_false(config_is_identifier(""));
	assert_false(config_is_identifier(NULL));
	assert_false(config_is_identifier("9x"));
	assert_false(config_is_identifier("lis-2"));
	assert_false(config_is_identifier("a b"));
	assert_false(config_is_identifier("x;DROP"));
	assert_false(config_is_identifier("dbo.t"));
	assert_false(config_is_identifier("caf\xc3\xa9"));
	memset(longest, 'a', 128);
	longest[128] = '\0';
	assert_true(config_is_identifier(longest));
	memset(too_long, 'a', 129);
	too_long[129] = '\0';
	assert_false(config_is_identifier(too_long));

	assert_true(config_is_name("pool-a"));
	assert_true(config_is_name("3rd-site_dr"));
	assert_true(config_is_name("redmond-cs-001.litwareinc"));
	assert_false(config_is_name(""));
	assert_false(config_is_name("-pool"));
	assert_false(config_is_name("_pool"));
	assert_false(config_is_name(".."));
	assert_false(config_is_name("pool a"));
	assert_false(config_is_name("a/b"));
	longest[63] = '\0';
	assert_true(config_is_name(longest));
	longest[63] = 'a';
	longest[64] = '\0';
	assert_false(config_is_name(longest));
}

static void test_edit_distance(void **state)
{
	(void)state;
	assert_int_equal(config_edit_distance("", ""), 0);
	assert_int_equal(config_edit_distance("abc", ""), 3);
	assert_int_equal(config_edit_distance("", "abc"), 3);
	assert_int_equal(config_edit_distance("name", "name"), 0);
	assert_int_equal(config_edit_distance("alow_data_loss", "allow_data_loss"), 1);
	assert_int_equal(config_edit_distance("nmae", "name"), 1);  /* a swap is one edit */
	assert_int_equal(config_edit_distance("enigne", "engine"), 1);
	assert_int_equal(config_edit_distance("kitten", "sitting"), 3);
	assert_int_equal(config_edit_distance("postgres", "postgresql"), 2);
	assert_int_equal(config_edit_distance("ca", "abc"), 3); /* optimal string alignment */
}

static void test_did_you_mean(void **state)
{
	static const char *const keys[] = {
		"allow_data_loss", "max_lag_bytes", "catch_up_timeout", "plan_ttl", "approvals",
	};
	static const char *const engines[] = { "sqlite", "postgresql", "mssql" };
	static const char *const top[] = { "version", "stores" };

	(void)state;
	assert_string_equal(config_did_you_mean("alow_data_loss", keys, ARRAY_SIZE(keys)),
			    "allow_data_loss");
	assert_string_equal(config_did_you_mean("aprovals", keys, ARRAY_SIZE(keys)), "approvals");
	assert_string_equal(config_did_you_mean("plan_tll", keys, ARRAY_SIZE(keys)), "plan_ttl");
	assert_string_equal(config_did_you_mean("postgres", engines, 3), "postgresql");
	assert_string_equal(config_did_you_mean("sqllite", engines, 3), "sqlite");
	assert_string_equal(config_did_you_mean("store", top, 2), "stores");
	assert_string_equal(config_did_you_mean("Version", top, 2), "version");
	assert_null(config_did_you_mean("oracle", engines, 3));
	assert_null(config_did_you_mean("colour", keys, ARRAY_SIZE(keys)));
	assert_null(config_did_you_mean("x", top, 2));
	assert_null(config_did_you_mean("anything", NULL, 0));
}

static void test_unknown_key_has_position_and_hint(void **state)
{
	static const char text[] =
		"version: 1\n"
		"stores:\n"
		"  - name: redmond\n"
		"    engine: sqlite\n"
		"    databases: [xds]\n"
		"    servers: [{name: a, path: a}]\n"
		"    location: {primary: a}\n"
		"    policy:\n"
		"      alow_data_loss: true\n";
	struct diag_list dl = { 0 };
	struct config *cfg = NULL;

	(void)state;
	assert_int_equal(load(&cfg, &dl, text), CMS_ERROR);
	assert_null(cfg);
	assert_int_equal(dl.len, 1);
	assert_string_equal(dl.items[0].file, "t.yaml");
	assert_int_equal(dl.items[0].line, 9);
	assert_int_equal(dl.items[0].column, 7);
	assert_string_equal(dl.items[0].message, "unknown key 'alow_data_loss' in policy");
	assert_string_equal(dl.items[0].hint, "did you mean 'allow_data_loss'?");
	diag_list_free(&dl);
}

static void test_every_error_is_reported_in_order(void **state)
{
	static const char text[] =
		"version: 1\n"                        /* 1 */
		"stores:\n"                           /* 2 */
		"  - name: redmond\n"                 /* 3 */
		"    engine: oracle\n"                /* 4: unknown engine */
		"    databases: [xds, xds, 9lis]\n"   /* 5: duplicate, not an identifier */
		"    servers:\n"                      /* 6 */
		"      - name: a\n"                   /* 7 */
		"        colour: blue\n"              /* 8: unknown key */
		"      - name: a\n"                   /* 9: duplicate server */
		"    location:\n"                     /* 10 */
		"      primary: b\n"                  /* 11: undefined server */
		"    policy:\n"                       /* 12 */
		"      allow_data_loss: yes\n"        /* 13: not a boolean */
		"      catch_up_timeout: 30\n"        /* 14: no unit */
		"      approvals: 99\n"               /* 15: out of range */
		"  - name: redmond\n";                /* 16: duplicate store, and 4 missing keys */
	struct cms_error err = CMS_ERROR_INIT;
	struct diag_list dl = { 0 };
	struct config *cfg = NULL;
	static const struct {
		int line;
		const char *message;
	} want[] = {
		{ 4, "unknown engine 'oracle'" },
		{ 5, "duplicate database 'xds'" },
		{ 5, "invalid database name '9lis'" },
		{ 8, "unknown key 'colour' in server" },
		{ 9, "duplicate server name 'a' in store 'redmond'" },
		{ 11, "undefined server 'b'" },
		{ 13, "expected a boolean (true or false) for 'allow_data_loss', got 'yes'" },
		{ 14, "duration '30' for 'catch_up_timeout' has no unit" },
		{ 15, "'approvals' must be between 0 and 16, got '99'" },
		{ 16, "missing required key 'engine' in store 'redmond'" },
		{ 16, "missing required key 'databases' in store 'redmond'" },
		{ 16, "missing required key 'servers' in store 'redmond'" },
		{ 16, "missing required key 'location' in store 'redmond'" },
		{ 16, "duplicate store name 'redmond'" },
	};
	size_t i;

	(void)state;
	assert_int_equal(config_load_buffer(&cfg, "t.yaml", ".", text, strlen(text), &dl, &err),
			 CMS_ERROR);
	assert_null(cfg);
	if (dl.len != ARRAY_SIZE(want))
		dump_diags(&dl);
	assert_int_equal(dl.len, ARRAY_SIZE(want));
	for (i = 0; i < ARRAY_SIZE(want); i++) {
		assert_int_equal(dl.items[i].line, want[i].line);
		assert_string_equal(dl.items[i].message, want[i].message);
	}
	assert_string_equal(err.message, "'t.yaml' has 14 errors");
	cms_error_clear(&err);
	diag_list_free(&dl);
}

/* Diagnostics are appended: an earlier load's are kept as they were. */
static void test_diagnostics_are_appended(void **state)
{
	struct diag_list dl = { 0 };
	struct config *cfg = NULL;

	(void)state;
	assert_int_equal(load(&cfg, &dl, "version: 2\nstores: []\n"), CMS_ERROR);
	assert_int_equal(dl.len, 2);
	assert_int_equal(load(&cfg, &dl, "stores: 1\n"), CMS_ERROR);
	assert_int_equal(dl.len, 4);
	assert_string_equal(dl.items[0].message, "unsupported config version 2");
	assert_string_equal(dl.items[2].message, "missing required key 'version' in config");
	diag_list_free(&dl);
}

/* Builds a config whose publish list is n aliases of one command of m
 * arguments: about n * m nodes once expanded, from a few kilobytes. */
static char *alias_bomb(int n, int m)
{
	size_t cap = 1024 + (size_t)(n + m) * 16, len;
	char *s = xmalloc(cap);
	int i;

	len = (size_t)snprintf(s, cap,
			       "version: 1\nstores:\n  - name: r\n    engine: sqlite\n"
			       "    databases: [x]\n    servers: [{name: a, path: a}]\n"
			       "    location: {primary: a}\n"
			       "    publish:\n      - &p\n        command: [/bin/echo, &a x");
	for (i = 0; i < m; i++)
		len += (size_t)snprintf(s + len, cap - len, ", *a");
	len += (size_t)snprintf(s + len, cap - len, "]\n");
	for (i = 1; i < n; i++)
		len += (size_t)snprintf(s + len, cap - len, "      - *p\n");
	assert_true(len < cap);
	return s;
}

static void test_alias_bomb_stops_at_the_limit(void **state)
{
	struct diag_list dl = { 0 };
	struct config *cfg = NULL;
	char *small = alias_bomb(90, 100), *big = alias_bomb(2000, 2000);
	(void)state;
	/* Under the limit, aliases are simply values. */
	assert_int_equal(load(&cfg, &dl, small), 0);
	assert_int_equal(cfg->stores[0].npublish, 90);
	assert_int_equal(cfg->stores[0].publish[89].argc, 102);
	config_free(cfg);

	/* 4 million nodes: stopped after 1000000 repeats (speed is for
	 * benchmarks; the limit is what bounds the work). */
	assert_int_equal(load(&cfg, &dl, big), CMS_ERROR);
	assert_int_equal(dl.len, 1);
	assert_string_equal(dl.items[0].message, "aliases repeat more than 1000000 nodes");
	assert_non_null(strstr(dl.items[0].hint, "alias bomb"));
	free(small);
	free(big);
	diag_list_free(&dl);
}

/* n plain stores of two servers, each sharing the first store's policy
 * through an alias when shared is true. */
static char *fleet(int n, bool shared)
{
	struct buf b = BUF_INIT;
	int i;

	buf_addf(&b, "version: 1\nstores:\n");
	for (i = 0; i < n; i++) {
		buf_addf(&b, "  - name: s%d\n    engine: sqlite\n    databases: [xds, lis]\n"
			 "    servers:\n      - {name: a, path: s%d/a}\n"
			 "      - {name: b, path: s%d/b, role: mirror}\n"
			 "    location: {primary: a, mirror: b}\n", i, i, i);
		if (shared && i == 0)
			buf_addf(&b, "    policy: &p {max_lag_bytes: 1MiB, approvals: 1, "
				 "plan_ttl: 1h}\n");
		else if (shared)
			buf_addf(&b, "    policy: *p\n");
	}
	return buf_detach(&b, NULL);
}

static void test_plain_fleet_is_not_an_alias_bomb(void **state)
{
	struct diag_list dl = { 0 };
	struct config *cfg = NULL;
	char *plain = fleet(3000, false), *shared = fleet(3000, true);

	(void)state;
	/* About 80,000 plain nodes and 21,000 repeated ones: neither a limit. */
	assert_int_equal(load(&cfg, &dl, plain), 0);
	assert_int_equal(cfg->nstores, 3000);
	config_free(cfg);
	assert_int_equal(load(&cfg, &dl, shared), 0);
	assert_int_equal(cfg->nstores, 3000);
	assert_int_equal(cfg->stores[2999].policy.approvals, 1);
	config_free(cfg);
	assert_int_equal(dl.len, 0);
	free(plain);
	free(shared);
}

static void test_nesting_bomb_is_refused_before_it_is_built(void **state)
{
	struct diag_list dl = { 0 };
	struct config *cfg = NULL;
	struct buf b = BUF_INIT;
	int i;

	(void)state;
	buf_addf(&b, "version: 1\nstores: ");
	for (i = 0; i < 100000; i++)
		buf_add(&b, "[", 1);
	assert_int_equal(load(&cfg, &dl, b.ptr), CMS_ERROR);
	assert_int_equal(dl.len, 1);
	assert_string_equal(dl.items[0].message, "config nests deeper than 64 levels");
	assert_int_equal(dl.items[0].line, 2);
	assert_int_equal(dl.items[0].column, 8 + 64);
	buf_free(&b);
	diag_list_free(&dl);
}

static void test_alias_cycle_ends(void **state)
{
	struct diag_list dl = { 0 };
	struct config *cfg = NULL;

	(void)state;
	assert_int_equal(load(&cfg, &dl, "version: 1\nstores: &s [*s, *s]\n"), CMS_ERROR);
	assert_non_null(find_diag(&dl, "expected a mapping for an item of 'stores'"));
	diag_list_free(&dl);
	assert_int_equal(load(&cfg, &dl, "&m {version: 1, stores: [*m]}\n"), CMS_ERROR);
	assert_true(dl.len >= 1);
	diag_list_free(&dl);
}

static void test_file_level_problems(void **state)
{
	struct cms_error err = CMS_ERROR_INIT;
	struct diag_list dl = { 0 };
	struct config *cfg = NULL;
	size_t n = (64 << 20) + 1;
	char *big = xmalloc(n);
	const struct diag *d;

	(void)state;
	assert_int_equal(config_load(&cfg, "/nonexistent/cms.yaml", &dl, &err), CMS_ERROR);
	assert_null(cfg);
	assert_int_equal(dl.len, 1);
	assert_int_equal(dl.items[0].line, 0);
	assert_string_equal(dl.items[0].message,
			    "cannot read config '/nonexistent/cms.yaml': No such file or directory");
	assert_string_equal(err.message, dl.items[0].message);
	diag_list_free(&dl);

	memset(big, '#', n);
	assert_int_equal(config_load_buffer(&cfg, "big.yaml", ".", big, n, &dl, &err), CMS_ERROR);
	assert_int_equal(dl.len, 1);
	assert_string_equal(dl.items[0].message, "cannot read config 'big.yaml': too large (more than 64 MiB)");
	free(big);
	diag_list_free(&dl);

	assert_int_equal(load(&cfg, &dl, "# nothing\n"), CMS_ERROR);
	assert_string_equal(dl.items[0].message, "config is empty");
	diag_list_free(&dl);

	assert_int_equal(load(&cfg, &dl, "version: 1\n---\nversion: 1\n"), CMS_ERROR);
	assert_non_null(d = find_diag(&dl, "more than one YAML document in config"));
	assert_int_equal(d->line, 2);
	diag_list_free(&dl);

	assert_int_equal(load(&cfg, &dl, "version: 1\nstores: [\n"), CMS_ERROR);
	assert_int_equal(dl.len, 1);
	assert_non_null(strstr(dl.items[0].message, "invalid YAML: "));
	assert_int_equal(dl.items[0].line, 3);
	diag_list_free(&dl);
	cms_error_clear(&err);
}

static void test_scalars_are_typed_like_yaml(void **state)
{
	static const char text[] =
		"version: 1\n"
		"stores:\n"
		"  - name: 2024\n"
		"    engine: sqlite\n"
		"    databases: [yes, null, 1.5, \"on\"]\n"
		"    servers: [{name: a, path: a, role: ~}]\n"
		"    location: {primary: a}\n"
		"    policy: {allow_data_loss: True, max_lag_bytes: 0x10, approvals: \"1\"}\n";
	struct diag_list dl = { 0 };
	struct config *cfg = NULL;

	(void)state;
	assert_int_equal(load(&cfg, &dl, text), CMS_ERROR);
	assert_non_null(find_diag(&dl, "expected a string for 'name', got '2024'"));
	assert_non_null(find_diag(&dl, "expected a string for an item of 'databases', got 'yes'"));
	assert_non_null(find_diag(&dl, "expected a string for an item of 'databases', got 'null'"));
	assert_non_null(find_diag(&dl, "expected a string for an item of 'databases', got '1.5'"));
	assert_non_null(find_diag(&dl, "expected a string for 'role', got '~'"));
	assert_non_null(find_diag(&dl, "for 'allow_data_loss', got 'True'"));
	assert_non_null(find_diag(&dl, "invalid size '0x10' for 'max_lag_bytes'"));
	assert_non_null(find_diag(&dl, "expected an integer for 'approvals', got the string '1'"));
	/* "on", quoted, is a string, and a valid identifier. */
	assert_int_equal(dl.len, 8);
	diag_list_free(&dl);
}

static void test_secrets_never_reach_messages(void **state)
{
	static const char text[] =
		"version: 1\n"
		"stores:\n"
		"  - name: r\n"
		"    engine: postgresql\n"
		"    databases: [x]\n"
		"    servers:\n"
		"      - name: a\n"
		"        connection: \"Server=h;Uid=u;Pwd={hunter2;x}\"\n"
		"        password_env: \"hunter2!\"\n"
		"      - name: b\n"
		"        dsn: b\n"
		"        password: hunter2\n"
		"        password_file: \"hunter2\\n\"\n"
		"      - name: c\n"
		"        connection: \"Server=h;Uid=u;\\tPassWord =hunter2\"\n"
		"      - name: d\n"
		"        connection: 12345\n"
		"        password_env: 4242\n"
		"    location: {primary: a, secret: hunter2}\n";
	struct diag_list dl = { 0 };
	struct config *cfg = NULL;
	size_t i;

	(void)state;
	assert_int_equal(load(&cfg, &dl, text), CMS_ERROR);
	for (i = 0; i < dl.len; i++) {
		assert_null(strstr(dl.items[i].message, "hunter2"));
		assert_null(strstr(dl.items[i].message, "4242"));
		assert_null(strstr(dl.items[i].message, "12345"));
		assert_true(!dl.items[i].hint || !strstr(dl.items[i].hint, "hunter2"));
		assert_true(!dl.items[i].hint || !strstr(dl.items[i].hint, "4242"));
	}
	assert_non_null(find_diag(&dl, "literal password in 'connection' (attribute 'Pwd')"));
	assert_non_null(find_diag(&dl, "'password_env' is not an environment variable name"));
	assert_non_null(find_diag(&dl, "literal password in key 'password'"));
	assert_non_null(find_diag(&dl, "'password_file' contains a control character"));
	assert_non_null(find_diag(&dl, "literal password in key 'secret'"));
	assert_non_null(find_diag(&dl, "expected a string for 'password_env', got a number or boolean"));
	diag_list_free(&dl);
}

static char *write_temp(const char *dir, const char *name, const char *content, mode_t mode)
{
	char *path = xasprintf("%s/%s", dir, name);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, content, strlen(content)), (ssize_t)strlen(content));
	assert_int_equal(fchmod(fd, mode), 0);
	close(fd);
	return path;
}

static void test_password_file_mode_is_checked(void **state)
{
	char dir[] = "/tmp/test_config.XXXXXX";
	struct cms_error err = CMS_ERROR_INIT;
	char *pw = NULL, *ok, *loose, *group, *crlf, *empty, *twolines;

	(void)state;
	assert_non_null(mkdtemp(dir));
	ok = write_temp(dir, "ok", "s3cret\n", 0600);
	loose = write_temp(dir, "loose", "s3cret\n", 0644);
	group = write_temp(dir, "group", "s3cret", 0640);
	crlf = write_temp(dir, "crlf", "s3cret\r\n", 0400);
	empty = write_temp(dir, "empty", "\n", 0600);
	twolines = write_temp(dir, "two", "s3cret\n\n", 0600);

	assert_int_equal(config_read_password(&pw, NULL, ok, &err), 0);
	assert_string_equal(pw, "s3cret");
	free(pw);
	assert_int_equal(config_read_password(&pw, NULL, crlf, &err), 0);
	assert_string_equal(pw, "s3cret");
	free(pw);
	/* Only one trailing newline is stripped. */
	assert_int_equal(config_read_password(&pw, NULL, twolines, &err), 0);
	assert_string_equal(pw, "s3cret\n");
	free(pw);

	assert_int_equal(config_read_password(&pw, NULL, loose, &err), CMS_ERROR);
	assert_null(pw);
	assert_non_null(strstr(err.message, loose));
	assert_non_null(strstr(err.message, "0644"));
	assert_null(strstr(err.message, "s3cret"));
	assert_non_null(err.hint);
	assert_int_equal(config_read_password(&pw, NULL, group, &err), CMS_ERROR);
	assert_non_null(strstr(err.message, "0640"));
	assert_int_equal(config_read_password(&pw, NULL, empty, &err), CMS_ERROR);
	assert_non_null(strstr(err.message, "is empty"));
	assert_int_equal(config_read_password(&pw, NULL, dir, &err), CMS_ERROR);
	assert_non_null(strstr(err.message, "not a regular file"));
	assert_int_equal(config_read_password(&pw, NULL, "/nonexistent/pw", &err), CMS_ERROR);
	assert_non_null(strstr(err.message, "/nonexistent/pw"));

	setenv("CMS_TEST_CONFIG_PW", "from-env", 1);
	assert_int_equal(config_read_password(&pw, "CMS_TEST_CONFIG_PW", NULL, &err), 0);
	assert_string_equal(pw, "from-env");
	free(pw);
	unsetenv("CMS_TEST_CONFIG_PW");
	assert_int_equal(config_read_password(&pw, "CMS_TEST_CONFIG_PW", NULL, &err), CMS_ERROR);
	assert_string_equal(err.message, "password variable 'CMS_TEST_CONFIG_PW' is not set");
	/* Neither: no password, no error. */
	assert_int_equal(config_read_password(&pw, NULL, NULL, &err), 0);
	assert_null(pw);

	unlink(ok);
	unlink(loose);
	unlink(group);
	unlink(crlf);
	unlink(empty);
	unlink(twolines);
	rmdir(dir);
	free(ok);
	free(loose);
	free(group);
	free(crlf);
	free(empty);
	free(twolines);
	cms_error_clear(&err);
}

/* log_backups: an mssql backup server's folder of log backups, as SQL
 * Server sees it; refused on another role, another engine, or when it is
 * not an absolute folder that fits in N'...'. */
static void test_log_backups_folder(void **state)
{
	static const char head[] =
		"version: 1\n"
		"stores:\n"
		"  - name: redmond\n"
		"    engine: mssql\n"
		"    databases: [xds]\n"
		"    servers:\n"
		"      - name: a\n"
		"        dsn: a\n";
	static const char tail[] =
		"    location: {primary: a}\n";
	static const struct {
		const char *servers;
		const char *message; /* NULL: loads */
		const char *folder;  /* of server 'dr' when it loads */
	} cases[] = {
		{ "      - {name: dr, role: backup, dsn: dr, log_backups: '\\\\fs01\\logship\\redmond'}\n",
		  NULL, "\\\\fs01\\logship\\redmond" },
		{ "      - {name: dr, role: backup, dsn: dr, log_backups: 'E:\\logship'}\n", NULL, "E:\\logship" },
		{ "      - {name: dr, role: backup, dsn: dr, log_backups: /var/opt/mssql/logship}\n", NULL,
		  "/var/opt/mssql/logship" },
		{ "      - {name: dr, role: backup, dsn: dr}\n", NULL, NULL },
		{ "      - {name: dr, role: mirror, dsn: dr, log_backups: 'E:\\logship'}\n",
		  "'log_backups' in server 'dr', which is not a backup", NULL },
		{ "      - {name: dr, role: backup, dsn: dr, log_backups: logship}\n",
		  "invalid 'log_backups' folder 'logship'", NULL },
		{ "      - {name: dr, role: backup, dsn: dr, log_backups: \"E:\\\\it's\"}\n",
		  "invalid 'log_backups' folder", NULL },
		{ "      - {name: dr, role: backup, dsn: dr, log_backups: 'E:\\*.trn'}\n",
		  "invalid 'log_backups' folder", NULL },
	};
	size_t i;

	(void)state;
	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		struct diag_list dl = { 0 };
		struct config *cfg = NULL;
		struct buf text = BUF_INIT;
		int rc;

		buf_adds(&text, head);
		buf_adds(&text, cases[i].servers);
		buf_adds(&text, tail);
		rc = load(&cfg, &dl, text.ptr);
		if (!cases[i].message) {
			if (rc != 0)
				dump_diags(&dl);
			assert_int_equal(rc, 0);
			if (cases[i].folder)
				assert_string_equal(store_find_server(&cfg->stores[0], "dr")->log_backups,
						    cases[i].folder);
			else
				assert_null(store_find_server(&cfg->stores[0], "dr")->log_backups);
		} else {
			assert_int_equal(rc, CMS_ERROR);
			assert_int_equal(dl.len, 1);
			if (!strstr(dl.items[0].message, cases[i].message))
				fail_msg("case %zu: '%s' lacks '%s'", i, dl.items[0].message,
					 cases[i].message);
		}
		config_free(cfg);
		diag_list_free(&dl);
		buf_free(&text);
	}
	{
		static const char sqlite[] =
			"version: 1\n"
			"stores:\n"
			"  - name: s\n"
			"    engine: sqlite\n"
			"    databases: [xds]\n"
			"    servers: [{name: a, path: a}, {name: b, path: b, role: backup, log_backups: /x}]\n"
			"    location: {primary: a}\n";
		struct diag_list dl = { 0 };
		struct config *cfg = NULL;

		assert_int_equal(load(&cfg, &dl, sqlite), CMS_ERROR);
		assert_int_equal(dl.len, 1);
		assert_string_equal(dl.items[0].message, "key 'log_backups' is not allowed for engine sqlite");
		assert_string_equal(dl.items[0].hint, "'log_backups' is for mssql servers");
		diag_list_free(&dl);
	}
}

static void test_model_names(void **state)
{
	(void)state;
	assert_string_equal(engine_kind_name(ENGINE_SQLITE), "sqlite");
	assert_string_equal(engine_kind_name(ENGINE_POSTGRESQL), "postgresql");
	assert_string_equal(engine_kind_name(ENGINE_MSSQL), "mssql");
	assert_string_equal(server_role_name(SERVER_ROLE_PRIMARY), "primary");
	assert_string_equal(server_role_name(SERVER_ROLE_MIRROR), "mirror");
	assert_string_equal(server_role_name(SERVER_ROLE_BACKUP), "backup");
	config_free(NULL);
	diag_list_free(NULL);
	assert_null(config_find_store(NULL, "x"));
	assert_null(store_find_server(NULL, "x"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_full_config_reads_every_field),
		cmocka_unit_test(test_relative_paths_without_folder),
		cmocka_unit_test(test_parse_duration),
		cmocka_unit_test(test_parse_size),
		cmocka_unit_test(test_identifiers_and_names),
		cmocka_unit_test(test_edit_distance),
		cmocka_unit_test(test_did_you_mean),
		cmocka_unit_test(test_unknown_key_has_position_and_hint),
		cmocka_unit_test(test_every_error_is_reported_in_order),
		cmocka_unit_test(test_diagnostics_are_appended),
		cmocka_unit_test(test_alias_bomb_stops_at_the_limit),
		cmocka_unit_test(test_plain_fleet_is_not_an_alias_bomb),
		cmocka_unit_test(test_nesting_bomb_is_refused_before_it_is_built),
		cmocka_unit_test(test_alias_cycle_ends),
		cmocka_unit_test(test_file_level_problems),
		cmocka_unit_test(test_scalars_are_typed_like_yaml),
		cmocka_unit_test(test_secrets_never_reach_messages),
		cmocka_unit_test(test_password_file_mode_is_checked),
		cmocka_unit_test(test_model_names),
		cmocka_unit_test(test_log_backups_folder),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
