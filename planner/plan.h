/*
 * Plans: the diff of desired (config) x recorded (state) x observed (probe),
 * its deterministic JSON form, its id, and its human rendering.
 *
 * A plan is a value: planner_diff() is a pure function of its inputs (the
 * clock and the author are inputs too), plan_to_json() gives the same bytes
 * for the same plan (sorted keys, fixed indentation, no floating point), and
 * the plan id is the git blob id of those bytes, so the id in a review, in
 * the history and in the state is one and the same.
 */
#ifndef CMS_PLANNER_PLAN_H
#define CMS_PLANNER_PLAN_H

#include "common/buf.h"
#include "common/error.h"
#include "common/strv.h"
#include "planner/model.h"
#include "planner/observe.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PLAN_FORMAT_VERSION 1

enum plan_mode {
	PLAN_NONE,              /* nothing to change */
	PLAN_ADOPT,             /* record what is observed; no server is changed */
	PLAN_SWITCHOVER,        /* to a mirror, old primary healthy: no data loss */
	PLAN_FAILOVER,          /* to a mirror, old primary unreachable: may lose data */
	PLAN_DISASTER_RECOVERY, /* to a backup: may lose data */
};

enum plan_action {
	ACTION_RECORD,       /* record the location in the state (adopt) */
	ACTION_CHECK_TARGET,
	ACTION_FENCE,
	ACTION_CATCH_UP,
	ACTION_PROMOTE,
	ACTION_REREAD_ROLES,
	ACTION_DEMOTE,
	ACTION_PUBLISH,
	ACTION_VERIFY,
	ACTION_COUNT
};

struct plan_step {
	int n;                 /* 1-based order */
	enum plan_action action;
	char *server;          /* the server acted on, or NULL */
	char *description;     /* one line for people */
	struct cms_strv checks; /* what the step verifies, in order */
};

/* How a move keeps its old primary from taking writes. */
enum plan_fence_via {
	FENCE_VIA_NONE,     /* nothing to fence (adopt, none), or the operator attests it is down */
	FENCE_VIA_DATABASE, /* through its database: it answers */
	FENCE_VIA_TARGETS,  /* through its fence targets, from outside: it does not answer */
};

struct plan_fence {
	char *server;          /* the old primary, or NULL when the plan fences nothing */
	enum plan_fence_via via;
	struct cms_strv targets; /* via targets: each target described, in the order tried */
	char *note;            /* NULL, or why a database fence sends nothing on this engine */
};

struct plan_location {
	char *primary;         /* NULL when unknown (adopt's "from") */
	char *mirror;
};

struct plan {
	int format_version;
	char *store;
	enum engine_kind engine;
	struct cms_strv databases;
	enum plan_mode mode;
	struct plan_location from, to;
	char *lineage;         /* "" for a store never adopted */
	int64_t serial;        /* the recorded serial it was made against */
	char *after_run;       /* the store's newest run when it was made, or NULL: a plan
				* made again after a rolled-back run is a new plan */
	bool offline;          /* made without probing: for review only, apply refuses it */
	struct observation obs;
	struct policy policy;
	struct plan_fence fence;
	char *assume_down;     /* the server the operator attests is down, or NULL */
	char *assume_down_reason; /* why (--reason), set with assume_down */
	char *reason;          /* why the change is made (plan --reason), or NULL */
	char *ticket;          /* the change's ticket (plan --ticket), or NULL */
	struct plan_step *steps;
	size_t nsteps;
	struct cms_strv pending; /* things the plan cannot do, to be seen to (re-seed ...) */
	struct cms_strv publish; /* publish targets, described without secrets */
	char *author;
	int64_t created, expires; /* seconds since the epoch */
};

struct recorded_location {
	const char *lineage;
	int64_t serial;
	const char *primary;
	const char *mirror;   /* or NULL */
};

