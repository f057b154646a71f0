/*
 * Whole-file reads and atomic writes, shared by plan files, reports and the
 * file publish target.
 */
#include "common/fileio.h"
#include "common/util.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int cms_read_file(char **out, size_t *len, const char *path, size_t max, struct cms_error *err)
{
	struct stat stbuf;
	char *data = NULL;
	size_t got = 0;
	int fd, rc = 0;

	*out = NULL;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return cms_error_set(err, errno == ENOENT ? CMS_ENOTFOUND : CMS_ERROR,
				     "cannot read '%s': %s", path, strerror(errno));
	if (fstat(fd, &stbuf) < 0 || !S_ISREG(stbuf.st_mode)) {
		rc = cms_error_set(err, CMS_ERROR, "cannot read '%s': not a regular file", path);
		goto done;
	}
	if ((size_t)stbuf.st_size > max) {
		rc = cms_error_set(err, CMS_ERROR, "cannot read '%s': larger than %zu bytes", path, max);
		goto done;
	}
	data = xmalloc((size_t)stbuf.st_size + 1);
	while (got < (size_t)stbuf.st_size) {
		ssize_t n = read(fd, data + got, (size_t)stbuf.st_size - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = cms_error_set(err, CMS_ERROR, "cannot read '%s': %s", path, strerror(errno));
			goto done;
		}
		if (n == 0)
			break;
		got += (size_t)n;
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

int cms_write_file_atomic(const char *path, const void *data, size_t len, mode_t mode,
			  const char *what, struct cms_error *err)
{
	char *tmp = NULL, *dircopy = NULL, *suffix = NULL;
	int fd = -1, dfd = -1, rc = 0;

	suffix = cms_random_hex(6);
	tmp = xasprintf("%s.tmp-%s", path, suffix ? suffix : "x");
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
	if (fd < 0) {
		rc = cms_error_set(err, CMS_ERROR, "cannot write %s '%s': %s", what, path,
				   strerror(errno));
		goto done;
	}
	if (fchmod(fd, mode) < 0 || write_all(fd, data, len) < 0 || fsync(fd) < 0) {
		rc = cms_error_set(err, CMS_ERROR, "cannot write %s '%s': %s", what, path,
				   strerror(errno));
		goto done;
	}
	if (close(fd) < 0) {
		fd = -1;
		rc = cms_error_set(err, CMS_ERROR, "cannot write %s '%s': %s", what, path,
				   strerror(errno));
		goto done;
	}
	fd = -1;
	if (rename(tmp, path) < 0) {
		rc = cms_error_set(err, CMS_ERROR, "cannot write %s '%s': %s", what, path,
				   strerror(errno));
		goto done;
	}
	dircopy = xstrdup(path);
	dfd = open(dirname(dircopy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0 || fsync(dfd) < 0) {
		rc = cms_error_set(err, CMS_ERROR, "cannot sync the folder of %s '%s': %s", what,
				   path, strerror(errno));
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
