/*
 * The audit history: a git repository whose branch (default cms-history)
 * receives commits made with a tree builder, never touching an index or a
 * working tree, so the history can live inside the operator's own
 * repository and leave it clean.  Layout (DESIGN.md section 7):
 *   <store>/plans/<serial>-<planid>.json and .txt
 *   <store>/runs/<run-id>/report.json and report.html
 *   <store>/location.json
 */
#ifndef CMS_STATE_HISTORY_H
#define CMS_STATE_HISTORY_H

#include "common/buf.h"
#include "common/error.h"
#include "common/strv.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct history;

struct history_file {
	const char *path;  /* repository path, e.g. "redmond/location.json" */
	const void *data;
	size_t len;
};

/* The layout of the history, defined here once: every path a commit
 * writes or a reader looks for (callers free the strings).
 *   STORE/plans/SERIAL-ID.json, .txt     a plan and its text
 *   STORE/approvals/ID/PRINCIPAL.json    an approval
 *   STORE/runs/RUN/report.json, .html    a run's report
 *   STORE/location.json                  the location after the last move */
char *history_path_plan(const char *store, int64_t serial, const char *plan_id, const char *ext);
char *history_path_approvals(const char *store, const char *plan_id); /* NULL: every plan's */
char *history_path_approval(const char *store, const char *plan_id, const char *file_name);
char *history_path_report(const char *store, const char *run_id, const char *ext);
char *history_path_location(const char *store);

/* The trailers of a history commit, written in one order by
 * history_add_trailers() and read back by history_log() (struct
 * history_entry).  NULL (or has_serial false, no approvals) leaves a
 * trailer out. */
struct history_trailers {
	const char *plan_id;       /* Plan-Id */
	bool has_serial;
	int64_t serial;            /* Store-Serial */
	const char *operator_name; /* Operator */
	const char *outcome;       /* Outcome */
	const char *kind;          /* Kind: plan, approve, apply, restore, unlock */
	const char *run_id;        /* Run-Id */
	const char *recorded_from; /* Recorded-From: journal */
	char *const *approved_by;  /* Approved-By, one each */
	size_t napproved_by;
	const char *signed_;       /* Signed: yes/no (approvals) */
	const char *assume_down;   /* Assumed-Down, with Assumed-Down-Reason */
	const char *assume_down_reason;
	const char *reason;        /* Reason */
	const char *ticket;        /* Ticket */
};
void history_add_trailers(struct buf *msg, const struct history_trailers *t);

/* Opens the repository at path (bare or not), creating a bare one when
 * absent.  branch NULL means "cms-history".
 * - path itself must be the repository (its work tree or git directory):
 *   it is never searched for upwards, so a folder inside someone's work tree
 *   does not silently become that repository;
 * - an absent path (its parent must exist) or an empty directory becomes a
 *   bare repository (mode 0700 when created) whose HEAD names the branch and
 *   whose ref updates are logged; a file or a non-empty directory that is not
 *   a repository is an error;
 * - a branch checked out in the repository's work tree is refused: moving it
 *   would make the checkout look modified.
 * libgit2 is initialised here, once per process (history_git_init);
 * fsync of objects and refs is enabled (a process-wide libgit2 option). */
int history_open(struct history **out, const char *path, const char *branch,
		 struct cms_error *err);
void history_close(struct history *h);
/* Loads and initialises libgit2 for the rest of the process (once;
 * history_open does it): 0, or CMS_ERROR when it cannot be loaded or
 * started. */
int history_git_init(struct cms_error *err);
/* Starts loading and initialising libgit2 on a thread of its own (some
 * 20 ms: the library, what it brings, the CA bundle), for a command that
 * will need it, while it reads its config and state; the first
 * history_git_init() waits for it and reports what it found.  Nothing
 * else may call libgit2 before that. */
void history_git_init_early(void);
/* Waits for history_git_init_early's thread, if one runs: before the
 * process exits (main), so that no library's exit cleanup runs under it. */
void history_git_init_join(void);

