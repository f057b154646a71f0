/*
 * restore_decide(): the decision table of restore (restore_decide.h).
 */
#include "applier/restore_decide.h"

#include <string.h>

/* Some databases of t take writes and each of the others is a copy or
 * fenced: an interrupted promotion that took part way. */
static bool partly_promoted(const struct server_obs *t)
{
	bool any = false;
	size_t i;

	if (!t || !t->reachable || !t->ndbs)
		return false;
	for (i = 0; i < t->ndbs; i++) {
		const struct db_obs *d = &t->dbs[i];

		if (d->role == OBS_PRIMARY && !d->read_only)
			any = true;
		else if (d->role != OBS_MIRROR && d->role != OBS_BACKUP && d->role != OBS_PRIMARY &&
			 d->role != OBS_FENCED)
			return false;
	}
	return any;
}

enum restore_way restore_decide(const struct restore_facts *f)
{
	const struct server_obs *t = f->target;

	if (f->consumed && f->recorded && f->recorded_serial == f->plan_serial + 1 &&
	    f->to_primary && f->recorded_primary && !strcmp(f->recorded_primary, f->to_primary))
		return RESTORE_FINISHED;
	if (f->mode == PLAN_ADOPT || f->mode == PLAN_NONE)
		return RESTORE_CLOSE;
	if (f->promote == STEP_PENDING)
		return RESTORE_UNDO;
	if (server_obs_writable(t))
		return RESTORE_FORWARD;
	/* Promoted but still closed: PostgreSQL's fence (ALLOW_CONNECTIONS
	 * false) replicated to the target, and a promotion kept it. */
	if (partly_promoted(t) || (t && t->reachable && t->role == OBS_FENCED))
		return RESTORE_FINISH_PROMOTE;
	if (t && t->reachable && (t->role == OBS_MIRROR || t->role == OBS_BACKUP))
		return RESTORE_UNDO;
	return RESTORE_UNKNOWN;
}

enum restore_attest restore_attest(const struct restore_facts *f, const char *server,
				   enum restore_way way)
{
	const struct server_obs *t = f->target;

	if (!f->to_primary || !server || strcmp(server, f->to_primary) != 0)
		return ATTEST_NOT_TARGET;
	if (!t || t->reachable)
		return ATTEST_ANSWERS;
	if (t->answered)
		return ATTEST_PART_ANSWERS;
	if (f->promote == STEP_DONE || f->demote != STEP_PENDING)
		return ATTEST_PROMOTION_TOOK;
	if (way != RESTORE_UNKNOWN)
		return ATTEST_NOT_NEEDED;
	return ATTEST_OK;
}

const char *restore_way_name(enum restore_way w)
{
	static const char *const names[] = {
		[RESTORE_FINISHED] = "finished", [RESTORE_CLOSE] = "close", [RESTORE_UNDO] = "undo",
		[RESTORE_FORWARD] = "forward", [RESTORE_FINISH_PROMOTE] = "finish-promote",
		[RESTORE_UNKNOWN] = "unknown",
	};

	return (unsigned)w < sizeof(names) / sizeof(names[0]) ? names[w] : "?";
}
