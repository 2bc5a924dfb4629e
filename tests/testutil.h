/* SPDX-License-Identifier: MIT */
/*
 * Test helpers shared by the unit tests: packet builders, a harness that
 * commits packets through a coalescer into a capture writer, a reference
 * segmenter, the conservation/order/geometry checker, and a pcap reader.
 *
 * Checksums here are computed byte by byte, independently of the library's.
 */
#ifndef TB_TESTUTIL_H
#define TB_TESTUTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "internal.h"
#include "tunbatch.h"

/* ------------------------------------------------------------------------ */
/* Packet builders                                                          */
/* ------------------------------------------------------------------------ */

/* TCP flags: the library's, under the tests' prefix. */
#define TU_FIN TBI_TCP_FIN
#define TU_SYN TBI_TCP_SYN
#define TU_RST TBI_TCP_RST
#define TU_PSH TBI_TCP_PSH
#define TU_ACK TBI_TCP_ACK
#define TU_URG TBI_TCP_URG
#define TU_ECE TBI_TCP_ECE
#define TU_CWR TBI_TCP_CWR

/* Every field of an IPv4/IPv6 TCP, UDP or other packet the tests vary. */
struct tu_spec {
	uint8_t v6;	 /* 0: IPv4, 1: IPv6 */
	uint8_t proto;	 /* 6 TCP, 17 UDP; anything else: payload right after IP */
	uint8_t src[16]; /* IPv4 uses the first 4 bytes */
	uint8_t dst[16];
	uint8_t tos;	   /* IPv4 ToS / IPv6 traffic class (DSCP + ECN) */
	uint32_t flow;	   /* IPv6 flow label (20 bits) */
	uint8_t ttl;	   /* TTL / hop limit */
	uint16_t id;	   /* IPv4 ID */
	uint8_t df;	   /* IPv4 DF */
	uint16_t frag;	   /* IPv4: MF (0x2000) and/or a fragment offset, ORed in */
	uint8_t ipopt_len; /* IPv4 option bytes (multiple of 4, <= 40), NOPs + EOL */
	uint16_t sport, dport;
	uint32_t seq, ack;
	uint8_t flags;	 /* TCP flags byte */
	uint8_t tcp_res; /* low nibble of TCP byte 12 (reserved + AE) */
	uint16_t win, urg;
	uint8_t opts[40];   /* TCP options */
	uint8_t optlen;	    /* multiple of 4, <= 40 */
	uint8_t udp_nocsum; /* UDP checksum field 0 */
	uint8_t bad_csum;   /* L4 checksum off by one */
	uint8_t bad_ipcsum; /* IPv4 header checksum off by one */
	uint32_t len;	    /* payload bytes */
	uint32_t pay_off;   /* payload byte i is tu_pay_byte(pay_off + i) */
	const uint8_t *pay; /* or these bytes, when not NULL */
};

struct tu_spec tu_tcp4(void); /* 10.0.0.1:1000 > 10.0.0.2:2000, ACK, DF, 100 bytes */
struct tu_spec tu_tcp6(void); /* fd00::1:1000 > fd00::2:2000 */
struct tu_spec tu_udp4(void);
struct tu_spec tu_udp6(void);
struct tu_spec tu_icmp4(void); /* echo request */
struct tu_spec tu_icmp6(void);
struct tu_spec tu_tcp(int v6); /* tu_tcp6() or tu_tcp4() */
struct tu_spec tu_udp(int v6);

/* IP header bytes of the builders' packets (no IPv4 options). */
static inline unsigned tu_iphl(int v6)
{
	return v6 ? 40 : 20;
}

uint8_t tu_pay_byte(uint32_t i);
/* TCP timestamp option (NOP NOP TS), 12 bytes. */
void tu_set_ts(struct tu_spec *s, uint32_t tsval, uint32_t tsecr);
/* Next packet of the same flow: ID + 1, payload moves on, TCP seq += len. */
void tu_next(struct tu_spec *s);
size_t tu_spec_len(const struct tu_spec *s);
/* IP header bytes of s's packet, options included. */
unsigned tu_spec_iphl(const struct tu_spec *s);
/* Builds into out (cap bytes); returns the packet length. */
size_t tu_build(const struct tu_spec *s, uint8_t *out, size_t cap);
/*
 * The virtio header the kernel gives s's packet (TCP or UDP) as a superpacket
 * of gso_size segments: hdr_len is its real headers' length.
 */
