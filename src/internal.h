/* SPDX-License-Identifier: MIT */
/* Internal interfaces shared by the library's files. Symbols use tbi_. */
#ifndef TB_INTERNAL_H
#define TB_INTERNAL_H

#include "tunbatch.h"

#include <string.h>

#define TBI_MAX_SEGS	64    /* Linux GRO's MAX_GRO_SKBS-like cap on segments */
#define TBI_MAX_SUPER	65535 /* bytes in one superpacket, headers included */
#define TBI_HDR_SCRATCH 128   /* IPv6 (40) + TCP with options (60) fits */
#define TBI_NONE	0xffffffffu

/* Keeps rare paths out of the hot function's register budget. */
#if defined(__GNUC__)
#define TBI_NOINLINE	__attribute__((noinline))
#define TBI_INLINE	inline __attribute__((always_inline))
#define TBI_UNLIKELY(x) __builtin_expect(!!(x), 0)
#else
#define TBI_NOINLINE
#define TBI_INLINE	inline
#define TBI_UNLIKELY(x) (x)

#endif

/* A superpacket's headers and payload pieces add up to exactly sp->len
 * (no sum can overflow): what a writer that copies or records it relies on. */
static inline int tbi_superpacket_whole(const struct tb_superpacket *sp)
{
	size_t off = sp->vnet.hdr_len;

	if (off > sp->len)
		return 0;
	for (unsigned i = 0; i < sp->n_payload; i++) {
		if (sp->payload[i].iov_len > sp->len - off)
			return 0;
		off += sp->payload[i].iov_len;
	}
	return off == sp->len;
}

/* Reserved members of a public struct must be zero: a later release gives
 * them a meaning, and an older library must refuse what it cannot honour. */
static inline int tbi_reserved_zero(const void *p, size_t n)
{
	const uint8_t *b = p;
	for (size_t i = 0; i < n; i++)
		if (b[i])
			return 0;
	return 1;
}

static inline uint16_t tbi_get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static inline uint32_t tbi_get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static inline void tbi_put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static inline void tbi_put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

/* TCP flag bits (byte 13 of the header). */
enum {
	TBI_TCP_FIN = 0x01,
	TBI_TCP_SYN = 0x02,
	TBI_TCP_RST = 0x04,
	TBI_TCP_PSH = 0x08,
	TBI_TCP_ACK = 0x10,
	TBI_TCP_URG = 0x20,
	TBI_TCP_ECE = 0x40,
	TBI_TCP_CWR = 0x80,
};

enum { TBI_PROTO_TCP = 6, TBI_PROTO_UDP = 17 };

/* What parsing a packet found. */
enum tbi_kind {
	TBI_KIND_OTHER,	      /* not TCP/UDP, or not IP: passthrough lane */
	TBI_KIND_L4,	      /* a well-formed TCP or UDP packet */
	TBI_KIND_MALFORMED,   /* TCP/UDP but lengths lie or headers are cut */
	TBI_KIND_UNSUPPORTED, /* TCP/UDP of a shape that is never merged */
};

struct tbi_pkt {
	const uint8_t *data;
	uint32_t len;	  /* trimmed to the IP header's length */
	uint8_t version;  /* 4 or 6 */
	uint8_t proto;	  /* terminal protocol: 6, 17 or other */
	uint16_t ip_len;  /* IP header bytes */
	uint16_t l4_len;  /* L4 header bytes */
	uint16_t hdr_len; /* ip_len + l4_len */
	uint32_t payload; /* bytes after the headers */
};

/* The arena's insides, so that the coalescer's reserve is a pointer bump. */
#define TBI_ARENA_ALIGN 16

struct tbi_chunk {
	struct tbi_chunk *next;
	size_t size;
	size_t used;
	_Alignas(TBI_ARENA_ALIGN) uint8_t data[];
};

struct tb_arena {
	struct tbi_chunk *head; /* first chunk */
	struct tbi_chunk *cur;	/* chunk being filled */
	size_t capacity;
	unsigned nchunks;
};

static inline void *tbi_arena_take(struct tbi_chunk *ch, size_t size)
{
	size_t off = (ch->used + TBI_ARENA_ALIGN - 1) & ~(size_t)(TBI_ARENA_ALIGN - 1);

	if (off > ch->size || size > ch->size - off)
		return NULL;
	ch->used = off + size;
	return ch->data + off;
}

