/*
 * The scripted fake session of the unit tests (tests/unit/db_fake.c): test
 * code only, never linked into cmsctl.
 */
#ifndef CMS_TESTS_DB_FAKE_H
#define CMS_TESTS_DB_FAKE_H

#include "applier/db.h"

#include <stddef.h>

/* Scripted fake for unit tests: each expected statement (exact text, or a
 * prefix ending in '*') is answered with the given result or error. */
struct db_fake_reply {
	const char *sql;            /* expected text; "prefix*" matches a prefix */
	const char *error;          /* when not NULL, the statement fails with this message */
	size_t ncols;
	const char *const *colnames;
	size_t nrows;
	const char *const *cells;   /* nrows * ncols; NULL cells are SQL NULL */
};
/* The fake fails any statement not next in script, naming what it expected. */
struct db *db_fake_new(const char *label, const struct db_fake_reply *script, size_t n);
/* Number of script entries consumed so far. */
size_t db_fake_consumed(const struct db *db);

#endif
