/*
 * The audit history on top of libgit2.  Every change is a commit made
 * straight from objects: blobs are written, a tree is derived from the
 * branch tip's tree with git_tree_create_updated(), the commit is written
 * without updating any ref, and only then is the branch moved with a
 * compare-and-swap on its old value, retried when another process committed
 * meanwhile.  No index and no work tree is ever read or written, which is
 * what lets the history branch live inside the operator's own repository.
 * Reading (log, files, plans) always starts from the branch tip.
 *
 * Writers of this host take an flock(2) on "cmsctl-writer.lock" in the git
 * folder around each commit.  The kernel drops it when a process dies, so
 * while it is held no live cmsctl holds the branch's ref lock: one found
 * then, and older than HISTORY_STALE_LOCK_S (git holds a ref lock for
 * milliseconds), was left by a dead process and is removed, and the commit
 * says so in a trailer.
 */
#include "state/history.h"
#include "common/sha1.h"
#include "common/buf.h"
#include "common/util.h"

#include <git2.h>

#include "common/lib_git2.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#define HISTORY_DEFAULT_BRANCH "cms-history"
#define HISTORY_MAX_ATTEMPTS 50 /* a plan set commits from up to 64 processes at once */
#define HISTORY_RETRY 1 /* internal: the branch moved under us, try again */
#define HISTORY_STALE_LOCK_S 5      /* a ref lock this old has no live writer */
#define HISTORY_WRITER_WAIT_MS 10000 /* how long to wait for another cmsctl's commit */
#define PLAN_ID_MIN 7
#define PLAN_ID_LEN 40

struct history {
	git_repository *repo; /* NULL until opened */
	char *path;           /* as given, for messages */
	char *branch;         /* short name, e.g. "cms-history" */
	char *refname;        /* "refs/heads/<branch>" */
	const char *absent;   /* history_commit_absent(): the path the tip must lack */
};

/* The message of the last libgit2 error, never NULL. */
static const char *git_message(void)
{
	const git_error *e = git_error_last();

	return e && e->message ? e->message : "unknown libgit2 error";
}

/* Sets err to "<what>: <libgit2 message>" and returns code.  Some libgit2
 * messages end in ": " with nothing after it (an errno of 0); that tail is
 * dropped. */
__attribute__((format(printf, 3, 4)))
static int git_fail(struct cms_error *err, int code, const char *fmt, ...)
{
	struct buf b = BUF_INIT;
	const char *reason = git_message();
	size_t n = strlen(reason);
	va_list ap;

	while (n > 0 && (reason[n - 1] == ' ' || reason[n - 1] == ':' || reason[n - 1] == '\n'))
		n--;
	va_start(ap, fmt);
	buf_vaddf(&b, fmt, ap);
	va_end(ap);
	cms_error_set(err, code, "%s: %.*s", b.ptr, (int)n, reason);
	buf_free(&b);
	return code;
}

/* libgit2 is initialised once and stays so until the process exits: each
 * git_libgit2_init() after a shutdown reads the whole CA bundle again
 * (libgit2's TLS set-up), several milliseconds that a command opening
 * the history three or four times paid each time. */
static int git_init_now(struct cms_error *err)
{
	int rc;

	if ((rc = cms_lib_git2_load(err)) < 0)
		return rc;
	if (git_libgit2_init() < 0)
		return git_fail(err, CMS_ERROR, "cannot initialise libgit2");
	/* A history is an audit trail: have libgit2 fsync objects and refs,
	 * here and on a path remote (history_remote.c writes its pack and
	 * branch), whichever command opens it.  The option is process-wide,
	 * read when a repository's refs are first loaded, and only ever set
	 * to this value. */
	if (git_libgit2_opts(GIT_OPT_ENABLE_FSYNC_GITDIR, 1) < 0)
		return git_fail(err, CMS_ERROR, "cannot enable fsync in libgit2");
	return 0;
}

/* history_git_init_early's thread, and what it found. */
static struct {
	pthread_t th;
	bool started;
	int rc;
	struct cms_error err;
} early;

static void *git_init_main(void *arg)
{
	(void)arg;
	early.rc = git_init_now(&early.err);
	return NULL;
}

/* At exit: a command that ends before it needs libgit2 (a refused plan
 * file, a config error) waits for the thread, which must not be in the
 * middle of loading a library while the process tears its libraries
 * down.  main() calls it before it returns: as an atexit handler alone it
 * came too late, since the libraries the thread loads (OpenSSL through
 * libssh2) register their own exit cleanup after it, which then ran first,
 * under the thread (a crash or a hang, a few times in a thousand refused
 * applies run four at a time). */
void history_git_init_join(void)
{
	if (!early.started)
		return;
	pthread_join(early.th, NULL);
	early.started = false;
	cms_error_clear(&early.err);
}

void history_git_init_early(void)
{
	static bool registered;
	sigset_t all, old;

	if (early.started)
		return;
	if (!registered && atexit(history_git_init_join) != 0)
		return; /* no thread then: history_git_init loads it itself */
	registered = true;
	/* Signals stay with the calling thread. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	early.started = pthread_create(&early.th, NULL, git_init_main, NULL) == 0;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
}

int history_git_init(struct cms_error *err)
{
	static int done;
	int rc;

	if (done)
		return 0;
	if (early.started) {
		/* What the early start found is the answer, as if loaded here. */
		pthread_join(early.th, NULL);
		early.started = false;
		if ((rc = early.rc) < 0) {
			cms_error_move(err, &early.err);
			early.rc = 0;
			return rc;
		}
		done = 1;
		return 0;
	}
	if ((rc = git_init_now(err)) < 0)
		return rc;
	done = 1;
	return 0;
}

void history_close(struct history *h)
{
	if (!h)
		return;
	if (h->repo)
		git_repository_free(h->repo);
	free(h->path);
	free(h->branch);
	free(h->refname);
	free(h);
}

/* 1 when the directory at path has no entry but "." and "..", 0 when it
 * has one, -1 (errno set) when it cannot be read. */
static int dir_is_empty(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *de;
	int empty = 1;

	if (!d)
		return -1;
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0) {
			empty = 0;
			break;
		}
	}
	closedir(d);
	return empty;
}

/* Initialises a bare repository at h->path, which is an existing empty
 * directory or (create_dir) does not exist yet.  HEAD names the history
 * branch so that `git log` in the bare repository shows the history, and
 * every ref update is logged: the reflog is part of the audit trail. */
