/*
 * Unit tests of the git history (state/history.c).  Each test works in its
 * own mkdtemp directory and inspects what history.c wrote with the real git
 * command-line tool, so the tests pin what an auditor running git sees, not
 * only what libgit2 reads back.  HOME points at a private directory so that
 * no personal git configuration takes part.
 */
#include "state/history.h"
#include "common/buf.h"
#include "common/util.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#define T0 1767225600 /* 2026-01-01T00:00:00Z */

#define PLAN_A "aaaaaaa1111111111111111111111111111111a1"
#define PLAN_B "aaaaaaa2222222222222222222222222222222b2"

static const char msg_plan[] =
	"redmond: plan switchover pool-a -> pool-b\n"
	"\n"
	"Plan made against serial 3.\n"
	"\n"
	"Plan-Id: " PLAN_A "\n"
	"Store: redmond\n"
	"Store-Serial: 3\n"
	"Operator: alice@ops1\n"
	"Outcome: planned\n"
	"Kind: plan\n";

static const char msg_apply[] =
	"redmond: apply switchover pool-a -> pool-b: ok\n"
	"\n"
	"Moved the CMS from pool-a to pool-b.\n"
	"\n"
	"Plan-Id: " PLAN_A "\n"
	"Store-Serial: 4\n"
	"Operator: alice@ops1\n"
	"Outcome: ok\n"
	"Approved-By: bob@ops2\n"
	"Approved-By: carol@ops3\n";

/* ---- helpers ---------------------------------------------------------- */

/* Runs a shell command, returns its standard output (caller frees) and its
 * exit status through *status. */
__attribute__((format(printf, 2, 3)))
static char *run(int *status, const char *fmt, ...)
{
	struct buf cmd = BUF_INIT, out = BUF_INIT;
	char chunk[4096];
	size_t n;
	va_list ap;
	FILE *p;
	int st;

	va_start(ap, fmt);
	buf_vaddf(&cmd, fmt, ap);
	va_end(ap);
	p = popen(cmd.ptr, "r");
	assert_non_null(p);
	while ((n = fread(chunk, 1, sizeof(chunk), p)) > 0)
		buf_add(&out, chunk, n);
	st = pclose(p);
	*status = WIFEXITED(st) ? WEXITSTATUS(st) : 128;
	buf_free(&cmd);
	return buf_detach(&out, NULL);
}

/* Runs a command that must succeed; returns its output without the final
 * newline. */
__attribute__((format(printf, 1, 2)))
static char *run_ok(const char *fmt, ...)
{
	struct buf cmd = BUF_INIT;
	va_list ap;
	char *out;
	size_t len;
	int status;

	va_start(ap, fmt);
	buf_vaddf(&cmd, fmt, ap);
	va_end(ap);
	out = run(&status, "%s", cmd.ptr);
	if (status != 0)
		fail_msg("command failed (%d): %s\n%s", status, cmd.ptr, out);
	len = strlen(out);
	if (len > 0 && out[len - 1] == '\n')
		out[len - 1] = '\0';
	buf_free(&cmd);
	return out;
}

/* Asserts that a command prints exactly want (final newline dropped). */
#define assert_cmd_output(want, ...)                  \
	do {                                          \
		char *got_ = run_ok(__VA_ARGS__);     \
		assert_string_equal(got_, (want));    \
		free(got_);                           \
	} while (0)

static void write_file(const char *path, const void *data, size_t len)
{
	FILE *f = fopen(path, "wb");

	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
}

/* Whole file content (caller frees). */
static char *slurp(const char *path, size_t *len)
{
	struct buf b = BUF_INIT;
	char chunk[4096];
	size_t n;
	FILE *f = fopen(path, "rb");

	assert_non_null(f);
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		buf_add(&b, chunk, n);
	fclose(f);
	return buf_detach(&b, len);
}

static struct history *open_ok(const char *path, const char *branch)
{
	struct cms_error err = CMS_ERROR_INIT;
	struct history *h = NULL;
	int rc = history_open(&h, path, branch, &err);

	if (rc != 0)
		fail_msg("history_open('%s'): %d %s", path, rc, err.message);
	assert_non_null(h);
	cms_error_clear(&err);
	return h;
}

static void commit_ok(struct history *h, const struct history_file *files, size_t n,
		      const char *message, int64_t now, char id[41])
{
	struct cms_error err = CMS_ERROR_INIT;
	int rc = history_commit(h, files, n, message, "alice@ops1", now, id, &err);

	if (rc != 0)
		fail_msg("history_commit: %d %s", rc, err.message);
	cms_error_clear(&err);
}

/* history_open must fail with exactly this message. */
static void assert_open_fails(const char *path, const char *branch, const char *want)
{
	struct cms_error err = CMS_ERROR_INIT;
	struct history *h = (struct history *)&err; /* must be reset to NULL */

	assert_int_equal(history_open(&h, path, branch, &err), CMS_ERROR);
	assert_null(h);
	assert_int_equal(err.code, CMS_ERROR);
	assert_non_null(err.message);
	assert_string_equal(err.message, want);
	cms_error_clear(&err);
}

static int setup_dir(void **state)
{
	char *dir = xasprintf("%s/t.XXXXXX", getenv("HOME"));

	if (!mkdtemp(dir)) {
		free(dir);
		return -1;
	}
	*state = dir;
	return 0;
}

static int teardown_dir(void **state)
{
	char *dir = *state;
	int status;
	char *out = run(&status, "chmod -R u+w '%s' && rm -rf '%s'", dir, dir);

	free(out);
	free(dir);
	return status == 0 ? 0 : -1;
}

/* ---- open ------------------------------------------------------------- */

