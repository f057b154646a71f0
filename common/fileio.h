/*
 * File helpers: whole-file reads that never block and never read anything
 * but a regular file, and writes that replace a regular file atomically
 * (temp file in the same folder, fsync, rename, fsync of the folder) so a
 * reader sees the old bytes or the new ones, never a mix, and that never
 * replace a device, a FIFO or anything else that is not a regular file.
 *
 * Symbolic links are followed, on both sides: the link stays and what it
 * points to is read, or replaced (docs/decisions.md, "Paths").
 */
#ifndef CMS_COMMON_FILEIO_H
#define CMS_COMMON_FILEIO_H

#include "common/error.h"

#include <stddef.h>
#include <sys/types.h>

/* What a file that is not a regular file is, for messages: "a FIFO",
 * "a character device", "a folder"... */
const char *cms_file_kind(mode_t m);

/* Reads all of path (at most max bytes, else "too large"); *out is
 * NUL-terminated and the caller's.  The file is opened without blocking
 * and refused unless it is a regular file (a FIFO, a device, a folder).
 * A missing file is CMS_ENOTFOUND.  Messages read "cannot read 'path': ...". */
int cms_read_file(char **out, size_t *len, const char *path, size_t max, struct cms_error *err);

/* The same, with what naming the file in messages: "cannot read plan file
 * 'x': too large (more than 4 MiB)". */
int cms_read_input(char **out, size_t *len, const char *path, size_t max, const char *what,
		   struct cms_error *err);

/* Opens path for reading without blocking and checks it is a regular file
 * of at most max bytes; returns the descriptor (blocking again, O_CLOEXEC)
 * or a negative code.  what names the file in messages ("config"). */
int cms_open_input(const char *path, size_t max, const char *what, struct cms_error *err);

/* Writes data to path atomically with the given mode.  A missing path or
 * a regular file (or a symlink to one: the file it points to) is replaced;
 * anything else is refused and left as it is.  what names the file in
 * messages ("location file"). */
int cms_write_file_atomic(const char *path, const void *data, size_t len, mode_t mode,
			  const char *what, struct cms_error *err);

/* The same for an output the operator named (-o, --report, --html): a
 * character device or a FIFO (directly or through a symlink) is written in
 * place, never replaced; a FIFO nobody reads is refused rather than waited
 * on.  A folder, a socket or a block device is refused. */
int cms_write_output(const char *path, const void *data, size_t len, mode_t mode,
		     const char *what, struct cms_error *err);

#endif