enum tbi_kind tbi_parse(const uint8_t *data, size_t len, struct tbi_pkt *p);

/* IPv6 extension headers walked to find a packet's terminal protocol. */
#define TBI_IPV6_MAX_EXT 8

/*
 * Walks the IPv6 extension headers that start at byte 40 and end before
 * end. Returns the offset of the terminal protocol's header and stores that
 * protocol, or returns 0 when the chain is longer than TBI_IPV6_MAX_EXT or
 * runs past end: the terminal protocol is then unknown.
 */
unsigned tbi_ipv6_walk(const uint8_t *data, size_t end, uint8_t *proto);

/* Checksum fields, from the start of the TCP and UDP headers. */
#define TBI_TCP_CSUM_OFF 16
#define TBI_UDP_CSUM_OFF 6

/* What validation found out about the packet's headers. */
struct tbi_hdrs {
	uint8_t version;
	uint8_t proto;	  /* IPv4 protocol or IPv6 next header */
	uint16_t ip_len;  /* IP header bytes */
	uint16_t hdr_len; /* IP + TCP/UDP header bytes, 0 when not parsed */
};

/* tb_vnet_validate's checks, with what they found out in h. */
enum tb_vnet_err tbi_vnet_check(const struct tb_vnet_hdr *vh, const uint8_t *pkt, size_t len,
				struct tbi_hdrs *h);
/* The finished checksum of pkt[start..len), whose field at start + offset
 * holds the pseudo-header sum (a UDP checksum of 0 becomes 0xFFFF). */
uint16_t tbi_csum_finish_value(const uint8_t *pkt, size_t len, size_t start, size_t offset);

/*
 * tbi_parse with the shape nearly all traffic has inline: a well-formed
 * TCP or UDP packet in IPv4 without options or fragmentation. Everything
 * else, including every way such a packet can be malformed, goes to
 * tbi_parse, which decides.
 */
static TBI_INLINE enum tbi_kind tbi_parse_fast(const uint8_t *data, size_t len, struct tbi_pkt *p)
{
	unsigned tot, l4_len;

	if (len < 28 || data[0] != 0x45 || (tbi_get16(data + 6) & 0x3fff))
		return tbi_parse(data, len, p);
	tot = tbi_get16(data + 2);
	if (tot > len)
		return tbi_parse(data, len, p);
	if (data[9] == TBI_PROTO_TCP) {
		l4_len = (unsigned)(data[32] >> 4) * 4;
		if (tot < 40 || l4_len < 20 || l4_len > tot - 20)
			return tbi_parse(data, len, p);
	} else if (data[9] == TBI_PROTO_UDP) {
		l4_len = 8;
		if (tbi_get16(data + 24) != tot - 20)
			return tbi_parse(data, len, p);
	} else {
		return tbi_parse(data, len, p);
	}
	p->data = data;
	p->len = tot;
	p->version = 4;
	p->proto = data[9];
	p->ip_len = 20;
	p->l4_len = (uint16_t)l4_len;
	p->hdr_len = (uint16_t)(20 + l4_len);
	p->payload = tot - 20 - l4_len;
	return TBI_KIND_L4;
}

/* Sum of the IPv4/IPv6 pseudo-header for an L4 length (partial, memory order). */
uint32_t tbi_pseudo_sum(const uint8_t *ip, uint8_t version, uint8_t proto, uint32_t l4_len);
/* Recomputes the IPv4 header checksum of ihl_bytes of header in place. */
void tbi_ipv4_set_csum(uint8_t *ip, unsigned ihl_bytes);
/* True when the packet's L4 checksum (and IPv4 header checksum) are right. */
int tbi_verify_csum(const struct tbi_pkt *p);

/* The wake eventfd (wake.c, Linux only) of the device and the carrier. */
int tbi_wake_open(void); /* the eventfd, or a negative errno */
void tbi_wake(int wake_fd);
/*
 * One wait for events on fd, or for the wake eventfd; EINTR is retried
 * with the time left of timeout_ms (CLOCK_MONOTONIC).
 * Returns fd's revents (> 0), 0 on timeout, -ESHUTDOWN once woken, or a
 * negative errno.
 */
int tbi_poll_wake(int fd, short events, int wake_fd, int timeout_ms);

/* Tests of error paths: the next n writes of the capture writer fail with
 * err (gso_only: only superpacket writes). Not in the public header. */
void tbi_capture_fail(struct tb_capture *c, unsigned n, int err, int gso_only);

#endif