static int create_bare(struct history *h, int create_dir, struct cms_error *err)
{
	git_config *cfg = NULL;
	int rc = 0;

	if (create_dir && mkdir(h->path, 0700) < 0) {
		rc = cms_error_set(err, CMS_ERROR, "cannot create history repository '%s': %s",
				   h->path, strerror(errno));
		goto done;
	}
	if (git_repository_init(&h->repo, h->path, 1) < 0) {
		rc = git_fail(err, CMS_ERROR, "cannot create history repository '%s'", h->path);
		goto done;
	}
	if (git_repository_set_head(h->repo, h->refname) < 0) {
		rc = git_fail(err, CMS_ERROR, "cannot point HEAD of history repository '%s' at '%s'",
			      h->path, h->refname);
		goto done;
	}
	if (git_repository_config(&cfg, h->repo) < 0 ||
	    git_config_set_bool(cfg, "core.logAllRefUpdates", 1) < 0) {
		rc = git_fail(err, CMS_ERROR, "cannot configure history repository '%s'", h->path);
		goto done;
	}
done:
	git_config_free(cfg);
	return rc;
}

/* Refuses a branch that is checked out in the repository's own work tree:
 * moving it would make the operator's checkout look modified. */
static int check_not_checked_out(struct history *h, struct cms_error *err)
{
	git_reference *head = NULL;
	int rc = 0, grc;

	if (git_repository_is_bare(h->repo))
		return 0;
	grc = git_reference_lookup(&head, h->repo, "HEAD");
	if (grc == GIT_ENOTFOUND)
		goto done;
	if (grc < 0) {
		rc = git_fail(err, CMS_ERROR, "cannot read HEAD of history repository '%s'", h->path);
		goto done;
	}
	if (git_reference_type(head) == GIT_REFERENCE_SYMBOLIC &&
	    strcmp(git_reference_symbolic_target(head), h->refname) == 0) {
		rc = cms_error_set(err, CMS_ERROR,
				   "history branch '%s' is checked out in '%s'", h->branch, h->path);
		cms_error_hint(err, "the history is committed without a work tree; "
			       "use another branch for it or check out another branch");
	}
done:
	git_reference_free(head);
	return rc;
}

int history_open(struct history **out, const char *path, const char *branch,
		 struct cms_error *err)
{
	struct history *h = NULL;
	struct stat st;
	int rc = 0, grc, valid = 0;

	*out = NULL;
	if (!path || !*path)
		return cms_error_set(err, CMS_ERROR, "no history repository path given");
	if (!branch)
		branch = HISTORY_DEFAULT_BRANCH;

	h = xcalloc(1, sizeof(*h));
	h->path = xstrdup(path);
	h->branch = xstrdup(branch);
	h->refname = xasprintf("refs/heads/%s", branch);
	if ((rc = history_git_init(err)) < 0) /* fsync on, too */
		goto done;
	if (git_reference_name_is_valid(&valid, h->refname) < 0) {
		rc = git_fail(err, CMS_ERROR, "cannot check history branch name '%s'", branch);
		goto done;
	}
	if (!valid || !*branch) {
		rc = cms_error_set(err, CMS_ERROR, "invalid history branch name '%s'", branch);
		goto done;
	}

	if (stat(path, &st) < 0) {
		if (errno != ENOENT) {
			rc = cms_error_set(err, CMS_ERROR, "cannot access history repository '%s': %s",
					   path, strerror(errno));
			goto done;
		}
		if ((rc = create_bare(h, 1, err)) < 0)
			goto done;
	} else {
		/* NO_SEARCH: a directory inside someone's work tree must not
		 * silently become that repository. */
		grc = git_repository_open_ext(&h->repo, path, GIT_REPOSITORY_OPEN_NO_SEARCH, NULL);
		if (grc == GIT_ENOTFOUND) {
			int empty = S_ISDIR(st.st_mode) ? dir_is_empty(path) : 0;

			if (empty < 0) {
				rc = cms_error_set(err, CMS_ERROR, "cannot read directory '%s': %s",
						   path, strerror(errno));
				goto done;
			}
			if (!empty) {
				rc = cms_error_set(err, CMS_ERROR,
						   "'%s' exists and is not a git repository", path);
				goto done;
			}
			if ((rc = create_bare(h, 0, err)) < 0)
				goto done;
		} else if (grc < 0) {
			rc = git_fail(err, CMS_ERROR, "cannot open history repository '%s'", path);
			goto done;
		}
	}
	if ((rc = check_not_checked_out(h, err)) < 0)
		goto done;
done:
	if (rc < 0)
		history_close(h);
	else
		*out = h;
	return rc;
}

/* A repository path must name a file below the root without surprises:
 * no empty, ".", ".." or ".git" component, no leading or trailing slash. */
