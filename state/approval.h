/*
 * Signed approvals.  A reviewer approves exactly one plan id by signing it
 * with an SSH key, the mechanism git uses for SSH commit signing:
 * `ssh-keygen -Y sign -n cmsctl-approval` over the 40-character plan id and
 * a newline.  The approval lives in the history as
 *   <store>/approvals/<plan-id>/<principal>.json
 *     {"plan_id": ..., "principal": ..., "approved_at": ..., "signature": ...|null}
 * and is checked with `ssh-keygen -Y verify` against the store's
 * allowed-signers file (git's gpg.ssh.allowedSignersFile format), so anyone
 * can re-check it with plain git and ssh-keygen.
 */
#ifndef CMS_STATE_APPROVAL_H
#define CMS_STATE_APPROVAL_H

#include "common/error.h"

#include <stdbool.h>
#include <stddef.h>

struct history;
struct state;

#define APPROVAL_NAMESPACE "cmsctl-approval"

/* How a store counts approvals. */
struct approval_policy {
	const char *author;          /* the plan's author: never counts */
	const char *allowed_signers; /* path of the allowed-signers file, or NULL */
	bool signed_required;        /* policy.signed_approvals (default true) */
};

/* One approval of a plan, as recorded, with the verdict on it. */
struct approval {
	char *principal;  /* the name approved as (--as), the one the signature is checked for */
	char *signature;  /* armored SSH signature, or NULL when unsigned */
	char *approved_at; /* RFC 3339, or NULL (an approval only the state knows) */
	bool counted;     /* counts towards policy.approvals */
	char *why_not;    /* when not counted: why, e.g. "the plan's author" */
	bool invalid;     /* a malformed record or a signature that does not verify */
};
void approval_list_free(struct approval *a, size_t n); /* each and the array; accepts NULL */

/* The history path of principal's approval of plan_id (caller frees):
 * characters outside [A-Za-z0-9._@+-] become '_' in the file name. */
char *approval_path(const char *store, const char *plan_id, const char *principal);

/* The approval document stored at approval_path (JSON, one object). */
int approval_doc(const char *plan_id, const char *principal, const char *approved_at,
		 const char *signature, char **out, struct cms_error *err);

/* Signs plan_id with the SSH private key at key_path (or the public key of
 * a key held by ssh-agent): *sig_out is the armored signature (caller
 * frees).  ssh-keygen's own complaint is in the message on failure. */
int approval_sign(const char *key_path, const char *plan_id, char **sig_out,
		  struct cms_error *err);

/* Checks sig over plan_id for principal against allowed_signers.  Returns
 * 1 when it verifies, 0 when it does not (*why_not says why: the signature
 * does not match the plan, the key is not in the file, or the key belongs
 * to someone else), negative when ssh-keygen cannot be run. */
int approval_verify(const char *allowed_signers, const char *principal, const char *plan_id,
		    const char *sig, char **why_not, struct cms_error *err);

/* Every approval of plan_id recorded in the history (and, when sdb is not
 * NULL, the unsigned ones only the state knows), sorted by principal and
 * judged under pol. */
int approval_list(struct history *h, struct state *sdb, const char *store, const char *plan_id,
		  const struct approval_policy *pol, struct approval **out, size_t *n,
		  struct cms_error *err);

/* The verdict on one approval, a pure function of what is recorded and the
 * result of the signature check (verified: 1 verified, 0 not, -1 not
 * checked because there is no signature or no allowed-signers file).
 * Sets a->counted and a->why_not. */
void approval_judge(struct approval *a, const struct approval_policy *pol, int verified,
		    const char *verify_why);

#endif
