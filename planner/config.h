/*
 * Loading cms.yaml into the model (model.h), strictly.
 *
 * Every problem found in a file is collected as a diagnostic with
 * file:line:column, the offending text, and a hint where one helps; loading
 * reports all of them in one run, not only the first.
 */
#ifndef CMS_PLANNER_CONFIG_H
#define CMS_PLANNER_CONFIG_H

#include "common/error.h"
#include "planner/model.h"

#include <stddef.h>
#include <stdint.h>

struct diag {
	char *file;
	int line;      /* 1-based */
	int column;    /* 1-based */
	char *message; /* lowercase, offending text quoted */
	char *hint;    /* or NULL */
};

struct diag_list {
	struct diag *items;
	size_t len, alloc;
};

void diag_list_free(struct diag_list *dl);

/*
 * Loads and checks path.  Returns 0 and *out on success.  On failure returns
 * CMS_ERROR with every diagnostic appended to diags (and err describing the
 * failure as a whole: "'cms.yaml' has 3 errors"); *out is NULL.  A file that
 * cannot be read yields one diagnostic at line 0.
 */
int config_load(struct config **out, const char *path, struct diag_list *diags,
		struct cms_error *err);

/* As config_load, from a buffer; name is used in diagnostics and dir for
 * resolving relative paths. */
int config_load_buffer(struct config **out, const char *name, const char *dir,
		       const char *data, size_t len, struct diag_list *diags,
		       struct cms_error *err);

/* "30s", "5m", "24h", "1h30m", "250ms", "2d" -> milliseconds.  0 or -1. */
int config_parse_duration_ms(int64_t *out, const char *s);
/* "16777216", "16MiB", "512KiB", "1GiB", "10MB" -> bytes.  0 or -1. */
int config_parse_size(uint64_t *out, const char *s);
/* Whether s is a plain SQL identifier: [A-Za-z_][A-Za-z0-9_]{0,127}. */
int config_is_identifier(const char *s);
/* Whether s is a valid store or server name: [A-Za-z0-9][A-Za-z0-9_.-]{0,62}
 * (an identifier, but '-' and '.' are allowed, as in host names). */
int config_is_name(const char *s);
/* Damerau-Levenshtein distance, for did-you-mean hints. */
size_t config_edit_distance(const char *a, const char *b);
/* The candidate closest to word if close enough to suggest, else NULL. */
const char *config_did_you_mean(const char *word, const char *const *candidates, size_t n);

/* The placeholders an ldap publish target's attribute values may use, NULL
 * terminated: {store}, {primary}, {primary_fqdn} (the fqdn, else the name),
 * {primary_instance}, {primary_sql} ("fqdn\\instance", or the fqdn alone
 * without an instance: the form of Lync's msRTCSIP-BackEndServer), the same
 * four for the mirror, and {serial}.  A value that uses a mirror
 * placeholder while the location has no mirror removes the attribute. */
extern const char *const config_ldap_placeholders[];
/* Checks an ldap value template: 0, or -1 with *bad set to the offending
 * part (an unknown placeholder or an unclosed '{'; borrowed from tmpl). */
int config_check_ldap_template(const char *tmpl, const char **bad, size_t *badlen);

/* Reads the password of a server (password_env or password_file, checking
 * the file's mode is 0600 or stricter).  *out is NULL when the server has
 * neither.  The caller wipes and frees it.  Errors never contain the secret. */
int config_read_password(char **out, const char *password_env, const char *password_file,
			 struct cms_error *err);

#endif
