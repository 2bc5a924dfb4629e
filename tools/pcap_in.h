/* SPDX-License-Identifier: MIT */
/* Reading IP packets out of a capture file, whatever its link layer. */
#ifndef TB_TOOLS_PCAP_IN_H
#define TB_TOOLS_PCAP_IN_H

#include <stddef.h>
#include <stdint.h>

struct pcap_in;

/* Link layers whose frames can be reduced to an IP packet. */
enum pcap_in_link {
	PCAP_IN_RAW,  /* bare IPv4/IPv6 (LINKTYPE_RAW, IPV4, IPV6) */
	PCAP_IN_ETH,  /* Ethernet, optionally with 802.1Q/802.1ad tags */
	PCAP_IN_SLL,  /* Linux cooked capture v1 */
	PCAP_IN_SLL2, /* Linux cooked capture v2 */
};

struct pcap_in_stats {
	uint64_t records;    /* records read from the file */
	uint64_t non_ip;     /* frames that carry no IP packet, skipped */
	uint64_t snap_trunc; /* records shorter than the packet on the wire */
};

/*
 * Opens path ("-" is standard input). On failure returns NULL with a short
 * description of the problem (without the file name) in err.
 */
struct pcap_in *pcap_in_open(const char *path, char *err, size_t errlen);

/*
 * The next IP packet: 1 with *pkt and *len set (valid until the next call),
 * 0 at the end of the file, -1 on a read error (a truncated file, a record
 * libpcap rejects) with the problem in err. Frames that carry no IP packet are
 * skipped and counted.
 */
int pcap_in_next(struct pcap_in *in, const uint8_t **pkt, size_t *len, char *err, size_t errlen);

enum pcap_in_link pcap_in_link(const struct pcap_in *in);
const char *pcap_in_link_name(const struct pcap_in *in); /* "raw", "ethernet", ... */
const struct pcap_in_stats *pcap_in_stats(const struct pcap_in *in);
void pcap_in_close(struct pcap_in *in);

/*
 * The IP packet inside one frame, or NULL if it carries none. Exposed for
 * tests; pcap_in_next uses it.
 */
const uint8_t *pcap_in_strip(enum pcap_in_link link, const uint8_t *frame, size_t caplen,
			     size_t *len);

#endif