struct tb_vnet_hdr tu_gso_hdr(const struct tu_spec *s, uint16_t gso_size);
/* Recomputes the IPv4 header checksum and the TCP/UDP checksum in place. */
void tu_fix_csums(uint8_t *pkt, size_t len);

/* Independent checksum helpers (network-order words). */
uint32_t tu_sum(const void *p, size_t n, uint32_t s);
uint16_t tu_fold(uint32_t s);
/* Pseudo-header sum for the given L4 length. */
uint32_t tu_pseudo(const uint8_t *ip, uint8_t proto, uint32_t l4len);

/* Byte order: the library's helpers, under the tests' prefix. */
#define tu_get16 tbi_get16
#define tu_get32 tbi_get32
#define tu_put16 tbi_put16
#define tu_put32 tbi_put32

/* ------------------------------------------------------------------------ */
/* What the rules say about one packet, computed independently              */
/* ------------------------------------------------------------------------ */

enum tu_kind { TU_OTHER, TU_L4, TU_BAD };

struct tu_info {
	enum tu_kind kind;
	enum tb_lane lane; /* with both lanes on */
	size_t out_len;	   /* L4 in a lane that is on: trimmed to the IP length */
	int pure_ack;
	int v4_df;	 /* IPv4 with DF set */
	uint8_t key[40]; /* version, proto, addresses, ports (0 when unknown) */
};

void tu_classify(const uint8_t *p, size_t len, struct tu_info *out);

/* ------------------------------------------------------------------------ */
/* Reference segmenter and superpacket geometry                            */
/* ------------------------------------------------------------------------ */

struct tu_buf {
	uint8_t *data;
	size_t len;
};

/*
 * Cuts a superpacket (its bytes without the virtio header) into segments
 * the way the kernel does: IPv4 ID seed + i, TCP seq + i * gso_size, PSH
 * only on the last, every length and checksum recomputed. Returns the number
 * of segments (each malloc'd into *out, free with tu_bufs_free), or 0 when
 * the superpacket is not one (a message is then in err).
 */
size_t tu_segment(const uint8_t *sp, size_t len, const struct tb_vnet_hdr *v, struct tu_buf **out,
		  char *err, size_t errlen);
void tu_bufs_free(struct tu_buf *b, size_t n);

/*
 * Everything the kernel needs of a superpacket: NEEDS_CSUM, gso_type,
 * csum_start/offset, hdr_len, gso_size, <= 64 segments, <= 65535 bytes,
 * lengths patched, valid IPv4 header checksum, L4 checksum field = folded
 * pseudo-header sum. Returns 0 or -1 with a message in err.
 */
int tu_check_geometry(const uint8_t *sp, size_t len, const struct tb_vnet_hdr *v, char *err,
		      size_t errlen);

/* ------------------------------------------------------------------------ */
/* Harness: coalescer + arena + capture, with every committed packet kept  */
/* ------------------------------------------------------------------------ */

struct tu_in {
	const uint8_t *orig; /* in the arena, handed to commit */
	uint8_t *copy;	     /* what it held at commit */
	size_t len;
	struct tu_info info;
};

struct tu_out {
	uint8_t *data;
	size_t len;
	size_t rec;  /* capture record */
	size_t seg;  /* index in its superpacket, 0 for a plain write */
	int from_sp; /* cut from a superpacket */
	size_t src;  /* committed packet it matched */
};

struct tu_h {
	struct tb_arena *arena;
	struct tb_capture *cap;
	struct tb_coalescer *co;
	struct tu_wrap *wrap;
	struct tu_in *in;
	size_t n_in, max_in;
	struct tu_out *out;
	size_t n_out;
	struct tb_stats st0; /* stats at the start of the batch */
	int fresh;	     /* the next commit starts a new batch */
	int paranoid;	     /* check caller packets and iovecs at every write */
};

