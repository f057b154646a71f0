/*
 * Golden tests of the diff: each folder under tests/planner/ holds a config
 * (config.yaml), the recorded state (recorded.json, absent for a store never
 * adopted), the observations (observed.json) and what the planner must make
 * of them: the plan as JSON (expected.json) and as text (expected.txt), or
 * the refusal (expected.err: exit code and message).  The clock and the
 * author are fixed, so output is compared byte for byte.  An optional
 * assume-down file holds --assume-down's server (first line) and --reason
 * (second line).
 *
 * CMSCTL_UPDATE_GOLDEN=1 rewrites the expected files (review the diff).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "common/buf.h"
#include "common/fileio.h"
#include "common/util.h"
#include "planner/config.h"
#include "planner/plan.h"
#include "state/history.h"

#include <dirent.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NOW 1767225600 /* 2026-01-01T00:00:00Z */

static char *case_path(const char *dir, const char *name)
{
	return xasprintf("%s/%s", dir, name);
}

static void load_observation(struct observation *obs, const char *path)
{
	json_error_t jerr;
	json_t *root = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr), *servers, *sv;
	size_t i;

	if (!root)
		fail_msg("%s: %s", path, jerr.text);
	memset(obs, 0, sizeof(*obs));
	obs->probed = json_is_true(json_object_get(root, "probed"));
	servers = json_object_get(root, "servers");
	obs->nservers = json_array_size(servers);
	obs->servers = xcalloc(obs->nservers, sizeof(*obs->servers));
	json_array_foreach(servers, i, sv) {
		struct server_obs *s = &obs->servers[i];
		json_t *v;

		s->server = xstrdup(json_string_value(json_object_get(sv, "server")));
		s->reachable = json_is_true(json_object_get(sv, "reachable"));
		if ((v = json_object_get(sv, "error")) && json_is_string(v))
			s->error = xstrdup(json_string_value(v));
		if ((v = json_object_get(sv, "role")) && obs_role_parse(&s->role, json_string_value(v)) < 0)
			fail_msg("%s: bad role", path);
		s->epoch = json_integer_value(json_object_get(sv, "epoch"));
		s->position = (uint64_t)json_integer_value(json_object_get(sv, "position"));
		s->read_only = json_is_true(json_object_get(sv, "read_only"));
		v = json_object_get(sv, "lag_bytes");
		s->lag_bytes = v ? json_integer_value(v) : -1;
		if ((v = json_object_get(sv, "upstream")) && json_is_string(v))
			s->upstream = xstrdup(json_string_value(v));
	}
	json_decref(root);
}

/* Compares got with the file, or rewrites the file when updating. */
static void expect_file(const char *dir, const char *name, const char *got)
{
	char *path = case_path(dir, name), *want = NULL;
	struct cms_error err = CMS_ERROR_INIT;
	size_t len;

	if (getenv("CMSCTL_UPDATE_GOLDEN")) {
		if (cms_write_file_atomic(path, got, strlen(got), 0644, "golden file", &err) < 0)
			fail_msg("%s", err.message);
		free(path);
		return;
	}
	if (cms_read_file(&want, &len, path, 1 << 20, &err) < 0)
		fail_msg("%s: %s", path, err.message);
	if (strcmp(want, got) != 0) {
		print_error("--- %s (expected)\n%s\n--- got\n%s\n", path, want, got);
		fail_msg("%s differs", path);
	}
	free(want);
	free(path);
}

static int file_exists(const char *dir, const char *name)
{
	char *path = case_path(dir, name);
	FILE *f = fopen(path, "r");

	free(path);
	if (f)
		fclose(f);
	return f != NULL;
}