static void test_open_creates_bare_repository_0700(void **state)
{
	const char *dir = *state;
	char *path = xasprintf("%s/history", dir);
	struct cms_error err = CMS_ERROR_INIT;
	struct history_entry *log = (struct history_entry *)&err;
	struct history *h;
	struct stat st;
	char *data = NULL;
	size_t n = 99, len;

	h = open_ok(path, NULL);
	assert_int_equal(stat(path, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0700);
	assert_cmd_output("true", "git -C '%s' rev-parse --is-bare-repository", path);
	assert_cmd_output("refs/heads/cms-history", "git -C '%s' symbolic-ref HEAD", path);
	assert_cmd_output("true", "git -C '%s' config --bool core.logAllRefUpdates", path);

	/* No commit yet: an empty log, no file, no plan. */
	assert_int_equal(history_log(h, NULL, &log, &n, &err), 0);
	assert_null(log);
	assert_int_equal(n, 0);
	assert_int_equal(history_read(h, "redmond/location.json", &data, &len, &err),
			 CMS_ENOTFOUND);
	assert_null(data);
	assert_int_equal(history_find_plan(h, PLAN_A, &data, &len, &err), CMS_ENOTFOUND);
	assert_string_equal(err.message, "no plan '" PLAN_A "' in the history");
	history_close(h);

	/* Opening it again opens the same repository. */
	h = open_ok(path, NULL);
	history_close(h);
	cms_error_clear(&err);
	free(path);
}

static void test_open_empty_directory_becomes_repository(void **state)
{
	const char *dir = *state;
	char *path = xasprintf("%s/empty", dir);
	struct history *h;

	assert_int_equal(mkdir(path, 0755), 0);
	h = open_ok(path, "audit");
	assert_cmd_output("true", "git -C '%s' rev-parse --is-bare-repository", path);
	assert_cmd_output("refs/heads/audit", "git -C '%s' symbolic-ref HEAD", path);
	history_close(h);
	free(path);
}

static void test_open_missing_parent_fails(void **state)
{
	const char *dir = *state;
	char *path = xasprintf("%s/no/history", dir);
	char *want = xasprintf("cannot create history repository '%s': %s", path,
			       strerror(ENOENT));
	char *parent = xasprintf("%s/no", dir);
	struct stat st;

	assert_open_fails(path, NULL, want);
	assert_int_equal(stat(parent, &st), -1);
	free(parent);
	free(want);
	free(path);
}

static void test_open_regular_file_fails(void **state)
{
	const char *dir = *state;
	char *path = xasprintf("%s/file", dir);
	char *want = xasprintf("'%s' exists and is not a git repository", path);

	write_file(path, "x\n", 2);
	assert_open_fails(path, NULL, want);
	free(want);
	free(path);
}

static void test_open_non_empty_directory_fails(void **state)
{
	const char *dir = *state;
	char *path = xasprintf("%s/stuff", dir);
	char *file = xasprintf("%s/stuff/keep.txt", dir);
	char *want = xasprintf("'%s' exists and is not a git repository", path);
	struct stat st;

	assert_int_equal(mkdir(path, 0755), 0);
	write_file(file, "keep\n", 5);
	assert_open_fails(path, NULL, want);
	/* Nothing was created in it. */
	free(file);
	file = xasprintf("%s/stuff/HEAD", dir);
	assert_int_equal(stat(file, &st), -1);
	free(want);
	free(file);
	free(path);
}

static void test_open_never_climbs_into_parent_repository(void **state)
{
	const char *dir = *state;
	char *work = xasprintf("%s/work", dir);
	char *sub = xasprintf("%s/work/sub", dir);
	char *file = xasprintf("%s/work/sub/notes.txt", dir);
	char *want = xasprintf("'%s' exists and is not a git repository", sub);
	char *out;
	int status;

	free(run_ok("git init -q -b main '%s'", work));
	assert_int_equal(mkdir(sub, 0755), 0);
	write_file(file, "n\n", 2);
	assert_open_fails(sub, NULL, want);
	out = run(&status, "git -C '%s' rev-parse -q --verify refs/heads/cms-history", work);
	assert_int_not_equal(status, 0);
	free(out);
	free(want);
	free(file);
	free(sub);
	free(work);
}

static void test_open_invalid_branch_fails(void **state)
{
	const char *dir = *state;
	char *path = xasprintf("%s/history", dir);
	struct stat st;

	assert_open_fails(path, "bad..name", "invalid history branch name 'bad..name'");
	assert_open_fails(path, "", "invalid history branch name ''");
	assert_open_fails(path, "a branch", "invalid history branch name 'a branch'");
	/* Validation comes before anything is created. */
	assert_int_equal(stat(path, &st), -1);
	free(path);
}

/* ---- commit and log --------------------------------------------------- */

static void test_commits_nested_paths_visible_to_git(void **state)
{
	const char *dir = *state;
	char *path = xasprintf("%s/history", dir);
	struct cms_error err = CMS_ERROR_INIT;
	struct history_entry *log = NULL;
	struct history *h;
	char id1[41], id2[41], *data, *out;
	size_t n, len;
	struct history_file first[] = {
		{ "redmond/plans/1-abc.json", "{\"plan\":1}\n", 11 },
		{ "redmond/location.json", "{\"at\":\"pool-a\"}\n", 16 },
	};
	struct history_file second[] = {
		{ "redmond/location.json", "{\"at\":\"pool-b\"}\n", 16 },
		{ "redmond/runs/r1/report.json", "{\"outcome\":\"ok\"}\n", 17 },
	};

	h = open_ok(path, NULL);
	commit_ok(h, first, 2, msg_plan, T0, id1);
	commit_ok(h, second, 2, msg_apply, T0 + 60, id2);
	assert_int_equal(strlen(id1), 40);
	assert_int_equal(strlen(id2), 40);
	assert_string_not_equal(id1, id2);

	/* What git sees. */
	assert_cmd_output("redmond: apply switchover pool-a -> pool-b: ok\n"
			  "redmond: plan switchover pool-a -> pool-b",
			  "git -C '%s' log --format=%%s cms-history", path);
	out = run_ok("git -C '%s' rev-parse cms-history cms-history~1", path);
	{
		char *want = xasprintf("%s\n%s", id2, id1);
		assert_string_equal(out, want);
		free(want);
	}
	free(out);
	assert_cmd_output("{\"at\":\"pool-b\"}", "git -C '%s' show cms-history:redmond/location.json",
			  path);
	assert_cmd_output("{\"at\":\"pool-a\"}",
			  "git -C '%s' show cms-history~1:redmond/location.json", path);
	assert_cmd_output("{\"plan\":1}", "git -C '%s' show cms-history:redmond/plans/1-abc.json",
			  path);
	assert_cmd_output("{\"outcome\":\"ok\"}",
			  "git -C '%s' show cms-history:redmond/runs/r1/report.json", path);
	assert_cmd_output(PLAN_A "\n" PLAN_A,
			  "git -C '%s' log --format='%%(trailers:key=Plan-Id,valueonly,"
			  "separator=%%x2C)' cms-history", path);
	assert_cmd_output("bob@ops2,carol@ops3",
			  "git -C '%s' log -1 --format='%%(trailers:key=Approved-By,valueonly,"
			  "separator=%%x2C)' cms-history", path);
	assert_cmd_output("alice@ops1 <alice@ops1> 1767225660 +0000|"
			  "alice@ops1 <alice@ops1> 1767225660 +0000",
			  "git -C '%s' log -1 --date=raw --format='%%an <%%ae> %%ad|%%cn <%%ce> %%cd' "
			  "cms-history", path);
	assert_cmd_output("cmsctl: redmond: apply switchover pool-a -> pool-b: ok",
			  "git -C '%s' reflog show --format=%%gs -1 refs/heads/cms-history", path);
	/* git agrees that the objects are well formed. */
	free(run_ok("git -C '%s' fsck --strict --no-dangling 2>&1", path));

	/* What history_log sees. */
	assert_int_equal(history_log(h, NULL, &log, &n, &err), 0);
	assert_int_equal(n, 2);
	assert_string_equal(log[0].commit, id2);
	assert_int_equal(log[0].time, T0 + 60);
	assert_string_equal(log[0].subject, "redmond: apply switchover pool-a -> pool-b: ok");
	assert_non_null(strstr(log[0].body, "Moved the CMS from pool-a to pool-b."));
	assert_string_equal(log[0].plan_id, PLAN_A);
	assert_string_equal(log[0].store, "redmond"); /* from the subject */
	assert_string_equal(log[0].serial, "4");
	assert_string_equal(log[0].operator_name, "alice@ops1");
	assert_string_equal(log[0].outcome, "ok");
	assert_null(log[0].kind);
	assert_int_equal(log[0].napproved_by, 2);
	assert_string_equal(log[0].approved_by[0], "bob@ops2");
	assert_string_equal(log[0].approved_by[1], "carol@ops3");

	assert_string_equal(log[1].commit, id1);
	assert_int_equal(log[1].time, T0);
	assert_string_equal(log[1].subject, "redmond: plan switchover pool-a -> pool-b");
	assert_string_equal(log[1].store, "redmond");
	assert_string_equal(log[1].serial, "3");
	assert_string_equal(log[1].outcome, "planned");
	assert_string_equal(log[1].kind, "plan");
	assert_int_equal(log[1].napproved_by, 0);
	assert_null(log[1].approved_by);
	history_log_free(log, n);

	/* What history_read sees. */
	assert_int_equal(history_read(h, "redmond/location.json", &data, &len, &err), 0);
	assert_int_equal(len, 16);
	assert_memory_equal(data, "{\"at\":\"pool-b\"}\n", 17); /* NUL-terminated */
	free(data);
	assert_int_equal(history_read(h, "redmond/missing.json", &data, &len, &err),
			 CMS_ENOTFOUND);
	assert_string_equal(err.message, "no file 'redmond/missing.json' in the history");
	assert_int_equal(history_read(h, "redmond/plans", &data, &len, &err), CMS_ENOTFOUND);
	assert_null(data);

	history_close(h);
	cms_error_clear(&err);
	free(path);
}

static void test_commit_without_files_and_operator_without_at(void **state)
{
	const char *dir = *state;
	char *path = xasprintf("%s/history", dir);
	struct cms_error err = CMS_ERROR_INIT;
	struct history *h = open_ok(path, NULL);
	struct history_file f = { "paris/location.json", "{}\n", 3 };
	char id[41], *raw;

	commit_ok(h, &f, 1, "paris: adopt\n\nOutcome: ok\n", T0, id);
	/* An approval records only its message; a message without a final
	 * newline gets one. */
	assert_int_equal(history_commit(h, NULL, 0, "paris: approve\n\nApproved-By: bob",
					"bob", T0 + 1, id, &err), 0);
	assert_cmd_output("bob <bob@cmsctl>", "git -C '%s' log -1 --format='%%an <%%ae>' cms-history",
			  path);
	raw = run_ok("git -C '%s' cat-file commit cms-history", path);
	assert_non_null(strstr(raw, "\n\n"));
	assert_string_equal(strstr(raw, "\n\n") + 2, "paris: approve\n\nApproved-By: bob");
	free(raw);
	assert_cmd_output("", "git -C '%s' diff --stat cms-history~1 cms-history", path);

	/* An empty message or operator is refused. */
	assert_int_equal(history_commit(h, &f, 1, "", "bob", T0, id, &err), CMS_ERROR);
	assert_string_equal(id, "");
	assert_int_equal(history_commit(h, &f, 1, "paris: x", "", T0, id, &err), CMS_ERROR);
	history_close(h);
	cms_error_clear(&err);
	free(path);
}

static void test_log_filters_by_store_subject(void **state)
{
	const char *dir = *state;
	char *path = xasprintf("%s/history", dir);
	struct cms_error err = CMS_ERROR_INIT;
	struct history_entry *log = NULL;
	struct history *h = open_ok(path, NULL);
	struct history_file r = { "redmond/location.json", "r\n", 2 };
	struct history_file p = { "paris/location.json", "p\n", 2 };
	struct history_file rr = { "redmond-dr/location.json", "d\n", 2 };
	size_t n;

	commit_ok(h, &r, 1, "redmond: adopt\n", T0, NULL);
	commit_ok(h, &p, 1, "paris: adopt\n", T0 + 1, NULL);
	commit_ok(h, &rr, 1, "redmond-dr: adopt\n", T0 + 2, NULL);
	/* After git gc, objects and the branch are packed: still read and
	 * compare-and-swapped correctly. */
	free(run_ok("git -C '%s' gc -q && git -C '%s' pack-refs --all", path, path));
	assert_cmd_output("", "ls '%s/refs/heads'", path);
	commit_ok(h, &r, 1, "redmond: apply failover: ok\n", T0 + 3, NULL);
	assert_cmd_output("4", "git -C '%s' rev-list --count cms-history", path);

	assert_int_equal(history_log(h, "redmond", &log, &n, &err), 0);
	assert_int_equal(n, 2);
	assert_string_equal(log[0].subject, "redmond: apply failover: ok");
	assert_string_equal(log[1].subject, "redmond: adopt");
	assert_string_equal(log[1].body, "");
	history_log_free(log, n);

	assert_int_equal(history_log(h, "paris", &log, &n, &err), 0);
	assert_int_equal(n, 1);
	history_log_free(log, n);

	assert_int_equal(history_log(h, "lisbon", &log, &n, &err), 0);
	assert_int_equal(n, 0);
	history_log_free(log, n);

	assert_int_equal(history_log(h, NULL, &log, &n, &err), 0);
	assert_int_equal(n, 4);
	history_log_free(log, n);
	history_close(h);
	cms_error_clear(&err);
	free(path);
}

static void test_commit_rejects_bad_paths_and_leaves_branch(void **state)
{
	const char *dir = *state;
	char *path = xasprintf("%s/history", dir);
	struct cms_error err = CMS_ERROR_INIT;
	struct history *h = open_ok(path, NULL);
	struct history_file ok = { "redmond/location.json", "x\n", 2 };
	static const char *const bad[] = {
		"", "/etc/passwd", "../x", "redmond/../x", "a//b", "a/", "./a", ".git/config",
		"redmond/.GIT/x",
	};
	struct history_file twice[] = { { "a/b", "1", 1 }, { "a/b", "2", 1 } };
	char id[41], *tip;
	size_t i;

	commit_ok(h, &ok, 1, "redmond: adopt\n", T0, id);
	for (i = 0; i < ARRAY_SIZE(bad); i++) {
		struct history_file f = { bad[i], "y\n", 2 };
		char *want = xasprintf(*bad[i] ? "invalid history path '%s'" : "empty history path",
				       bad[i]);

		assert_int_equal(history_commit(h, &f, 1, "redmond: bad\n", "alice@ops1", T0, NULL,
						&err), CMS_ERROR);
		assert_string_equal(err.message, want);
		free(want);
	}
	assert_int_equal(history_commit(h, twice, 2, "redmond: bad\n", "alice@ops1", T0, NULL,
					&err), CMS_ERROR);
	assert_string_equal(err.message, "history path 'a/b' given twice in one commit");
	/* A directory cannot become a file. */
	{
		struct history_file f = { "redmond", "z\n", 2 };
		assert_int_equal(history_commit(h, &f, 1, "redmond: bad\n", "alice@ops1", T0, NULL,
						&err), CMS_ERROR);
		assert_non_null(strstr(err.message,
				       "cannot build the history tree in history repository"));
	}
	tip = run_ok("git -C '%s' rev-parse cms-history", path);
	assert_string_equal(tip, id);
	free(tip);
	history_close(h);
	cms_error_clear(&err);
	free(path);
}

/* ---- blob ids --------------------------------------------------------- */

static void test_blob_id_matches_git_hash_object(void **state)
{
	const char *dir = *state;
	char *file = xasprintf("%s/blob", dir);
	static const char binary[] = { 'a', '\0', 'b', '\n', '\xff', '\0' };
	struct { const void *data; size_t len; } cases[] = {
		{ "", 0 },
		{ "hello\n", 6 },
		{ "{\"format_version\":1}", 20 },
		{ binary, sizeof(binary) },
	};
	char id[41];
	size_t i;

	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		write_file(file, cases[i].data, cases[i].len);
		history_blob_id(cases[i].data, cases[i].len, id);
		assert_cmd_output(id, "git hash-object '%s'", file);
	}
	/* Every length around SHA-1's 64-byte blocks and its padding (the
	 * "blob N\0" header shifts the boundaries), and a large one. */
	{
		size_t lens[] = { 40, 41, 42, 47, 48, 49, 50, 55, 56, 57, 63, 64, 65, 100000 };
		char *big = xmalloc(100000);

		for (i = 0; i < 100000; i++)
			big[i] = (char)('a' + i * 7 % 26);
		for (i = 0; i < ARRAY_SIZE(lens); i++) {
			write_file(file, big, lens[i]);
			history_blob_id(big, lens[i], id);
			assert_cmd_output(id, "git hash-object '%s'", file);
		}
		free(big);
	}
	history_blob_id("", 0, id);
	assert_string_equal(id, "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391");
	free(file);
}

