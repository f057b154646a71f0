/*
 * The shared history: the history branch kept level with a git remote
 * (a path, file://, ssh:// through libssh2, or https://), so that runners
 * on several machines write one append-only record.
 *
 * Sync fetches the remote branch into refs/remotes/cmsctl/<branch> and
 * brings the local branch level: a fast-forward when only the remote moved;
 * when both moved, every local commit the remote lacks is rebuilt on the
 * remote tip by applying its own tree change (each commit touches its own
 * paths: a plan, a run, the location), keeping its message, author and
 * committer.  Push sends the local branch without force (a path remote's
 * branch is moved here, from the tip it was built on: push_local); a
 * rejection (the remote moved meanwhile) syncs and retries.  A remote that cannot be
 * reached leaves everything local as it was: nothing is lost, and the next
 * push delivers it.
 *
 * This file opens the repository itself, by path, so the local history's
 * own code (history.c) stays unaware of remotes.
 */
#include "state/history.h"
#include "common/buf.h"
#include "common/util.h"

#include <git2.h>

#include "common/lib_git2.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define REMOTE_DEFAULT_BRANCH "cms-history"
#define REMOTE_MAX_ATTEMPTS 10
#define REMOTE_MOVED 1 /* internal: the local branch moved meanwhile, try again */
/* How long a remote operation waits for another cmsctl process's on the
 * same local repository (the children of a plan set push at once). */
#define REMOTE_LOCK_WAIT_MS 60000
/* How long a push goes on fetching, rebuilding and trying again while
 * other runners' pushes move the remote (REMOTE_MAX_ATTEMPTS at least). */
#define REMOTE_PUSH_WAIT_MS 30000

struct remote_ctx {
	git_repository *repo;
	const struct history_remote *cfg;
	const char *branch;
	char *local_ref;    /* refs/heads/<branch> */
	char *tracking_ref; /* refs/remotes/cmsctl/<branch> */
	int cred_attempts;
	char *rejected;     /* the remote's reason when it refused the update */
	bool moved;         /* ... because the remote moved meanwhile (worth the wait) */
	int lock_fd;        /* the local repository's remote lock, or -1 */
	int push_lock_fd;   /* a path remote's push lock, or -1 */
	char *remote_dir;   /* a path remote's folder (local_remote_path), or NULL */
};

static const char *git_message(void)
{
	const git_error *e = git_error_last();

	return e && e->message ? e->message : "unknown libgit2 error";
}