static int check_path(const char *path, struct cms_error *err)
{
	const char *p = path, *slash;
	size_t n;

	if (!path || !*path)
		return cms_error_set(err, CMS_ERROR, "empty history path");
	for (;;) {
		slash = strchr(p, '/');
		n = slash ? (size_t)(slash - p) : strlen(p);
		if (n == 0 || (n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.') ||
		    (n == 4 && strncasecmp(p, ".git", 4) == 0))
			return cms_error_set(err, CMS_ERROR, "invalid history path '%s'", path);
		if (!slash)
			return 0;
		p = slash + 1;
	}
}

/* The tree at the branch tip into *tree and the tip into *tip; both stay
 * unset (NULL, *have_tip 0) when the branch does not exist yet. */
static int read_tip(struct history *h, git_oid *tip, int *have_tip, git_commit **commit,
		    git_tree **tree, struct cms_error *err)
{
	git_commit *c = NULL;
	int rc = 0, grc;

	*have_tip = 0;
	if (commit)
		*commit = NULL;
	if (tree)
		*tree = NULL;
	grc = git_reference_name_to_id(tip, h->repo, h->refname);
	if (grc == GIT_ENOTFOUND)
		goto done;
	if (grc < 0) {
		rc = git_fail(err, CMS_ERROR, "cannot read branch '%s' in history repository '%s'",
			      h->branch, h->path);
		goto done;
	}
	if (git_commit_lookup(&c, h->repo, tip) < 0) {
		rc = git_fail(err, CMS_ERROR,
			      "cannot read the tip of branch '%s' in history repository '%s'",
			      h->branch, h->path);
		goto done;
	}
	if (tree && git_commit_tree(tree, c) < 0) {
		rc = git_fail(err, CMS_ERROR,
			      "cannot read the tree of branch '%s' in history repository '%s'",
			      h->branch, h->path);
		goto done;
	}
	*have_tip = 1;
	if (commit) {
		*commit = c;
		c = NULL;
	}
done:
	git_commit_free(c);
	return rc;
}

static bool tree_has(const git_tree *tree, const char *path)
{
	git_tree_entry *entry = NULL;

	if (git_tree_entry_bypath(&entry, tree, path) != 0)
		return false;
	git_tree_entry_free(entry);
	return true;
}

/* Whether the branch tip holds path: 1, 0 (or no tip), or an error. */
static int tip_holds(struct history *h, const char *path, struct cms_error *err)
{
	git_commit *parent = NULL;
	git_tree *base = NULL;
	git_oid tip;
	int have_tip = 0, rc;

	if ((rc = read_tip(h, &tip, &have_tip, &parent, &base, err)) == 0 && have_tip &&
	    tree_has(base, path))
		rc = 1;
	git_tree_free(base);
	git_commit_free(parent);
	return rc;
}

/* One attempt: commit on top of the current tip and move the branch if it
 * is still there.  Returns 0, HISTORY_RETRY when the branch moved or its
 * lock was held meanwhile, or a negative code.  A held lock is described in
 * lock_err (libgit2's message names the lock file), otherwise cleared. */
static int commit_once(struct history *h, const git_tree_update *updates, size_t nupdates,
		       const git_signature *sig, const char *message, const char *reflog,
		       git_oid *commit_id, struct cms_error *lock_err, struct cms_error *err)
{
	git_commit *parent = NULL;
	git_tree *base = NULL, *tree = NULL;
	git_treebuilder *tb = NULL;
	git_reference *ref = NULL;
	git_oid tip, base_id, tree_id;
	const git_commit *parents[1];
	int rc, grc, have_tip;

	cms_error_clear(lock_err);
	if ((rc = read_tip(h, &tip, &have_tip, &parent, &base, err)) < 0)
		goto done;
	if (have_tip && h->absent && tree_has(base, h->absent)) {
		rc = HISTORY_PRESENT;
		goto done;
	}
	if (!have_tip) {
		if (git_treebuilder_new(&tb, h->repo, NULL) < 0 ||
		    git_treebuilder_write(&base_id, tb) < 0 ||
		    git_tree_lookup(&base, h->repo, &base_id) < 0) {
			rc = git_fail(err, CMS_ERROR,
				      "cannot write an empty tree in history repository '%s'", h->path);
			goto done;
		}
	}
	if (git_tree_create_updated(&tree_id, h->repo, base, nupdates, updates) < 0) {
		rc = git_fail(err, CMS_ERROR, "cannot build the history tree in history repository '%s'",
			      h->path);
		goto done;
	}
	if (git_tree_lookup(&tree, h->repo, &tree_id) < 0) {
		rc = git_fail(err, CMS_ERROR,
			      "cannot read back the history tree in history repository '%s'", h->path);
		goto done;
	}
	parents[0] = parent;
	if (git_commit_create(commit_id, h->repo, NULL, sig, sig, NULL, message, tree,
			      have_tip ? 1 : 0, parents) < 0) {
		rc = git_fail(err, CMS_ERROR, "cannot write a commit in history repository '%s'",
			      h->path);
		goto done;
	}
	if (have_tip)
		grc = git_reference_create_matching(&ref, h->repo, h->refname, commit_id, 1, &tip,
						    reflog);
	else
		grc = git_reference_create(&ref, h->repo, h->refname, commit_id, 0, reflog);
	if (grc == GIT_ELOCKED) {
		git_fail(lock_err, CMS_ELOCKED, "cannot move branch '%s' in history repository '%s'",
			 h->branch, h->path);
		rc = HISTORY_RETRY;
		goto done;
	}
	if (grc == GIT_EMODIFIED || grc == GIT_EEXISTS) {
		rc = HISTORY_RETRY;
		goto done;
	}
	if (grc < 0) {
		rc = git_fail(err, CMS_ERROR, "cannot move branch '%s' in history repository '%s'",
			      h->branch, h->path);
		goto done;
	}
done:
	git_reference_free(ref);
	git_tree_free(tree);
	git_tree_free(base);
	git_treebuilder_free(tb);
	git_commit_free(parent);
	return rc;
}

/* A short pause before retrying, growing with the attempt and jittered so
 * that two writers do not keep colliding in step. */
static void retry_pause(int attempt)
{
	unsigned char r = 0;
	struct timespec ts;

	cms_random_bytes(&r, 1);
	ts.tv_sec = 0;
	ts.tv_nsec = (long)(attempt + 1) * 2000000L + (long)(r % 8) * 1000000L;
	nanosleep(&ts, NULL);
}

static char *sig_safe(const char *s)
{
	char *out = xstrdup(s), *p;

	for (p = out; *p; p++)
		if (*p == '<' || *p == '>' || *p == '\n' || *p == '\r')
			*p = '_';
	return out;
}

static void pause_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

/* Takes this host's writer lock of the repository (flock on a file in the
 * git folder), waiting up to HISTORY_WRITER_WAIT_MS for another cmsctl;
 * returns its descriptor, or a negative code (CMS_ELOCKED when another
 * process kept it). */
static int take_writer_lock(struct history *h, struct cms_error *err)
{
	char *path = xasprintf("%scmsctl-writer.lock", git_repository_path(h->repo));
	int fd, rc;

	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY, 0644);
	if (fd < 0) {
		rc = cms_error_set(err, CMS_ERROR, "cannot lock history repository '%s': %s: %s",
				   h->path, path, strerror(errno));
		free(path);
		return rc;
	}
	rc = cms_flock_wait(fd, HISTORY_WRITER_WAIT_MS);
	if (rc == CMS_ERROR) {
		rc = cms_error_set(err, CMS_ERROR, "cannot lock history repository '%s': %s",
				   h->path, strerror(errno));
		goto fail;
	}
	if (rc == CMS_ELOCKED) {
		rc = cms_error_set(err, CMS_ELOCKED, "history repository '%s' is being "
				   "written by another cmsctl process of this host", h->path);
		cms_error_hint(err, "wait for it to finish and try again");
		goto fail;
	}
	free(path);
	return fd;
fail:
	close(fd);
	free(path);
	return rc;
}

/* With the writer lock held: a ref lock of the branch that lives on for
 * HISTORY_STALE_LOCK_S is a dead process's, and is removed; its removal is
 * added to msg as a trailer.  One that goes away meanwhile was a live git
 * process's. */
static int break_stale_ref_lock(struct history *h, struct buf *msg, struct cms_error *err)
{
	char *path = xasprintf("%s%s.lock", git_repository_path(h->repo), h->refname);
	int64_t waited_ms = 0;
	struct stat sb;
	int rc = 0;

	for (;;) {
		time_t now = time(NULL);

		if (lstat(path, &sb) < 0)
			goto done; /* none, or gone: a live writer finished */
		if (now - sb.st_mtime >= HISTORY_STALE_LOCK_S ||
		    waited_ms >= (int64_t)HISTORY_STALE_LOCK_S * 1000)
			break;
		pause_ms(50);
		waited_ms += 50;
	}
	if (unlink(path) < 0 && errno != ENOENT) {
		rc = cms_error_set(err, CMS_ERROR, "cannot remove the stale lock '%s' of history "
				   "repository '%s': %s", path, h->path, strerror(errno));
		goto done;
	}
	buf_addf(msg, "Stale-Lock-Removed: %s.lock (left at %" PRId64 ")\n", h->refname,
		 (int64_t)sb.st_mtime);
done:
	free(path);
	return rc;
}

