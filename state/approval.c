/*
 * Signed approvals: signing and verifying a plan id with ssh-keygen's
 * SSHSIG commands, reading the approvals of a plan back from the history
 * and judging each one.  ssh-keygen runs as a child process with its input
 * and outputs in files of a private temporary folder (it reads the
 * signature from a file, not from a pipe); nothing here prints.
 */
#include "state/approval.h"
#include "common/buf.h"
#include "common/fileio.h"
#include "common/util.h"
#include "state/history.h"
#include "state/state.h"

#include <jansson.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

void approval_list_free(struct approval *a, size_t n)
{
	size_t i;

	if (!a)
		return;
	for (i = 0; i < n; i++) {
		free(a[i].principal);
		free(a[i].signature);
		free(a[i].approved_at);
		free(a[i].why_not);
	}
	free(a);
}

/* The file name of principal's approval: the principal with every character
 * outside [A-Za-z0-9._@+-] (and a leading '.') as '_', then ".json". */
static char *approval_file_name(const char *principal)
{
	char *name = xstrdup(principal), *p, *file;

	for (p = name; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
		      *p == '.' || *p == '_' || *p == '@' || *p == '+' || *p == '-'))
			*p = '_';
	if (name[0] == '.')
		name[0] = '_';
	file = xasprintf("%s.json", name);
	free(name);
	return file;
}

char *approval_path(const char *store, const char *plan_id, const char *principal)
{
	char *file = approval_file_name(principal), *p;

	p = history_path_approval(store, plan_id, file);
	free(file);
	return p;
}

int approval_doc(const char *plan_id, const char *principal, const char *approved_at,
		 const char *signature, char **out, struct cms_error *err)
{
	json_t *o = json_object();
	char *s;

	json_object_set_new(o, "plan_id", json_string(plan_id));
	json_object_set_new(o, "principal", json_string(principal));
	json_object_set_new(o, "approved_at", json_string(approved_at));
	json_object_set_new(o, "signature", signature ? json_string(signature) : json_null());
	s = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	json_decref(o);
	if (!s)
		return cms_error_set(err, CMS_ERROR, "cannot encode the approval of plan '%s'", plan_id);
	*out = xasprintf("%s\n", s);
	free(s);
	return 0;
}

/* A private folder for ssh-keygen's files; caller removes it. */
static char *make_tmpdir(struct cms_error *err)
{
	const char *base = getenv("TMPDIR");
	char *dir = xasprintf("%s/cmsctl-sshsig.XXXXXX", base && *base ? base : "/tmp");

	if (!mkdtemp(dir)) {
		cms_error_set(err, CMS_ERROR, "cannot create a temporary folder in '%s': %s",
			      base && *base ? base : "/tmp", strerror(errno));
		free(dir);
		return NULL;
	}
	return dir;
}

static void remove_tmpdir(char *dir)
{
	static const char *const names[] = { "msg", "sig", "out", "errout", "signers" };
	size_t i;

	if (!dir)
		return;
	for (i = 0; i < ARRAY_SIZE(names); i++) {
		char *p = xasprintf("%s/%s", dir, names[i]);

		unlink(p);
		free(p);
	}
	rmdir(dir);
	free(dir);
}

/* Runs ssh-keygen with argv (argv[0] is "ssh-keygen"), standard input from
 * dir/msg, output to dir/out and dir/errout.  *status is its exit status
 * (255 when killed).  Errors only when it cannot be started at all. */
static int run_keygen(char *const argv[], const char *dir, int *status, struct buf *out,
		      struct buf *errout, struct cms_error *err)
{
	char *in_path = xasprintf("%s/msg", dir), *out_path = xasprintf("%s/out", dir),
	     *err_path = xasprintf("%s/errout", dir);
	char *data = NULL;
	size_t len = 0;
	int rc = 0, st = 0;
	pid_t pid;

