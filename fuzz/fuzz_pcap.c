/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target: the CLI's capture reader (tools/pcap_in.c) and the path its
 * packets take in `tunbatch coalesce`: the input is a capture file. Checks:
 *  - a file that can't be opened or read gives an error message;
 *  - every packet handed out lies inside the record libpcap read, and is
 *    what pcap_in_strip finds in it (an IP version nibble after an IP
 *    EtherType for Ethernet and cooked captures);
 *  - records = packets + non-IP frames;
 *  - the packets, coalesced in bursts of 64 into the pcap writer, give a
 *    capture libpcap reads back with one record per write;
 *  - pcap_in_strip on the raw input bytes, for every link type, stays
 *    inside the frame.
 */
#define _GNU_SOURCE
#include "pcap_in.h"
#include "tunbatch.h"

#include <pcap/pcap.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define FAIL(...)                                                                                  \
	do {                                                                                       \
		fprintf(stderr, "fuzz_pcap: " __VA_ARGS__);                                        \
		fputc('\n', stderr);                                                               \
		abort();                                                                           \
	} while (0)

static int memfd = -1;
static char path[64];

static void check_strip(const uint8_t *frame, size_t caplen)
{
	/* Exactly caplen bytes on the heap: ASan sees a read past the end. */
	uint8_t *f = malloc(caplen ? caplen : 1);

	if (!f)
		abort();
	memcpy(f, frame, caplen);
	for (int l = PCAP_IN_RAW; l <= PCAP_IN_SLL2; l++) {
		size_t len = 0;
		const uint8_t *p = pcap_in_strip((enum pcap_in_link)l, f, caplen, &len);
		if (!p)
			continue;
		if (p < f || p > f + caplen || len != (size_t)(f + caplen - p))
			FAIL("pcap_in_strip(%d) points outside its frame", l);
		if (l != PCAP_IN_RAW) {
			/* The EtherType right before the IP packet, or for an
			 * untagged cooked v2 frame the protocol field in front. */
			const uint8_t *t = l == PCAP_IN_SLL2 && p == f + 20 ? f : p - 2;
			unsigned type = (unsigned)t[0] << 8 | t[1];
			if (type != 0x0800 && type != 0x86dd)
				FAIL("pcap_in_strip(%d) found IP after EtherType %04x", l, type);
		}
	}
	free(f);
}

/* Counts the records of a capture in memory; -1 when libpcap refuses it. */
static long count_records(char *buf, size_t len)
{
	char perr[PCAP_ERRBUF_SIZE];
	struct pcap_pkthdr *h;
	const u_char *d;
	long n = 0;
	FILE *f = fmemopen(buf, len, "rb");
	pcap_t *p;
	int rc;

	if (!f)
		abort();
	p = pcap_fopen_offline(f, perr);
	if (!p) {
		fclose(f);
		return -1;
	}
	if (pcap_datalink(p) != DLT_RAW)
		n = -1;
	while (n >= 0 && (rc = pcap_next_ex(p, &h, &d)) == 1)
		n++;
	if (n >= 0 && rc != PCAP_ERROR_BREAK)
		n = -1;
	pcap_close(p);
	return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pcap_in *in;
	char err[256] = "";
	const uint8_t *pkt;
	size_t len, outlen = 0;
	uint64_t pkts = 0;
	char *outbuf = NULL;
	FILE *out;
	struct tb_pcap_writer *pw;
	struct tb_arena *arena;
	struct tb_coalescer *c;
	struct tb_stats st;
	int rc;

	check_strip(data, size);
	if (memfd < 0) {
		memfd = memfd_create("fuzz_pcap", 0);
		if (memfd < 0)
			abort();
		snprintf(path, sizeof(path), "/proc/self/fd/%d", memfd);
	}
	if (ftruncate(memfd, 0) || pwrite(memfd, data, size, 0) != (ssize_t)size)
		abort();

	in = pcap_in_open(path, err, sizeof(err));
	if (!in) {
		if (!err[0])
			FAIL("pcap_in_open failed without a message");
		return 0;
	}
	out = open_memstream(&outbuf, &outlen);
	arena = tb_arena_create(1 << 16);
	pw = out ? tb_pcap_writer_create(out, NULL, TB_CAP_TSO | TB_CAP_USO) : NULL;
	c = pw && arena ? tb_coalescer_create(tb_pcap_writer_writer(pw), arena, NULL) : NULL;
	if (!c)
		abort();
	while ((rc = pcap_in_next(in, &pkt, &len, err, sizeof(err))) == 1) {
		uint8_t *buf = tb_coalescer_reserve(c, len ? len : 1);
		if (!buf)
			abort();
		/* Reading every byte: ASan sees a packet that runs out of its record. */
		memcpy(buf, pkt, len);
		tb_coalescer_commit(c, buf, len);
		if (++pkts % 64 == 0)
			tb_coalescer_flush(c);
	}
	if (rc != 0 && rc != -1)
		FAIL("pcap_in_next returned %d", rc);
	if (rc == -1 && !err[0])
		FAIL("pcap_in_next failed without a message");
	if (pcap_in_stats(in)->records != pkts + pcap_in_stats(in)->non_ip)
		FAIL("%llu records, %llu packets + %llu non-IP",
		     (unsigned long long)pcap_in_stats(in)->records, (unsigned long long)pkts,
		     (unsigned long long)pcap_in_stats(in)->non_ip);
	if (pcap_in_stats(in)->snap_trunc > pcap_in_stats(in)->records)
		FAIL("more truncated records than records");
	if (strcmp(pcap_in_link_name(in), "") == 0)
		FAIL("no link name");
	tb_coalescer_flush(c);
	tb_coalescer_stats(c, &st);
	if (st.pkts_in != pkts || st.write_errors)
		FAIL("coalescer: %llu packets in of %llu, %llu write errors",
		     (unsigned long long)st.pkts_in, (unsigned long long)pkts,
		     (unsigned long long)st.write_errors);
	fflush(out);
	if (count_records(outbuf, outlen) != (long)st.writes)
		FAIL("the written capture does not read back as %llu records",
		     (unsigned long long)st.writes);
	tb_coalescer_destroy(c);
	tb_pcap_writer_destroy(pw);
	tb_arena_destroy(arena);
	fclose(out);
	free(outbuf);
	pcap_in_close(in);
	return 0;
}
