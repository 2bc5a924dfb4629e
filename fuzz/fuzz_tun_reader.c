/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target: the TUN reader and the virtio header validation it applies,
 * over a datagram socketpair standing in for the device (tb_tun_attach
 * takes one). The input is a sequence of datagrams as TUN would deliver them
 * (virtio header + packet), sent and read back in rounds. Checks:
 *  - every datagram read is either delivered, unchanged and in order, with
 *    the header tb_vnet_validate makes of it, or dropped and counted under
 *    the reason tb_vnet_validate gives (too short for a header, too big for
 *    the room left);
 *  - delivered packets don't overlap in the reader's buffer;
 *  - a delivered superpacket or partial-checksum packet is one tb_segment
 *    accepts;
 *  - the reader's statistics add up.
 *
 * Input: byte 0 = options (bit 0 no virtio header; bits 1-2 packets per
 * read 64, 1, 3, 16; bits 3-4 buffer 1 MiB, smallest, 200 kB, 128 KiB);
 * then datagrams: 3-byte length (big endian, at most 70000, 0 is skipped),
 * then that many bytes.
 */
#include "refcheck.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_DGRAMS 512
#define ROOM	   ((size_t)65536 + 64) /* the reader keeps this much free per read */

#define FAIL(...)                                                                                  \
	do {                                                                                       \
		fprintf(stderr, "fuzz_tun_reader: " __VA_ARGS__);                                  \
		fputc('\n', stderr);                                                               \
		abort();                                                                           \
	} while (0)

struct dgram {
	const uint8_t *data;
	size_t len;
	int verdict; /* what must happen: see classify() */
	enum tb_vnet_err err;
	struct tb_vnet_hdr vnet; /* as validated */
};

enum {
	MUST_DELIVER,
	MUST_DROP_SHORT,
	MUST_DROP_BAD,
	MAY_DELIVER, /* big enough that the room left decides */
	MAY_DROP_BAD,
};

static void classify(struct dgram *d, int vnet)
{
	size_t hl = vnet ? TB_VNET_HDR_LEN : 0;
	int big;

	memset(&d->vnet, 0, sizeof(d->vnet));
	d->err = TB_VNET_OK;
	if (d->len < hl) {
		d->verdict = MUST_DROP_SHORT;
		return;
	}
	big = d->len - hl >= ROOM;
	if (vnet) {
		tb_vnet_decode(d->data, &d->vnet);
		d->err = tb_vnet_validate(&d->vnet, d->data + hl, d->len - hl);
	}
	if (d->err != TB_VNET_OK)
		d->verdict = big ? MAY_DROP_BAD : MUST_DROP_BAD;
	else
		d->verdict = big ? MAY_DELIVER : MUST_DELIVER;
}

