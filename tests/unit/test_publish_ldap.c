/*
 * Unit tests of the ldap publish target's pure parts: an ldap item loads
 * into the model with every key, and the value templates become the
 * values Lync's service connection point holds ("fqdn\instance" for
 * msRTCSIP-BackEndServer), with a mirror placeholder and no mirror meaning
 * "remove the attribute".  The target itself, against a real slapd, is
 * tests/integration/t_ldap_publish.sh.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "applier/publish.h"
#include "planner/config.h"

#include <stdlib.h>
#include <string.h>

static const char config_text[] =
	"version: 1\n"
	"stores:\n"
	"  - name: redmond\n"
	"    engine: mssql\n"
	"    databases: [xds, lis]\n"
	"    servers:\n"
	"      - name: sql-a\n"
	"        fqdn: sql-a.litwareinc.com\n"
	"        instance: RTC\n"
	"        connection: \"Driver=FreeTDS;Server=sql-a.litwareinc.com;Port=50123\"\n"
	"      - name: sql-b\n"
	"        role: mirror\n"
	"        connection: \"Driver=FreeTDS;Server=sql-b\"\n"
	"    location:\n"
	"      primary: sql-a\n"
	"      mirror: sql-b\n"
	"    publish:\n"
	"      - ldap: ldaps://dc01.litwareinc.com:636\n"
	"        dn: \"CN=Topology Settings,CN=RTC Service,CN=Services,CN=Configuration,DC=litwareinc,DC=com\"\n"
	"        bind_dn: \"CN=svc-cmsctl,OU=Service Accounts,DC=litwareinc,DC=com\"\n"
	"        password_file: secrets/ldap.password\n"
	"        ca_file: /etc/ssl/certs/litware-ca.pem\n"
	"        attributes:\n"
	"          msRTCSIP-BackEndServer: \"{primary_sql}\"\n"
	"          msRTCSIP-MirrorBackEndServer: \"{mirror_sql}\"\n"
	"          description: \"{store} #{serial} on {primary} ({primary_fqdn}, {primary_instance}); mirror {mirror} {mirror_fqdn} [{mirror_instance}]\"\n";

static struct config *load(void)
{
	struct cms_error err = CMS_ERROR_INIT;
	struct diag_list dl = { 0 };
	struct config *cfg = NULL;

	if (config_load_buffer(&cfg, "t.yaml", "/etc/cms", config_text, strlen(config_text), &dl,
			       &err) < 0)
		fail_msg("load: %s (%s)", err.message, dl.len ? dl.items[0].message : "");
	diag_list_free(&dl);
	return cfg;
}

static void ldap_item_loads_every_key(void **state)
{
	struct config *cfg = load();
	const struct publish_target *t = &cfg->stores[0].publish[0];

	(void)state;
	assert_int_equal(t->kind, PUBLISH_LDAP);
	assert_string_equal(t->uri, "ldaps://dc01.litwareinc.com:636");
	assert_string_equal(t->dn, "CN=Topology Settings,CN=RTC Service,CN=Services,CN=Configuration,DC=litwareinc,DC=com");
	assert_string_equal(t->bind_dn, "CN=svc-cmsctl,OU=Service Accounts,DC=litwareinc,DC=com");
	assert_string_equal(t->password_file, "/etc/cms/secrets/ldap.password");
	assert_null(t->password_env);
	assert_string_equal(t->ca_file, "/etc/ssl/certs/litware-ca.pem");
	assert_int_equal(t->nattrs, 3);
	assert_string_equal(t->attrs[0].name, "msRTCSIP-BackEndServer");
	assert_string_equal(t->attrs[0].value, "{primary_sql}");
	assert_int_equal(t->attrs[0].at.line, 24);
	assert_string_equal(t->attrs[1].name, "msRTCSIP-MirrorBackEndServer");
	config_free(cfg);
}

static char *value(const struct store *st, const struct published_location *loc, const char *tmpl,
		   int want_rc)
{
	struct cms_error err = CMS_ERROR_INIT;
	char *out = (char *)"unset";
	int rc = publish_ldap_value(&out, tmpl, st, loc, &err);

	assert_int_equal(rc, want_rc);
	if (rc <= 0)
		assert_null(out);
	cms_error_clear(&err);
	return out;
}

static void templates_give_lync_values(void **state)
{
	struct config *cfg = load();
	const struct store *st = &cfg->stores[0];
	struct published_location loc = { .store = "redmond", .engine = "mssql", .primary = "sql-a",
					  .mirror = "sql-b", .serial = 7, .run_id = "r" };
	char *v;

	(void)state;
	/* Lync's form: fqdn\instance; a server without either gives its name. */
	v = value(st, &loc, "{primary_sql}", 1);
	assert_string_equal(v, "sql-a.litwareinc.com\\RTC");
	free(v);
	v = value(st, &loc, "{mirror_sql}", 1);
	assert_string_equal(v, "sql-b");
	free(v);
	v = value(st, &loc, st->publish[0].attrs[2].value, 1);
	assert_string_equal(v, "redmond #7 on sql-a (sql-a.litwareinc.com, RTC); mirror sql-b sql-b []");
	free(v);
	v = value(st, &loc, "no placeholder", 1);
	assert_string_equal(v, "no placeholder");
	free(v);

	/* After a move the other way. */
	loc.primary = "sql-b";
	loc.mirror = "sql-a";
	v = value(st, &loc, "{primary_sql} / {mirror_sql}", 1);
	assert_string_equal(v, "sql-b / sql-a.litwareinc.com\\RTC");
	free(v);

	/* No mirror: a value that names it removes the attribute; others stay. */
	loc.mirror = NULL;
	value(st, &loc, "{mirror_sql}", 0);
	value(st, &loc, "mirror at {mirror_fqdn}", 0);
	v = value(st, &loc, "{primary}", 1);
	assert_string_equal(v, "sql-b");
	free(v);

	/* What config loading refuses is refused here too, and so is a value
	 * that comes out empty (an instance-less server's {primary_instance}). */
	value(st, &loc, "{primary_host}", CMS_ERROR);
	value(st, &loc, "{primary", CMS_ERROR);
	value(st, &loc, "{primary_instance}", CMS_ERROR);
	config_free(cfg);
}

static void template_check_names_the_bad_part(void **state)
{
	const char *bad = NULL;
	size_t len = 0;

	(void)state;
	assert_int_equal(config_check_ldap_template("{primary_sql}\\x {serial}", &bad, &len), 0);
	assert_int_equal(config_check_ldap_template("a{serial}b{nope}c", &bad, &len), -1);
	assert_int_equal(len, 6);
	assert_memory_equal(bad, "{nope}", 6);
	assert_int_equal(config_check_ldap_template("x{store", &bad, &len), -1);
	assert_string_equal(bad, "{store");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(ldap_item_loads_every_key),
		cmocka_unit_test(templates_give_lync_values),
		cmocka_unit_test(template_check_names_the_bad_part),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
