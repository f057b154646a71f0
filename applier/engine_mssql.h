/*
 * Helpers of the SQL Server engine (engine_mssql.c) that its unit tests
 * pin directly: the quoting that every statement is built with, and the
 * parsing of the numeric(25,0) LSNs that sys.database_mirroring reports.
 * The engine itself is reached through engine_open() (engine.h).
 */
#ifndef CMS_APPLIER_ENGINE_MSSQL_H
#define CMS_APPLIER_ENGINE_MSSQL_H

#include "common/buf.h"

#include <stdint.h>

/* The statement every new session runs first: which server and instance
 * answered (SERVERPROPERTY ServerName, InstanceName), checked against the
 * server's config before anything else is read or changed. */
#define MSSQL_IDENTITY_SQL \
	"SELECT CAST(SERVERPROPERTY('ServerName') AS nvarchar(256)), " \
	"CAST(SERVERPROPERTY('InstanceName') AS nvarchar(128))"

/* The cluster type of an availability group: this, the group's quoted
 * name, then "''')".  Answers WSFC on SQL Server 2012-2016, which have no
 * cluster_type_desc column (the EXEC is compiled only where it exists). */
#define MSSQL_AG_CLUSTER_SQL_HEAD \
	"IF COL_LENGTH('sys.availability_groups', 'cluster_type_desc') IS NULL SELECT N'WSFC' " \
	"ELSE EXEC(N'SELECT cluster_type_desc FROM sys.availability_groups WHERE name = N''"

/* Appends ident as a bracket-quoted T-SQL identifier: [name], with every
 * ']' doubled.  Quoting only: callers must still refuse names that are not
 * plain identifiers (config_is_identifier) before building a statement. */
void mssql_quote_ident(struct buf *out, const char *ident);

/* Appends s as a Unicode string literal: N'...', with every quote doubled. */
void mssql_quote_nstring(struct buf *out, const char *s);

/* Parses a non-negative decimal numeric(25,0) (an optional ".000" scale
 * tail is accepted) and keeps its low 64 bits, i.e. the value modulo 2^64.
 * Returns 0, or -1 for anything else (empty, sign, other characters, more
 * than 38 digits). */
int mssql_parse_lsn(uint64_t *out, const char *s);

/* Compares two LSNs as RESTORE HEADERONLY and sys.master_files give them
 * (decimal numeric(25,0), leading zeros and a ".0" tail allowed): <0, 0,
 * >0.  Exact over all 25 digits, unlike mssql_parse_lsn.  Both must be
 * decimal digits (callers check). */
int mssql_lsn_cmp(const char *a, const char *b);

#endif
