/* SPDX-License-Identifier: MIT */
/*
 * TUN to carrier: cuts TSO/USO superpackets read from TUN into segments and
 * finishes partial checksums, after tbi_vnet_check (vnet.c) has checked the
 * virtio header against the packet. Every length is checked against the
 * buffer before it is used: the input comes from the kernel but is treated
 * as untrusted.
 */
#include "internal.h"

#include <errno.h>

#define L4_MAX_HDR 60 /* TCP with a full option space */
#define V4_MAX_HDR 60 /* IPv4 with a full option space */
_Static_assert(V4_MAX_HDR + L4_MAX_HDR <= TBI_HDR_SCRATCH, "header scratch too small");

/* fn's verdict as tb_segment's return value: 0 goes on. */
static int stop_value(int rc)
{
	return rc < 0 ? rc : -ECANCELED;
}

/* A GSO_NONE packet with NEEDS_CSUM: the finished checksum goes into a copy
 * of the bytes before it when they fit the scratch, else into a 2-byte
 * piece of its own; the rest points into pkt. */
static int deliver_finished(const struct tb_vnet_hdr *vh, const uint8_t *pkt, size_t len,
			    tb_segment_fn fn, void *user)
{
	uint8_t scratch[TBI_HDR_SCRATCH];
	size_t field = (size_t)vh->csum_start + vh->csum_offset;
	uint16_t c = tbi_csum_finish_value(pkt, len, vh->csum_start, vh->csum_offset);
	struct iovec iov[3];
	unsigned n = 0;
	int rc;

	if (field + 2 <= sizeof(scratch)) {
		memcpy(scratch, pkt, field);
		memcpy(scratch + field, &c, 2);
		iov[n++] = (struct iovec){scratch, field + 2};
	} else {
		memcpy(scratch, &c, 2);
		iov[n++] = (struct iovec){(void *)pkt, field};
		iov[n++] = (struct iovec){scratch, 2};
	}
	if (len > field + 2)
		iov[n++] = (struct iovec){(void *)(pkt + field + 2), len - field - 2};
	rc = fn(user, iov, n);
	return rc ? stop_value(rc) : 1;
}

/* Cuts a validated superpacket; hdr_len is the real one. */
static int cut(const struct tb_vnet_hdr *vh, const struct tbi_hdrs *h, const uint8_t *pkt,
	       size_t len, tb_segment_fn fn, void *user)
{
	uint8_t scratch[TBI_HDR_SCRATCH];
	uint8_t *l4 = scratch + h->ip_len;
	const size_t hdr = h->hdr_len, mss = vh->gso_size;
	const unsigned l4_hdr = (unsigned)(h->hdr_len - h->ip_len);
	const int tcp = h->proto == TBI_PROTO_TCP;
	const unsigned csum_off = tcp ? TBI_TCP_CSUM_OFF : TBI_UDP_CSUM_OFF;
	const unsigned nseg = (unsigned)((len - hdr + mss - 1) / mss);
	const uint16_t id0 = h->version == 4 ? tbi_get16(pkt + 4) : 0;
	const uint32_t seq0 = tcp ? tbi_get32(pkt + h->ip_len + 4) : 0;
	const uint8_t flags0 = tcp ? pkt[h->ip_len + 13] : 0;
	size_t off = hdr;

	/* Copied once: every field that differs between segments is rewritten
	 * below for each of them. */
	memcpy(scratch, pkt, hdr);
	for (unsigned i = 0; i < nseg; i++, off += mss) {
		size_t seg = len - off < mss ? len - off : mss;
		uint32_t l4_bytes = (uint32_t)(l4_hdr + seg);
		struct iovec iov[2];
		uint32_t sum;
		uint16_t c;
		int rc;

		if (h->version == 4) {
			tbi_put16(scratch + 2, (uint16_t)(hdr + seg));
			tbi_put16(scratch + 4, (uint16_t)(id0 + i));
			tbi_ipv4_set_csum(scratch, h->ip_len);
		} else {
			tbi_put16(scratch + 4, (uint16_t)l4_bytes);
		}
		if (tcp) {
			uint8_t f = flags0;
			tbi_put32(l4 + 4, seq0 + (uint32_t)(i * mss));
			if (i + 1 < nseg)
				f = (uint8_t)(f & ~(TBI_TCP_FIN | TBI_TCP_PSH));
			if (i > 0)
				f = (uint8_t)(f & ~TBI_TCP_CWR);
			l4[13] = f;
		} else {
			tbi_put16(l4 + 4, (uint16_t)l4_bytes);
		}
		/* The whole checksum, not the kernel's seed: nothing in the
		 * superpacket's checksum field is trusted. */
		l4[csum_off] = l4[csum_off + 1] = 0;
		sum = tbi_pseudo_sum(scratch, h->version, h->proto, l4_bytes);
		sum = tb_csum_partial(l4, l4_hdr, sum); /* even length: chaining holds */
		sum = tb_csum_partial(pkt + off, seg, sum);
		c = (uint16_t)~tb_csum_fold(sum);
		if (c == 0 && !tcp)
			c = 0xffff; /* 0 would mean "no checksum" */
		memcpy(l4 + csum_off, &c, 2);

		iov[0] = (struct iovec){scratch, hdr};
		iov[1] = (struct iovec){(void *)(pkt + off), seg};
		rc = fn(user, iov, 2);
		if (rc)
			return stop_value(rc);
	}
	return (int)nseg;
}

