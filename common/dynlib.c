/*
 * Loading a shared library on first use (common/dynlib.h): dlopen() by
 * soname, then dlsym() of every listed function into the library's table.
 */
#include "common/dynlib.h"

#include <dlfcn.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

typedef void (*cms_fn)(void);

int cms_dynlib_load(struct cms_dynlib *l, struct cms_error *err)
{
	void *h;
	size_t i;

	if (l->loaded)
		return 0;
	if (l->table_size != l->count * sizeof(cms_fn))
		return cms_error_set(err, CMS_ERROR, "the function table of %s does not match its "
				     "list of names", l->soname);
	if (!(h = l->handle)) {
		if (!(h = dlopen(l->soname, RTLD_NOW | RTLD_LOCAL))) {
			const char *why = dlerror();

			cms_error_set(err, CMS_ERROR, "cannot load %s: %s", l->soname, why ? why : "?");
			cms_error_hint(err, "install the package that provides %s (cmsctl loads it when a "
				       "command first needs it)", l->soname);
			return CMS_ERROR;
		}
		l->handle = h;
	}
	for (i = 0; i < l->count; i++) {
		void *sym;
		cms_fn fn;

		if (!(sym = dlsym(h, l->names[i])))
			return cms_error_set(err, CMS_ERROR, "cannot load %s: it has no function %s",
					     l->soname, l->names[i]);
		/* POSIX guarantees a function's address survives the trip
		 * through void *; C alone does not, hence the copy. */
		memcpy(&fn, &sym, sizeof(fn));
		memcpy((char *)l->table + i * sizeof(cms_fn), &fn, sizeof(fn));
	}
	l->loaded = true;
	return 0;
}

void cms_dynlib_require(struct cms_dynlib *l)
{
	struct cms_error err = CMS_ERROR_INIT;

	if (cms_dynlib_load(l, &err) == 0)
		return;
	fprintf(stderr, "cmsctl: %s\n", err.message ? err.message : "cannot load a library");
	cms_error_clear(&err);
	_exit(127);
}