/* ---- inside an operator's repository ---------------------------------- */

static void test_commit_in_worktree_repository_leaves_it_clean(void **state)
{
	const char *dir = *state;
	char *work = xasprintf("%s/iac", dir);
	char *readme = xasprintf("%s/iac/README", dir);
	char *index = xasprintf("%s/iac/.git/index", dir);
	char *before, *after, *head_before;
	size_t before_len, after_len;
	struct history *h;
	struct history_file files[] = {
		{ "redmond/location.json", "{\"at\":\"pool-a\"}\n", 16 },
		{ "redmond/plans/1-abc.json", "{}\n", 3 },
	};
	char id[41];

	free(run_ok("git init -q -b main '%s'", work));
	write_file(readme, "the IaC repository\n", 19);
	free(run_ok("git -C '%s' add README && git -C '%s' -c user.name=t -c user.email=t@t "
		    "commit -q -m init", work, work));
	head_before = run_ok("git -C '%s' rev-parse HEAD", work);
	before = slurp(index, &before_len);

	h = open_ok(work, NULL);
	commit_ok(h, files, 2, msg_plan, T0, id);
	history_close(h);

	assert_cmd_output("", "git -C '%s' status --porcelain --untracked-files=all", work);
	assert_cmd_output("refs/heads/main", "git -C '%s' symbolic-ref HEAD", work);
	assert_cmd_output(head_before, "git -C '%s' rev-parse HEAD", work);
	assert_cmd_output(id, "git -C '%s' rev-parse refs/heads/cms-history", work);
	assert_cmd_output("{\"at\":\"pool-a\"}",
			  "git -C '%s' show cms-history:redmond/location.json", work);
	assert_cmd_output("README", "git -C '%s' ls-files", work);
	after = slurp(index, &after_len);
	assert_int_equal(after_len, before_len);
	assert_memory_equal(after, before, before_len);
	/* No file of the history appeared in the work tree. */
	assert_cmd_output(".git\nREADME", "ls -A '%s'", work);

	/* Opening the .git directory itself works too. */
	free(readme);
	readme = xasprintf("%s/.git", work);
	h = open_ok(readme, NULL);
	commit_ok(h, files, 1, "redmond: again\n", T0 + 1, id);
	history_close(h);
	assert_cmd_output("", "git -C '%s' status --porcelain --untracked-files=all", work);
	assert_cmd_output("2", "git -C '%s' rev-list --count cms-history", work);

	free(after);
	free(before);
	free(head_before);
	free(index);
	free(readme);
	free(work);
}