/* Adds or replaces files on top of the branch tip and commits with message
 * (subject line, blank line, body ending with trailers).  The ref update is
 * compare-and-swap, retried when another process committed meanwhile.
 * Author and committer: the operator, at time now.  *commit_id_out (40 hex
 * chars + NUL) may be NULL.
 * Details: nfiles may be 0 (a commit that only records its message, e.g. an
 * approval); paths are relative, without empty, ".", ".." or ".git"
 * components, each at most once.  The operator "user@host" is both name and
 * e-mail; a name without '@' gets the e-mail "<name>@cmsctl".  The time zone
 * is UTC.  The reflog message is "cmsctl: <subject>".  At most 50 attempts
 * are made when the branch keeps moving or its lock is held; then it is an
 * error (CMS_ELOCKED when the lock stayed held, e.g. a stale lock file left
 * by a killed process; the message names it).  On any error the branch is
 * where it was. */
int history_commit(struct history *h, const struct history_file *files, size_t nfiles,
		   const char *message, const char *operator_name, int64_t now,
		   char commit_id_out[41], struct cms_error *err);
/* history_commit(), made only when the tip it would be made on lacks the
 * path absent (looked at under the writer lock, on each attempt): else
 * HISTORY_PRESENT and no commit (a run's report that another process
 * recorded meanwhile). */
#define HISTORY_PRESENT 2
int history_commit_absent(struct history *h, const char *absent, const struct history_file *files,
			  size_t nfiles, const char *message, const char *operator_name,
			  int64_t now, char commit_id_out[41], struct cms_error *err);

/* One commit of the branch, newest first. */
struct history_entry {
	char commit[41];
	int64_t time;
	char *subject;
	char *body;     /* without the subject */
	char *store;    /* from the subject ("<store>: ..."), or NULL */
	char *plan_id, *serial, *operator_name, *outcome, *kind; /* trailers or NULL */
	char *run_id;   /* Run-Id trailer or NULL */
	char **approved_by;
	size_t napproved_by;
};
/* Frees the content of one entry (not the entry itself) and clears it;
 * accepts NULL. */
void history_entry_free(struct history_entry *e);
/* Frees an array returned by history_log: each entry, then the array;
 * accepts NULL. */
void history_log_free(struct history_entry *entries, size_t n);

/* Walks the branch newest first; store NULL means all.  An absent branch is
 * an empty list (*out NULL, *n 0).  Free with history_log_free().
 * Convention: a commit belongs to store S when its subject starts with
 * "S: " (e.g. "redmond: apply switchover pool-a -> pool-b: ok"); that is
 * what the store filter checks, so every writer must follow it.  body is
 * never NULL ("" when the message is only a subject).  Trailers are
 * matched case-insensitively; a single-valued one keeps its first
 * occurrence, Approved-By keeps all. */
int history_log(struct history *h, const char *store, struct history_entry **out, size_t *n,
		struct cms_error *err);

/* Reads a file at the branch tip (CMS_ENOTFOUND when absent); finds a plan
 * file by id: the blob whose id is plan_id under <store>/plans/.
 * *data is the caller's, with a NUL after its *len bytes.
 * history_find_plan matches the file names "<serial>-<id>.json" of every
 * <store>/plans/ at the tip (it does not re-hash the bytes: checking them
 * against the id is the caller's job); plan_id may be abbreviated to 7 or
 * more hex digits when that is unique ("plan id 'X' is ambiguous"
 * otherwise); CMS_ENOTFOUND "no plan 'X' in the history" when absent. */
int history_read(struct history *h, const char *path, char **data, size_t *len,
		 struct cms_error *err);
int history_find_plan(struct history *h, const char *plan_id, char **data, size_t *len,
		      struct cms_error *err);

/* Whether the file at path at the branch tip is the blob blob_id (40 hex
 * digits): *found.  No file there, or another content: false. */
int history_has_blob(struct history *h, const char *path, const char *blob_id, bool *found,
		     struct cms_error *err);

/* The names of the files (blobs) directly in folder dir at the branch
 * tip ("" is the root), sorted, folders among them with a trailing '/', into
 * *names (empty at the call; the caller frees it); an absent folder or
 * branch is an empty list. */