static void run_case(const char *dir)
{
	struct diag_list dl = { 0 };
	struct cms_error err = CMS_ERROR_INIT;
	struct config *cfg = NULL;
	struct observation obs;
	struct recorded_location rec;
	struct plan_inputs in;
	struct plan *p = NULL, *back = NULL;
	struct buf json = BUF_INIT, json2 = BUF_INIT, text = BUF_INIT, errtext = BUF_INIT;
	char *cfgpath = case_path(dir, "config.yaml"), *obspath = case_path(dir, "observed.json");
	json_t *rj = NULL;
	char id[41], id2[41];
	char *ad = NULL, *reason = NULL, *rt = NULL;
	int rc;

	if (config_load(&cfg, cfgpath, &dl, &err) < 0)
		fail_msg("%s: %s (%s)", cfgpath, err.message, dl.len ? dl.items[0].message : "");
	load_observation(&obs, obspath);
	memset(&in, 0, sizeof(in));
	in.desired = &cfg->stores[0];
	in.obs = &obs;
	in.now = NOW;
	in.author = "alice@example";
	in.accept_drift = file_exists(dir, "accept-drift");
	if (file_exists(dir, "assume-down")) {
		char *ap = case_path(dir, "assume-down"), *nl;
		size_t len;

		if (cms_read_file(&ad, &len, ap, 4096, &err) < 0)
			fail_msg("%s: %s", ap, err.message);
		if (!(nl = strchr(ad, '\n')))
			fail_msg("%s: server, newline, reason", ap);
		*nl = '\0';
		reason = nl + 1;
		if ((nl = strchr(reason, '\n')))
			*nl = '\0';
		in.assume_down = ad;
		in.assume_down_reason = reason;
		free(ap);
	}
	if (file_exists(dir, "reason-ticket")) {
		char *tp = case_path(dir, "reason-ticket"), *nl;
		size_t len;

		if (cms_read_file(&rt, &len, tp, 4096, &err) < 0)
			fail_msg("%s: %s", tp, err.message);
		if (!(nl = strchr(rt, '\n')))
			fail_msg("%s: reason, newline, ticket", tp);
		*nl = '\0';
		in.reason = rt;
		in.ticket = nl + 1;
		if ((nl = strchr(nl + 1, '\n')))
			*nl = '\0';
		free(tp);
	}
	if (file_exists(dir, "recorded.json")) {
		char *rp = case_path(dir, "recorded.json");
		json_error_t jerr;

		rj = json_load_file(rp, 0, &jerr);
		assert_non_null(rj);
		rec.lineage = json_string_value(json_object_get(rj, "lineage"));
		rec.serial = json_integer_value(json_object_get(rj, "serial"));
		rec.primary = json_string_value(json_object_get(rj, "primary"));
		rec.mirror = json_string_value(json_object_get(rj, "mirror"));
		in.recorded = &rec;
		free(rp);
	}
	rc = planner_diff(&p, &in, &err);
	if (rc < 0) {
		buf_addf(&errtext, "exit %d\n%s\n", cms_error_exit_status(rc), err.message);
		if (err.hint)
			buf_addf(&errtext, "hint: %s\n", err.hint);
		expect_file(dir, "expected.err", errtext.ptr);
		assert_null(p);
		goto done;
	}
	if (file_exists(dir, "expected.err") && !getenv("CMSCTL_UPDATE_GOLDEN"))
		fail_msg("%s: expected a refusal, got a plan", dir);
	assert_int_equal(plan_to_json(p, &json, &err), 0);
	history_blob_id(json.ptr, json.len, id);
	plan_render(p, id, &text);
	expect_file(dir, "expected.json", json.ptr);
	expect_file(dir, "expected.txt", text.ptr);

	/* The JSON reads back into the same plan, byte for byte. */
	assert_int_equal(plan_from_json(&back, json.ptr, json.len, "golden", &err), 0);
	assert_int_equal(plan_to_json(back, &json2, &err), 0);
	history_blob_id(json2.ptr, json2.len, id2);
	assert_string_equal(id, id2);
done:
	free(ad);
	free(rt);
	plan_free(p);
	plan_free(back);
	json_decref(rj);
	observation_free(&obs);
	config_free(cfg);
	diag_list_free(&dl);
	cms_error_clear(&err);
	buf_free(&json);
	buf_free(&json2);
	buf_free(&text);
	buf_free(&errtext);
	free(cfgpath);
	free(obspath);
}

static void test_golden_cases(void **state)
{
	const char *src = getenv("CMSCTL_SOURCE_DIR");
	char *root;
	struct dirent **names = NULL;
	int n, i, ran = 0;

	(void)state;
	assert_non_null(src);
	root = xasprintf("%s/tests/planner", src);
	n = scandir(root, &names, NULL, alphasort);
	assert_true(n > 0);
	for (i = 0; i < n; i++) {
		if (names[i]->d_name[0] != '.') {
			char *dir = xasprintf("%s/%s", root, names[i]->d_name);

			print_message("case %s\n", names[i]->d_name);
			run_case(dir);
			free(dir);
			ran++;
		}
		free(names[i]);
	}
	free(names);
	free(root);
	assert_true(ran >= 10);
}

/* The same inputs at the same clock time give byte-identical plans. */
static void test_same_inputs_same_bytes(void **state)
{
	const char *src = getenv("CMSCTL_SOURCE_DIR");
	struct diag_list dl = { 0 };
	struct cms_error err = CMS_ERROR_INIT;
	struct config *cfg = NULL;
	struct observation obs;
	struct recorded_location rec = { "0123456789abcdef0123456789abcdef", 4, "pool-a", "pool-b" };
	struct plan_inputs in;
	struct plan *p1 = NULL, *p2 = NULL;
	struct buf j1 = BUF_INIT, j2 = BUF_INIT;
	char *dir, *cfgpath, *obspath;

	(void)state;
	dir = xasprintf("%s/tests/planner/switchover", src);
	cfgpath = case_path(dir, "config.yaml");
	obspath = case_path(dir, "observed.json");
	assert_int_equal(config_load(&cfg, cfgpath, &dl, &err), 0);
	load_observation(&obs, obspath);
	memset(&in, 0, sizeof(in));
	in.desired = &cfg->stores[0];
	in.recorded = &rec;
	in.obs = &obs;
	in.now = NOW;
	in.author = "alice@example";
	assert_int_equal(planner_diff(&p1, &in, &err), 0);
	assert_int_equal(planner_diff(&p2, &in, &err), 0);
	assert_int_equal(plan_to_json(p1, &j1, &err), 0);
	assert_int_equal(plan_to_json(p2, &j2, &err), 0);
	assert_int_equal(j1.len, j2.len);
	assert_memory_equal(j1.ptr, j2.ptr, j1.len);
	/* a later clock changes the bytes: the clock really is an input */
	plan_free(p2);
	buf_reset(&j2);
	in.now = NOW + 1;
	assert_int_equal(planner_diff(&p2, &in, &err), 0);
	assert_int_equal(plan_to_json(p2, &j2, &err), 0);
	assert_true(j1.len != j2.len || memcmp(j1.ptr, j2.ptr, j1.len) != 0);
	plan_free(p1);
	plan_free(p2);
	buf_free(&j1);
	buf_free(&j2);
	observation_free(&obs);
	config_free(cfg);
	diag_list_free(&dl);
	free(dir);
	free(cfgpath);
	free(obspath);
}