int history_commit(struct history *h, const struct history_file *files, size_t nfiles,
		   const char *message, const char *operator_name, int64_t now,
		   char commit_id_out[41], struct cms_error *err)
{
	git_tree_update *updates = NULL;
	git_signature *sig = NULL;
	char *name = NULL;
	struct buf msg = BUF_INIT, reflog = BUF_INIT;
	char *email = NULL;
	git_oid commit_id;
	size_t i, j, subject_len;
	struct cms_error lock_err = CMS_ERROR_INIT;
	int rc = 0, attempt, wfd = -1;

	if (commit_id_out)
		commit_id_out[0] = '\0';
	if (!message || !*message || *message == '\n')
		return cms_error_set(err, CMS_ERROR, "empty history commit message");
	if (!operator_name || !*operator_name)
		return cms_error_set(err, CMS_ERROR, "no operator name for the history commit");
	for (i = 0; i < nfiles; i++) {
		if ((rc = check_path(files[i].path, err)) < 0)
			return rc;
		for (j = 0; j < i; j++)
			if (strcmp(files[i].path, files[j].path) == 0)
				return cms_error_set(err, CMS_ERROR,
						     "history path '%s' given twice in one commit",
						     files[i].path);
	}

	/* Blobs do not depend on the tip: write them once, before retrying. */
	updates = xcalloc(nfiles ? nfiles : 1, sizeof(*updates));
	for (i = 0; i < nfiles; i++) {
		updates[i].action = GIT_TREE_UPDATE_UPSERT;
		updates[i].filemode = GIT_FILEMODE_BLOB;
		updates[i].path = files[i].path;
		if (git_blob_create_from_buffer(&updates[i].id, h->repo,
						files[i].data ? files[i].data : "", files[i].len) < 0) {
			rc = git_fail(err, CMS_ERROR, "cannot write '%s' to history repository '%s'",
				      files[i].path, h->path);
			goto done;
		}
	}

	/* git identities cannot hold angle brackets or newlines: those become
	 * '_' in the signature (the trailers keep the name as given). */
	name = sig_safe(operator_name);
	email = strchr(name, '@') ? xstrdup(name) : xasprintf("%s@cmsctl", name);
	if (git_signature_new(&sig, name, email, (git_time_t)now, 0) < 0) {
		rc = git_fail(err, CMS_ERROR, "invalid operator '%s' for the history", operator_name);
		goto done;
	}
	/* The reflog entry names the operator too, not the machine's git
	 * identity (or libgit2's "unknown"). */
	if (git_repository_set_ident(h->repo, operator_name, email) < 0) {
		rc = git_fail(err, CMS_ERROR, "cannot set the reflog identity");
		goto done;
	}

	buf_adds(&msg, message);
	if (msg.ptr[msg.len - 1] != '\n')
		buf_addch(&msg, '\n');
	subject_len = strcspn(message, "\n");
	buf_adds(&reflog, "cmsctl: ");
	buf_add(&reflog, message, subject_len);

	if ((wfd = take_writer_lock(h, err)) < 0) {
		rc = wfd;
		goto done;
	}
	/* Before a stale ref lock is removed: its removal is recorded in the
	 * commit, which a tip that holds the path never gets. */
	if (h->absent && (rc = tip_holds(h, h->absent, err)) != 0) {
		if (rc > 0)
			rc = HISTORY_PRESENT;
		goto done;
	}
	if ((rc = break_stale_ref_lock(h, &msg, err)) < 0)
		goto done;
	for (attempt = 0; attempt < HISTORY_MAX_ATTEMPTS; attempt++) {
		rc = commit_once(h, updates, nfiles, sig, msg.ptr, reflog.ptr, &commit_id, &lock_err,
				 err);
		if (rc != HISTORY_RETRY)
			break;
		if (attempt + 1 < HISTORY_MAX_ATTEMPTS)
			retry_pause(attempt);
	}
	if (rc == HISTORY_RETRY && lock_err.code) {
		cms_error_move(err, &lock_err);
		rc = CMS_ELOCKED;
		cms_error_hint(err, "another process (not cmsctl) keeps taking the lock of branch "
			       "'%s'", h->branch);
		goto done;
	}
	if (rc == HISTORY_RETRY) {
		rc = cms_error_set(err, CMS_ERROR,
				   "cannot move branch '%s' in history repository '%s': "
				   "it kept moving over %d attempts", h->branch, h->path,
				   HISTORY_MAX_ATTEMPTS);
		goto done;
	}
	if (rc != 0)
		goto done;
	if (commit_id_out)
		git_oid_tostr(commit_id_out, 41, &commit_id);
done:
	if (wfd >= 0)
		close(wfd); /* releases the writer lock */
	cms_error_clear(&lock_err);
	buf_free(&reflog);
	buf_free(&msg);
	git_signature_free(sig);
	free(name);
	free(email);
	free(updates);
	return rc;
}

int history_commit_absent(struct history *h, const char *absent, const struct history_file *files,
			  size_t nfiles, const char *message, const char *operator_name,
			  int64_t now, char commit_id_out[41], struct cms_error *err)
{
	int rc;

	h->absent = absent;
	rc = history_commit(h, files, nfiles, message, operator_name, now, commit_id_out, err);
	h->absent = NULL;
	return rc;
}

void history_entry_free(struct history_entry *e)
{
	size_t i;

	if (!e)
		return;
	free(e->subject);
	free(e->body);
	free(e->plan_id);
	free(e->store);
	free(e->serial);
	free(e->operator_name);
	free(e->outcome);
	free(e->kind);
	free(e->run_id);
	for (i = 0; i < e->napproved_by; i++)
		free(e->approved_by[i]);
	free(e->approved_by);
	memset(e, 0, sizeof(*e));
}

void history_log_free(struct history_entry *entries, size_t n)
{
	size_t i;

	if (!entries)
		return;
	for (i = 0; i < n; i++)
		history_entry_free(&entries[i]);
	free(entries);
}

/* A single-valued trailer keeps its first occurrence. */
static void set_trailer(char **slot, const char *value)
{
	if (!*slot)
		*slot = xstrdup(value);
}