static int nop(void *user, const struct iovec *iov, unsigned iovcnt)
{
	(void)user;
	(void)iov;
	(void)iovcnt;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct dgram dg[MAX_DGRAMS];
	static const unsigned max_pkts[4] = {64, 1, 3, 16};
	static const size_t bufs[4] = {0, ROOM, 200000, 1 << 17};
	struct tb_tun_reader_opts ro = {0};
	struct tb_tun_reader_stats st;
	struct tb_tun_opts to = {0};
	struct tb_tun_reader *r;
	struct tb_tun *t;
	unsigned nd = 0, sent = 0, next = 0, delivered = 0;
	uint64_t exp_short = 0, exp_bad[TB_VNET_E_COUNT] = {0}, may_bad[TB_VNET_E_COUNT] = {0};
	uint64_t maybes = 0, bytes = 0;
	int sv[2], err, vnet;
	size_t i = 1;

	if (size < 1)
		return 0;
	to.no_vnet_hdr = data[0] & 1;
	vnet = !to.no_vnet_hdr;
	ro.max_pkts = max_pkts[(data[0] >> 1) & 3];
	ro.buf_size = bufs[(data[0] >> 3) & 3];
	while (i + 3 <= size && nd < MAX_DGRAMS) {
		size_t len = (size_t)data[i] << 16 | (size_t)data[i + 1] << 8 | data[i + 2];
		i += 3;
		if (len > 70000)
			len = 70000;
		if (len > size - i)
			len = size - i;
		if (len) { /* a zero-length datagram reads as the end of the fd */
			dg[nd].data = data + i;
			dg[nd].len = len;
			classify(&dg[nd], vnet);
			nd++;
		}
		i += len;
	}

	if (socketpair(AF_UNIX, SOCK_DGRAM, 0, sv))
		abort();
	/* Room for the largest datagram: the default may be smaller. */
	{
		int sz = 1 << 20;
		setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
		setsockopt(sv[1], SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
	}
	t = tb_tun_attach(sv[1], &to);
	err = t ? 0 : -errno;
	if (!t)
		FAIL("tb_tun_attach on a socketpair: %d", err);
	if (tb_tun_vnet(t) != vnet)
		FAIL("virtio header use %d, asked %d", tb_tun_vnet(t), vnet);
	r = tb_tun_reader_create(t, 0, &ro);
	if (!r)
		abort();

	for (;;) {
		const struct tb_tun_pkt *pkts;
		int n;

		while (sent < nd) {
			ssize_t w = send(sv[0], dg[sent].data, dg[sent].len, MSG_DONTWAIT);
			if (w < 0 && (errno == EAGAIN || errno == ENOBUFS))
				break;
			if (w != (ssize_t)dg[sent].len)
				FAIL("send: %zd of %zu (%d)", w, dg[sent].len, errno);
			sent++;
		}
		n = tb_tun_read(r, 0, &pkts);
		if (n < 0)
			FAIL("tb_tun_read: %d", n);
		if ((unsigned)n > ro.max_pkts)
			FAIL("%d packets, at most %u asked", n, ro.max_pkts);
		for (int k = 0; k < n; k++) {
			const struct tb_tun_pkt *p = &pkts[k];
			size_t hl = vnet ? TB_VNET_HDR_LEN : 0;
			for (int j = 0; j < k; j++)
				if (p->data < pkts[j].data + pkts[j].len &&
				    pkts[j].data < p->data + p->len)
					FAIL("packets %d and %d overlap", j, k);
			/* The next datagram that may be delivered must be this
			 * one; those before it that must be dropped were. */
			for (;; next++) {
				struct dgram *d = &dg[next];
				if (next == sent)
					FAIL("packet %d delivered beyond what was sent", k);
				if (d->verdict == MUST_DROP_SHORT) {
					exp_short++;
					continue;
				}
				if (d->verdict == MUST_DROP_BAD) {
					exp_bad[d->err]++;
					continue;
				}
				if (d->verdict == MAY_DROP_BAD) {
					may_bad[d->err]++;
					continue;
				}
				if (d->len - hl == p->len &&
				    !memcmp(d->data + hl, p->data, p->len) &&
				    !memcmp(&d->vnet, &p->vnet, sizeof(d->vnet)))
					break;
				if (d->verdict == MUST_DELIVER)
					FAIL("datagram %u not delivered as it was sent", next);
				maybes++;
			}
			next++;
			delivered++;
			bytes += p->len;
			if (p->vnet.gso_type != TB_GSO_NONE ||
			    (p->vnet.flags & TB_VNET_F_NEEDS_CSUM)) {
				int s = tb_segment(&p->vnet, p->data, p->len, nop, NULL);
				if (s < 1)
					FAIL("tb_segment refused a delivered packet: %d", s);
			}
		}
		if (n == 0 && sent == nd)
			break;
	}
	/* What is left was read and dropped. */
	for (; next < nd; next++) {
		struct dgram *d = &dg[next];
		if (d->verdict == MUST_DELIVER)
			FAIL("datagram %u never delivered", next);
		if (d->verdict == MUST_DROP_SHORT)
			exp_short++;
		else if (d->verdict == MUST_DROP_BAD)
			exp_bad[d->err]++;
		else if (d->verdict == MAY_DROP_BAD)
			may_bad[d->err]++;
		else
			maybes++;
	}

	tb_tun_reader_stats(r, &st);
	if (st.reads != nd || st.pkts != delivered || st.bytes != bytes)
		FAIL("statistics: reads %llu of %u, pkts %llu of %u", (unsigned long long)st.reads,
		     nd, (unsigned long long)st.pkts, delivered);
	if (st.short_reads != exp_short)
		FAIL("statistics: %llu short reads, %llu expected",
		     (unsigned long long)st.short_reads, (unsigned long long)exp_short);
	uint64_t bad = 0, exp = 0, mb = 0;
	for (int e = 0; e < TB_VNET_E_COUNT; e++) {
		if (st.bad[e] < exp_bad[e] || st.bad[e] > exp_bad[e] + may_bad[e])
			FAIL("statistics: %llu refused as %s, %llu expected",
			     (unsigned long long)st.bad[e], tb_vnet_err_name((enum tb_vnet_err)e),
			     (unsigned long long)exp_bad[e]);
		bad += st.bad[e];
		exp += exp_bad[e];
		mb += may_bad[e];
	}
	if (st.dropped != bad + st.short_reads + st.oversize)
		FAIL("statistics: dropped is not the sum of its reasons");
	/* Big datagrams not delivered, and big bad ones not counted as bad,
	 * were too big for the room left. */
	if (st.oversize != maybes + mb - (bad - exp))
		FAIL("statistics: %llu oversize, %llu expected", (unsigned long long)st.oversize,
		     (unsigned long long)(maybes + mb - (bad - exp)));
	if (st.pkts + st.dropped != st.reads)
		FAIL("statistics: delivered + dropped != read");

	tb_tun_reader_destroy(r);
	tb_tun_close(t);
	close(sv[0]);
	close(sv[1]);
	return 0;
}
