/* SPDX-License-Identifier: MIT */
/*
 * TUN to carrier: checks the virtio header of a packet read from TUN, cuts
 * TSO/USO superpackets into segments and finishes partial checksums. Every
 * length is checked against the buffer before it is used: the input comes
 * from the kernel but is treated as untrusted.
 */
#include "internal.h"

#include <errno.h>

#define L4_MAX_HDR 60 /* TCP with a full option space */
#define V4_MAX_HDR 60 /* IPv4 with a full option space */
_Static_assert(V4_MAX_HDR + L4_MAX_HDR <= TBI_HDR_SCRATCH, "header scratch too small");

#define TCP_CSUM_OFF 16
#define UDP_CSUM_OFF 6

/* What validation found out about the packet's headers. */
struct hdrs {
	uint8_t version;
	uint8_t proto;	  /* IPv4 protocol or IPv6 next header */
	uint16_t ip_len;  /* IP header bytes */
	uint16_t hdr_len; /* IP + TCP/UDP header bytes, 0 when not parsed */
};

static const char *const err_names[TB_VNET_E_COUNT] = {
	[TB_VNET_OK] = "ok",
	[TB_VNET_E_FLAGS] = "flags",
	[TB_VNET_E_GSO_TYPE] = "gso_type",
	[TB_VNET_E_ECN] = "ecn",
	[TB_VNET_E_GSO_SIZE] = "gso_size",
	[TB_VNET_E_CSUM_START] = "csum_start",
	[TB_VNET_E_CSUM_OFFSET] = "csum_offset",
	[TB_VNET_E_IP_TRUNC] = "ip_trunc",
	[TB_VNET_E_IP_VERSION] = "ip_version",
	[TB_VNET_E_IP_IHL] = "ip_ihl",
	[TB_VNET_E_IP_LEN] = "ip_len",
	[TB_VNET_E_IP_FRAG] = "ip_frag",
	[TB_VNET_E_GSO_IP] = "gso_ip",
	[TB_VNET_E_GSO_PROTO] = "gso_proto",
	[TB_VNET_E_L4_TRUNC] = "l4_trunc",
	[TB_VNET_E_TCP_DOFF] = "tcp_doff",
	[TB_VNET_E_UDP_LEN] = "udp_len",
	[TB_VNET_E_GSO_EMPTY] = "gso_empty",
	[TB_VNET_E_CSUM_L4] = "csum_l4",
};

const char *tb_vnet_err_name(enum tb_vnet_err err)
{
	if ((unsigned)err >= TB_VNET_E_COUNT)
		return "unknown";
	return err_names[err];
}

/* The IP header, whose length field must cover the buffer exactly: a
 * checksum or a segmentation over trailing bytes would be wrong. */
static enum tb_vnet_err parse_ip(const uint8_t *pkt, size_t len, struct hdrs *h)
{
	if (len < 1)
		return TB_VNET_E_IP_TRUNC;
	h->version = pkt[0] >> 4;
	if (h->version == 4) {
		unsigned ihl = (unsigned)(pkt[0] & 0x0f) * 4;
		if (len < 20)
			return TB_VNET_E_IP_TRUNC;
		if (ihl < 20)
			return TB_VNET_E_IP_IHL;
		if (ihl > len)
			return TB_VNET_E_IP_TRUNC;
		if (tbi_get16(pkt + 2) != len)
			return TB_VNET_E_IP_LEN;
		if (tbi_get16(pkt + 6) & 0x3fff) /* MF or a fragment offset */
			return TB_VNET_E_IP_FRAG;
		h->proto = pkt[9];
		h->ip_len = (uint16_t)ihl;
		return TB_VNET_OK;
	}
	if (h->version == 6) {
		if (len < 40)
			return TB_VNET_E_IP_TRUNC;
		/* A payload length of 0 (a jumbogram) fails here too. */
		if (40 + (size_t)tbi_get16(pkt + 4) != len)
			return TB_VNET_E_IP_LEN;
		h->proto = pkt[6];
		h->ip_len = 40;
		return TB_VNET_OK;
	}
	return TB_VNET_E_IP_VERSION;
}