/* Fills e from commit c (e is zeroed by the caller). */
static int fill_entry(struct history_entry *e, git_commit *c, struct cms_error *err)
{
	git_message_trailer_array trailers = { NULL, 0, NULL };
	const char *summary, *body, *message;
	size_t i, alloc = 0;
	int rc = 0;

	git_oid_tostr(e->commit, sizeof(e->commit), git_commit_id(c));
	e->time = (int64_t)git_commit_time(c);
	summary = git_commit_summary(c);
	if (!summary) {
		rc = git_fail(err, CMS_ERROR, "cannot read the message of history commit %s",
			      e->commit);
		goto done;
	}
	body = git_commit_body(c);
	e->subject = xstrdup(summary);
	e->body = xstrdup(body ? body : "");
	/* Every subject starts with "<store>: ". */
	if (strstr(summary, ": "))
		e->store = xstrndup(summary, (size_t)(strstr(summary, ": ") - summary));

	message = git_commit_message(c);
	if (git_message_trailers(&trailers, message ? message : "") < 0) {
		rc = git_fail(err, CMS_ERROR, "cannot parse the trailers of history commit %s",
			      e->commit);
		goto done;
	}
	for (i = 0; i < trailers.count; i++) {
		const char *key = trailers.trailers[i].key, *value = trailers.trailers[i].value;

		if (strcasecmp(key, "Plan-Id") == 0)
			set_trailer(&e->plan_id, value);
		else if (strcasecmp(key, "Store-Serial") == 0)
			set_trailer(&e->serial, value);
		else if (strcasecmp(key, "Operator") == 0)
			set_trailer(&e->operator_name, value);
		else if (strcasecmp(key, "Outcome") == 0)
			set_trailer(&e->outcome, value);
		else if (strcasecmp(key, "Kind") == 0)
			set_trailer(&e->kind, value);
		else if (strcasecmp(key, "Run-Id") == 0)
			set_trailer(&e->run_id, value);
		else if (strcasecmp(key, "Approved-By") == 0)
			*ARRAY_PUSH(e->approved_by, e->napproved_by, alloc) = xstrdup(value);
	}
done:
	git_message_trailer_array_free(&trailers);
	return rc;
}

/* The project convention: a commit of store S has the subject "S: ...". */
static int subject_is_store(const char *subject, const char *store)
{
	size_t n = strlen(store);

	return strncmp(subject, store, n) == 0 && subject[n] == ':' && subject[n + 1] == ' ';
}

/* A walk of the branch from its tip, sorted so; *have_tip 0 (and no
 * walk) when the branch has no commit yet. */
static int walk_from_tip(struct history *h, unsigned int sorting, git_revwalk **walk,
			 int *have_tip, struct cms_error *err)
{
	git_oid tip;
	int rc;

	*walk = NULL;
	if ((rc = read_tip(h, &tip, have_tip, NULL, NULL, err)) < 0 || !*have_tip)
		return rc;
	if (git_revwalk_new(walk, h->repo) < 0 || git_revwalk_sorting(*walk, sorting) < 0 ||
	    git_revwalk_push(*walk, &tip) < 0)
		return git_fail(err, CMS_ERROR, "cannot walk branch '%s' in history repository '%s'",
				h->branch, h->path);
	return 0;
}

int history_log(struct history *h, const char *store, struct history_entry **out, size_t *n,
		struct cms_error *err)
{
	struct history_entry *entries = NULL;
	size_t len = 0, alloc = 0;
	git_revwalk *walk = NULL;
	git_commit *c = NULL;
	git_oid id;
	int rc = 0, grc, have_tip;

	*out = NULL;
	*n = 0;
	if ((rc = walk_from_tip(h, GIT_SORT_TOPOLOGICAL | GIT_SORT_TIME, &walk, &have_tip, err)) < 0 || !have_tip)
		goto done;
	while ((grc = git_revwalk_next(&id, walk)) == 0) {
		struct history_entry *e;
		const char *summary;

		if (git_commit_lookup(&c, h->repo, &id) < 0) {
			rc = git_fail(err, CMS_ERROR, "cannot read a commit of branch '%s' in '%s'",
				      h->branch, h->path);
			goto done;
		}
		summary = git_commit_summary(c);
		if (store && !subject_is_store(summary ? summary : "", store)) {
			git_commit_free(c);
			c = NULL;
			continue;
		}
		e = ARRAY_PUSH(entries, len, alloc);
		if ((rc = fill_entry(e, c, err)) < 0)
			goto done;
		git_commit_free(c);
		c = NULL;
	}
	if (grc != GIT_ITEROVER) {
		rc = git_fail(err, CMS_ERROR, "cannot walk branch '%s' in history repository '%s'",
			      h->branch, h->path);
		goto done;
	}
done:
	git_commit_free(c);
	git_revwalk_free(walk);
	if (rc < 0) {
		history_log_free(entries, len);
	} else {
		*out = entries;
		*n = len;
	}
	return rc;
}

/* Copies a blob out, NUL-terminated. */
static int read_blob(struct history *h, const git_oid *id, const char *what, char **data,
		     size_t *len, struct cms_error *err)
{
	git_blob *blob = NULL;
	git_object_size_t size;
	char *copy;
	int rc = 0;

	if (git_blob_lookup(&blob, h->repo, id) < 0) {
		rc = git_fail(err, CMS_ERROR, "cannot read '%s' from history repository '%s'", what,
			      h->path);
		goto done;
	}
	size = git_blob_rawsize(blob);
	if (size >= (git_object_size_t)SIZE_MAX) {
		rc = cms_error_set(err, CMS_ERROR, "'%s' in history repository '%s' is too large",
				   what, h->path);
		goto done;
	}
	copy = xmalloc((size_t)size + 1);
	memcpy(copy, git_blob_rawcontent(blob), (size_t)size);
	copy[size] = '\0';
	*data = copy;
	*len = (size_t)size;
done:
	git_blob_free(blob);
	return rc;
}

/* Looks up the blob at path at the branch tip: *found is 1 (and *id set),
 * 0 when there is no such file (or path names a folder), -1 when the
 * branch does not exist yet.  Returns 0 or a negative error code. */
static int blob_at_tip(struct history *h, const char *path, git_oid *id, int *found,
		       struct cms_error *err)
{
	git_tree *tree = NULL;
	git_tree_entry *entry = NULL;
	git_oid tip;
	int rc, grc, have_tip;

	*found = 0;
	if ((rc = check_path(path, err)) < 0)
		return rc;
	if ((rc = read_tip(h, &tip, &have_tip, NULL, &tree, err)) < 0)
		goto done;
	if (!have_tip) {
		*found = -1;
		goto done;
	}
	grc = git_tree_entry_bypath(&entry, tree, path);
	if (grc < 0 && grc != GIT_ENOTFOUND) {
		rc = git_fail(err, CMS_ERROR, "cannot look up '%s' in history repository '%s'", path,
			      h->path);
		goto done;
	}
	if (grc == 0 && git_tree_entry_type(entry) == GIT_OBJECT_BLOB) {
		git_oid_cpy(id, git_tree_entry_id(entry));
		*found = 1;
	}
done:
	git_tree_entry_free(entry);
	git_tree_free(tree);
	return rc;
}

