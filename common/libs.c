/*
 * The shared libraries cmsctl loads on first use (libgit2, libpq, libldap,
 * SQLite, unixODBC): the tables of their functions, filled by
 * common/dynlib.c.  Linking them at start-up cost more than the rest of a
 * short command (libgit2, libpq and libldap bring TLS, Kerberos and SASL
 * libraries with them); most commands need one or two of them.
 */
#include "common/lib_git2.h"
#include "common/lib_ldap.h"
#include "common/lib_odbc.h"
#include "common/lib_pq.h"
#include "common/lib_sqlite.h"

#define CMS_NAME(n) #n,

/* One library: its list of names, its table, its loader. */
#define CMS_DEFINE_LIB(key, KEY)                                                            \
	static const char *const key##_names[] = { CMS_##KEY##_SYMBOLS(CMS_NAME) };       \
	struct cms_lib_##key cms_lib_##key;                                                 \
	struct cms_dynlib cms_lib_##key##_lib = { CMSCTL_SONAME_##KEY, key##_names,         \
		sizeof(key##_names) / sizeof(key##_names[0]), &cms_lib_##key,                 \
		sizeof(cms_lib_##key), NULL, false };                                       \
	int cms_lib_##key##_load(struct cms_error *err)                                     \
	{                                                                                   \
		return cms_dynlib_load(&cms_lib_##key##_lib, err);                          \
	}

CMS_DEFINE_LIB(git2, GIT2)
CMS_DEFINE_LIB(pq, PQ)
CMS_DEFINE_LIB(ldap, LDAP)
CMS_DEFINE_LIB(sqlite, SQLITE)
CMS_DEFINE_LIB(odbc, ODBC)
