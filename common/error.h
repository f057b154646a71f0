/*
 * The error object every layer returns through.
 *
 * Functions return 0 on success or a negative CMS_E* code on failure, and
 * fill a caller-provided struct cms_error with the details.  A diagnostic
 * from SQLite, libgit2 or ODBC is wrapped once, where the call was made,
 * with what was being done; callers above pass it up unchanged.  Only cmd/
 * prints an error or turns its code into an exit status.
 *
 * Messages follow one style: lowercase, no full stop, what went wrong
 * first, the subject in quotes:  cannot open state database 'x': disk I/O error
 */
#ifndef CMS_COMMON_ERROR_H
#define CMS_COMMON_ERROR_H

#include <stdarg.h>

enum cms_error_code {
	CMS_OK = 0,
	CMS_ERROR = -1,        /* any failure (exit 1) */
	CMS_ESTALE = -3,       /* plan stale, expired, tampered or already applied (exit 3) */
	CMS_ELOCKED = -4,      /* state lock held by someone else (exit 4) */
	CMS_EDECLINED = -5,    /* declined at the prompt (exit 5) */
	CMS_EINTERRUPTED = -6, /* a change made and something left to finish (exit 6) */
	CMS_EREFUSED = -7,     /* a precondition refused the change (exit 7) */
	CMS_EUSAGE = -64,      /* bad command line (exit 64) */
	CMS_ENOTFOUND = -100,  /* a looked-up thing does not exist (exit 1) */
};

struct cms_error {
	int code;          /* one of enum cms_error_code, 0 when clear */
	char *message;     /* owned; NULL when clear */
	char *hint;        /* owned; optional advice on how to proceed */
};
/* A config error's positions (file:line:column) are in the loader's
 * diagnostics (planner/config.h, struct diag), one per problem found. */

#define CMS_ERROR_INIT { 0, NULL, NULL }

/* Sets code and message (printf-style) and returns code, so that callers can
 * write `return cms_error_set(err, CMS_ERROR, "cannot ...");`.  Replaces any
 * earlier content.  err may be NULL (the message is then dropped). */
int cms_error_set(struct cms_error *err, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
int cms_error_vset(struct cms_error *err, int code, const char *fmt, va_list ap)
	__attribute__((format(printf, 3, 0)));

/* Sets the optional hint of an error already set. */
void cms_error_hint(struct cms_error *err, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Prefixes the message with "<prefix>: ", keeping code and hint.
 * For adding context while passing an error up. */
void cms_error_prefix(struct cms_error *err, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Moves src into dst (dst's old content is freed; src is left clear). */
void cms_error_move(struct cms_error *dst, struct cms_error *src);

/* Frees the content and clears the object; accepts NULL. */
void cms_error_clear(struct cms_error *err);

/* The process exit status for a code (0, 1, 3-7, 64). */
int cms_error_exit_status(int code);

#endif