static void test_open_refuses_checked_out_branch(void **state)
{
	const char *dir = *state;
	char *work = xasprintf("%s/iac", dir);
	char *want = xasprintf("history branch 'main' is checked out in '%s'", work);

	free(run_ok("git init -q -b main '%s'", work));
	assert_open_fails(work, "main", want);
	free(want);
	free(work);
}

/* ---- failures --------------------------------------------------------- */

/* Makes the object database unwritable.  Root ignores permission bits, so
 * as root the objects directory is replaced by a file instead. */
static void break_objects(const char *repo)
{
	if (geteuid() == 0)
		free(run_ok("mv '%s/objects' '%s/objects.saved' && echo broken > '%s/objects'", repo,
			    repo, repo));
	else
		free(run_ok("chmod -R a-w '%s/objects'", repo));
}

static void repair_objects(const char *repo)
{
	if (geteuid() == 0)
		free(run_ok("rm '%s/objects' && mv '%s/objects.saved' '%s/objects'", repo, repo,
			    repo));
	else
		free(run_ok("chmod -R u+w '%s/objects'", repo));
}

static void test_unwritable_objects_fail_cleanly_branch_unmoved(void **state)
{
	const char *dir = *state;
	char *path = xasprintf("%s/history", dir);
	struct cms_error err = CMS_ERROR_INIT;
	struct history *h = open_ok(path, NULL);
	struct history_file f1 = { "redmond/location.json", "{\"at\":\"pool-a\"}\n", 16 };
	struct history_file f2 = { "redmond/location.json", "{\"at\":\"pool-b\"}\n", 16 };
	char id[41], id2[41], *want;
	int rc;

	commit_ok(h, &f1, 1, "redmond: adopt\n", T0, id);
	break_objects(path);
	rc = history_commit(h, &f2, 1, msg_apply, "alice@ops1", T0 + 60, id2, &err);
	repair_objects(path);

	assert_int_equal(rc, CMS_ERROR);
	assert_int_equal(err.code, CMS_ERROR);
	assert_string_equal(id2, "");
	/* What was being done, where, then libgit2's reason. */
	want = xasprintf("history repository '%s': ", path);
	assert_non_null(strstr(err.message, want));
	assert_true(strncmp(err.message, "cannot ", 7) == 0);
	assert_true(strlen(strstr(err.message, want)) > strlen(want));
	free(want);
	assert_cmd_output(id, "git -C '%s' rev-parse refs/heads/cms-history", path);
	assert_cmd_output("1", "git -C '%s' rev-list --count cms-history", path);

	/* Once repaired, the same handle commits again. */
	commit_ok(h, &f2, 1, msg_apply, T0 + 60, id2);
	assert_cmd_output("2", "git -C '%s' rev-list --count cms-history", path);
	history_close(h);
	cms_error_clear(&err);
	free(path);
}

