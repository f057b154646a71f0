/*
 * libpq, the PostgreSQL state backend:
 * loaded on first use (common/dynlib.h), so that a command that never
 * needs it does not pay for loading it and the libraries it brings.
 * Include this after <libpq-fe.h>: every function cmsctl calls is listed here,
 * and each name becomes a call through the loaded table.  A function used
 * but not listed fails to link (cmsctl does not link libpq itself).
 */
#ifndef CMS_COMMON_LIB_PQ_H
#define CMS_COMMON_LIB_PQ_H

#include <libpq-fe.h>

#include "common/dynlib.h"

#define CMS_PQ_SYMBOLS(X) \
	X(PQclear) \
	X(PQcmdTuples) \
	X(PQconnectdbParams) \
	X(PQconsumeInput) \
	X(PQerrorMessage) \
	X(PQexec) \
	X(PQexecParams) \
	X(PQfinish) \
	X(PQgetisnull) \
	X(PQgetResult) \
	X(PQgetvalue) \
	X(PQisBusy) \
	X(PQntuples) \
	X(PQresultErrorField) \
	X(PQresultStatus) \
	X(PQsendQuery) \
	X(PQsendQueryParams) \
	X(PQsetNoticeProcessor) \
	X(PQsocket) \
	X(PQstatus) \
	X(PQtransactionStatus)

struct cms_lib_pq {
#define CMS_X(n) __typeof__(n) *n;
	CMS_PQ_SYMBOLS(CMS_X)
#undef CMS_X
};

extern struct cms_dynlib cms_lib_pq_lib;
extern struct cms_lib_pq cms_lib_pq;

#define CMS_LIB_PQ (cms_lib_pq_lib.loaded ? &cms_lib_pq : (cms_dynlib_require(&cms_lib_pq_lib), &cms_lib_pq))
#define PQclear (CMS_LIB_PQ->PQclear)
#define PQcmdTuples (CMS_LIB_PQ->PQcmdTuples)
#define PQconnectdbParams (CMS_LIB_PQ->PQconnectdbParams)
#define PQconsumeInput (CMS_LIB_PQ->PQconsumeInput)
#define PQerrorMessage (CMS_LIB_PQ->PQerrorMessage)
#define PQexec (CMS_LIB_PQ->PQexec)
#define PQexecParams (CMS_LIB_PQ->PQexecParams)
#define PQfinish (CMS_LIB_PQ->PQfinish)
#define PQgetisnull (CMS_LIB_PQ->PQgetisnull)
#define PQgetResult (CMS_LIB_PQ->PQgetResult)
#define PQgetvalue (CMS_LIB_PQ->PQgetvalue)
#define PQisBusy (CMS_LIB_PQ->PQisBusy)
#define PQntuples (CMS_LIB_PQ->PQntuples)
#define PQresultErrorField (CMS_LIB_PQ->PQresultErrorField)
#define PQresultStatus (CMS_LIB_PQ->PQresultStatus)
#define PQsendQuery (CMS_LIB_PQ->PQsendQuery)
#define PQsendQueryParams (CMS_LIB_PQ->PQsendQueryParams)
#define PQsetNoticeProcessor (CMS_LIB_PQ->PQsetNoticeProcessor)
#define PQsocket (CMS_LIB_PQ->PQsocket)
#define PQstatus (CMS_LIB_PQ->PQstatus)
#define PQtransactionStatus (CMS_LIB_PQ->PQtransactionStatus)

#endif
