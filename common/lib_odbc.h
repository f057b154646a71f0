/*
 * unixODBC, the sessions to the servers and odbc publish targets:
 * loaded on first use (common/dynlib.h), so that a command that never
 * needs it does not pay for loading it.  Include this after <sql.h> and <sqlext.h>:
 * every function cmsctl calls is listed here, and each name becomes a
 * call through the loaded table.  A function used but not listed fails to
 * link (cmsctl does not link unixODBC itself).
 */
#ifndef CMS_COMMON_LIB_ODBC_H
#define CMS_COMMON_LIB_ODBC_H

#include <sql.h>
#include <sqlext.h>

#include "common/dynlib.h"

#define CMS_ODBC_SYMBOLS(X) \
	X(SQLAllocHandle) \
	X(SQLDescribeCol) \
	X(SQLDisconnect) \
	X(SQLDriverConnect) \
	X(SQLEndTran) \
	X(SQLExecDirect) \
	X(SQLFetch) \
	X(SQLFreeHandle) \
	X(SQLGetConnectAttr) \
	X(SQLGetData) \
	X(SQLGetDiagRec) \
	X(SQLGetInfo) \
	X(SQLMoreResults) \
	X(SQLNumResultCols) \
	X(SQLSetConnectAttr) \
	X(SQLSetEnvAttr) \
	X(SQLSetStmtAttr)

struct cms_lib_odbc {
#define CMS_X(n) __typeof__(n) *n;
	CMS_ODBC_SYMBOLS(CMS_X)
#undef CMS_X
};

extern struct cms_dynlib cms_lib_odbc_lib;
extern struct cms_lib_odbc cms_lib_odbc;

#define CMS_LIB_ODBC (cms_lib_odbc_lib.loaded ? &cms_lib_odbc : (cms_dynlib_require(&cms_lib_odbc_lib), &cms_lib_odbc))
#define SQLAllocHandle (CMS_LIB_ODBC->SQLAllocHandle)
#define SQLDescribeCol (CMS_LIB_ODBC->SQLDescribeCol)
#define SQLDisconnect (CMS_LIB_ODBC->SQLDisconnect)
#define SQLDriverConnect (CMS_LIB_ODBC->SQLDriverConnect)
#define SQLEndTran (CMS_LIB_ODBC->SQLEndTran)
#define SQLExecDirect (CMS_LIB_ODBC->SQLExecDirect)
#define SQLFetch (CMS_LIB_ODBC->SQLFetch)
#define SQLFreeHandle (CMS_LIB_ODBC->SQLFreeHandle)
#define SQLGetConnectAttr (CMS_LIB_ODBC->SQLGetConnectAttr)
#define SQLGetData (CMS_LIB_ODBC->SQLGetData)
#define SQLGetDiagRec (CMS_LIB_ODBC->SQLGetDiagRec)
#define SQLGetInfo (CMS_LIB_ODBC->SQLGetInfo)
#define SQLMoreResults (CMS_LIB_ODBC->SQLMoreResults)
#define SQLNumResultCols (CMS_LIB_ODBC->SQLNumResultCols)
#define SQLSetConnectAttr (CMS_LIB_ODBC->SQLSetConnectAttr)
#define SQLSetEnvAttr (CMS_LIB_ODBC->SQLSetEnvAttr)
#define SQLSetStmtAttr (CMS_LIB_ODBC->SQLSetStmtAttr)

#endif