/* The TCP or UDP header right after the IP header. */
static enum tb_vnet_err parse_l4(const uint8_t *pkt, size_t len, struct hdrs *h)
{
	const uint8_t *l4 = pkt + h->ip_len;
	size_t left = len - h->ip_len;
	unsigned l4_len;

	if (h->proto == TBI_PROTO_TCP) {
		if (left < 20)
			return TB_VNET_E_L4_TRUNC;
		l4_len = (unsigned)(l4[12] >> 4) * 4;
		if (l4_len < 20)
			return TB_VNET_E_TCP_DOFF;
		if (l4_len > left)
			return TB_VNET_E_L4_TRUNC;
	} else {
		if (left < 8)
			return TB_VNET_E_L4_TRUNC;
		if (tbi_get16(l4 + 4) != left)
			return TB_VNET_E_UDP_LEN;
		l4_len = 8;
	}
	h->hdr_len = (uint16_t)(h->ip_len + l4_len);
	return TB_VNET_OK;
}

/* hdr_len of a packet nobody asked anything of: its headers if it is a
 * complete TCP or UDP packet, else 0. */
static uint16_t plain_hdr_len(const uint8_t *pkt, size_t len)
{
	struct hdrs h = {0};

	if (parse_ip(pkt, len, &h) != TB_VNET_OK)
		return 0;
	if (h.proto != TBI_PROTO_TCP && h.proto != TBI_PROTO_UDP)
		return 0;
	if (parse_l4(pkt, len, &h) != TB_VNET_OK)
		return 0;
	return h.hdr_len;
}

static int is_gso_tcp(unsigned type)
{
	return type == TB_GSO_TCPV4 || type == TB_GSO_TCPV6;
}

static enum tb_vnet_err check(const struct tb_vnet_hdr *vh, const uint8_t *pkt, size_t len,
			      struct hdrs *h)
{
	unsigned type = vh->gso_type & ~(unsigned)TB_GSO_ECN;
	int gso = type != TB_GSO_NONE;
	int csum = vh->flags & TB_VNET_F_NEEDS_CSUM;
	enum tb_vnet_err err;

	memset(h, 0, sizeof(*h));
	if (!pkt)
		len = 0;
	if (vh->flags & ~(TB_VNET_F_NEEDS_CSUM | TB_VNET_F_DATA_VALID))
		return TB_VNET_E_FLAGS;
	if (gso && !is_gso_tcp(type) && type != TB_GSO_UDP_L4)
		return TB_VNET_E_GSO_TYPE;
	if ((vh->gso_type & TB_GSO_ECN) && !is_gso_tcp(type))
		return TB_VNET_E_ECN;
	if (gso && vh->gso_size == 0)
		return TB_VNET_E_GSO_SIZE;
	if (csum) {
		if (vh->csum_start >= len)
			return TB_VNET_E_CSUM_START;
		if ((size_t)vh->csum_start + vh->csum_offset + 2 > len)
			return TB_VNET_E_CSUM_OFFSET;
	}
	if (!gso && !csum) {
		h->hdr_len = plain_hdr_len(pkt, len);
		return TB_VNET_OK;
	}
	if ((err = parse_ip(pkt, len, h)) != TB_VNET_OK)
		return err;
	if ((type == TB_GSO_TCPV4 && h->version != 4) || (type == TB_GSO_TCPV6 && h->version != 6))
		return TB_VNET_E_GSO_IP;
	if (gso) {
		if (h->proto != (type == TB_GSO_UDP_L4 ? TBI_PROTO_UDP : TBI_PROTO_TCP))
			return TB_VNET_E_GSO_PROTO;
	} else if (h->proto != TBI_PROTO_TCP && h->proto != TBI_PROTO_UDP) {
		/* Another protocol, or IPv6 extension headers first: only the
		 * IP header is known, and the checksum must lie past it. */
		return vh->csum_start < h->ip_len ? TB_VNET_E_CSUM_L4 : TB_VNET_OK;
	}
	if ((err = parse_l4(pkt, len, h)) != TB_VNET_OK)
		return err;
	if (gso && h->hdr_len == len)
		return TB_VNET_E_GSO_EMPTY;
	if (csum && (vh->csum_start != h->ip_len ||
		     vh->csum_offset != (h->proto == TBI_PROTO_TCP ? TCP_CSUM_OFF : UDP_CSUM_OFF)))
		return TB_VNET_E_CSUM_L4;
	return TB_VNET_OK;
}