/* Validation and the dispatch both entry points share. */
static int prepare(const struct tb_vnet_hdr *vh, const uint8_t *pkt, size_t len,
		   struct tb_vnet_hdr *v, struct tbi_hdrs *h)
{
	if (!vh || !pkt || len == 0)
		return -EINVAL;
	*v = *vh;
	if (tbi_vnet_check(v, pkt, len, h) != TB_VNET_OK)
		return -EINVAL;
	v->hdr_len = h->hdr_len;
	return 0;
}

static int run(const struct tb_vnet_hdr *v, const struct tbi_hdrs *h, const uint8_t *pkt,
	       size_t len, tb_segment_fn fn, void *user)
{
	if ((v->gso_type & ~TB_GSO_ECN) != TB_GSO_NONE)
		return cut(v, h, pkt, len, fn, user);
	if (v->flags & TB_VNET_F_NEEDS_CSUM)
		return deliver_finished(v, pkt, len, fn, user);
	{
		struct iovec iov = {(void *)pkt, len};
		int rc = fn(user, &iov, 1);
		return rc ? stop_value(rc) : 1;
	}
}

int tb_segment(const struct tb_vnet_hdr *vh, const uint8_t *pkt, size_t len, tb_segment_fn fn,
	       void *user)
{
	struct tb_vnet_hdr v;
	struct tbi_hdrs h;
	int rc;

	if (!fn)
		return -EINVAL;
	if ((rc = prepare(vh, pkt, len, &v, &h)))
		return rc;
	return run(&v, &h, pkt, len, fn, user);
}

struct into {
	uint8_t *out;
	size_t *seg_lens;
	unsigned n;
};

static int copy_out(void *user, const struct iovec *iov, unsigned iovcnt)
{
	struct into *t = user;
	size_t len = 0;

	for (unsigned i = 0; i < iovcnt; i++) {
		memcpy(t->out + len, iov[i].iov_base, iov[i].iov_len);
		len += iov[i].iov_len;
	}
	t->out += len;
	if (t->seg_lens)
		t->seg_lens[t->n] = len;
	t->n++;
	return 0;
}

int tb_segment_into(const struct tb_vnet_hdr *vh, const uint8_t *pkt, size_t len, uint8_t *out,
		    size_t out_size, size_t *seg_lens, unsigned max_segs)
{
	struct tb_vnet_hdr v;
	struct tbi_hdrs h;
	struct into t = {out, seg_lens, 0};
	size_t nseg = 1, need = len;
	int rc;

	if (!out)
		return -EINVAL;
	if ((rc = prepare(vh, pkt, len, &v, &h)))
		return rc;
	if ((v.gso_type & ~TB_GSO_ECN) != TB_GSO_NONE) {
		nseg = (len - h.hdr_len + v.gso_size - 1) / v.gso_size;
		need = nseg * h.hdr_len + (len - h.hdr_len);
	}
	if (nseg > max_segs || need > out_size)
		return -ENOBUFS;
	return run(&v, &h, pkt, len, copy_out, &t);
}
