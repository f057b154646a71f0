/*
 * Whole-file reads and output writes, shared by the config, plan files,
 * reports, the history page and the file publish target.
 *
 * Reads open with O_NONBLOCK and check the file's type on the descriptor
 * before reading, so a FIFO or a device named as an input is refused at
 * once instead of blocking or being read forever.  Writes look at what the
 * path is before touching it: a regular file is replaced atomically, a
 * device or FIFO an operator named as an output is written in place
 * (cmsctl plan -o /dev/null run as root once replaced /dev/null), and
 * nothing else is ever replaced.
 */
#define _GNU_SOURCE
#include "common/fileio.h"
#include "common/util.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

const char *cms_file_kind(mode_t m)
{
	if (S_ISFIFO(m))
		return "a FIFO";
	if (S_ISCHR(m))
		return "a character device";
	if (S_ISBLK(m))
		return "a block device";
	if (S_ISDIR(m))
		return "a folder";
	if (S_ISSOCK(m))
		return "a socket";
	if (S_ISLNK(m))
		return "a symbolic link";
	return "not a regular file";
}

/* "4 MiB", "1 KiB" or "123 bytes". */
static void size_text(char out[32], size_t n)
{
	if (n >= 1024 * 1024 && n % (1024 * 1024) == 0)
		snprintf(out, 32, "%zu MiB", n / (1024 * 1024));
	else if (n >= 1024 && n % 1024 == 0)
		snprintf(out, 32, "%zu KiB", n / 1024);
	else
		snprintf(out, 32, "%zu bytes", n);
}

