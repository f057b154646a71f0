/*
 * Reports (the seed's -Report): the JSON of schemas/report.schema.json and
 * a self-contained HTML page, built from a run.  Every value in the page is
 * escaped.
 */
#ifndef CMS_APPLIER_REPORT_H
#define CMS_APPLIER_REPORT_H

#include "applier/run.h"
#include "common/buf.h"

#define REPORT_FORMAT_VERSION 2

void report_build(const struct run *r, struct buf *json, struct buf *html);
/* The journal detail of one step (statements, checks, notes), JSON text;
 * caller frees. */
char *report_step_detail_json(const struct run_step *s);
/* "redmond: apply switchover pool-a -> pool-b: ok"; caller frees. */
char *report_subject(const struct run *r);
/* Frees a run's steps and leaves it with none. */
void report_run_free_steps(struct run *r);
/* The attestation a run acted on: a restore's own (restore --assume-down)
 * when it used it, else its plan's; false when none.  *by is who attested. */
bool report_attestation(const struct run *r, const char **server, const char **reason,
			const char **by);
/* Frees what a run owns that the report describes (steps, checks, ...). */
void report_run_free_content(struct run *r);

#endif