enum tb_vnet_err tb_vnet_validate(struct tb_vnet_hdr *vh, const uint8_t *pkt, size_t len)
{
	struct hdrs h;
	enum tb_vnet_err err = check(vh, pkt, len, &h);

	if (err == TB_VNET_OK)
		vh->hdr_len = h.hdr_len;
	return err;
}

/* Whether the checksum at csum_start is a UDP one, where 0 means "none". */
static int csum_is_udp(const uint8_t *pkt, size_t len, size_t csum_start, size_t csum_offset)
{
	size_t off;
	uint8_t nh;

	if (csum_offset != UDP_CSUM_OFF || len < 20)
		return 0;
	if (pkt[0] >> 4 == 4)
		return pkt[9] == TBI_PROTO_UDP && (size_t)(pkt[0] & 0x0f) * 4 == csum_start;
	if (pkt[0] >> 4 != 6 || len < 40)
		return 0;
	nh = pkt[6];
	off = 40;
	/* Extension headers, a bounded number of them. */
	for (int i = 0; i < 8 && off < csum_start; i++) {
		size_t hlen;
		if (nh != 0 && nh != 43 && nh != 44 && nh != 51 && nh != 60)
			break;
		if (off + 8 > len)
			return 0;
		if (nh == 44) /* fragment header: fixed size */
			hlen = 8;
		else if (nh == 51) /* AH: length in 4-byte units, minus 2 */
			hlen = ((size_t)pkt[off + 1] + 2) * 4;
		else
			hlen = ((size_t)pkt[off + 1] + 1) * 8;
		nh = pkt[off];
		off += hlen;
	}
	return nh == TBI_PROTO_UDP && off == csum_start;
}

/* The finished checksum of pkt[start..len), whose field holds the
 * pseudo-header sum. */
static uint16_t finish_value(const uint8_t *pkt, size_t len, size_t start, size_t offset)
{
	uint16_t c = (uint16_t)~tb_csum_fold(tb_csum_partial(pkt + start, len - start, 0));

	if (c == 0 && csum_is_udp(pkt, len, start, offset))
		c = 0xffff;
	return c;
}

int tb_csum_finish(const struct tb_vnet_hdr *vh, uint8_t *pkt, size_t len)
{
	size_t field;
	uint16_t c;

	if (!vh || (!pkt && len))
		return -EINVAL;
	if (!(vh->flags & TB_VNET_F_NEEDS_CSUM))
		return 0;
	field = (size_t)vh->csum_start + vh->csum_offset;
	if (vh->csum_start >= len || field + 2 > len)
		return -EINVAL;
	c = finish_value(pkt, len, vh->csum_start, vh->csum_offset);
	memcpy(pkt + field, &c, 2);
	return 0;
}

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
	uint16_t c = finish_value(pkt, len, vh->csum_start, vh->csum_offset);
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
static int cut(const struct tb_vnet_hdr *vh, const struct hdrs *h, const uint8_t *pkt, size_t len,
	       tb_segment_fn fn, void *user)
{
	uint8_t scratch[TBI_HDR_SCRATCH];
	uint8_t *l4 = scratch + h->ip_len;
	const size_t hdr = h->hdr_len, mss = vh->gso_size;
	const unsigned l4_hdr = (unsigned)(h->hdr_len - h->ip_len);
	const int tcp = h->proto == TBI_PROTO_TCP;
	const unsigned csum_off = tcp ? TCP_CSUM_OFF : UDP_CSUM_OFF;
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
		   struct tb_vnet_hdr *v, struct hdrs *h)
{
	if (!vh || !pkt || len == 0)
		return -EINVAL;
	*v = *vh;
	if (check(v, pkt, len, h) != TB_VNET_OK)
		return -EINVAL;
	v->hdr_len = h->hdr_len;
	return 0;
}

static int run(const struct tb_vnet_hdr *v, const struct hdrs *h, const uint8_t *pkt, size_t len,
	       tb_segment_fn fn, void *user)
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
	struct hdrs h;
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
	struct hdrs h;
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
