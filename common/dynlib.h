/*
 * A shared library loaded on first use, with dlopen(): its soname (read
 * from the library at configure time) and the functions cmsctl calls, in
 * the order of a table of function pointers that loading fills.  The
 * common/lib_*.h headers declare the tables and turn each function's name
 * into a call through its table.
 */
#ifndef CMS_COMMON_DYNLIB_H
#define CMS_COMMON_DYNLIB_H

#include <stdbool.h>
#include <stddef.h>

#include "common/error.h"

struct cms_dynlib {
	const char *soname;       /* "libgit2.so.1.5" */
	const char *const *names; /* the functions, in the table's order */
	size_t count;
	void *table;              /* count function pointers */
	size_t table_size;        /* sizeof the table, checked against count */
	void *handle;             /* dlopen()'s */
	bool loaded;
};

/* Loads l once: 0, or CMS_ERROR "cannot load <soname>: <why>" (with a
 * hint naming the library to install) when the library or one of its
 * functions is missing.  Not thread-safe: the first load happens on the
 * main thread, before any worker thread uses the library. */
int cms_dynlib_load(struct cms_dynlib *l, struct cms_error *err);

/* cms_dynlib_load for a call made where no error can be returned (a
 * function used before its module's entry point loaded it): on failure
 * the process ends as it would have had the dynamic linker not found the
 * library at start-up, with the message on stderr and exit status 127. */
void cms_dynlib_require(struct cms_dynlib *l);

/* cms_dynlib_load of each library cmsctl loads on first use
 * (common/libs.c; common/lib_*.h declare their functions). */
int cms_lib_git2_load(struct cms_error *err);
int cms_lib_pq_load(struct cms_error *err);
int cms_lib_ldap_load(struct cms_error *err);
int cms_lib_sqlite_load(struct cms_error *err);
int cms_lib_odbc_load(struct cms_error *err);

#endif