int history_read(struct history *h, const char *path, char **data, size_t *len,
		 struct cms_error *err)
{
	git_oid id;
	int rc, found;

	*data = NULL;
	*len = 0;
	if ((rc = blob_at_tip(h, path, &id, &found, err)) < 0)
		return rc;
	if (found < 0)
		return cms_error_set(err, CMS_ENOTFOUND, "no file '%s' in the history: branch '%s' "
				     "does not exist yet", path, h->branch);
	if (!found)
		return cms_error_set(err, CMS_ENOTFOUND, "no file '%s' in the history", path);
	return read_blob(h, &id, path, data, len, err);
}

int history_has_blob(struct history *h, const char *path, const char *blob_id, bool *found,
		     struct cms_error *err)
{
	char hex[GIT_OID_HEXSZ + 1];
	git_oid id;
	int rc, there;

	*found = false;
	if ((rc = blob_at_tip(h, path, &id, &there, err)) < 0)
		return rc;
	if (there == 1) {
		git_oid_tostr(hex, sizeof(hex), &id);
		*found = !strcasecmp(hex, blob_id);
	}
	return 0;
}

/* What history_find_plan has found so far. */
struct plan_match {
	const char *want;        /* lowercase hex, PLAN_ID_MIN..PLAN_ID_LEN chars */
	size_t want_len;
	int found;               /* 0, 1, or 2 for "more than one distinct id" */
	char id[PLAN_ID_LEN + 1]; /* the first matching id */
	char *path;              /* its repository path, owned */
	git_oid blob;            /* its blob */
};

static int is_hex_lower(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return 0;
	return 1;
}

/* Looks at the blobs "<serial>-<id>.json" of <store>/plans/. */
static int scan_plans(struct history *h, git_tree *root, const char *store,
		      struct plan_match *m, struct cms_error *err)
{
	git_tree_entry *dir = NULL;
	git_tree *plans = NULL;
	char *dir_path = xasprintf("%s/plans", store);
	size_t i, count;
	int rc = 0, grc;

	grc = git_tree_entry_bypath(&dir, root, dir_path);
	if (grc == GIT_ENOTFOUND || (grc == 0 && git_tree_entry_type(dir) != GIT_OBJECT_TREE))
		goto done;
	if (grc < 0 || git_tree_lookup(&plans, h->repo, git_tree_entry_id(dir)) < 0) {
		rc = git_fail(err, CMS_ERROR, "cannot read '%s' in history repository '%s'",
			      dir_path, h->path);
		goto done;
	}
	count = git_tree_entrycount(plans);
	for (i = 0; i < count; i++) {
		const git_tree_entry *te = git_tree_entry_byindex(plans, i);
		const char *name = git_tree_entry_name(te), *dash, *id;
		size_t nlen = strlen(name);

		if (git_tree_entry_type(te) != GIT_OBJECT_BLOB || nlen < 5 ||
		    strcmp(name + nlen - 5, ".json") != 0)
			continue;
		dash = strrchr(name, '-');
		if (!dash)
			continue;
		id = dash + 1;
		if ((size_t)(name + nlen - 5 - id) != PLAN_ID_LEN || !is_hex_lower(id, PLAN_ID_LEN) ||
		    strncmp(id, m->want, m->want_len) != 0)
			continue;
		if (!m->found) {
			memcpy(m->id, id, PLAN_ID_LEN);
			m->id[PLAN_ID_LEN] = '\0';
			m->path = xasprintf("%s/%s", dir_path, name);
			git_oid_cpy(&m->blob, git_tree_entry_id(te));
			m->found = 1;
		} else if (strncmp(m->id, id, PLAN_ID_LEN) != 0) {
			m->found = 2;
		}
	}
done:
	git_tree_free(plans);
	git_tree_entry_free(dir);
	free(dir_path);
	return rc;
}

int history_find_plan(struct history *h, const char *plan_id, char **data, size_t *len,
		      struct cms_error *err)
{
	struct plan_match m;
	git_tree *root = NULL;
	char want[PLAN_ID_LEN + 1];
	git_oid tip;
	size_t i, n, count;
	int rc = 0, have_tip;

	*data = NULL;
	*len = 0;
	memset(&m, 0, sizeof(m));
	n = plan_id ? strlen(plan_id) : 0;
	if (n < PLAN_ID_MIN || n > PLAN_ID_LEN)
		return cms_error_set(err, CMS_ERROR,
				     "invalid plan id '%s': expected %d to %d hex digits",
				     plan_id ? plan_id : "", PLAN_ID_MIN, PLAN_ID_LEN);
	for (i = 0; i < n; i++)
		want[i] = (plan_id[i] >= 'A' && plan_id[i] <= 'F') ? (char)(plan_id[i] - 'A' + 'a')
								    : plan_id[i];
	want[n] = '\0';
	if (!is_hex_lower(want, n))
		return cms_error_set(err, CMS_ERROR,
				     "invalid plan id '%s': expected %d to %d hex digits", plan_id,
				     PLAN_ID_MIN, PLAN_ID_LEN);
	m.want = want;
	m.want_len = n;

	if ((rc = read_tip(h, &tip, &have_tip, NULL, &root, err)) < 0)
		goto done;
	count = have_tip ? git_tree_entrycount(root) : 0;
	for (i = 0; i < count && m.found < 2; i++) {
		const git_tree_entry *te = git_tree_entry_byindex(root, i);

		if (git_tree_entry_type(te) != GIT_OBJECT_TREE)
			continue;
		if ((rc = scan_plans(h, root, git_tree_entry_name(te), &m, err)) < 0)
			goto done;
	}
	if (m.found == 0) {
		rc = cms_error_set(err, CMS_ENOTFOUND, "no plan '%s' in the history", plan_id);
		goto done;
	}
	if (m.found > 1) {
		rc = cms_error_set(err, CMS_ERROR, "plan id '%s' is ambiguous", plan_id);
		cms_error_hint(err, "give more hex digits of the plan id");
		goto done;
	}
	rc = read_blob(h, &m.blob, m.path, data, len, err);
done:
	free(m.path);
	git_tree_free(root);
	return rc;
}

int history_list_dir(struct history *h, const char *dir, struct cms_strv *names,
		     struct cms_error *err)
{
	git_tree *root = NULL, *sub = NULL;
	git_tree_entry *entry = NULL;
	size_t i, count;
	git_oid tip;
	int rc = 0, grc, have_tip;

