/* SPDX-License-Identifier: MIT */
/* Capture files in, IP packets out: libpcap reads the records, the link
 * header is stripped here. */
#include "pcap_in.h"

#include <errno.h>
#include <pcap/pcap.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef DLT_IPV4
#define DLT_IPV4 228
#endif
#ifndef DLT_IPV6
#define DLT_IPV6 229
#endif
#ifndef DLT_LINUX_SLL2
#define DLT_LINUX_SLL2 276
#endif

#define ETH_HLEN  14
#define SLL_HLEN  16
#define SLL2_HLEN 20
#define VLAN_HLEN 4

struct pcap_in {
	pcap_t *p;
	enum pcap_in_link link;
	struct pcap_in_stats st;
};

static uint16_t be16(const uint8_t *b)
{
	return (uint16_t)(b[0] << 8 | b[1]);
}

/* Follows 802.1Q / 802.1ad tags from the EtherType at type_off to the IP
 * packet, or NULL when the frame carries something else or is cut short. */
static const uint8_t *after_ethertype(const uint8_t *f, size_t caplen, size_t type_off, size_t off,
				      size_t *len)
{
	uint16_t type;

	if (caplen < off)
		return NULL;
	type = be16(f + type_off);
	/* Each tag is 4 bytes, so this ends within caplen / 4 steps. */
	while (type == 0x8100 || type == 0x88a8 || type == 0x9100) {
		if (caplen - off < VLAN_HLEN)
			return NULL;
		type = be16(f + off + 2);
		off += VLAN_HLEN;
	}
	if (type != 0x0800 && type != 0x86dd)
		return NULL;
	*len = caplen - off;
	return f + off;
}

const uint8_t *pcap_in_strip(enum pcap_in_link link, const uint8_t *frame, size_t caplen,
			     size_t *len)
{
	switch (link) {
	case PCAP_IN_RAW:
		*len = caplen;
		return frame;
	case PCAP_IN_ETH:
		return after_ethertype(frame, caplen, 12, ETH_HLEN, len);
	case PCAP_IN_SLL:
		return after_ethertype(frame, caplen, 14, SLL_HLEN, len);
	case PCAP_IN_SLL2:
		return after_ethertype(frame, caplen, 0, SLL2_HLEN, len);
	}
	return NULL;
}

static void set_err(char *err, size_t errlen, const char *msg)
{
	snprintf(err, errlen, "%s", msg);
}

/* libpcap's words for a short file are "truncated dump file; ...", and for
 * an empty one "... tried to read 4 file header bytes, only got 0". */
static void read_err(char *err, size_t errlen, const char *msg)
{
	if (strstr(msg, "file header") && strstr(msg, "only got 0"))
		snprintf(err, errlen, "empty file: not a capture");
	else if (strstr(msg, "truncated"))
		snprintf(err, errlen, "truncated pcap (%s)", msg);
	else
		snprintf(err, errlen, "not a readable pcap (%s)", msg);
}

struct pcap_in *pcap_in_open(const char *path, char *err, size_t errlen)
{
	char perr[PCAP_ERRBUF_SIZE] = "";
	struct pcap_in *in;
	FILE *f;
	int dlt;

	f = strcmp(path, "-") ? fopen(path, "rb") : stdin;
	if (!f) {
		set_err(err, errlen, strerror(errno));
		return NULL;
	}
	in = calloc(1, sizeof(*in));
	if (!in) {
		set_err(err, errlen, strerror(ENOMEM));
		if (f != stdin)
			fclose(f);
		return NULL;
	}
	in->p = pcap_fopen_offline(f, perr);
	if (!in->p) {
		/* Not a capture at all, cut inside the file header, a directory... */
		read_err(err, errlen, perr);
		if (f != stdin)
			fclose(f);
		free(in);
		return NULL;
	}
	dlt = pcap_datalink(in->p);
	switch (dlt) {
	case DLT_RAW:
	case DLT_IPV4:
	case DLT_IPV6:
		in->link = PCAP_IN_RAW;
		break;
	case DLT_EN10MB:
		in->link = PCAP_IN_ETH;
		break;
	case DLT_LINUX_SLL:
		in->link = PCAP_IN_SLL;
		break;
	case DLT_LINUX_SLL2:
		in->link = PCAP_IN_SLL2;
		break;
	default: {
		const char *name = pcap_datalink_val_to_name(dlt);
		snprintf(err, errlen,
			 "unsupported link type %d (%s): raw IP, Ethernet or Linux cooked "
			 "capture expected",
			 dlt, name ? name : "unknown");
		pcap_close(in->p);
		free(in);
		return NULL;
	}
	}
	return in;
}

int pcap_in_next(struct pcap_in *in, const uint8_t **pkt, size_t *len, char *err, size_t errlen)
{
	struct pcap_pkthdr *h;
	const u_char *data;

	for (;;) {
		int rc = pcap_next_ex(in->p, &h, &data);

		if (rc == PCAP_ERROR_BREAK)
			return 0;
		if (rc != 1) {
			read_err(err, errlen, pcap_geterr(in->p));
			return -1;
		}
		in->st.records++;
		*pkt = pcap_in_strip(in->link, data, h->caplen, len);
		if (!*pkt) {
			in->st.non_ip++;
			continue;
		}
		if (h->caplen < h->len)
			in->st.snap_trunc++;
		return 1;
	}
}

enum pcap_in_link pcap_in_link(const struct pcap_in *in)
{
	return in->link;
}

const char *pcap_in_link_name(const struct pcap_in *in)
{
	static const char *const names[] = {"raw", "ethernet", "linux_sll", "linux_sll2"};
	return names[in->link];
}

const struct pcap_in_stats *pcap_in_stats(const struct pcap_in *in)
{
	return &in->st;
}

void pcap_in_close(struct pcap_in *in)
{
	if (!in)
		return;
	pcap_close(in->p);
	free(in);
}
