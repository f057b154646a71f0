/*
 * SHA-1, for git object ids computed without libgit2 (plan ids: the blob id
 * of a plan's bytes), so that commands that never touch the history do not
 * pay for libgit2's initialisation.
 */
#ifndef CMS_COMMON_SHA1_H
#define CMS_COMMON_SHA1_H

#include <stddef.h>
#include <stdint.h>

struct cms_sha1 {
	uint32_t h[5];           /* the running state */
	uint64_t len;            /* bytes hashed so far */
	unsigned char block[64]; /* a partial block of len % 64 bytes */
};

void cms_sha1_init(struct cms_sha1 *c);
void cms_sha1_update(struct cms_sha1 *c, const void *data, size_t len);
void cms_sha1_final(struct cms_sha1 *c, unsigned char out[20]);

#endif