struct plan_inputs {
	const struct store *desired;
	const struct recorded_location *recorded; /* NULL: never adopted */
	const struct observation *obs;            /* obs->probed false: --offline */
	int64_t now;
	const char *author;
	bool accept_drift;    /* re-adopt what is observed when it differs from the record */
	const char *after_run; /* the store's newest run id in the state, or NULL */
	const char *assume_down; /* --assume-down: a server the operator attests is down */
	const char *assume_down_reason; /* --reason, required with assume_down */
	/* A plan set's attestation, given to every store with a server of
	 * that name: where that server is not the old primary of a move,
	 * the plan is made without it instead of refused. */
	bool assume_down_where_it_applies;
	const char *reason;      /* --reason: why the change is made, or NULL */
	const char *ticket;      /* --ticket: the change's ticket, or NULL */
};


/* Limits of plan --reason and --ticket (bytes). */
#define PLAN_REASON_MAX 500
#define PLAN_TICKET_MAX 128

/* What is wrong with a --reason (spaces true) or --ticket (spaces false)
 * value, or NULL when it is fine: it must be non-empty valid UTF-8 of at
 * most max bytes with no control character (C0, DEL, C1); a ticket has no
 * white space either.  It goes into the plan, the report and a history
 * trailer, each one line.  The text returned is static. */
const char *plan_text_problem(const char *s, size_t max, bool spaces);

/*
 * The diff.  Returns 0 and *out, or CMS_EREFUSED when a precondition
 * refuses the change at plan time (data loss not allowed, unexplained
 * drift, target unreachable, lag beyond policy, several primaries, an
 * unreachable old primary with no fence target and no --assume-down), with
 * a message and a hint saying how to proceed.
 */
int planner_diff(struct plan **out, const struct plan_inputs *in, struct cms_error *err);

/* A saved plan (p, its bytes json, its blob id) must be exactly what the
 * planner makes of its own recorded inputs (the record it was made
 * against, its observations, clock and author) under the config st as it
 * is now: CMS_ESTALE naming the first difference otherwise (the config
 * changed, or the plan was edited). */
int planner_check_rederived(const struct store *st, const struct plan *p, const struct buf *json,
			    const char *id, struct cms_error *err);

/* How the servers contradict the recorded primary ("the state records
 * primary 'a' but 'b' reports being the primary"), or NULL when they do
 * not.  An unreachable recorded primary is an outage, not drift.  Caller
 * frees. */
char *planner_drift(const char *recorded_primary, const struct observation *obs);

/* "command /sbin/power-off pg-a (timeout 30000 ms)": a fence target as
 * plans describe it (apply compares it with the config's).  Caller frees. */
char *planner_describe_fence_target(const struct fence_target *t);
/* A publish target for people: "file PATH", "odbc table T (dsn)", ...,
 * with " (not required)" for a target marked required: false. */
char *planner_describe_publish(const struct publish_target *t);

/* NULL, or why fencing a server of this engine through its database sends
 * nothing (the promotion itself takes the role away). */
const char *planner_fence_note(enum engine_kind k);

/* Deterministic JSON (sorted keys, two-space indent, trailing newline). */
int plan_to_json(const struct plan *p, struct buf *out, struct cms_error *err);
/* Parses and validates plan JSON (an external input: every field checked).
 * what names the source in messages ("plan file 'x.json'"). */
int plan_from_json(struct plan **out, const char *data, size_t len, const char *what,
		   struct cms_error *err);
/* The human rendering: location table, servers, steps, id.  plan_id may be NULL. */
void plan_render(const struct plan *p, const char *plan_id, struct buf *out);
void plan_free(struct plan *p);

bool plan_has_changes(const struct plan *p); /* mode != none */
const char *plan_mode_name(enum plan_mode m);
const char *plan_action_name(enum plan_action a);
int plan_action_parse(enum plan_action *out, const char *s);

/* "redmond: apply switchover pool-a -> pool-b" style summary, caller frees. */
char *plan_summary(const struct plan *p);

#endif
