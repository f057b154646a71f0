/*
 * The scripted fake session, for unit tests of an engine's statements.
 *
 * The script is the exact conversation expected: statement i must match
 * entry i (the whole text, or a prefix when the entry ends in '*'), and is
 * answered with that entry's result or error.  Anything else fails at once,
 * naming the statement and what was expected, so that a test shows the
 * first divergence instead of a confusing consequence.  Statements go
 * through db_exec() like real ones, so the fake's log is the same as the
 * ODBC session's (unexpected statements included, marked failed).
 *
 * The script is borrowed: it must outlive the session.
 */
#include "tests/unit/db_fake.h"
#include "common/util.h"

#include <stdlib.h>
#include <string.h>

struct db_fake {
	struct db base;                     /* first: a struct db * is a struct db_fake * */
	const struct db_fake_reply *script; /* borrowed */
	size_t n;                           /* entries in script */
	size_t pos;                         /* next expected entry */
};

static int fake_matches(const char *pattern, const char *sql)
{
	size_t plen = strlen(pattern);

	if (plen > 0 && pattern[plen - 1] == '*')
		return strncmp(pattern, sql, plen - 1) == 0;
	return strcmp(pattern, sql) == 0;
}

static struct db_result *fake_result(const struct db_fake_reply *reply)
{
	struct db_result *res = xcalloc(1, sizeof(*res));
	size_t i;

	res->ncols = reply->ncols;
	res->nrows = reply->ncols ? reply->nrows : 0;
	if (res->ncols) {
		res->colnames = xcalloc(res->ncols, sizeof(char *));
		for (i = 0; i < res->ncols; i++)
			res->colnames[i] = xstrdup(reply->colnames ? reply->colnames[i] : "");
	}
	if (res->nrows) {
		res->cells = xcalloc(res->nrows * res->ncols, sizeof(char *));
		for (i = 0; i < res->nrows * res->ncols; i++)
			res->cells[i] = xstrdup(reply->cells ? reply->cells[i] : NULL);
	}
	return res;
}

static int fake_exec(struct db *db, const char *sql, struct db_result **out, struct cms_error *err)
{
	struct db_fake *f = (struct db_fake *)db;
	const struct db_fake_reply *reply;

	if (f->pos >= f->n)
		return cms_error_set(err, CMS_ERROR,
				     "fake session '%s': unexpected statement '%s' (expected no more statements)",
				     db->label, sql);
	reply = &f->script[f->pos];
	if (!reply->sql || !fake_matches(reply->sql, sql))
		return cms_error_set(err, CMS_ERROR,
				     "fake session '%s': unexpected statement '%s' (expected '%s')",
				     db->label, sql, reply->sql ? reply->sql : "");
	f->pos++;
	if (reply->error)
		return cms_error_set(err, CMS_ERROR, "%s", reply->error);
	if (out)
		*out = fake_result(reply);
	return 0;
}

static void fake_close(struct db *db)
{
	(void)db; /* the script is borrowed; db_close() frees the rest */
}

/* No tx: db_begin & co. send BEGIN / COMMIT / ROLLBACK as statements,
 * which a script expects like any other. */
static const struct db_ops fake_ops = {
	.exec = fake_exec,
	.close = fake_close,
	.tx = NULL,
};

struct db *db_fake_new(const char *label, const struct db_fake_reply *script, size_t n)
{
	struct db_fake *f = xcalloc(1, sizeof(*f));

	f->base.ops = &fake_ops;
	f->base.label = xstrdup(label ? label : "");
	f->script = script;
	f->n = script ? n : 0;
	return &f->base;
}

size_t db_fake_consumed(const struct db *db)
{
	const struct db_fake *f = (const struct db_fake *)db;

	if (!db || db->ops != &fake_ops)
		return 0;
	return f->pos;
}
