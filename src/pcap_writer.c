/* SPDX-License-Identifier: MIT */
/* pcap writer: LINKTYPE_RAW records of what would go to TUN, plus an
 * optional JSON log of each record's virtio header. */
#include "internal.h"

#include <errno.h>
#include <stdlib.h>

#define LINKTYPE_RAW 101
#define SNAPLEN	     262144

struct tb_pcap_writer {
	struct tb_writer w; /* first: container_of is a cast */
	FILE *pcap;
	FILE *log;
	int log_failed; /* a line was lost: nothing more is logged */
	uint32_t n;
};

static int record_head(struct tb_pcap_writer *p, size_t len)
{
	/* Timestamps count records (one per microsecond): the order is what
	 * matters, and a replay should be reproducible byte for byte. */
	uint32_t h[4] = {p->n / 1000000, p->n % 1000000, (uint32_t)len, (uint32_t)len};

	p->n++;
	return fwrite(h, sizeof(h), 1, p->pcap) == 1 ? 0 : -EIO;
}

static const char *gso_name(uint8_t t)
{
	switch (t & ~TB_GSO_ECN) {
	case TB_GSO_NONE:
		return "none";
	case TB_GSO_TCPV4:
		return "tcpv4";
	case TB_GSO_TCPV6:
		return "tcpv6";
	case TB_GSO_UDP_L4:
		return "udp_l4";
	default:
		return "udp";
	}
}

/*
 * The log line of a record already in the pcap file. Its failure does not
 * fail the write: the coalescer would then write the superpacket's packets
 * again, and the pcap file would hold them twice. The log stops at its
 * first lost line, so that line i still describes record i; the stream's
 * error indicator (ferror) tells the caller it is incomplete.
 */
static void log_vnet(struct tb_pcap_writer *p, const struct tb_vnet_hdr *v)
{
	if (!p->log || p->log_failed)
		return;
	int n = fprintf(p->log,
			"{\"gso_type\":\"%s\",\"gso_size\":%u,\"hdr_len\":%u,\"csum_start\":%u,"
			"\"csum_offset\":%u,\"needs_csum\":%s}\n",
			gso_name(v->gso_type), v->gso_size, v->hdr_len, v->csum_start,
			v->csum_offset, (v->flags & TB_VNET_F_NEEDS_CSUM) ? "true" : "false");
	if (n < 0)
		p->log_failed = 1;
}

static int pw_write(struct tb_writer *w, const void *pkt, size_t len)
{
	struct tb_pcap_writer *p = (struct tb_pcap_writer *)w;
	struct tb_vnet_hdr none = {0};
	int rc = record_head(p, len);

	if (rc)
		return rc;
	if (len && fwrite(pkt, len, 1, p->pcap) != 1)
		return -EIO;
	log_vnet(p, &none);
	return 0;
}

static int pw_write_gso(struct tb_writer *w, const struct tb_superpacket *sp)
{
	struct tb_pcap_writer *p = (struct tb_pcap_writer *)w;
	int rc;

	/* The record's length is sp->len: the pieces must add up to it. */
	if (!tbi_superpacket_whole(sp))
		return -EINVAL;
	rc = record_head(p, sp->len);
	if (rc)
		return rc;
	if (fwrite(sp->hdr, sp->vnet.hdr_len, 1, p->pcap) != 1)
		return -EIO;
	for (unsigned i = 0; i < sp->n_payload; i++)
		if (sp->payload[i].iov_len &&
		    fwrite(sp->payload[i].iov_base, sp->payload[i].iov_len, 1, p->pcap) != 1)
			return -EIO;
	log_vnet(p, &sp->vnet);
	return 0;
}

struct tb_pcap_writer *tb_pcap_writer_create(FILE *pcap, FILE *vnet_log, unsigned caps)
{
	struct tb_pcap_writer *p;
	struct {
		uint32_t magic;
		uint16_t major, minor;
		int32_t zone;
		uint32_t sigfigs, snaplen, linktype;
	} fh = {0xa1b2c3d4, 2, 4, 0, 0, SNAPLEN, LINKTYPE_RAW};

	if (!pcap) {
		errno = EINVAL;
		return NULL;
	}
	if (fwrite(&fh, sizeof(fh), 1, pcap) != 1) {
		errno = EIO;
		return NULL;
	}
	p = calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	p->w.write = pw_write;
	p->w.write_gso = pw_write_gso;
	p->w.caps = caps;
	p->pcap = pcap;
	p->log = vnet_log;
	return p;
}

struct tb_writer *tb_pcap_writer_writer(struct tb_pcap_writer *p)
{
	return &p->w;
}

void tb_pcap_writer_destroy(struct tb_pcap_writer *p)
{
	if (!p)
		return;
	fflush(p->pcap);
	if (p->log)
		fflush(p->log);
	free(p);
}
