/* SPDX-License-Identifier: MIT */
/*
 * An independent reading of the rules, for the fuzz targets to check the
 * library against: a packet classifier, the kernel's superpacket geometry
 * rules and a reference segmenter. Written from the rules, not from the
 * library's code, so that the two disagree when either is wrong.
 */
#ifndef TB_REFCHECK_H
#define TB_REFCHECK_H

#include "tunbatch.h"

#include <stddef.h>
#include <stdint.h>

enum { RC_PASS, RC_TCP, RC_UDP };

struct rc_info {
	uint8_t lane;	  /* RC_* by terminal protocol, before lanes on/off */
	uint8_t clean;	  /* a well-formed TCP/UDP packet of a coalescible shape */
	uint8_t version;  /* 4 or 6, 0 when not IP */
	uint8_t pure_ack; /* clean TCP, no payload, ACK with only PSH/ECE beside */
	uint16_t ip_len;  /* clean only */
	uint16_t l4_len;  /* clean only */
	uint32_t len;	  /* clean only: the IP header's length (the rest is trimmed) */
	uint32_t payload; /* clean only */
	uint8_t keylen;	  /* clean only: addresses, protocol, ports */
	uint8_t key[40];
};

void rc_classify(const uint8_t *pkt, size_t len, struct rc_info *out);

/* RFC 1071 sum, done the slow obvious way. */
uint32_t rc_sum(const uint8_t *p, size_t len, uint32_t sum);
uint16_t rc_fold(uint32_t sum);
/* Pseudo-header sum for a packet whose IP header starts at ip. */
uint32_t rc_pseudo(const uint8_t *ip, int version, uint8_t proto, uint32_t l4len);
/* IPv4 header checksum and L4 checksum of a clean packet both hold. */
int rc_csum_ok(const uint8_t *pkt, const struct rc_info *in);

/*
 * The geometry the kernel accepts for a superpacket from a TUN writer, and
 * the shape tunbatch promises (no IP options, every header patched).
 * NULL when it holds, else what is wrong.
 */
const char *rc_geometry(const struct tb_vnet_hdr *v, const uint8_t *sp, size_t len);

/*
 * rc_geometry's rules by whose they are: RC_KERNEL, what Linux refuses or
 * does not deliver intact (tests/ktest_oracle.c checks each against a real
 * TUN); RC_OURS, the stricter shape the coalescer promises. rc_geometry is
 * both. Every rule's source is named in refcheck.c.
 */
enum { RC_KERNEL = 1, RC_OURS = 2 };
const char *rc_rules(const struct tb_vnet_hdr *v, const uint8_t *sp, size_t len, unsigned which);

/*
 * Cuts a superpacket into segments as the kernel's GSO would: segment i goes
 * to out + offs[i] with length lens[i]. Checksums are complete. Returns the
 * number of segments, or -1 when it does not fit max segments / outcap bytes
 * or the geometry is wrong.
 */
int rc_segment(const struct tb_vnet_hdr *v, const uint8_t *sp, size_t len, uint8_t *out,
	       size_t outcap, size_t *offs, size_t *lens, unsigned max);

/*
 * rc_segment without the geometry check: cuts len bytes whose IP header is
 * ip_len bytes and IP + L4 headers hdr_len bytes into g-byte payloads (one
 * packet when g is 0 or covers the payload), as the kernel would if it
 * took them. sp must hold at least hdr_len bytes of sane headers.
 */
int rc_cut(const uint8_t *sp, size_t len, unsigned ip_len, unsigned hdr_len, int tcp, unsigned g,
	   uint8_t *out, size_t outcap, size_t *offs, size_t *lens, unsigned max);

/*
 * Compares a segment cut from a superpacket with the packet that went in:
 * equal but for the IPv4 header checksum, the L4 checksum and, when DF is
 * set, the IPv4 ID (the kernel numbers segments itself). NULL when equal.
 */
const char *rc_same_segment(const uint8_t *seg, size_t seglen, const uint8_t *orig,
			    const struct rc_info *in);

/*
 * The virtio header check as include/tunbatch.h documents it, written
 * apart from the library's: 1 when the header holds (with *hdr_len the
 * real IP + TCP/UDP header length, or 0 for a plain packet that is not a
 * complete TCP/UDP packet), 0 when it is refused.
 */
int rc_vnet_ok(const struct tb_vnet_hdr *v, const uint8_t *pkt, size_t len, unsigned *hdr_len);

#endif