/* A ref lock left by a dead process (no cmsctl holds the writer lock)
 * is removed once it is old enough, and the commit says so. */
static void test_stale_ref_lock_is_removed_and_noted(void **state)
{
	const char *dir = *state;
	char *path = xasprintf("%s/history", dir);
	char *lock = xasprintf("%s/refs/heads/cms-history.lock", path);
	struct timespec old[2];
	struct history *h = open_ok(path, NULL);
	struct history_file f = { "redmond/location.json", "x\n", 2 };
	char id[41], id2[41];

	commit_ok(h, &f, 1, "redmond: adopt\n", T0, id);
	write_file(lock, "", 0);
	old[0].tv_sec = old[1].tv_sec = time(NULL) - 60;
	old[0].tv_nsec = old[1].tv_nsec = 0;
	assert_int_equal(utimensat(AT_FDCWD, lock, old, 0), 0);
	commit_ok(h, &f, 1, "redmond: again\n", T0 + 1, id2);
	assert_int_equal(access(lock, F_OK), -1);
	assert_cmd_output("2", "git -C '%s' rev-list --count cms-history", path);
	assert_cmd_output("Stale-Lock-Removed: refs/heads/cms-history.lock",
			  "git -C '%s' log -1 --format=%%B cms-history | grep '^Stale-Lock-Removed' | "
			  "cut -d' ' -f1-2", path);
	history_close(h);
	free(lock);
	free(path);
}

/* ---- concurrent writers ----------------------------------------------- */