	if (*dir && (rc = check_path(dir, err)) < 0)
		goto done;
	if ((rc = read_tip(h, &tip, &have_tip, NULL, &root, err)) < 0 || !have_tip)
		goto done;
	if (!*dir) { /* the root folder */
		sub = root;
		root = NULL;
		goto list;
	}
	grc = git_tree_entry_bypath(&entry, root, dir);
	if (grc == GIT_ENOTFOUND || (grc == 0 && git_tree_entry_type(entry) != GIT_OBJECT_TREE))
		goto done;
	if (grc < 0 || git_tree_lookup(&sub, h->repo, git_tree_entry_id(entry)) < 0) {
		rc = git_fail(err, CMS_ERROR, "cannot read '%s' in history repository '%s'", dir,
			      h->path);
		goto done;
	}
list:
	count = git_tree_entrycount(sub);
	for (i = 0; i < count; i++) {
		const git_tree_entry *te = git_tree_entry_byindex(sub, i);

		if (git_tree_entry_type(te) == GIT_OBJECT_BLOB)
			cms_strv_add(names, git_tree_entry_name(te));
		else if (git_tree_entry_type(te) == GIT_OBJECT_TREE)
			cms_strv_addf(names, "%s/", git_tree_entry_name(te));
	}
done:
	git_tree_free(sub);
	git_tree_entry_free(entry);
	git_tree_free(root);
	return rc;
}

/* Creates, fills (64 KiB, synced) and removes a file in dir: what a
 * commit needs there, on a read-only or full file system it fails. */
static int probe_dir(const char *dir, struct cms_error *err)
{
	static const char zeros[4096];
	char *path = xasprintf("%s/.cmsctl-probe-XXXXXX", dir);
	int fd = mkstemp(path), rc = 0, i;

	if (fd < 0) {
		rc = cms_error_set(err, CMS_EREFUSED, "cannot create a file in '%s': %s", dir,
				   strerror(errno));
		goto done;
	}
	for (i = 0; i < 16 && rc == 0; i++)
		if (write(fd, zeros, sizeof(zeros)) != (ssize_t)sizeof(zeros))
			rc = cms_error_set(err, CMS_EREFUSED, "cannot write a file in '%s': %s", dir,
					   strerror(errno ? errno : ENOSPC));
	if (rc == 0 && fsync(fd) < 0)
		rc = cms_error_set(err, CMS_EREFUSED, "cannot sync a file in '%s': %s", dir,
				   strerror(errno));
	close(fd);
	unlink(path);
done:
	free(path);
	return rc;
}

int history_check_writable(struct history *h, struct cms_error *err)
{
	const char *gitdir = git_repository_path(h->repo);
	char *objects = xasprintf("%sobjects", gitdir), *refs = xasprintf("%srefs/heads", gitdir);
	int rc;

	if ((rc = probe_dir(objects, err)) == 0)
		rc = probe_dir(refs, err);
	if (rc < 0) {
		cms_error_prefix(err, "history repository '%s' cannot be written", h->path);
		cms_error_hint(err, "nothing was changed; make the history writable (or free space "
			       "on its file system) and run again");
	}
	free(objects);
	free(refs);
	return rc;
}

int history_tip(struct history *h, char out[41], struct cms_error *err)
{
	git_oid tip;
	int rc, have_tip;

	out[0] = '\0';
	if ((rc = read_tip(h, &tip, &have_tip, NULL, NULL, err)) < 0)
		return rc;
	if (!have_tip)
		return cms_error_set(err, CMS_ENOTFOUND, "history branch '%s' does not exist yet",
				     h->branch);
	git_oid_tostr(out, 41, &tip);
	return 0;
}

int history_descends_from(struct history *h, const char *commit_id, bool *out,
			  struct cms_error *err)
{
	git_oid tip, old;
	git_commit *c = NULL;
	int rc, have_tip, grc;

	*out = false;
	if ((rc = read_tip(h, &tip, &have_tip, NULL, NULL, err)) < 0)
		return rc;
	if (!have_tip || git_oid_fromstr(&old, commit_id) < 0)
		return 0;
	if (git_commit_lookup(&c, h->repo, &old) < 0)
		return 0; /* not even in the repository any more */
	git_commit_free(c);
	if (git_oid_equal(&tip, &old)) {
		*out = true;
		return 0;
	}
	grc = git_graph_descendant_of(h->repo, &tip, &old);
	if (grc < 0)
		return git_fail(err, CMS_ERROR, "cannot compare commits in history repository '%s'",
				h->path);
	*out = grc == 1;
	return 0;
}

void history_versions_free(struct history_version *v, size_t n)
{
	size_t i;

	if (!v)
		return;
	for (i = 0; i < n; i++)
		free(v[i].data);
	free(v);
}

int history_versions(struct history *h, const char *path, struct history_version **out,
		     size_t *n, struct cms_error *err)
{
	struct history_version *v = NULL;
	size_t len = 0, alloc = 0;
	git_revwalk *walk = NULL;
	git_commit *c = NULL;
	git_tree *tree = NULL;
	git_tree_entry *entry = NULL;
	git_oid id, last;
	int rc = 0, grc, have_tip, have_last = 0;

	*out = NULL;
	*n = 0;
	if ((rc = check_path(path, err)) < 0)
		goto done;
	if ((rc = walk_from_tip(h, GIT_SORT_TOPOLOGICAL | GIT_SORT_REVERSE, &walk, &have_tip, err)) < 0 || !have_tip)
		goto done;
	while ((grc = git_revwalk_next(&id, walk)) == 0) {
		if (git_commit_lookup(&c, h->repo, &id) < 0 || git_commit_tree(&tree, c) < 0) {
			rc = git_fail(err, CMS_ERROR, "cannot read a commit of branch '%s' in '%s'",
				      h->branch, h->path);
			goto done;
		}
		grc = git_tree_entry_bypath(&entry, tree, path);
		if (grc == 0 && git_tree_entry_type(entry) == GIT_OBJECT_BLOB &&
		    (!have_last || !git_oid_equal(&last, git_tree_entry_id(entry)))) {
			struct history_version *hv = ARRAY_PUSH(v, len, alloc);

			memset(hv, 0, sizeof(*hv));
			git_oid_tostr(hv->commit, sizeof(hv->commit), &id);
			git_oid_cpy(&last, git_tree_entry_id(entry));
			have_last = 1;
			if ((rc = read_blob(h, &last, path, &hv->data, &hv->len, err)) < 0)
				goto done;
		}
		git_tree_entry_free(entry);
		entry = NULL;
		git_tree_free(tree);
		tree = NULL;
		git_commit_free(c);
		c = NULL;
	}
	if (grc != GIT_ITEROVER) {
		rc = git_fail(err, CMS_ERROR, "cannot walk branch '%s' in history repository '%s'",
			      h->branch, h->path);
		goto done;
	}
done:
	git_tree_entry_free(entry);
	git_tree_free(tree);
	git_commit_free(c);
	git_revwalk_free(walk);
	if (rc < 0) {
		history_versions_free(v, len);
	} else {
		*out = v;
		*n = len;
	}
	return rc;
}