	pid = fork();
	if (pid < 0) {
		rc = cms_error_set(err, CMS_ERROR, "cannot run ssh-keygen: %s", strerror(errno));
		goto done;
	}
	if (pid == 0) {
		int in = open(in_path, O_RDONLY), o = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0600),
		    e = open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

		if (in < 0 || o < 0 || e < 0)
			_exit(126);
		dup2(in, 0);
		dup2(o, 1);
		dup2(e, 2);
		execvp(argv[0], argv);
		_exit(127);
	}
	while (waitpid(pid, &st, 0) < 0) {
		if (errno != EINTR) {
			rc = cms_error_set(err, CMS_ERROR, "cannot wait for ssh-keygen: %s",
					   strerror(errno));
			goto done;
		}
	}
	if (WIFEXITED(st) && WEXITSTATUS(st) == 127) {
		rc = cms_error_set(err, CMS_ERROR, "cannot run ssh-keygen: not found in PATH");
		cms_error_hint(err, "install OpenSSH's client tools (Debian: openssh-client)");
		goto done;
	}
	*status = WIFEXITED(st) ? WEXITSTATUS(st) : 255;
	if (cms_read_file(&data, &len, out_path, 1 << 20, err) == 0)
		buf_add(out, data, len);
	free(data);
	data = NULL;
	cms_error_clear(err);
	if (cms_read_file(&data, &len, err_path, 1 << 20, err) == 0)
		buf_add(errout, data, len);
	free(data);
	cms_error_clear(err);
done:
	free(in_path);
	free(out_path);
	free(err_path);
	return rc;
}

static int write_tmp(const char *dir, const char *name, const char *data, struct cms_error *err)
{
	char *p = xasprintf("%s/%s", dir, name);
	int rc = cms_write_file_atomic(p, data, strlen(data), 0600, "temporary file", err);

	free(p);
	return rc;
}

/* The last non-empty line of s, trimmed, for a message (caller frees). */
static char *last_line(const char *s)
{
	const char *end = s + strlen(s), *start;

	while (end > s && (end[-1] == '\n' || end[-1] == '\r' || end[-1] == ' ' || end[-1] == '.'))
		end--;
	start = end;
	while (start > s && start[-1] != '\n')
		start--;
	return xstrndup(start, (size_t)(end - start));
}

static char *signed_message(const char *plan_id)
{
	return xasprintf("%s\n", plan_id);
}

int approval_sign(const char *key_path, const char *plan_id, char **sig_out,
		  struct cms_error *err)
{
	char *dir = NULL, *msg = signed_message(plan_id), *why = NULL;
	struct buf out = BUF_INIT, errout = BUF_INIT;
	int rc, status = 0;
	char *argv[] = { "ssh-keygen", "-q", "-Y", "sign", "-n", APPROVAL_NAMESPACE, "-f",
			 (char *)key_path, NULL };

	*sig_out = NULL;
	if (!(dir = make_tmpdir(err))) {
		rc = CMS_ERROR;
		goto done;
	}
	if ((rc = write_tmp(dir, "msg", msg, err)) < 0)
		goto done;
	if ((rc = run_keygen(argv, dir, &status, &out, &errout, err)) < 0)
		goto done;
	if (status != 0 || !strstr(out.ptr, "-----BEGIN SSH SIGNATURE-----")) {
		why = last_line(errout.ptr);
		rc = cms_error_set(err, CMS_ERROR, "cannot sign plan %.12s with key '%s': %s", plan_id,
				   key_path, *why ? why : "ssh-keygen failed");
		goto done;
	}
	*sig_out = buf_detach(&out, NULL);
done:
	remove_tmpdir(dir);
	buf_free(&out);
	buf_free(&errout);
	free(msg);
	free(why);
	return rc;
}