static void test_two_handles_alternating_lose_no_commit(void **state)
{
	const char *dir = *state;
	char *path = xasprintf("%s/history", dir);
	struct history *a = open_ok(path, NULL);
	struct history *b = open_ok(path, NULL);
	struct history_file fa = { "redmond/location.json", NULL, 0 };
	struct history_file fb = { "paris/location.json", NULL, 0 };
	char id[41], *msg;
	int i;

	for (i = 0; i < 3; i++) {
		fa.data = msg = xasprintf("a%d\n", i);
		fa.len = strlen(msg);
		commit_ok(a, &fa, 1, "redmond: from a\n", T0 + 2 * i, id);
		free(msg);
		fb.data = msg = xasprintf("b%d\n", i);
		fb.len = strlen(msg);
		commit_ok(b, &fb, 1, "paris: from b\n", T0 + 2 * i + 1, id);
		free(msg);
	}
	assert_cmd_output("6", "git -C '%s' rev-list --count cms-history", path);
	assert_cmd_output(id, "git -C '%s' rev-parse cms-history", path);
	/* Each commit kept the other handle's last file. */
	assert_cmd_output("a2", "git -C '%s' show cms-history:redmond/location.json", path);
	assert_cmd_output("b2", "git -C '%s' show cms-history:paris/location.json", path);
	assert_cmd_output("paris: from b\nredmond: from a\nparis: from b\nredmond: from a\n"
			  "paris: from b\nredmond: from a",
			  "git -C '%s' log --format=%%s cms-history", path);
	history_close(a);
	history_close(b);
	free(path);
}

#define WRITERS 2
#define COMMITS_PER_WRITER 5

/* Separate processes race on the ref: every commit must land. */
static void test_concurrent_processes_lose_no_commit(void **state)
{
	const char *dir = *state;
	char *path = xasprintf("%s/history", dir);
	struct history_file f0 = { "start", "0\n", 2 };
	struct history *h = open_ok(path, NULL);
	pid_t pids[WRITERS];
	struct buf files = BUF_INIT;
	char *out, *want;
	int w, i, status;

	commit_ok(h, &f0, 1, "all: start\n", T0, NULL);
	history_close(h);

	for (w = 0; w < WRITERS; w++) {
		pids[w] = fork();
		assert_true(pids[w] >= 0);
		if (pids[w] == 0) {
			struct cms_error err = CMS_ERROR_INIT;
			struct history *c = NULL;
			int rc = history_open(&c, path, NULL, &err);

			for (i = 0; rc == 0 && i < COMMITS_PER_WRITER; i++) {
				char *file = xasprintf("w%d/c%d", w, i);
				char *msg = xasprintf("w%d: commit %d\n", w, i);
				struct history_file f = { file, msg, strlen(msg) };

				rc = history_commit(c, &f, 1, msg, "writer@test", T0 + 1 + i, NULL,
						    &err);
				free(msg);
				free(file);
			}
			if (rc != 0)
				fprintf(stderr, "writer %d: %s\n", w, err.message);
			history_close(c);
			_exit(rc == 0 ? 0 : 1);
		}
	}
	for (w = 0; w < WRITERS; w++) {
		assert_int_equal(waitpid(pids[w], &status, 0), pids[w]);
		assert_true(WIFEXITED(status));
		assert_int_equal(WEXITSTATUS(status), 0);
	}
	want = xasprintf("%d", 1 + WRITERS * COMMITS_PER_WRITER);
	assert_cmd_output(want, "git -C '%s' rev-list --count cms-history", path);
	free(want);
	/* The tip's tree holds every file of every writer. */
	buf_adds(&files, "start");
	for (w = 0; w < WRITERS; w++)
		for (i = 0; i < COMMITS_PER_WRITER; i++)
			buf_addf(&files, "\nw%d/c%d", w, i);
	out = run_ok("git -C '%s' ls-tree -r --name-only cms-history", path);
	assert_string_equal(out, files.ptr);
	buf_free(&files);
	free(out);
	free(path);
}

/* ---- plans ------------------------------------------------------------ */

static void test_find_plan_full_abbreviated_ambiguous_missing(void **state)
{
	const char *dir = *state;
	char *path = xasprintf("%s/history", dir);
	struct cms_error err = CMS_ERROR_INIT;
	struct history *h = open_ok(path, NULL);
	static const char plan[] = "{\"format_version\":1,\"store\":\"redmond\"}\n";
	char id[41], short_id[8], upper[41], *p_real, *data;
	size_t len, i;
	struct history_file files[4];

	history_blob_id(plan, strlen(plan), id);
	p_real = xasprintf("redmond/plans/3-%s.json", id);
	files[0] = (struct history_file){ p_real, plan, strlen(plan) };
	files[1] = (struct history_file){ "redmond/plans/1-" PLAN_A ".json", "A\n", 2 };
	files[2] = (struct history_file){ "paris/plans/2-" PLAN_B ".json", "B\n", 2 };
	files[3] = (struct history_file){ "redmond/plans/3-" PLAN_B ".txt", "not json\n", 9 };
	commit_ok(h, files, 4, "redmond: plans\n", T0, NULL);

	/* Full id, as printed by plan. */
	assert_int_equal(history_find_plan(h, id, &data, &len, &err), 0);
	assert_int_equal(len, strlen(plan));
	assert_string_equal(data, plan);
	free(data);
	/* Upper case is accepted. */
	for (i = 0; i < 40; i++)
		upper[i] = (id[i] >= 'a' && id[i] <= 'f') ? (char)(id[i] - 'a' + 'A') : id[i];
	upper[40] = '\0';
	assert_int_equal(history_find_plan(h, upper, &data, &len, &err), 0);
	free(data);
	/* Abbreviated (7 digits), unique. */
	memcpy(short_id, id, 7);
	short_id[7] = '\0';
	if (strncmp(short_id, "aaaaaaa", 7) != 0) {
		assert_int_equal(history_find_plan(h, short_id, &data, &len, &err), 0);
		assert_string_equal(data, plan);
		free(data);
	}
	/* Another store's plan. */
	assert_int_equal(history_find_plan(h, "aaaaaaa2", &data, &len, &err), 0);
	assert_string_equal(data, "B\n");
	free(data);
	assert_int_equal(history_find_plan(h, PLAN_A, &data, &len, &err), 0);
	assert_string_equal(data, "A\n");
	free(data);

	/* Ambiguous across stores. */
	assert_int_equal(history_find_plan(h, "aaaaaaa", &data, &len, &err), CMS_ERROR);
	assert_null(data);
	assert_string_equal(err.message, "plan id 'aaaaaaa' is ambiguous");
	assert_non_null(err.hint);

	/* Missing, too short, not hex. */
	assert_int_equal(history_find_plan(h, "0123456789abcdef0123456789abcdef01234567", &data,
					   &len, &err), CMS_ENOTFOUND);
	assert_string_equal(err.message,
			    "no plan '0123456789abcdef0123456789abcdef01234567' in the history");
	assert_int_equal(history_find_plan(h, "aaaaaa", &data, &len, &err), CMS_ERROR);
	assert_string_equal(err.message, "invalid plan id 'aaaaaa': expected 7 to 40 hex digits");
	assert_int_equal(history_find_plan(h, "aaaaaaz", &data, &len, &err), CMS_ERROR);
	assert_int_equal(history_find_plan(h, PLAN_A "0", &data, &len, &err), CMS_ERROR);
	/* The .txt twin and the plain file name are not plan ids. */
	assert_int_equal(history_find_plan(h, "abcabca", &data, &len, &err), CMS_ENOTFOUND);

	history_close(h);
	cms_error_clear(&err);
	free(p_real);
	free(path);
}