void history_changes_free(struct history_change *c, size_t n)
{
	size_t i;

	if (!c)
		return;
	for (i = 0; i < n; i++) {
		free(c[i].path);
		free(c[i].run_id);
	}
	free(c);
}

/* The changes commit c made to files of its first parent, onto *out. */
static int commit_changes(struct history *h, git_commit *c, struct history_change **out,
			  size_t *len, size_t *alloc, struct cms_error *err)
{
	struct history_entry e;
	git_commit *parent = NULL;
	git_tree *tree = NULL, *ptree = NULL;
	git_diff *diff = NULL;
	size_t i, nd;
	int rc = 0;

	memset(&e, 0, sizeof(e));
	if (git_commit_parentcount(c) == 0)
		return 0; /* the first commit only adds */
	if (git_commit_tree(&tree, c) < 0 || git_commit_parent(&parent, c, 0) < 0 ||
	    git_commit_tree(&ptree, parent) < 0 ||
	    git_diff_tree_to_tree(&diff, h->repo, ptree, tree, NULL) < 0) {
		rc = git_fail(err, CMS_ERROR, "cannot compare a commit of branch '%s' in '%s' with "
			      "its parent", h->branch, h->path);
		goto done;
	}
	nd = git_diff_num_deltas(diff);
	for (i = 0; i < nd; i++) {
		const git_diff_delta *d = git_diff_get_delta(diff, i);
		struct history_change *hc;

		if (d->status == GIT_DELTA_ADDED)
			continue;
		if (!e.commit[0] && (rc = fill_entry(&e, c, err)) < 0)
			goto done;
		hc = ARRAY_PUSH(*out, *len, *alloc);
		memcpy(hc->commit, e.commit, sizeof(hc->commit));
		hc->path = xstrdup(d->old_file.path);
		hc->removed = d->status == GIT_DELTA_DELETED;
		hc->run_id = e.run_id ? xstrdup(e.run_id) : NULL;
	}
done:
	history_entry_free(&e);
	git_diff_free(diff);
	git_tree_free(ptree);
	git_tree_free(tree);
	git_commit_free(parent);
	return rc;
}

int history_changes(struct history *h, struct history_change **out, size_t *n,
		    struct cms_error *err)
{
	struct history_change *v = NULL;
	size_t len = 0, alloc = 0;
	git_revwalk *walk = NULL;
	git_commit *c = NULL;
	git_oid id;
	int rc = 0, grc, have_tip;

	*out = NULL;
	*n = 0;
	if ((rc = walk_from_tip(h, GIT_SORT_TOPOLOGICAL | GIT_SORT_REVERSE, &walk, &have_tip, err)) < 0 || !have_tip)
		goto done;
	while ((grc = git_revwalk_next(&id, walk)) == 0) {
		if (git_commit_lookup(&c, h->repo, &id) < 0) {
			rc = git_fail(err, CMS_ERROR, "cannot read a commit of branch '%s' in '%s'",
				      h->branch, h->path);
			goto done;
		}
		if ((rc = commit_changes(h, c, &v, &len, &alloc, err)) < 0)
			goto done;
		git_commit_free(c);
		c = NULL;
	}
	if (grc != GIT_ITEROVER) {
		rc = git_fail(err, CMS_ERROR, "cannot walk branch '%s' in history repository '%s'",
			      h->branch, h->path);
		goto done;
	}
done:
	git_commit_free(c);
	git_revwalk_free(walk);
	if (rc < 0) {
		history_changes_free(v, len);
	} else {
		*out = v;
		*n = len;
	}
	return rc;
}

void history_blob_id(const void *data, size_t len, char out[41])
{
	/* git's blob id, computed here: libgit2's initialisation (it reads the
	 * system's CA bundle) is for commands that open the history. */
	static const char hex[] = "0123456789abcdef";
	struct cms_sha1 c;
	unsigned char md[20];
	char header[32];
	int n, i;

	n = snprintf(header, sizeof(header), "blob %zu", len);
	cms_sha1_init(&c);
	cms_sha1_update(&c, header, (size_t)n + 1);
	if (len)
		cms_sha1_update(&c, data, len);
	cms_sha1_final(&c, md);
	for (i = 0; i < 20; i++) {
		out[2 * i] = hex[md[i] >> 4];
		out[2 * i + 1] = hex[md[i] & 15];
	}
	out[40] = '\0';
}

/* --- layout and trailers -------------------------------------------------- */

char *history_path_plan(const char *store, int64_t serial, const char *plan_id, const char *ext)
{
	return xasprintf("%s/plans/%" PRId64 "-%s.%s", store, serial, plan_id, ext);
}

char *history_path_approvals(const char *store, const char *plan_id)
{
	return plan_id ? xasprintf("%s/approvals/%s", store, plan_id)
		       : xasprintf("%s/approvals", store);
}

char *history_path_approval(const char *store, const char *plan_id, const char *file_name)
{
	return xasprintf("%s/approvals/%s/%s", store, plan_id, file_name);
}

char *history_path_report(const char *store, const char *run_id, const char *ext)
{
	return xasprintf("%s/runs/%s/report.%s", store, run_id, ext);
}

char *history_path_location(const char *store)
{
	return xasprintf("%s/location.json", store);
}

void history_add_trailers(struct buf *msg, const struct history_trailers *t)
{
	size_t i;

	if (t->plan_id)
		buf_addf(msg, "Plan-Id: %s\n", t->plan_id);
	if (t->has_serial)
		buf_addf(msg, "Store-Serial: %" PRId64 "\n", t->serial);
	if (t->operator_name)
		buf_addf(msg, "Operator: %s\n", t->operator_name);
	if (t->outcome)
		buf_addf(msg, "Outcome: %s\n", t->outcome);
	if (t->kind)
		buf_addf(msg, "Kind: %s\n", t->kind);
	if (t->run_id)
		buf_addf(msg, "Run-Id: %s\n", t->run_id);
	if (t->recorded_from)
		buf_addf(msg, "Recorded-From: %s\n", t->recorded_from);
	for (i = 0; i < t->napproved_by; i++)
		buf_addf(msg, "Approved-By: %s\n", t->approved_by[i]);
	if (t->signed_)
		buf_addf(msg, "Signed: %s\n", t->signed_);
	if (t->assume_down)
		buf_addf(msg, "Assumed-Down: %s\nAssumed-Down-Reason: %s\n", t->assume_down,
			 t->assume_down_reason ? t->assume_down_reason : "");
	if (t->reason)
		buf_addf(msg, "Reason: %s\n", t->reason);
	if (t->ticket)
		buf_addf(msg, "Ticket: %s\n", t->ticket);
}
