/*
 * SQLite, the state backend of a local state:
 * loaded on first use (common/dynlib.h), so that a command that never
 * needs it does not pay for loading it.  Include this after <sqlite3.h>:
 * every function cmsctl calls is listed here, and each name becomes a
 * call through the loaded table.  A function used but not listed fails to
 * link (cmsctl does not link SQLite itself).
 */
#ifndef CMS_COMMON_LIB_SQLITE_H
#define CMS_COMMON_LIB_SQLITE_H

#include <sqlite3.h>

#include "common/dynlib.h"

#define CMS_SQLITE_SYMBOLS(X) \
	X(sqlite3_bind_int) \
	X(sqlite3_bind_int64) \
	X(sqlite3_bind_null) \
	X(sqlite3_bind_text) \
	X(sqlite3_busy_handler) \
	X(sqlite3_changes) \
	X(sqlite3_close) \
	X(sqlite3_column_int) \
	X(sqlite3_column_int64) \
	X(sqlite3_column_text) \
	X(sqlite3_column_type) \
	X(sqlite3_db_config) \
	X(sqlite3_db_readonly) \
	X(sqlite3_errcode) \
	X(sqlite3_errmsg) \
	X(sqlite3_errstr) \
	X(sqlite3_exec) \
	X(sqlite3_finalize) \
	X(sqlite3_get_autocommit) \
	X(sqlite3_open_v2) \
	X(sqlite3_prepare_v2) \
	X(sqlite3_reset) \
	X(sqlite3_sleep) \
	X(sqlite3_step)

struct cms_lib_sqlite {
#define CMS_X(n) __typeof__(n) *n;
	CMS_SQLITE_SYMBOLS(CMS_X)
#undef CMS_X
};

extern struct cms_dynlib cms_lib_sqlite_lib;
extern struct cms_lib_sqlite cms_lib_sqlite;

#define CMS_LIB_SQLITE (cms_lib_sqlite_lib.loaded ? &cms_lib_sqlite : (cms_dynlib_require(&cms_lib_sqlite_lib), &cms_lib_sqlite))
#define sqlite3_bind_int (CMS_LIB_SQLITE->sqlite3_bind_int)
#define sqlite3_bind_int64 (CMS_LIB_SQLITE->sqlite3_bind_int64)
#define sqlite3_bind_null (CMS_LIB_SQLITE->sqlite3_bind_null)
#define sqlite3_bind_text (CMS_LIB_SQLITE->sqlite3_bind_text)
#define sqlite3_busy_handler (CMS_LIB_SQLITE->sqlite3_busy_handler)
#define sqlite3_changes (CMS_LIB_SQLITE->sqlite3_changes)
#define sqlite3_close (CMS_LIB_SQLITE->sqlite3_close)
#define sqlite3_column_int (CMS_LIB_SQLITE->sqlite3_column_int)
#define sqlite3_column_int64 (CMS_LIB_SQLITE->sqlite3_column_int64)
#define sqlite3_column_text (CMS_LIB_SQLITE->sqlite3_column_text)
#define sqlite3_column_type (CMS_LIB_SQLITE->sqlite3_column_type)
#define sqlite3_db_config (CMS_LIB_SQLITE->sqlite3_db_config)
#define sqlite3_db_readonly (CMS_LIB_SQLITE->sqlite3_db_readonly)
#define sqlite3_errcode (CMS_LIB_SQLITE->sqlite3_errcode)
#define sqlite3_errmsg (CMS_LIB_SQLITE->sqlite3_errmsg)
#define sqlite3_errstr (CMS_LIB_SQLITE->sqlite3_errstr)
#define sqlite3_exec (CMS_LIB_SQLITE->sqlite3_exec)
#define sqlite3_finalize (CMS_LIB_SQLITE->sqlite3_finalize)
#define sqlite3_get_autocommit (CMS_LIB_SQLITE->sqlite3_get_autocommit)
#define sqlite3_open_v2 (CMS_LIB_SQLITE->sqlite3_open_v2)
#define sqlite3_prepare_v2 (CMS_LIB_SQLITE->sqlite3_prepare_v2)
#define sqlite3_reset (CMS_LIB_SQLITE->sqlite3_reset)
#define sqlite3_sleep (CMS_LIB_SQLITE->sqlite3_sleep)
#define sqlite3_step (CMS_LIB_SQLITE->sqlite3_step)

#endif
