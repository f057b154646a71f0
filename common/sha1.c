/*
 * SHA-1 (FIPS 180-4), the hash of git object ids.  Used only to name plans
 * by the blob id git would give their bytes; never for anything that needs
 * collision resistance on its own (the history's objects are libgit2's).
 */
#include "common/sha1.h"

#include <string.h>

static uint32_t rol(uint32_t x, int n)
{
	return (x << n) | (x >> (32 - n));
}

static void sha1_block(struct cms_sha1 *c, const unsigned char *p)
{
	uint32_t w[80], a, b, cc, d, e, t;
	int i;

	for (i = 0; i < 16; i++)
		w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 |
		       (uint32_t)p[4 * i + 2] << 8 | (uint32_t)p[4 * i + 3];
	for (i = 16; i < 80; i++)
		w[i] = rol(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);
	a = c->h[0];
	b = c->h[1];
	cc = c->h[2];
	d = c->h[3];
	e = c->h[4];
	for (i = 0; i < 80; i++) {
		uint32_t f, k;

		if (i < 20) {
			f = (b & cc) | (~b & d);
			k = 0x5a827999;
		} else if (i < 40) {
			f = b ^ cc ^ d;
			k = 0x6ed9eba1;
		} else if (i < 60) {
			f = (b & cc) | (b & d) | (cc & d);
			k = 0x8f1bbcdc;
		} else {
			f = b ^ cc ^ d;
			k = 0xca62c1d6;
		}
		t = rol(a, 5) + f + e + k + w[i];
		e = d;
		d = cc;
		cc = rol(b, 30);
		b = a;
		a = t;
	}
	c->h[0] += a;
	c->h[1] += b;
	c->h[2] += cc;
	c->h[3] += d;
	c->h[4] += e;
}

void cms_sha1_init(struct cms_sha1 *c)
{
	c->h[0] = 0x67452301;
	c->h[1] = 0xefcdab89;
	c->h[2] = 0x98badcfe;
	c->h[3] = 0x10325476;
	c->h[4] = 0xc3d2e1f0;
	c->len = 0;
}

void cms_sha1_update(struct cms_sha1 *c, const void *data, size_t len)
{
	const unsigned char *p = data;
	size_t have = (size_t)(c->len % 64);

	c->len += len;
	if (have) {
		size_t take = 64 - have < len ? 64 - have : len;

		memcpy(c->block + have, p, take);
		p += take;
		len -= take;
		if (have + take < 64)
			return;
		sha1_block(c, c->block);
	}
	for (; len >= 64; p += 64, len -= 64)
		sha1_block(c, p);
	memcpy(c->block, p, len);
}

void cms_sha1_final(struct cms_sha1 *c, unsigned char out[20])
{
	uint64_t bits = c->len * 8;
	unsigned char pad[72];
	size_t have = (size_t)(c->len % 64), n = (have < 56 ? 56 : 120) - have;
	int i;

	memset(pad, 0, sizeof(pad));
	pad[0] = 0x80;
	for (i = 0; i < 8; i++)
		pad[n + (size_t)i] = (unsigned char)(bits >> (56 - 8 * i));
	cms_sha1_update(c, pad, n + 8);
	for (i = 0; i < 20; i++)
		out[i] = (unsigned char)(c->h[i / 4] >> (24 - 8 * (i % 4)));
}