/* Writer capabilities with both lanes on. */
#define TU_CAPS (TB_CAP_TSO | TB_CAP_USO)

/* caps: writer capabilities; opts may be NULL; arena_size 0: default. */
struct tu_h *tu_new(unsigned caps, const struct tb_coalescer_opts *opts, size_t arena_size);
void tu_free(struct tu_h *h);

/* Reserve from the coalescer, build/copy, commit. Returns the index. */
size_t tu_add(struct tu_h *h, const struct tu_spec *s);
size_t tu_add_bytes(struct tu_h *h, const void *pkt, size_t len);
/* Commit a caller-owned buffer as is (it must outlive the flush). */
size_t tu_add_ptr(struct tu_h *h, const uint8_t *pkt, size_t len);
/* tu_add, then tu_next: the next call adds the flow's next packet. */
size_t tu_add_next(struct tu_h *h, struct tu_spec *s);
enum {
	TU_ALLOW_LOSS = 1, /* writes failed on purpose: missing packets allowed */
	TU_NO_CHECK = 2,   /* only flush, record outputs, check nothing */
};

/* Flushes and checks conservation, order and geometry; returns flush's rc. */
int tu_flush(struct tu_h *h);
int tu_flush_flags(struct tu_h *h, unsigned flags);

/* Records of the last batch. */
size_t tu_nrec(const struct tu_h *h);
const uint8_t *tu_rec(const struct tu_h *h, size_t i, size_t *len, struct tb_vnet_hdr *v);
/* Stats accumulated since the last batch started. */
void tu_batch_stats(const struct tu_h *h, struct tb_stats *out);

/*
 * Asserts the writes of the last batch by committed index: "[0 1 2] 3 [4 5]"
 * means a superpacket holding packets 0-2, then packet 3 plain, then a
 * superpacket of 4 and 5.
 */
void tu_expect(const struct tu_h *h, const char *layout);

/*
 * Asserts every reason counter of the last batch: "psh=1 flush=2" means
 * why[TB_WHY_PSH] == 1, why[TB_WHY_FLUSH] == 2 and every other one 0.
 */
void tu_expect_why(const struct tu_h *h, const char *counts);

/* tu_flush, which must return 0, then tu_expect and (unless NULL) tu_expect_why. */
void tu_flush_expect(struct tu_h *h, const char *layout, const char *counts);

/* The layout of one superpacket of packets from .. to - 1: "[0 1 2]". */
char *tu_chain(char *buf, size_t cap, unsigned from, unsigned to);

/* A test body fn(int v6) as two cmocka tests, fn_v4 and fn_v6. */
#define TU_BOTH(fn)                                                                                \
	static void fn##_v4(void **st)                                                             \
	{                                                                                          \
		(void)st;                                                                          \
		fn(0);                                                                             \
	}                                                                                          \
	static void fn##_v6(void **st)                                                             \
	{                                                                                          \
		(void)st;                                                                          \
		fn(1);                                                                             \
	}
#define TU_BOTH_TESTS(fn) cmocka_unit_test(fn##_v4), cmocka_unit_test(fn##_v6)

/*
 * The caps, the same in both lanes, on s's flow. Seg cap: 63 packets of 100
 * bytes make one superpacket, 66 one of 64 and one of 2. Byte cap: n + 2
 * packets of pay bytes make one superpacket of exactly 65535 bytes and one of
 * 2; n of pay + 1 bytes one of n - 1 and a plain packet.
 */
void tu_check_seg_cap(struct tu_spec s);
void tu_check_byte_cap(struct tu_spec s, unsigned n, uint32_t pay);

/* Message prefix for failures, e.g. the seed of a property run. */
void tu_context(const char *fmt, ...);

/* Fails the test with the context and a formatted message. */
void tu_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

/* ------------------------------------------------------------------------ */
/* pcap files                                                               */
/* ------------------------------------------------------------------------ */

struct tu_trace {
	struct tu_buf *pkts;
	size_t n;
};

/* Loads every IP packet of a pcap (raw IP, Ethernet, Linux cooked). */
int tu_trace_load(const char *path, struct tu_trace *t, char *err, size_t errlen);
void tu_trace_free(struct tu_trace *t);

#endif