/* A run's report recorded from the journal is committed only while the
 * tip lacks it: another process may have recorded the run meanwhile. */
static void test_commit_absent_only_when_the_tip_lacks_the_path(void **state)
{
	const char *dir = *state;
	char *path = xasprintf("%s/history", dir);
	struct history *h = open_ok(path, NULL);
	struct history_file f = { "redmond/runs/r1/report.json", "{\"by\": \"its run\"}\n", 18 };
	struct history_file j = { "redmond/runs/r1/report.json", "{\"by\": \"journal\"}\n", 18 };
	struct history_file k = { "redmond/runs/r2/report.json", "{\"by\": \"journal\"}\n", 18 };
	struct cms_error err = CMS_ERROR_INIT;
	char id[41];

	commit_ok(h, &f, 1, "redmond: apply\n", T0, id);
	assert_int_equal(history_commit_absent(h, j.path, &j, 1, "redmond: again\n", "alice@test",
					       T0 + 1, id, &err), HISTORY_PRESENT);
	assert_null(err.message);
	assert_string_equal(id, "");
	assert_cmd_output("1", "git -C '%s' rev-list --count cms-history", path);
	assert_cmd_output("{\"by\": \"its run\"}",
			  "git -C '%s' show cms-history:redmond/runs/r1/report.json", path);
	assert_int_equal(history_commit_absent(h, k.path, &k, 1, "redmond: r2\n", "alice@test",
					       T0 + 2, id, &err), 0);
	assert_cmd_output("2", "git -C '%s' rev-list --count cms-history", path);
	/* The next plain commit checks nothing. */
	commit_ok(h, &j, 1, "redmond: replace\n", T0 + 3, id);
	assert_cmd_output("3", "git -C '%s' rev-list --count cms-history", path);
	history_close(h);
	free(path);
}

/* A local commit that recorded a run from the journal is not rebuilt on a
 * remote tip that holds the run's report: the remote keeps the run once. */
static void test_sync_drops_a_journal_record_the_remote_holds(void **state)
{
	const char *dir = *state;
	char *remote = xasprintf("%s/remote.git", dir);
	char *pa = xasprintf("%s/a", dir), *pb = xasprintf("%s/b", dir);
	struct history_remote hr = { remote, NULL, NULL, NULL, NULL };
	struct history_file base = { "redmond/location.json", "{}\n", 3 };
	struct history_file run = { "redmond/runs/r1/report.json", "{\"by\": \"its run\"}\n", 18 };
	struct history_file jr = { "redmond/runs/r1/report.json", "{\"by\": \"journal\"}\n", 18 };
	struct history_file plan = { "redmond/plans/2-p.json", "{}\n", 3 };
	struct cms_error err = CMS_ERROR_INIT;
	struct history *a, *b;
	size_t pushed = 0;
	char id[41], *out;

	out = run_ok("git init -q --bare '%s'", remote);
	free(out);
	a = open_ok(pa, NULL);
	commit_ok(a, &base, 1, "redmond: adopt\n", T0, id);
	assert_int_equal(history_remote_push(pa, NULL, &hr, &pushed, &err), 0);
	b = open_ok(pb, NULL);
	history_close(b);
	assert_int_equal(history_remote_sync(pb, NULL, &hr, &err), 0);
	/* a records run r1 and pushes it; b, from the older tip, records r1
	 * from the journal, then a plan. */
	commit_ok(a, &run, 1, "redmond: apply switchover: ok\n\nRun-Id: r1\n", T0 + 1, id);
	assert_int_equal(history_remote_push(pa, NULL, &hr, &pushed, &err), 0);
	b = open_ok(pb, NULL);
	commit_ok(b, &jr, 1,
		  "redmond: apply switchover: ok (recorded from the journal)\n\nRun-Id: r1\n"
		  "Recorded-From: journal\n", T0 + 2, id);
	commit_ok(b, &plan, 1, "redmond: plan\n", T0 + 3, id);
	history_close(b);
	assert_int_equal(history_remote_sync(pb, NULL, &hr, &err), 0);
	assert_null(err.message);
	assert_cmd_output("redmond: plan\nredmond: apply switchover: ok\nredmond: adopt",
			  "git -C '%s' log --format=%%s cms-history", pb);
	assert_cmd_output("{\"by\": \"its run\"}",
			  "git -C '%s' show cms-history:redmond/runs/r1/report.json", pb);
	assert_int_equal(history_remote_push(pb, NULL, &hr, &pushed, &err), 0);
	assert_cmd_output("1", "git -C '%s' log --format=%%B cms-history | grep -c '^Run-Id: r1$'",
			  remote);
	history_close(a);
	free(remote);
	free(pa);
	free(pb);
}

static void test_free_functions_accept_null(void **state)
{
	(void)state;
	history_close(NULL);
	history_entry_free(NULL);
	history_log_free(NULL, 0);
}

/* The files fsync(2) was asked to sync, in order, while recording (this
 * definition interposes on the C library's, for libgit2's calls and
 * history.c's own). */
static bool recording_syncs;
static char *synced[256];
static size_t nsynced;