int history_list_dir(struct history *h, const char *dir, struct cms_strv *names,
		     struct cms_error *err);

/* Checks, before a run changes anything, that a commit could be recorded:
 * a file can be created, filled and synced in the repository's objects/
 * and refs/heads/ (a read-only or full file system fails).  CMS_EREFUSED
 * naming the folder otherwise. */
int history_check_writable(struct history *h, struct cms_error *err);

/* The branch tip (40 hex + NUL); CMS_ENOTFOUND when the branch does not
 * exist yet. */
int history_tip(struct history *h, char out[41], struct cms_error *err);
/* *out: the branch tip is commit_id or one of its descendants (false too
 * when commit_id is not in the repository at all). */
int history_descends_from(struct history *h, const char *commit_id, bool *out,
			  struct cms_error *err);

/* Each content path had along the branch, oldest first: one entry per
 * commit that changed it (a path deleted and re-added counts again only
 * when its bytes differ). */
struct history_version {
	char commit[41];
	char *data; /* NUL-terminated after len bytes */
	size_t len;
};
int history_versions(struct history *h, const char *path, struct history_version **out,
		     size_t *n, struct cms_error *err);
void history_versions_free(struct history_version *v, size_t n);

/* A change a commit of the branch made to a file an earlier commit wrote
 * (its bytes or type changed, or it was removed), oldest first; added
 * files are not listed.  A merge is compared with its first parent. */
struct history_change {
	char commit[41];
	char *path;
	bool removed;
	char *run_id; /* the commit's Run-Id trailer, or NULL */
};
int history_changes(struct history *h, struct history_change **out, size_t *n,
		    struct cms_error *err);
void history_changes_free(struct history_change *c, size_t n);

/* The git blob id (40 hex + NUL) of data: what plan ids are, the same as
 * `git hash-object FILE`.  Only if libgit2 cannot initialise is it the
 * null id (forty '0'), which matches no plan. */
void history_blob_id(const void *data, size_t len, char out[41]);

/* The shared history (history_remote.c): the branch kept level with a git
 * remote, so several machines write one record.  These open the
 * repository at repo_path themselves; branch NULL means "cms-history". */
struct history_remote {
	const char *url;     /* a path, file://, ssh:// or https:// URL */
	const char *ssh_key; /* private key file for ssh, or NULL: the ssh-agent */
	/* Or NULL: told, once the local branch has moved, of each local
	 * commit rebuilt on the remote's tip (old id, its new id; a commit
	 * dropped because the remote holds its run: the remote's tip). */
	void (*rebuilt)(void *arg, const char *old_id, const char *new_id);
	void *rebuilt_arg; /* also warn's */
	/* Or NULL: told of a remote reset back to an older commit of its
	 * branch (commits it lost, which the push sends again). */
	void (*warn)(void *arg, const char *message);
};
/* Fetches the remote branch (into refs/remotes/cmsctl/<branch>) and brings
 * the local branch level: fast-forward, or the local commits the remote
 * lacks rebuilt on its tip (same tree change, message and signatures).
 * An unreachable remote is an error and changes nothing local. */
int history_remote_sync(const char *repo_path, const char *branch,
			const struct history_remote *cfg, struct cms_error *err);
/* Syncs, then pushes the local branch without force; a rejection (the
 * remote moved meanwhile) syncs and retries, at most 10 times.  *pushed is
 * how many commits the remote lacked (0: it was level). */
int history_remote_push(const char *repo_path, const char *branch,
			const struct history_remote *cfg, size_t *pushed, struct cms_error *err);
/* Connects to the remote as a push would (its receive side, with the
 * configured credentials) and disconnects, changing nothing: whether a
 * history commit made now could reach it.  CMS_EREFUSED when it cannot
 * be reached, with the transport's reason. */
int history_remote_check(const char *repo_path, const struct history_remote *cfg,
			 struct cms_error *err);
/* How far the local branch is ahead of and behind what was last seen of
 * the remote (no network). */
int history_remote_ahead(const char *repo_path, const char *branch,
			 const struct history_remote *cfg, size_t *ahead, size_t *behind,
			 struct cms_error *err);

#endif
