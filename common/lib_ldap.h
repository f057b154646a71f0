/*
 * libldap, the directory publish target and the DN checks of the config:
 * loaded on first use (common/dynlib.h), so that a command that never
 * needs it does not pay for loading it and the libraries it brings.
 * Include this after <ldap.h>: every function cmsctl calls is listed here,
 * and each name becomes a call through the loaded table.  A function used
 * but not listed fails to link (cmsctl does not link libldap itself).
 */
#ifndef CMS_COMMON_LIB_LDAP_H
#define CMS_COMMON_LIB_LDAP_H

#include <ldap.h>

#include "common/dynlib.h"

#define CMS_LDAP_SYMBOLS(X) \
	X(ldap_count_values_len) \
	X(ldap_dnfree) \
	X(ldap_err2string) \
	X(ldap_first_entry) \
	X(ldap_get_option) \
	X(ldap_get_values_len) \
	X(ldap_initialize) \
	X(ldap_memfree) \
	X(ldap_modify_ext_s) \
	X(ldap_msgfree) \
	X(ldap_next_entry) \
	X(ldap_sasl_bind_s) \
	X(ldap_search_ext_s) \
	X(ldap_set_option) \
	X(ldap_start_tls_s) \
	X(ldap_str2dn) \
	X(ldap_unbind_ext_s) \
	X(ldap_value_free_len)

struct cms_lib_ldap {
#define CMS_X(n) __typeof__(n) *n;
	CMS_LDAP_SYMBOLS(CMS_X)
#undef CMS_X
};

extern struct cms_dynlib cms_lib_ldap_lib;
extern struct cms_lib_ldap cms_lib_ldap;

#define CMS_LIB_LDAP (cms_lib_ldap_lib.loaded ? &cms_lib_ldap : (cms_dynlib_require(&cms_lib_ldap_lib), &cms_lib_ldap))
#define ldap_count_values_len (CMS_LIB_LDAP->ldap_count_values_len)
#define ldap_dnfree (CMS_LIB_LDAP->ldap_dnfree)
#define ldap_err2string (CMS_LIB_LDAP->ldap_err2string)
#define ldap_first_entry (CMS_LIB_LDAP->ldap_first_entry)
#define ldap_get_option (CMS_LIB_LDAP->ldap_get_option)
#define ldap_get_values_len (CMS_LIB_LDAP->ldap_get_values_len)
#define ldap_initialize (CMS_LIB_LDAP->ldap_initialize)
#define ldap_memfree (CMS_LIB_LDAP->ldap_memfree)
#define ldap_modify_ext_s (CMS_LIB_LDAP->ldap_modify_ext_s)
#define ldap_msgfree (CMS_LIB_LDAP->ldap_msgfree)
#define ldap_next_entry (CMS_LIB_LDAP->ldap_next_entry)
#define ldap_sasl_bind_s (CMS_LIB_LDAP->ldap_sasl_bind_s)
#define ldap_search_ext_s (CMS_LIB_LDAP->ldap_search_ext_s)
#define ldap_set_option (CMS_LIB_LDAP->ldap_set_option)
#define ldap_start_tls_s (CMS_LIB_LDAP->ldap_start_tls_s)
#define ldap_str2dn (CMS_LIB_LDAP->ldap_str2dn)
#define ldap_unbind_ext_s (CMS_LIB_LDAP->ldap_unbind_ext_s)
#define ldap_value_free_len (CMS_LIB_LDAP->ldap_value_free_len)

#endif
