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

static const char *const git2_names[] = { CMS_GIT2_SYMBOLS(CMS_NAME) };
struct cms_lib_git2 cms_lib_git2;
struct cms_dynlib cms_lib_git2_lib = { CMSCTL_SONAME_GIT2, git2_names,
	sizeof(git2_names) / sizeof(git2_names[0]), &cms_lib_git2, sizeof(cms_lib_git2), NULL, false };

int cms_lib_git2_load(struct cms_error *err)
{
	return cms_dynlib_load(&cms_lib_git2_lib, err);
}

static const char *const pq_names[] = { CMS_PQ_SYMBOLS(CMS_NAME) };
struct cms_lib_pq cms_lib_pq;
struct cms_dynlib cms_lib_pq_lib = { CMSCTL_SONAME_PQ, pq_names,
	sizeof(pq_names) / sizeof(pq_names[0]), &cms_lib_pq, sizeof(cms_lib_pq), NULL, false };

int cms_lib_pq_load(struct cms_error *err)
{
	return cms_dynlib_load(&cms_lib_pq_lib, err);
}

static const char *const ldap_names[] = { CMS_LDAP_SYMBOLS(CMS_NAME) };
struct cms_lib_ldap cms_lib_ldap;
struct cms_dynlib cms_lib_ldap_lib = { CMSCTL_SONAME_LDAP, ldap_names,
	sizeof(ldap_names) / sizeof(ldap_names[0]), &cms_lib_ldap, sizeof(cms_lib_ldap), NULL, false };

int cms_lib_ldap_load(struct cms_error *err)
{
	return cms_dynlib_load(&cms_lib_ldap_lib, err);
}

static const char *const sqlite_names[] = { CMS_SQLITE_SYMBOLS(CMS_NAME) };
struct cms_lib_sqlite cms_lib_sqlite;
struct cms_dynlib cms_lib_sqlite_lib = { CMSCTL_SONAME_SQLITE, sqlite_names,
	sizeof(sqlite_names) / sizeof(sqlite_names[0]), &cms_lib_sqlite, sizeof(cms_lib_sqlite), NULL, false };

int cms_lib_sqlite_load(struct cms_error *err)
{
	return cms_dynlib_load(&cms_lib_sqlite_lib, err);
}

static const char *const odbc_names[] = { CMS_ODBC_SYMBOLS(CMS_NAME) };
struct cms_lib_odbc cms_lib_odbc;
struct cms_dynlib cms_lib_odbc_lib = { CMSCTL_SONAME_ODBC, odbc_names,
	sizeof(odbc_names) / sizeof(odbc_names[0]), &cms_lib_odbc, sizeof(cms_lib_odbc), NULL, false };

int cms_lib_odbc_load(struct cms_error *err)
{
	return cms_dynlib_load(&cms_lib_odbc_lib, err);
}
