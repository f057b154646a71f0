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

#include "common/error.h"

#include <stddef.h>
#include <stdint.h>

struct history;

struct history_file {
	const char *path;  /* repository path, e.g. "redmond/location.json" */
	const void *data;
	size_t len;
};

/* Opens the repository at path (bare or not), creating a bare one when
 * absent.  branch NULL means "cms-history". */
int history_open(struct history **out, const char *path, const char *branch,
		 struct cms_error *err);
void history_close(struct history *h);

/* Adds or replaces files on top of the branch tip and commits with message
 * (subject line, blank line, body ending with trailers).  The ref update is
 * compare-and-swap, retried when another process committed meanwhile.
 * Author and committer: the operator, at time now.  *commit_id_out (40 hex
 * chars + NUL) may be NULL. */
int history_commit(struct history *h, const struct history_file *files, size_t nfiles,
		   const char *message, const char *operator_name, int64_t now,
		   char commit_id_out[41], struct cms_error *err);

/* One commit of the branch, newest first. */
struct history_entry {
	char commit[41];
	int64_t time;
	char *subject;
	char *body;     /* without the subject */
	char *plan_id, *store, *serial, *operator_name, *outcome, *kind; /* trailers or NULL */
	char **approved_by;
	size_t napproved_by;
};
void history_entry_free(struct history_entry *e);

/* Walks the branch newest first; store NULL means all.  An absent branch is
 * an empty list. */
int history_log(struct history *h, const char *store, struct history_entry **out, size_t *n,
		struct cms_error *err);

/* Reads a file at the branch tip (CMS_ENOTFOUND when absent); finds a plan
 * file by id: the blob whose id is plan_id under <store>/plans/. */
int history_read(struct history *h, const char *path, char **data, size_t *len,
		 struct cms_error *err);
int history_find_plan(struct history *h, const char *plan_id, char **data, size_t *len,
		      struct cms_error *err);

/* The git blob id (40 hex + NUL) of data: what plan ids are. */
void history_blob_id(const void *data, size_t len, char out[41]);

#endif