/* A plan file edited by hand is refused by the parser. */
static void test_parser_refuses_unknown_and_wrong_fields(void **state)
{
	struct cms_error err = CMS_ERROR_INIT;
	struct plan *p = NULL;
	const char *bad[] = {
		"[]",
		"{\"format_version\": 2}",
		"{\"format_version\": 1, \"store\": \"x\"}",
		"not json",
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(plan_from_json(&p, bad[i], strlen(bad[i]), "test", &err), CMS_ESTALE);
		assert_null(p);
		assert_non_null(err.message);
		cms_error_clear(&err);
	}
}

/* --reason and --ticket: one clean line each. */
static void test_reason_and_ticket_text(void **state)
{
	(void)state;
	assert_null(plan_text_problem("Patch Tuesday: move off pool-a \xe2\x80\x94 10 min", 500, true));
	assert_null(plan_text_problem("CHG-1234", 128, false));
	assert_string_equal(plan_text_problem("", 500, true), "is empty");
	assert_string_equal(plan_text_problem(NULL, 500, true), "is empty");
	assert_string_equal(plan_text_problem("abcd", 3, true), "is too long");
	assert_null(plan_text_problem("abc", 3, true));
	assert_string_equal(plan_text_problem("two\nlines", 500, true),
			    "contains a control character (it must be one line)");
	assert_string_equal(plan_text_problem("del\x7f", 500, true),
			    "contains a control character (it must be one line)");
	assert_string_equal(plan_text_problem("c1 \xc2\x85", 500, true),
			    "contains a control character (it must be one line)");
	assert_string_equal(plan_text_problem("ls \xe2\x80\xa8", 500, true),
			    "contains a control character (it must be one line)");
	assert_string_equal(plan_text_problem("latin1 \xe9", 500, true), "is not valid UTF-8");
	assert_string_equal(plan_text_problem("overlong \xc0\xaf", 500, true), "is not valid UTF-8");
	assert_string_equal(plan_text_problem("cut \xe2\x80", 500, true), "is not valid UTF-8");
	assert_string_equal(plan_text_problem("surrogate \xed\xa0\x80", 500, true), "is not valid UTF-8");
	assert_string_equal(plan_text_problem("CHG 1", 128, false), "contains white space");
	assert_string_equal(plan_text_problem("CHG\xc2\xa0" "1", 128, false), "contains white space");
	assert_null(plan_text_problem("two words", 500, true));
}

/* A plan file whose reason or ticket breaks those rules is refused. */
static void test_parser_checks_reason_and_ticket(void **state)
{
	const char *src = getenv("CMSCTL_SOURCE_DIR");
	struct cms_error err = CMS_ERROR_INIT;
	struct plan *p = NULL;
	char *path, *data = NULL, *bad;
	size_t len = 0;

	(void)state;
	path = xasprintf("%s/tests/planner/switchover-reason/expected.json", src);
	assert_int_equal(cms_read_file(&data, &len, path, 1 << 20, &err), 0);
	assert_int_equal(plan_from_json(&p, data, len, "test", &err), 0);
	assert_string_equal(p->reason, "kernel update on pool-a (maintenance window 22:00-23:00)");
	assert_string_equal(p->ticket, "CHG-1234");
	plan_free(p);
	p = NULL;
	bad = xstrdup(data);
	memcpy(strstr(bad, "CHG-1234"), "CHG\\t234", 8); /* the JSON escape of a tab */
	assert_int_equal(plan_from_json(&p, bad, strlen(bad), "test", &err), CMS_ESTALE);
	assert_null(p);
	assert_non_null(strstr(err.message, "'ticket' contains a control character"));
	cms_error_clear(&err);
	free(bad);
	free(data);
	free(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_golden_cases),
		cmocka_unit_test(test_same_inputs_same_bytes),
		cmocka_unit_test(test_parser_refuses_unknown_and_wrong_fields),
		cmocka_unit_test(test_reason_and_ticket_text),
		cmocka_unit_test(test_parser_checks_reason_and_ticket),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