int fsync(int fd)
{
	static int (*real)(int);

	if (!real)
		*(void **)&real = dlsym(RTLD_NEXT, "fsync");
	if (recording_syncs && nsynced < sizeof(synced) / sizeof(synced[0])) {
		char link[64], path[PATH_MAX];
		ssize_t n;

		snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
		n = readlink(link, path, sizeof(path) - 1);
		path[n > 0 ? n : 0] = '\0';
		synced[nsynced++] = xstrdup(path);
	}
	return real ? real(fd) : -1;
}

/* Position of the first sync whose path ends with suffix, or -1. */
static long synced_at(const char *suffix)
{
	size_t i, n = strlen(suffix);

	for (i = 0; i < nsynced; i++) {
		size_t len = strlen(synced[i]);

		if (len >= n && !strcmp(synced[i] + len - n, suffix))
			return (long)i;
	}
	return -1;
}

/* A commit is durable: every loose object the new tip reaches through
 * the updated paths (commit, trees, blobs) and each of their folders is
 * synced before the branch moves, and the branch and its log are synced.
 * On a history opened anew, as every command opens it (libgit2 decides
 * whether to sync when it loads a repository's objects and refs). */
static void test_commit_syncs_its_objects_before_the_branch(void **state)
{
	const char *dir = *state;
	char *repo = xasprintf("%s/h.git", dir);
	struct history *h = open_ok(repo, NULL);
	const struct history_file files[] = {
		{ "redmond/runs/r1/report.json", "{\"run\": 1}\n", 12 },
		{ "redmond/location.json", "{\"primary\": \"pool-b\"}\n", 23 },
	};
	char id[41], *objs, *line, *next;
	long ref, last = -1;
	size_t i, nobjs = 0, nfiles;

	commit_ok(h, NULL, 0, "first\n", T0, id);
	history_close(h);
	h = open_ok(repo, NULL);
	recording_syncs = true;
	commit_ok(h, files, 2, msg_apply, T0 + 1, id);
	recording_syncs = false;
	ref = synced_at("refs/heads/cms-history.lock");
	if (ref < 0)
		ref = synced_at("refs/heads/cms-history");
	assert_true(ref >= 0);
	/* What the new commit added: itself, its root tree, the trees of
	 * redmond, redmond/runs and redmond/runs/r1, and the two blobs. */
	objs = run_ok("cd '%s' && { git rev-parse HEAD HEAD^{tree} HEAD:redmond HEAD:redmond/runs "
		      "HEAD:redmond/runs/r1 HEAD:redmond/location.json "
		      "HEAD:redmond/runs/r1/report.json; } 2>&1", repo);
	for (line = objs; *line; line = next) {
		char *folder;

		next = line + strcspn(line, "\n");
		if (*next)
			*next++ = '\0';
		folder = xasprintf("objects/%.2s", line);
		long dat = synced_at(folder);

		if (dat < 0 || dat > ref)
			fail_msg("the folder of object %s synced at %ld, the branch at %ld", line, dat, ref);
		if (dat > last)
			last = dat;
		free(folder);
		nobjs++;
	}
	/* Each object's file, before it is renamed into place (libgit2
	 * writes a temporary file, syncs it, renames it, syncs the folder). */
	for (i = 0, nfiles = 0; i < (size_t)ref; i++)
		if (strstr(synced[i], "/objects/tmp_object_") ||
		    (strstr(synced[i], "/objects/") && strlen(strrchr(synced[i], '/')) == 39))
			nfiles++;
	assert_true(nfiles >= 7);
	assert_int_equal(nobjs, 7);
	/* The branch's log (libgit2 writes it before the branch) is synced
	 * too, after the objects. */
	assert_true(synced_at("logs/refs/heads/cms-history") > last);
	for (i = 0; i < nsynced; i++)
		free(synced[i]);
	nsynced = 0;
	free(objs);
	history_close(h);
	free(repo);
}

int main(void)
{
	char top[] = "/tmp/cms-test-history.XXXXXX";
	const struct CMUnitTest tests[] = {
#define T(name) cmocka_unit_test_setup_teardown(name, setup_dir, teardown_dir)
		T(test_open_creates_bare_repository_0700),
		T(test_open_empty_directory_becomes_repository),
		T(test_open_missing_parent_fails),
		T(test_open_regular_file_fails),
		T(test_open_non_empty_directory_fails),
		T(test_open_never_climbs_into_parent_repository),
		T(test_open_invalid_branch_fails),
		T(test_commits_nested_paths_visible_to_git),
		T(test_commit_without_files_and_operator_without_at),
		T(test_log_filters_by_store_subject),
		T(test_commit_rejects_bad_paths_and_leaves_branch),
		T(test_blob_id_matches_git_hash_object),
		T(test_commit_in_worktree_repository_leaves_it_clean),
		T(test_open_refuses_checked_out_branch),
		T(test_unwritable_objects_fail_cleanly_branch_unmoved),
		T(test_stale_ref_lock_is_removed_and_noted),
		T(test_two_handles_alternating_lose_no_commit),
		T(test_concurrent_processes_lose_no_commit),
		T(test_find_plan_full_abbreviated_ambiguous_missing),
		T(test_commit_absent_only_when_the_tip_lacks_the_path),
		T(test_sync_drops_a_journal_record_the_remote_holds),
		T(test_commit_syncs_its_objects_before_the_branch),
		cmocka_unit_test(test_free_functions_accept_null),
#undef T
	};
	struct buf rm = BUF_INIT;
	int failed;

	/* A private HOME: no personal or system git configuration applies. */
	if (!mkdtemp(top)) {
		perror("mkdtemp");
		return 1;
	}
	setenv("HOME", top, 1);
	setenv("GIT_CONFIG_NOSYSTEM", "1", 1);
	unsetenv("GIT_DIR");
	unsetenv("GIT_WORK_TREE");
	failed = cmocka_run_group_tests(tests, NULL, NULL);
	buf_addf(&rm, "rm -rf '%s'", top);
	if (system(rm.ptr) != 0)
		fprintf(stderr, "cannot remove '%s'\n", top);
	buf_free(&rm);
	return failed;
}
