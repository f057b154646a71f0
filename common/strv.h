/*
 * A list of strings the list owns: the one string-list type of cmsctl
 * (follow-ups, approvers, a plan's checks and pending items...).
 *
 * Invariants: v[0..n-1] are the strings, each owned by the list and never
 * NULL; alloc is how many slots v has (array_grow), 0 while v is NULL.  A
 * zeroed struct (CMS_STRV_INIT) is the empty list.  Allocation failure
 * aborts, as xmalloc does.
 */
#ifndef CMS_COMMON_STRV_H
#define CMS_COMMON_STRV_H

#include <stdbool.h>
#include <stddef.h>

struct cms_strv {
	char **v;     /* the strings, in the order added */
	size_t n;     /* how many */
	size_t alloc; /* slots allocated */
};

#define CMS_STRV_INIT { NULL, 0, 0 }

/* Appends s, which the list takes (the caller must not free it). */
void cms_strv_push(struct cms_strv *l, char *s);
/* Appends a copy of s. */
void cms_strv_add(struct cms_strv *l, const char *s);
/* Appends the formatted string. */
void cms_strv_addf(struct cms_strv *l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Appends a copy of s unless the list holds it already; whether it did. */
bool cms_strv_add_unique(struct cms_strv *l, const char *s);
bool cms_strv_contains(const struct cms_strv *l, const char *s);
/* Frees the strings from the n-th on (n <= l->n). */
void cms_strv_truncate(struct cms_strv *l, size_t n);
/* Frees the strings and the array, and empties l; accepts NULL. */
void cms_strv_free(struct cms_strv *l);

#endif