static int remote_fail(struct cms_error *err, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int remote_fail(struct cms_error *err, int code, const char *fmt, ...)
{
	struct buf b = BUF_INIT;
	const char *reason = git_message();
	size_t n = strlen(reason);
	va_list ap;

	while (n > 0 && (reason[n - 1] == ' ' || reason[n - 1] == '\n'))
		n--;
	va_start(ap, fmt);
	buf_vaddf(&b, fmt, ap);
	va_end(ap);
	cms_error_set(err, code, "%s: %.*s", b.ptr, (int)n, reason);
	buf_free(&b);
	return code;
}

/* ssh: the configured key file, else the ssh-agent; one try each, so a
 * refused key ends the attempt instead of looping. */
static int credentials(git_credential **out, const char *url, const char *user_from_url,
		       unsigned int allowed, void *payload)
{
	struct remote_ctx *c = payload;
	const char *user = user_from_url && *user_from_url ? user_from_url : getenv("USER");
	char *pub = NULL;
	struct stat sb;
	int rc;

	(void)url;
	if (!user || !*user)
		user = "git";
	if (++c->cred_attempts > 1)
		return GIT_EAUTH;
	if (allowed & GIT_CREDENTIAL_USERNAME)
		return git_credential_username_new(out, user);
	if (!(allowed & GIT_CREDENTIAL_SSH_KEY))
		return GIT_PASSTHROUGH;
	if (!c->cfg->ssh_key)
		return git_credential_ssh_key_from_agent(out, user);
	pub = xasprintf("%s.pub", c->cfg->ssh_key);
	rc = git_credential_ssh_key_new(out, user, stat(pub, &sb) == 0 ? pub : NULL,
					c->cfg->ssh_key, NULL);
	free(pub);
	return rc;
}

static int push_update(const char *refname, const char *status, void *payload)
{
	struct remote_ctx *c = payload;

	(void)refname;
	if (status && !c->rejected) {
		c->rejected = xstrdup(status);
		/* git's receive-pack: "non-fast-forward", "fetch first",
		 * "stale info".  Any other (a hook's, a lock) is not waited on
		 * past REMOTE_MAX_ATTEMPTS. */
		c->moved = strstr(status, "fast-forward") || strstr(status, "fetch first") ||
			   strstr(status, "stale info");
	}
	return 0;
}

static void callbacks(git_remote_callbacks *cb, struct remote_ctx *c)
{
	git_remote_init_callbacks(cb, GIT_REMOTE_CALLBACKS_VERSION);
	cb->credentials = credentials;
	cb->push_update_reference = push_update;
	cb->payload = c;
}

/* The folder of a path or file:// remote, or NULL for a network one
 * (caller frees).  The same split as the config's (planner/config.c). */
static char *local_remote_path(const char *url)
{
	const char *colon = strchr(url, ':'), *slash = strchr(url, '/');
	char *out, *o;
	const char *p;

	if (!strncmp(url, "file://", 7)) {
		p = url + 7;
		if (!strncmp(p, "localhost/", 10))
			p += 9;
		if (*p != '/')
			return NULL; /* file://host/...: not this host's */
		out = o = xmalloc(strlen(p) + 1);
		for (; *p; p++) {
			if (p[0] == '%' && isxdigit((unsigned char)p[1]) &&
			    isxdigit((unsigned char)p[2])) {
				char hex[3] = { p[1], p[2], '\0' };

				*o++ = (char)strtol(hex, NULL, 16);
				p += 2;
			} else {
				*o++ = *p;
			}
		}
		*o = '\0';
		return out;
	}
	if (strstr(url, "://"))
		return NULL;
	if (colon && (!slash || colon < slash) && url[0] != '.' && url[0] != '/')
		return NULL; /* user@host:path */
	return xstrdup(url);
}

static void lock_remote(struct remote_ctx *c);

static int ctx_open(struct remote_ctx *c, const char *repo_path, const char *branch,
		    const struct history_remote *cfg, struct cms_error *err)
{
	int rc;

	memset(c, 0, sizeof(*c));
	c->lock_fd = -1;
	c->push_lock_fd = -1;
	c->cfg = cfg;
	c->branch = branch ? branch : REMOTE_DEFAULT_BRANCH;
	c->local_ref = xasprintf("refs/heads/%s", c->branch);
	c->tracking_ref = xasprintf("refs/remotes/cmsctl/%s", c->branch);
	c->remote_dir = local_remote_path(cfg->url);
	if ((rc = history_git_init(err)) < 0)
		return rc;
	if (git_repository_open_ext(&c->repo, repo_path, GIT_REPOSITORY_OPEN_NO_SEARCH, NULL) < 0)
		return remote_fail(err, CMS_ERROR, "cannot open history repository '%s'", repo_path);
	return 0;
}

/* path (freed) opened, created if need be, and its flock taken within
 * REMOTE_LOCK_WAIT_MS: the descriptor, or -1. */
static int flock_file(char *path, int flags, mode_t mode)
{
	int fd = open(path, flags | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY, mode);

	free(path);
	if (fd >= 0 && cms_flock_wait(fd, REMOTE_LOCK_WAIT_MS) < 0) {
		close(fd);
		fd = -1;
	}
	return fd;
}

/* The remote operations that move refs (sync, push: the fetch's tracking
 * ref, the local branch brought level) of the processes of one host on one
 * local repository take turns, through an flock on a file in its git
 * folder.  One that waited REMOTE_LOCK_WAIT_MS goes on without it, as
 * before there was one: the refs' own locks and the retries still hold. */
static void lock_remote(struct remote_ctx *c)
{
	c->lock_fd = flock_file(xasprintf("%scmsctl-remote.lock", git_repository_path(c->repo)),
				O_RDWR, 0644);
}

/* The pushes of cmsctl processes of one host to one path remote take
 * turns too, through an flock on a file in the remote's folder (held
 * from the fetch to the branch's move): the branch's compare-and-swap
 * (push_local) keeps them correct, the turns keep four runners at once
 * from losing that race over and over.  A folder where the file cannot
 * be made, or a wait of REMOTE_LOCK_WAIT_MS: on without it. */
static void lock_path_remote(struct remote_ctx *c)
{
	if (c->remote_dir)
		c->push_lock_fd = flock_file(xasprintf("%s/cmsctl-push.lock", c->remote_dir),
					     O_RDONLY, 0666);
}

static void ctx_close(struct remote_ctx *c)
{
	if (c->push_lock_fd >= 0)
		close(c->push_lock_fd);
	c->push_lock_fd = -1;
	if (c->lock_fd >= 0)
		close(c->lock_fd); /* releases the flock */
	c->lock_fd = -1;
	if (c->repo)
		git_repository_free(c->repo);
	free(c->local_ref);
	free(c->tracking_ref);
	free(c->remote_dir);
	free(c->rejected);
}

/* The ids of refname (0 when absent). */
static int ref_id(struct remote_ctx *c, const char *refname, git_oid *out, int *have,
		  struct cms_error *err)
{
	int grc = git_reference_name_to_id(out, c->repo, refname);

	*have = grc == 0;
	if (grc == 0 || grc == GIT_ENOTFOUND)
		return 0;
	return remote_fail(err, CMS_ERROR, "cannot read '%s' in the history", refname);
}

/* The remote's branch at now, against before, the tip the tracking ref
 * says it held: a branch that does not descend from what it held was
 * rewritten (a forced push): CMS_EREFUSED naming both tips.  Commits
 * cmsctl pushes only ever extend the branch.  One only reset back (now
 * is an ancestor of before) lost commits but holds none it did not:
 * a warning, and the push sends them again. */
static int check_not_rewritten(struct remote_ctx *c, const git_oid *before, const git_oid *now,
			       struct cms_error *err)
{
	char was[GIT_OID_HEXSZ + 1], is[GIT_OID_HEXSZ + 1];
	size_t lost = 0, added = 0;
	int grc;

	if (git_oid_equal(before, now))
		return 0;
	grc = git_graph_descendant_of(c->repo, now, before);
	if (grc == 1)
		return 0;
	if (grc < 0)
		return remote_fail(err, CMS_ERROR, "cannot compare history remote '%s' with what "
				   "it held", c->cfg->url);
	git_oid_tostr(was, sizeof(was), before);
	git_oid_tostr(is, sizeof(is), now);
	if (git_graph_descendant_of(c->repo, before, now) == 1) {
		if (git_graph_ahead_behind(&lost, &added, c->repo, before, now) < 0)
			lost = 0;
		if (c->cfg->warn) {
			char *msg = xasprintf("history remote '%s' was reset back: its branch '%s' is "
					      "at %.12s, %zu commit%s behind %.12s, the tip it held "
					      "when last fetched; they are sent to it again",
					      c->cfg->url, c->branch, is, lost, lost == 1 ? "" : "s",
					      was);

			c->cfg->warn(c->cfg->rebuilt_arg, msg);
			free(msg);
		}
		return 0;
	}
	cms_error_set(err, CMS_EREFUSED, "history remote '%s' was rewritten: its branch '%s' is at "
		      "%.12s, which does not descend from %.12s, the tip it held when last fetched "
		      "(a forced push or a reset); nothing is taken from it or sent to it",
		      c->cfg->url, c->branch, is, was);
	cms_error_hint(err, "the local history still holds what the remote held (%s): put it "
		       "back on the remote; or, to accept the remote as it is now, delete that "
		       "ref in the local history (git update-ref -d %s)", c->tracking_ref,
		       c->tracking_ref);
	return CMS_EREFUSED;
}

/* Fetches the remote branch into the tracking ref.  A remote without the
 * branch yet is fine (the tracking ref is left absent). */
static int fetch(struct remote_ctx *c, struct cms_error *err)
{
	git_remote *remote = NULL;
	git_fetch_options opts;
	git_strarray specs;
	char *spec = xasprintf("+%s:%s", c->local_ref, c->tracking_ref);
	const git_remote_head **heads = NULL;
	git_reference *ref = NULL;
	git_oid before, now;
	size_t nheads = 0, i;
	int found = 0, rc = 0, have_before = 0, have_now = 0;

	git_fetch_options_init(&opts, GIT_FETCH_OPTIONS_VERSION);
	callbacks(&opts.callbacks, c);
	opts.download_tags = GIT_REMOTE_DOWNLOAD_TAGS_NONE;
	opts.prune = GIT_FETCH_NO_PRUNE;
	specs.strings = &spec;
	specs.count = 1;
	if (git_remote_create_anonymous(&remote, c->repo, c->cfg->url) < 0) {
		rc = remote_fail(err, CMS_ERROR, "cannot use history remote '%s'",
				 c->cfg->url);
		goto done;
	}
	c->cred_attempts = 0;
	if (git_remote_connect(remote, GIT_DIRECTION_FETCH, &opts.callbacks, NULL, NULL) < 0) {
		rc = remote_fail(err, CMS_ERROR, "cannot reach history remote '%s'",
				 c->cfg->url);
		goto done;
	}
	if (git_remote_ls(&heads, &nheads, remote) < 0) {
		rc = remote_fail(err, CMS_ERROR, "cannot list history remote '%s'",
				 c->cfg->url);
		goto done;
	}
	for (i = 0; i < nheads; i++)
		found |= !strcmp(heads[i]->name, c->local_ref);
	git_remote_disconnect(remote);
	if (!found) {
		/* A remote without the branch (a new one, or one made anew):
		 * what the tracking ref says it held is no longer so. */
		int grc = git_reference_remove(c->repo, c->tracking_ref);

		if (grc < 0 && grc != GIT_ENOTFOUND)
			rc = remote_fail(err, CMS_ERROR, "cannot forget the history remote's old "
					 "branch");
		goto done;
	}
	if ((rc = ref_id(c, c->tracking_ref, &before, &have_before, err)) < 0)
		goto done;
	c->cred_attempts = 0;
	if (git_remote_fetch(remote, &specs, &opts, "cmsctl: fetch history") < 0) {
		rc = remote_fail(err, CMS_ERROR, "cannot fetch from history remote '%s'",
				 c->cfg->url);
		goto done;
	}
	if (!have_before || (rc = ref_id(c, c->tracking_ref, &now, &have_now, err)) < 0 ||
	    !have_now || (rc = check_not_rewritten(c, &before, &now, err)) == 0)
		goto done;
	/* Keep what the remote held: the local branch is not rebuilt on the
	 * rewritten one, and the next command finds the same. */
	if (git_reference_create(&ref, c->repo, c->tracking_ref, &before, 1,
				 "cmsctl: history remote rewritten; kept what it held") < 0)
		cms_error_prefix(err, "cannot keep the tip history remote '%s' held (%s)",
				 c->cfg->url, git_message());
	git_reference_free(ref);
done:
	if (remote)
		git_remote_free(remote);
	free(spec);
	return rc;
}

/* The run a commit recorded from the state's journal: its trailers (the
 * message's last paragraph) hold "Recorded-From: journal" and "Run-Id: X"
 * (state/level.c).  Returns X (caller frees), or NULL for any other
 * commit. */
static char *journal_run(const char *message)
{
	size_t len = strlen(message), i;
	const char *block, *line;
	char *run = NULL;
	bool journal = false;

	while (len > 0 && message[len - 1] == '\n')
		len--;
	for (i = len; i > 1 && !(message[i - 1] == '\n' && message[i - 2] == '\n'); i--)
		;
	block = message + (i > 1 ? i : 0);
	for (line = block; line < message + len;) {
		const char *end = memchr(line, '\n', (size_t)(message + len - line));
		size_t n = end ? (size_t)(end - line) : (size_t)(message + len - line);

		if (n == 22 && !memcmp(line, "Recorded-From: journal", 22))
			journal = true;
		else if (n > 8 && !memcmp(line, "Run-Id: ", 8) && !run)
			run = xstrndup(line + 8, n - 8);
		line += n + 1;
	}
	if (!journal) {
		free(run);
		run = NULL;
	}
	return run;
}

/* Rebuilds commit cid (whose parent's tree is its base) on top of onto:
 * the same tree change, message, author and committer.  A run recorded
 * here from the journal whose report the remote already holds (its own
 * process, or another runner, recorded it meanwhile) is not rebuilt:
 * *out is onto and the return is 1. */
static int replay_one(struct remote_ctx *c, const git_oid *cid, const git_oid *onto,
		      git_oid *out, struct cms_error *err)
{
	git_commit *commit = NULL, *parent = NULL, *onto_c = NULL;
	git_tree *tree = NULL, *ptree = NULL, *onto_tree = NULL, *new_tree = NULL;
	git_diff *diff = NULL;
	git_tree_update *ups = NULL;
	git_oid tree_id;
	size_t i, n;
	const git_commit *parents[1];
	char *run = NULL;
	int rc = 0;

	if (git_commit_lookup(&commit, c->repo, cid) < 0 || git_commit_tree(&tree, commit) < 0 ||
	    git_commit_lookup(&onto_c, c->repo, onto) < 0 ||
	    git_commit_tree(&onto_tree, onto_c) < 0) {
		rc = remote_fail(err, CMS_ERROR, "cannot read a history commit to rebuild");
		goto done;
	}
	if (git_commit_parentcount(commit) > 0 &&
	    (git_commit_parent(&parent, commit, 0) < 0 || git_commit_tree(&ptree, parent) < 0)) {
		rc = remote_fail(err, CMS_ERROR, "cannot read a history commit's parent");
		goto done;
	}
	if (git_diff_tree_to_tree(&diff, c->repo, ptree, tree, NULL) < 0) {
		rc = remote_fail(err, CMS_ERROR, "cannot compute a history commit's change");
		goto done;
	}
	n = git_diff_num_deltas(diff);
	ups = xcalloc(n ? n : 1, sizeof(*ups));
	for (i = 0; i < n; i++) {
		const git_diff_delta *d = git_diff_get_delta(diff, i);

		if (d->status == GIT_DELTA_DELETED) {
			ups[i].action = GIT_TREE_UPDATE_REMOVE;
			ups[i].path = d->old_file.path;
		} else {
			ups[i].action = GIT_TREE_UPDATE_UPSERT;
			ups[i].path = d->new_file.path;
			ups[i].id = d->new_file.id;
			ups[i].filemode = (git_filemode_t)d->new_file.mode;
		}
	}
	if ((run = journal_run(git_commit_message(commit))) != NULL) {
		char *tail = xasprintf("/runs/%s/report.json", run);
		size_t tlen = strlen(tail);

		for (i = 0; i < n && rc == 0; i++) {
			size_t len = ups[i].path ? strlen(ups[i].path) : 0;
			git_tree_entry *entry = NULL;

			if (ups[i].action != GIT_TREE_UPDATE_UPSERT || len <= tlen ||
			    strcmp(ups[i].path + len - tlen, tail))
				continue;
			if (git_tree_entry_bypath(&entry, onto_tree, ups[i].path) == 0) {
				git_tree_entry_free(entry);
				git_oid_cpy(out, onto);
				rc = 1;
			}
		}
		free(tail);
		if (rc == 1)
			goto done;
	}
	if (git_tree_create_updated(&tree_id, c->repo, onto_tree, n, ups) < 0 ||
	    git_tree_lookup(&new_tree, c->repo, &tree_id) < 0) {
		rc = remote_fail(err, CMS_ERROR, "cannot rebuild a history commit's tree");
		goto done;
	}
	parents[0] = onto_c;
	if (git_commit_create(out, c->repo, NULL, git_commit_author(commit),
			      git_commit_committer(commit), git_commit_message_encoding(commit),
			      git_commit_message(commit), new_tree, 1, parents) < 0)
		rc = remote_fail(err, CMS_ERROR, "cannot write a rebuilt history commit");
done:
	free(run);
	free(ups);
	git_diff_free(diff);
	git_tree_free(new_tree);
	git_tree_free(onto_tree);
	git_tree_free(ptree);
	git_tree_free(tree);
	git_commit_free(onto_c);
	git_commit_free(parent);
	git_commit_free(commit);
	return rc;
}

/* Brings the local branch level with the tracking ref: fast-forward, or
 * the local-only commits rebuilt on the remote tip.  *moved tells whether
 * the local branch changed. */
static int integrate(struct remote_ctx *c, struct cms_error *err)
{
	git_oid local, remote, base, cur;
	git_oid *todo = NULL, *made = NULL;
	size_t ntodo = 0, alloc = 0, i;
	git_revwalk *walk = NULL;
	git_reference *ref = NULL;
	int have_local, have_remote, rc, grc;

	if ((rc = ref_id(c, c->local_ref, &local, &have_local, err)) < 0 ||
	    (rc = ref_id(c, c->tracking_ref, &remote, &have_remote, err)) < 0)
		return rc;
	if (!have_remote)
		return 0;
	if (!have_local) {
		if (git_reference_create(&ref, c->repo, c->local_ref, &remote, 0,
					 "cmsctl: history from its remote") < 0)
			rc = remote_fail(err, CMS_ERROR, "cannot create the history branch");
		git_reference_free(ref);
		return rc;
	}
	if (git_oid_equal(&local, &remote))
		return 0;
	grc = git_merge_base(&base, c->repo, &local, &remote);
	if (grc < 0 && grc != GIT_ENOTFOUND)
		return remote_fail(err, CMS_ERROR, "cannot compare the history with its remote");
	if (grc == 0 && git_oid_equal(&base, &remote))
		return 0; /* only ahead: push will send it */
	if (grc == 0 && git_oid_equal(&base, &local)) {
		cur = remote; /* only behind: fast-forward */
	} else {
		/* Diverged: the local commits not on the remote, oldest first. */
		if (git_revwalk_new(&walk, c->repo) < 0 ||
		    git_revwalk_sorting(walk, GIT_SORT_TOPOLOGICAL | GIT_SORT_REVERSE) < 0 ||
		    git_revwalk_push(walk, &local) < 0 || git_revwalk_hide(walk, &remote) < 0) {
			rc = remote_fail(err, CMS_ERROR, "cannot walk the local history");
			goto done;
		}
		while ((grc = git_revwalk_next(&cur, walk)) == 0)
			*ARRAY_PUSH(todo, ntodo, alloc) = cur;
		if (grc != GIT_ITEROVER) {
			rc = remote_fail(err, CMS_ERROR, "cannot walk the local history");
			goto done;
		}
		cur = remote;
		made = xcalloc(ntodo ? ntodo : 1, sizeof(*made));
		for (i = 0; i < ntodo; i++) {
			git_oid next;

			if ((rc = replay_one(c, &todo[i], &cur, &next, err)) < 0)
				goto done;
			rc = 0;
			cur = made[i] = next;
		}
	}
	grc = git_reference_create_matching(&ref, c->repo, c->local_ref, &cur, 1, &local,
					    "cmsctl: history level with its remote");
	if (grc == GIT_EMODIFIED || grc == GIT_ELOCKED)
		rc = REMOTE_MOVED; /* a local commit meanwhile: integrate_retried() */
	else if (grc < 0)
		rc = remote_fail(err, CMS_ERROR, "cannot move the history branch '%s'", c->branch);
	/* The branch holds the rebuilt commits now: whoever recorded an old
	 * id (the state's history tip) can follow. */
	for (i = 0; rc == 0 && made && c->cfg->rebuilt && i < ntodo; i++) {
		char was[GIT_OID_HEXSZ + 1], is[GIT_OID_HEXSZ + 1];

		git_oid_tostr(was, sizeof(was), &todo[i]);
		git_oid_tostr(is, sizeof(is), &made[i]);
		c->cfg->rebuilt(c->cfg->rebuilt_arg, was, is);
	}
done:
	git_reference_free(ref);
	git_revwalk_free(walk);
	free(todo);
	free(made);
	return rc;
}

/* integrate(), again while a local commit (another process of this host,
 * under the history's writer lock) moves the branch meanwhile. */
static int integrate_retried(struct remote_ctx *c, struct cms_error *err)
{
	int attempt, rc = 0;

	for (attempt = 0; attempt < REMOTE_MAX_ATTEMPTS; attempt++) {
		if ((rc = integrate(c, err)) != REMOTE_MOVED)
			return rc;
		cms_lock_pause(attempt * 5);
	}
	return cms_error_set(err, CMS_ERROR, "the history branch '%s' kept moving while it was "
			     "brought level with its remote; try again", c->branch);
}

int history_remote_sync(const char *repo_path, const char *branch,
			const struct history_remote *cfg, struct cms_error *err)
{
	struct remote_ctx c;
	int rc;

	if ((rc = ctx_open(&c, repo_path, branch, cfg, err)) == 0) {
		lock_remote(&c);
		if ((rc = fetch(&c, err)) == 0)
			rc = integrate_retried(&c, err);
	}
	ctx_close(&c);
	return rc;
}

/* A path remote's push.  libgit2's local transport checks that the push
 * is a fast-forward from the branch it listed, and later writes the
 * remote branch with force: two pushers that listed the same tip both
 * pass, and the second write drops the first one's commits.  So this
 * writes the objects itself (the commits the tracking ref lacks, one
 * pack) and moves the remote branch only if it still holds the tip this
 * one was built on, under the branch's own lock file (as git's
 * receive-pack does).  A remote that moved meanwhile is a rejection. */
static int push_local(struct remote_ctx *c, const char *path, const git_oid *local,
		      const git_oid *expected, struct cms_error *err)
{
	git_repository *remote = NULL;
	git_packbuilder *pb = NULL;
	git_revwalk *walk = NULL;
	git_reference *ref = NULL;
	char *pack_dir = NULL;
	git_oid zero;
	int rc = 0, grc;

	memset(&zero, 0, sizeof(zero));

	if (git_repository_open_ext(&remote, path, GIT_REPOSITORY_OPEN_NO_SEARCH, NULL) < 0)
		return remote_fail(err, CMS_ERROR, "cannot open history remote '%s'", c->cfg->url);
	if (!git_repository_is_bare(remote)) {
		rc = cms_error_set(err, CMS_ERROR, "history remote '%s' is not a bare repository",
				   c->cfg->url);
		goto done;
	}
	pack_dir = xasprintf("%sobjects/pack", git_repository_path(remote));
	if (git_revwalk_new(&walk, c->repo) < 0 || git_revwalk_push(walk, local) < 0 ||
	    (expected && git_revwalk_hide(walk, expected) < 0) ||
	    git_packbuilder_new(&pb, c->repo) < 0 || git_packbuilder_insert_walk(pb, walk) < 0 ||
	    git_packbuilder_write(pb, pack_dir, 0, NULL, NULL) < 0) {
		rc = remote_fail(err, CMS_ERROR, "cannot push the history to '%s'", c->cfg->url);
		goto done;
	}
	/* A zero expected id: the branch must still be absent, checked under
	 * its lock (a plain create without force looks before it locks). */
	grc = git_reference_create_matching(&ref, remote, c->local_ref, local, 1,
					    expected ? expected : &zero, "cmsctl: push");
	if (grc == GIT_EMODIFIED || grc == GIT_EEXISTS) {
		c->rejected = xstrdup("the remote branch moved meanwhile");
		c->moved = true;
	}
	else if (grc == GIT_ELOCKED)
		c->rejected = xstrdup(git_message()); /* names the lock file */
	else if (grc < 0)
		rc = remote_fail(err, CMS_ERROR, "cannot move the branch of history remote '%s'",
				 c->cfg->url);
done:
	git_reference_free(ref);
	git_packbuilder_free(pb);
	git_revwalk_free(walk);
	git_repository_free(remote);
	free(pack_dir);
	return rc;
}

static int push_once(struct remote_ctx *c, const git_oid *local, const git_oid *expected,
		     struct cms_error *err)
{
	git_remote *remote = NULL;
	git_push_options opts;
	git_reference *ref = NULL;
	char *spec = xasprintf("%s:%s", c->local_ref, c->local_ref);
	git_strarray specs;
	int rc = 0, prc = 0;

	git_push_options_init(&opts, GIT_PUSH_OPTIONS_VERSION);
	callbacks(&opts.callbacks, c);
	specs.strings = &spec;
	specs.count = 1;
	free(c->rejected);
	c->rejected = NULL;
	c->moved = false;
	c->cred_attempts = 0;
	if (c->remote_dir) {
		rc = push_local(c, c->remote_dir, local, expected, err);
		if (rc < 0 || c->rejected)
			goto done;
	} else if (git_remote_create_anonymous(&remote, c->repo, c->cfg->url) < 0 ||
	    (prc = git_remote_push(remote, &specs, &opts)) < 0) {
		const git_error *e = git_error_last();

		/* libgit2 reports a non-fast-forward as an error (its own check,
		 * against the branch it listed) or through the callback (the
		 * server's).  libgit2 1.5 words the error "cannot push
		 * non-fastforwardable reference" (GIT_ENONFASTFORWARD) or, when
		 * the branch moved to commits this repository lacks, "...
		 * contains commits that are not present locally". */
		if (prc == GIT_ENONFASTFORWARD ||
		    (e && e->message && (strstr(e->message, "fast-forward") ||
					 strstr(e->message, "fastforward") ||
					 strstr(e->message, "not present locally"))))
		{
			c->rejected = xstrdup(e && e->message ? e->message : "non-fast-forward");
			c->moved = true;
		}
		else
			rc = remote_fail(err, CMS_ERROR, "cannot push the history to '%s'",
					 c->cfg->url);
		goto done;
	}
	if (c->rejected)
		goto done;
	/* The remote has it now: so does the tracking ref. */
	if (git_reference_create(&ref, c->repo, c->tracking_ref, local, 1,
				 "cmsctl: pushed history") < 0)
		rc = remote_fail(err, CMS_ERROR, "cannot record the pushed history");
done:
	git_reference_free(ref);
	if (remote)
		git_remote_free(remote);
	free(spec);
	return rc;
}

/* How many commits tip and its ancestors are. */
static int count_commits(struct remote_ctx *c, const git_oid *tip, size_t *n,
			 struct cms_error *err)
{
	git_revwalk *walk = NULL;
	git_oid id;
	int grc;

	*n = 0;
	if (git_revwalk_new(&walk, c->repo) < 0 || git_revwalk_push(walk, tip) < 0) {
		git_revwalk_free(walk);
		return remote_fail(err, CMS_ERROR, "cannot walk the local history");
	}
	while ((grc = git_revwalk_next(&id, walk)) == 0)
		(*n)++;
	git_revwalk_free(walk);
	if (grc != GIT_ITEROVER)
		return remote_fail(err, CMS_ERROR, "cannot walk the local history");
	return 0;
}

int history_remote_push(const char *repo_path, const char *branch,
			const struct history_remote *cfg, size_t *pushed, struct cms_error *err)
{
	struct remote_ctx c;
	git_oid local, tracking;
	int have_local, have_tracking, attempt, rc;
	int64_t start = cms_monotonic_ms();

	*pushed = 0;
	if ((rc = ctx_open(&c, repo_path, branch, cfg, err)) < 0)
		goto done;
	/* The remote's turn first, then this repository's: a push waiting
	 * for another process's push to the remote does not hold up this
	 * repository's syncs meanwhile. */
	lock_path_remote(&c);
	lock_remote(&c);
	for (attempt = 0; attempt < REMOTE_MAX_ATTEMPTS ||
	     (c.moved && cms_monotonic_ms() - start < REMOTE_PUSH_WAIT_MS); attempt++) {
		size_t ahead = 0, behind = 0;

		if ((rc = fetch(&c, err)) < 0 || (rc = integrate_retried(&c, err)) < 0)
			goto done;
		if ((rc = ref_id(&c, c.local_ref, &local, &have_local, err)) < 0 ||
		    (rc = ref_id(&c, c.tracking_ref, &tracking, &have_tracking, err)) < 0)
			goto done;
		if (!have_local)
			goto done; /* nothing committed yet */
		if (have_tracking) {
			if (git_graph_ahead_behind(&ahead, &behind, c.repo, &local, &tracking) < 0) {
				rc = remote_fail(err, CMS_ERROR, "cannot compare the history with "
						 "its remote");
				goto done;
			}
			if (ahead == 0)
				goto done;
		} else if ((rc = count_commits(&c, &local, &ahead, err)) < 0) {
			goto done; /* a remote without the branch lacks every commit */
		}
		if ((rc = push_once(&c, &local, have_tracking ? &tracking : NULL, err)) < 0)
			goto done;
		if (!c.rejected) {
			*pushed = ahead;
			goto done;
		}
		/* The remote moved meanwhile: fetch, rebuild, try again, after a
		 * pause that grows with the time waited (0.5 to 7.5 ms). */
		cms_lock_pause(cms_monotonic_ms() - start);
	}
	rc = cms_error_set(err, CMS_ERROR, "cannot push the history to '%s': it kept moving "
			   "over %d attempts in %" PRId64 " ms (%s)", cfg->url, attempt,
			   cms_monotonic_ms() - start, c.rejected ? c.rejected : "rejected");
done:
	ctx_close(&c);
	return rc;
}

int history_remote_ahead(const char *repo_path, const char *branch,
			 const struct history_remote *cfg, size_t *ahead, size_t *behind,
			 struct cms_error *err)
{
	struct remote_ctx c;
	git_oid local, tracking;
	int have_local, have_tracking, rc;

	*ahead = *behind = 0;
	if ((rc = ctx_open(&c, repo_path, branch, cfg, err)) < 0)
		goto done;
	if ((rc = ref_id(&c, c.local_ref, &local, &have_local, err)) < 0 ||
	    (rc = ref_id(&c, c.tracking_ref, &tracking, &have_tracking, err)) < 0 || !have_local)
		goto done;
	if (!have_tracking) {
		git_revwalk *walk = NULL;
		git_oid id;

		/* Never pushed: every local commit is ahead. */
		if (git_revwalk_new(&walk, c.repo) == 0 && git_revwalk_push(walk, &local) == 0)
			while (git_revwalk_next(&id, walk) == 0)
				(*ahead)++;
		git_revwalk_free(walk);
		goto done;
	}
	if (git_graph_ahead_behind(ahead, behind, c.repo, &local, &tracking) < 0)
		rc = remote_fail(err, CMS_ERROR, "cannot compare the history with its remote");
done:
	ctx_close(&c);
	return rc;
}

int history_remote_check(const char *repo_path, const struct history_remote *cfg,
			 struct cms_error *err)
{
	struct remote_ctx c;
	git_remote *remote = NULL;
	git_remote_callbacks cb;
	const git_remote_head **heads = NULL;
	git_oid before;
	size_t nheads = 0, i;
	int rc, have_before = 0;

	if ((rc = ctx_open(&c, repo_path, NULL, cfg, err)) < 0)
		goto done;
	callbacks(&cb, &c);
	if (git_remote_create_anonymous(&remote, c.repo, cfg->url) < 0) {
		rc = remote_fail(err, CMS_EREFUSED, "cannot use history remote '%s'", cfg->url);
		goto done;
	}
	c.cred_attempts = 0;
	if (git_remote_connect(remote, GIT_DIRECTION_PUSH, &cb, NULL, NULL) < 0) {
		rc = remote_fail(err, CMS_EREFUSED, "cannot reach history remote '%s'", cfg->url);
		goto done;
	}
	/* A branch that no longer descends from what it held (a forced
	 * push) takes no run's record either.  Its tip is judged when this
	 * repository has it (the sync at the command's start fetched it). */
	if ((rc = ref_id(&c, c.tracking_ref, &before, &have_before, err)) == 0 && have_before &&
	    git_remote_ls(&heads, &nheads, remote) == 0) {
		for (i = 0; i < nheads && rc == 0; i++) {
			git_commit *tip = NULL;

			if (strcmp(heads[i]->name, c.local_ref) ||
			    git_commit_lookup(&tip, c.repo, &heads[i]->oid) < 0)
				continue;
			git_commit_free(tip);
			rc = check_not_rewritten(&c, &before, &heads[i]->oid, err);
		}
	}
	git_remote_disconnect(remote);
done:
	if (remote)
		git_remote_free(remote);
	ctx_close(&c);
	return rc;
}
