/*
 * File helpers: whole-file reads with a size limit, and atomic writes
 * (temp file in the same folder, fsync, rename, fsync of the folder) so a
 * reader sees the old bytes or the new ones, never a mix.
 */
#ifndef CMS_COMMON_FILEIO_H
#define CMS_COMMON_FILEIO_H

#include "common/error.h"

#include <stddef.h>
#include <sys/types.h>

/* Reads all of path (at most max bytes, else an error); *out is
 * NUL-terminated and the caller's.  A missing file is CMS_ENOTFOUND. */
int cms_read_file(char **out, size_t *len, const char *path, size_t max, struct cms_error *err);

/* Writes data to path atomically with the given mode.  what names the file
 * in messages ("plan file"). */
int cms_write_file_atomic(const char *path, const void *data, size_t len, mode_t mode,
			  const char *what, struct cms_error *err);

#endif