int approval_verify(const char *allowed_signers, const char *principal, const char *plan_id,
		    const char *sig, char **why_not, struct cms_error *err)
{
	char *dir = NULL, *msg = signed_message(plan_id), *sig_path = NULL;
	struct buf out = BUF_INIT, errout = BUF_INIT;
	int rc, status = 0;

	*why_not = NULL;
	if (access(allowed_signers, R_OK) < 0) {
		rc = cms_error_set(err, CMS_ERROR, "cannot read allowed signers file '%s': %s",
				   allowed_signers, strerror(errno));
		goto done;
	}
	if (!(dir = make_tmpdir(err))) {
		rc = CMS_ERROR;
		goto done;
	}
	sig_path = xasprintf("%s/sig", dir);
	if ((rc = write_tmp(dir, "msg", msg, err)) < 0 || (rc = write_tmp(dir, "sig", sig, err)) < 0)
		goto done;
	{
		char *argv[] = { "ssh-keygen", "-Y", "verify", "-f", (char *)allowed_signers, "-I",
				 (char *)principal, "-n", APPROVAL_NAMESPACE, "-s", sig_path, NULL };

		if ((rc = run_keygen(argv, dir, &status, &out, &errout, err)) < 0)
			goto done;
	}
	if (status == 0) {
		rc = 1;
		goto done;
	}
	/* Why not: a signature that does not match the plan, or a good one by
	 * a key the file does not list for this principal. */
	buf_reset(&out);
	buf_reset(&errout);
	{
		char *argv[] = { "ssh-keygen", "-Y", "check-novalidate", "-n", APPROVAL_NAMESPACE, "-s",
				 sig_path, NULL };

		if ((rc = run_keygen(argv, dir, &status, &out, &errout, err)) < 0)
			goto done;
	}
	if (status != 0) {
		char *why = last_line(errout.ptr);

		*why_not = xasprintf("the signature does not match plan %.12s (%s)", plan_id,
				     *why ? why : "ssh-keygen refused it");
		free(why);
		rc = 0;
		goto done;
	}
	buf_reset(&out);
	buf_reset(&errout);
	{
		char *argv[] = { "ssh-keygen", "-Y", "find-principals", "-f", (char *)allowed_signers,
				 "-s", sig_path, NULL };

		if ((rc = run_keygen(argv, dir, &status, &out, &errout, err)) < 0)
			goto done;
	}
	if (status != 0 || !out.len) {
		*why_not = xasprintf("signed by a key that '%s' does not list", allowed_signers);
	} else {
		char *who = last_line(out.ptr);

		*why_not = xasprintf("signed by the key of %s in '%s', not of %s", who,
				     allowed_signers, principal);
		free(who);
	}
	rc = 0;
done:
	remove_tmpdir(dir);
	buf_free(&out);
	buf_free(&errout);
	free(msg);
	free(sig_path);
	return rc;
}

void approval_judge(struct approval *a, const struct approval_policy *pol, int verified,
		    const char *verify_why)
{
	free(a->why_not);
	a->why_not = NULL;
	a->counted = false;
	a->invalid = verified == 0;
	if (pol->author && !strcmp(a->principal, pol->author)) {
		a->why_not = xstrdup("the plan's author");
	} else if (verified == 0) {
		a->why_not = xasprintf("signature does not verify: %s",
				       verify_why ? verify_why : "rejected by ssh-keygen");
	} else if (verified == 1 || !pol->signed_required) {
		a->counted = true;
	} else if (!a->signature) {
		a->why_not = xstrdup("not signed, and policy.signed_approvals is true");
	} else {
		a->why_not = xstrdup("signed, but the store has no policy.allowed_signers to verify it");
	}
}

/* Reads one approval document; a malformed one is kept as an approval that
 * cannot count (its principal taken from the file name). */
