/* SPDX-License-Identifier: MIT */
/* In-memory capture writer: every write recorded, for tests and tools. */
#include "internal.h"

#include <errno.h>
#include <stdlib.h>

struct rec {
	size_t off, len;
	struct tb_vnet_hdr vnet;
};

struct tb_capture {
	struct tb_writer w; /* first: container_of is a cast */
	uint8_t *buf;
	size_t used, size;
	struct rec *recs;
	size_t nrecs, maxrecs;
	unsigned fail_n;
	int fail_err;
	int fail_gso_only;
};

static int reserve_bytes(struct tb_capture *c, size_t len)
{
	if (c->nrecs == c->maxrecs) {
		size_t n = c->maxrecs ? 2 * c->maxrecs : 256;
		struct rec *r = realloc(c->recs, n * sizeof(*r));
		if (!r)
			return -ENOMEM;
		c->recs = r;
		c->maxrecs = n;
	}
	/* Even a zero-length first record needs a buffer to point into. */
	if (c->size - c->used < len || !c->buf) {
		size_t n = c->size ? c->size : 1 << 16;
		while (n - c->used < len)
			n *= 2;
		uint8_t *b = realloc(c->buf, n);
		if (!b)
			return -ENOMEM;
		c->buf = b;
		c->size = n;
	}
	return 0;
}

static int injected(struct tb_capture *c, int gso)
{
	if (!c->fail_n || (c->fail_gso_only && !gso))
		return 0;
	c->fail_n--;
	return c->fail_err;
}

static int cap_write(struct tb_writer *w, const void *pkt, size_t len)
{
	struct tb_capture *c = (struct tb_capture *)w;
	int rc = injected(c, 0);

	if (rc || (rc = reserve_bytes(c, len)))
		return rc;
	memcpy(c->buf + c->used, pkt, len);
	c->recs[c->nrecs] = (struct rec){c->used, len, {0}};
	c->nrecs++;
	c->used += len;
	return 0;
}

static int cap_write_gso(struct tb_writer *w, const struct tb_superpacket *sp)
{
	struct tb_capture *c = (struct tb_capture *)w;
	int rc = injected(c, 1);
	size_t off;

	if (rc)
		return rc;
	/* The buffer is sized from sp->len: the pieces must add up to it
	 * before a byte is copied. */
	if (!tbi_superpacket_whole(sp))
		return -EINVAL;
	if ((rc = reserve_bytes(c, sp->len)))
		return rc;
	off = c->used;
	memcpy(c->buf + off, sp->hdr, sp->vnet.hdr_len);
	off += sp->vnet.hdr_len;
	for (unsigned i = 0; i < sp->n_payload; i++) {
		memcpy(c->buf + off, sp->payload[i].iov_base, sp->payload[i].iov_len);
		off += sp->payload[i].iov_len;
	}
	c->recs[c->nrecs] = (struct rec){c->used, sp->len, sp->vnet};
	c->nrecs++;
	c->used = off;
	return 0;
}

struct tb_capture *tb_capture_create(unsigned caps)
{
	struct tb_capture *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->w.write = cap_write;
	c->w.write_gso = cap_write_gso;
	c->w.caps = caps;
	return c;
}

void tb_capture_destroy(struct tb_capture *c)
{
	if (!c)
		return;
	free(c->buf);
	free(c->recs);
	free(c);
}

struct tb_writer *tb_capture_writer(struct tb_capture *c)
{
	return &c->w;
}

size_t tb_capture_count(const struct tb_capture *c)
{
	return c->nrecs;
}

const uint8_t *tb_capture_get(const struct tb_capture *c, size_t i, size_t *len,
			      struct tb_vnet_hdr *vnet)
{
	if (i >= c->nrecs) {
		errno = EINVAL;
		return NULL;
	}
	if (len)
		*len = c->recs[i].len;
	if (vnet)
		*vnet = c->recs[i].vnet;
	return c->buf + c->recs[i].off;
}

void tb_capture_clear(struct tb_capture *c)
{
	c->used = 0;
	c->nrecs = 0;
}

void tbi_capture_fail(struct tb_capture *c, unsigned n, int err, int gso_only)
{
	c->fail_n = n;
	c->fail_err = err < 0 ? err : -EIO;
	c->fail_gso_only = gso_only;
}