/* "cannot read config 'x'" or, without what, "cannot read 'x'". */
static int read_fail(struct cms_error *err, int code, const char *what, const char *path,
		     const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static int read_fail(struct cms_error *err, int code, const char *what, const char *path,
		     const char *fmt, ...)
{
	char detail[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	return cms_error_set(err, code, "cannot read %s%s'%s': %s", what ? what : "",
			     what ? " " : "", path, detail);
}

static int open_input(const char *path, size_t max, const char *what, struct cms_error *err)
{
	struct stat sb;
	char limit[32];
	int fd, flags, e;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
	if (fd < 0) {
		e = errno;
		return read_fail(err, e == ENOENT ? CMS_ENOTFOUND : CMS_ERROR, what, path, "%s",
				 strerror(e));
	}
	if (fstat(fd, &sb) < 0) {
		e = errno;
		close(fd);
		return read_fail(err, CMS_ERROR, what, path, "%s", strerror(e));
	}
	if (!S_ISREG(sb.st_mode)) {
		close(fd);
		return read_fail(err, CMS_ERROR, what, path, "it is %s, not a regular file",
				 cms_file_kind(sb.st_mode));
	}
	if ((uintmax_t)sb.st_size > (uintmax_t)max) {
		close(fd);
		size_text(limit, max);
		return read_fail(err, CMS_ERROR, what, path, "too large (more than %s)", limit);
	}
	flags = fcntl(fd, F_GETFL);
	if (flags >= 0)
		(void)fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
	return fd;
}

int cms_open_input(const char *path, size_t max, const char *what, struct cms_error *err)
{
	return open_input(path, max, what, err);
}

static int read_whole(char **out, size_t *len, const char *path, size_t max, const char *what,
		      struct cms_error *err)
{
	char *data = NULL;
	size_t got = 0, alloc;
	char limit[32];
	int fd, rc = 0;

	*out = NULL;
	if ((fd = open_input(path, max, what, err)) < 0)
		return fd;
	/* Read up to one byte past the limit: the file may grow meanwhile. */
	alloc = 4096;
	data = xmalloc(alloc + 1);
	for (;;) {
		ssize_t n;

		if (got == alloc) {
			if (alloc > max)
				break;
			alloc = alloc * 2 > max + 1 ? max + 1 : alloc * 2;
			data = xrealloc(data, alloc + 1);
		}
		n = read(fd, data + got, alloc - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = read_fail(err, CMS_ERROR, what, path, "%s", strerror(errno));
			goto done;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	if (got > max) {
		size_text(limit, max);
		rc = read_fail(err, CMS_ERROR, what, path, "too large (more than %s)", limit);
		goto done;
	}
	data[got] = '\0';
	*out = data;
	data = NULL;
	if (len)
		*len = got;
done:
	free(data);
	close(fd);
	return rc;
}

int cms_read_file(char **out, size_t *len, const char *path, size_t max, struct cms_error *err)
{
	return read_whole(out, len, path, max, NULL, err);
}

int cms_read_input(char **out, size_t *len, const char *path, size_t max, const char *what,
		   struct cms_error *err)
{
	return read_whole(out, len, path, max, what, err);
}

static int write_all(int fd, const void *data, size_t len)
{
	const char *p = data;

	while (len > 0) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Replaces the regular file (or creates the file) at path: a temp file
 * beside it, fsync, rename, fsync of the folder. */
static int replace_file(const char *path, const void *data, size_t len, mode_t mode,
			const char *what, const char *shown, struct cms_error *err)
{
	char *tmp = NULL, *dircopy = NULL, *suffix = NULL;
	int fd = -1, dfd = -1, rc = 0;

	suffix = cms_random_hex(6);
	tmp = xasprintf("%s.tmp-%s", path, suffix ? suffix : "x");
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode);
	if (fd < 0) {
		rc = cms_error_set(err, CMS_ERROR, "cannot write %s '%s': %s", what, shown,
				   strerror(errno));
		goto done;
	}
	if (fchmod(fd, mode) < 0 || write_all(fd, data, len) < 0 || fsync(fd) < 0) {
		rc = cms_error_set(err, CMS_ERROR, "cannot write %s '%s': %s", what, shown,
				   strerror(errno));
		goto done;
	}
	if (close(fd) < 0) {
		fd = -1;
		rc = cms_error_set(err, CMS_ERROR, "cannot write %s '%s': %s", what, shown,
				   strerror(errno));
		goto done;
	}
	fd = -1;
	if (rename(tmp, path) < 0) {
		rc = cms_error_set(err, CMS_ERROR, "cannot write %s '%s': %s", what, shown,
				   strerror(errno));
		goto done;
	}
	dircopy = xstrdup(path);
	dfd = open(dirname(dircopy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0 || fsync(dfd) < 0) {
		rc = cms_error_set(err, CMS_ERROR, "cannot sync the folder of %s '%s': %s", what,
				   shown, strerror(errno));
		goto done;
	}
done:
	if (fd >= 0)
		close(fd);
	if (dfd >= 0)
		close(dfd);
	if (rc < 0 && tmp)
		unlink(tmp);
	free(tmp);
	free(dircopy);
	free(suffix);
	return rc;
}

/* Writes into the device or FIFO at path without replacing it. */
static int write_in_place(const char *path, const void *data, size_t len, const char *what,
			  struct cms_error *err)
{
	struct stat sb;
	int fd, flags, rc = 0;

	/* O_NONBLOCK: a FIFO nobody reads fails with ENXIO instead of waiting
	 * for a reader forever. */
	fd = open(path, O_WRONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
	if (fd < 0) {
		if (errno == ENXIO)
			return cms_error_set(err, CMS_ERROR, "cannot write %s '%s': it is a FIFO "
					     "nobody reads", what, path);
		return cms_error_set(err, CMS_ERROR, "cannot write %s '%s': %s", what, path,
				     strerror(errno));
	}
	/* What was opened may differ from what was looked at. */
	if (fstat(fd, &sb) < 0 || !(S_ISCHR(sb.st_mode) || S_ISFIFO(sb.st_mode))) {
		rc = cms_error_set(err, CMS_ERROR, "cannot write %s '%s': it changed while it was "
				   "opened", what, path);
		goto done;
	}
	flags = fcntl(fd, F_GETFL);
	if (flags < 0 || fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) < 0 ||
	    write_all(fd, data, len) < 0) {
		rc = cms_error_set(err, CMS_ERROR, "cannot write %s '%s': %s", what, path,
				   strerror(errno));
		goto done;
	}
done:
	close(fd);
	return rc;
}

static int write_path(const char *path, const void *data, size_t len, mode_t mode,
		      const char *what, bool in_place_ok, struct cms_error *err)
{
	struct stat sb;
	char *real = NULL;
	int rc;

	if (!path || !*path)
		return cms_error_set(err, CMS_ERROR, "cannot write %s: no path given", what);
	if (lstat(path, &sb) < 0) {
		if (errno != ENOENT)
			return cms_error_set(err, CMS_ERROR, "cannot write %s '%s': %s", what, path,
					     strerror(errno));
		return replace_file(path, data, len, mode, what, path, err);
	}
	if (S_ISLNK(sb.st_mode)) {
		/* Followed: the link stays, what it points to is written. */
		if (stat(path, &sb) < 0)
			return cms_error_set(err, CMS_ERROR, "cannot write %s '%s': it is a symbolic "
					     "link to %s", what, path,
					     errno == ENOENT ? "nothing" : strerror(errno));
		if (S_ISREG(sb.st_mode)) {
			real = realpath(path, NULL);
			if (!real)
				return cms_error_set(err, CMS_ERROR, "cannot write %s '%s': cannot "
						     "resolve the symbolic link: %s", what, path,
						     strerror(errno));
			rc = replace_file(real, data, len, mode, what, path, err);
			free(real);
			return rc;
		}
	} else if (S_ISREG(sb.st_mode)) {
		return replace_file(path, data, len, mode, what, path, err);
	}
	if (in_place_ok && (S_ISCHR(sb.st_mode) || S_ISFIFO(sb.st_mode)))
		return write_in_place(path, data, len, what, err);
	return cms_error_set(err, CMS_ERROR, "cannot write %s '%s': it is %s, not a regular file; "
			     "left as it is", what, path, cms_file_kind(sb.st_mode));
}

int cms_write_file_atomic(const char *path, const void *data, size_t len, mode_t mode,
			  const char *what, struct cms_error *err)
{
	return write_path(path, data, len, mode, what, false, err);
}

int cms_write_output(const char *path, const void *data, size_t len, mode_t mode,
		     const char *what, struct cms_error *err)
{
	return write_path(path, data, len, mode, what, true, err);
}