static void parse_doc(struct approval *a, const char *name, const char *data, size_t len,
		      const char *plan_id)
{
	json_error_t jerr;
	json_t *o = json_loadb(data, len, 0, &jerr), *v;
	char *file;

	if (!o || !json_is_object(o) || !json_is_string(json_object_get(o, "principal")) ||
	    !json_is_string(json_object_get(o, "plan_id")) ||
	    strcmp(json_string_value(json_object_get(o, "plan_id")), plan_id)) {
		a->principal = xstrndup(name, strlen(name) - 5);
		a->why_not = xstrdup("malformed approval record");
		a->invalid = true;
		json_decref(o);
		return;
	}
	a->principal = xstrdup(json_string_value(json_object_get(o, "principal")));
	/* Each principal has one file (approval_path): a record filed under
	 * another name is a copy, which must not count twice. */
	file = approval_file_name(a->principal);
	if (strcmp(file, name)) {
		a->why_not = xasprintf("malformed approval record: filed as '%s', the file of %s "
				       "is '%s'", name, a->principal, file);
		a->invalid = true;
		free(file);
		json_decref(o);
		return;
	}
	free(file);
	if (json_is_string(v = json_object_get(o, "signature")))
		a->signature = xstrdup(json_string_value(v));
	if (json_is_string(v = json_object_get(o, "approved_at")))
		a->approved_at = xstrdup(json_string_value(v));
	json_decref(o);
}

static int cmp_approval(const void *x, const void *y)
{
	return strcmp(((const struct approval *)x)->principal, ((const struct approval *)y)->principal);
}

int approval_list(struct history *h, struct state *sdb, const char *store, const char *plan_id,
		  const struct approval_policy *pol, struct approval **out, size_t *n,
		  struct cms_error *err)
{
	struct approval *list = NULL;
	struct cms_strv names = CMS_STRV_INIT, state_who = CMS_STRV_INIT;
	size_t len = 0, alloc = 0, i, j;
	char *dir = history_path_approvals(store, plan_id);
	int rc;

	*out = NULL;
	*n = 0;
	if ((rc = history_list_dir(h, dir, &names, err)) < 0)
		goto done;
	for (i = 0; i < names.n; i++) {
		char *path, *data = NULL;
		size_t dlen = 0, nl = strlen(names.v[i]);
		struct approval *a;

		if (nl < 6 || strcmp(names.v[i] + nl - 5, ".json"))
			continue;
		path = xasprintf("%s/%s", dir, names.v[i]);
		rc = history_read(h, path, &data, &dlen, err);
		free(path);
		if (rc < 0)
			goto done;
		a = ARRAY_PUSH(list, len, alloc);
		memset(a, 0, sizeof(*a));
		parse_doc(a, names.v[i], data, dlen, plan_id);
		free(data);
	}
	if (sdb) {
		if ((rc = state_approvals(sdb, plan_id, &state_who, err)) < 0)
			goto done;
		for (i = 0; i < state_who.n; i++) {
			/* A malformed record does not stand for the principal it names. */
			for (j = 0; j < len && (list[j].why_not ||
						strcmp(list[j].principal, state_who.v[i])); j++)
				;
			if (j < len)
				continue;
			memset(ARRAY_PUSH(list, len, alloc), 0, sizeof(*list));
			list[len - 1].principal = xstrdup(state_who.v[i]);
		}
	}
	if (len)
		qsort(list, len, sizeof(*list), cmp_approval);
	for (i = 0; i < len; i++) {
		struct approval *a = &list[i];
		char *why = NULL;
		int verified = -1;

		if (a->why_not) /* malformed: never counts */
			continue;
		if (a->signature && pol->allowed_signers) {
			verified = approval_verify(pol->allowed_signers, a->principal, plan_id,
						   a->signature, &why, err);
			if (verified < 0) {
				rc = verified;
				goto done;
			}
		}
		approval_judge(a, pol, verified, why);
		free(why);
	}
	rc = 0;
done:
	cms_strv_free(&state_who);
	cms_strv_free(&names);
	free(dir);
	if (rc < 0) {
		approval_list_free(list, len);
	} else {
		*out = list;
		*n = len;
	}
	return rc;
}
