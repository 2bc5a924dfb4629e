/* SPDX-License-Identifier: MIT */
/*
 * The kernel as the oracle of the write path. One namespace, two TUNs:
 * tunbatch writes superpackets into `tbin` (offloads on); the kernel
 * forwards them out of `tbout`, which has no virtio header, so it must cut
 * and checksum every superpacket in software. Every packet committed must
 * come out of tbout exactly once, byte for byte, except what forwarding
 * and segmentation may change: TTL / hop limit (minus one), the IPv4 header
 * checksum, and the IPv4 ID when DF is set. A wrong pseudo-header seed, a
 * wrong gso_size or hdr_len, or a superpacket the kernel refused shows up
 * as a missing, extra or corrupt packet.
 */
#define _GNU_SOURCE
#include "nsutil.h"
#include "testutil.h"

#include <errno.h>
#include <stdio.h>
#include <unistd.h>
#include <stdlib.h>
#include <string.h>

#define BATCH	   64
#define MAX_PKT	   2048
#define READ_WAIT  2000 /* ms without a packet before a batch is given up */
#define NOISE_SHOW 5

static char ns[64];
static struct tb_tun *tin, *tout;
static struct tb_tun_reader *rd;
static struct tb_arena *arena;
static struct tb_coalescer *co;

/* ------------------------------------------------------------------------ */
/* A multiset of packets in canonical form                                  */
/* ------------------------------------------------------------------------ */

struct ent {
	uint64_t hash;
	uint8_t *key;
	uint32_t len;
	int32_t count;
};

static struct ent *tab;
static size_t tab_size;

/* What forwarding may change is normalized away; out says the packet came
 * back through the router, so its TTL is one less. */
static size_t canon(const uint8_t *p, size_t len, int out, uint8_t *buf)
{
	memcpy(buf, p, len);
	if (len >= 20 && buf[0] >> 4 == 4) {
		buf[8] = (uint8_t)(buf[8] + out);
		buf[10] = buf[11] = 0;
		if (buf[6] & 0x40) /* DF: the kernel numbers segments itself */
			buf[4] = buf[5] = 0;
	} else if (len >= 40 && buf[0] >> 4 == 6) {
		buf[7] = (uint8_t)(buf[7] + out);
	}
	return len;
}

static uint64_t hash_bytes(const uint8_t *p, size_t n)
{
	uint64_t h = 1469598103934665603ull;

	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 1099511628211ull;
	return h | 1; /* 0 marks a free entry */
}

static void mset_init(size_t n)
{
	for (size_t i = 0; i < tab_size; i++)
		free(tab[i].key);
	free(tab);
	tab_size = 16;
	while (tab_size < 2 * n)
		tab_size *= 2;
	tab = calloc(tab_size, sizeof(*tab));
	NSU_CHECK(tab, "out of memory");
}

static struct ent *mset_find(const uint8_t *k, size_t len, int add)
{
	uint64_t h = hash_bytes(k, len);

	for (size_t i = h & (tab_size - 1);; i = (i + 1) & (tab_size - 1)) {
		struct ent *e = &tab[i];
		if (!e->hash) {
			if (!add)
				return NULL;
			e->hash = h;
			e->len = (uint32_t)len;
			e->key = malloc(len);
			NSU_CHECK(e->key, "out of memory");
			memcpy(e->key, k, len);
			return e;
		}
		if (e->hash == h && e->len == len && !memcmp(e->key, k, len))
			return e;
	}
}

/* ------------------------------------------------------------------------ */
/* One run: packets through the coalescer into tbin, back out of tbout      */
/* ------------------------------------------------------------------------ */

struct pktlist {
	uint8_t **p;
	size_t *len;
	size_t n, max;
};

static void pl_add(struct pktlist *l, const uint8_t *p, size_t len)
{
	if (l->n == l->max) {
		l->max = l->max ? 2 * l->max : 256;
		l->p = realloc(l->p, l->max * sizeof(*l->p));
		l->len = realloc(l->len, l->max * sizeof(*l->len));
		NSU_CHECK(l->p && l->len, "out of memory");
	}
	l->p[l->n] = malloc(len);
	NSU_CHECK(l->p[l->n], "out of memory");
	memcpy(l->p[l->n], p, len);
	l->len[l->n++] = len;
}

static void pl_free(struct pktlist *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->p[i]);
	free(l->p);
	free(l->len);
	memset(l, 0, sizeof(*l));
}

static void describe(const char *what, const uint8_t *p, size_t len)
{
	fprintf(stderr, "  %s: %zu bytes, v%u", what, len, len ? p[0] >> 4 : 0);
	if (len >= 20 && p[0] >> 4 == 4)
		fprintf(stderr, " proto %u id %u ttl %u", p[9], tu_get16(p + 4), p[8]);
	if (len >= 40 && p[0] >> 4 == 6)
		fprintf(stderr, " next %u hop %u", p[6], p[7]);
	fputc('\n', stderr);
}

/* Multicast IPv6 the namespace's own stack may send out of tbout. */
static int noise(const uint8_t *p, size_t len)
{
	return len >= 40 && p[0] >> 4 == 6 && p[24] == 0xff;
}

struct result {
	size_t matched, unexpected, bad_csum, noise, missing;
};

static void take_output(const uint8_t *p, size_t len, struct result *res)
{
	uint8_t buf[70000];
	struct ent *e;

	if (noise(p, len)) {
		res->noise++;
		return;
	}
	if (len > sizeof(buf)) {
		res->unexpected++;
		describe("oversize packet", p, len);
		return;
	}
	if (!nsu_csum_ok(p, len)) {
		if (res->bad_csum++ < NOISE_SHOW)
			describe("bad checksum", p, len);
	}
	canon(p, len, 1, buf);
	e = mset_find(buf, len, 0);
	if (!e || e->count <= 0) {
		if (res->unexpected++ < NOISE_SHOW)
			describe(e ? "duplicate" : "unexpected", p, len);
		return;
	}
	e->count--;
	res->matched++;
}

/* Reads tbout until want packets came back or it stays quiet. */
static void collect(size_t want, int wait_ms, struct result *res)
{
	size_t got = 0;

	while (got < want) {
		const struct tb_tun_pkt *pk;
		int n = tb_tun_read(rd, wait_ms, &pk);
		NSU_CHECK(n >= 0, "read tbout: %s", strerror(-n));
		if (n == 0)
			return;
		for (int i = 0; i < n; i++) {
			size_t before = res->noise;
			take_output(pk[i].data, pk[i].len, res);
			got += res->noise == before;
		}
	}
}

struct expect {
	int tcp_sp; /* TCP superpackets must have been written */
	int udp_sp; /* UDP superpackets must have been written (when USO is on) */
};

static void run(const char *name, const struct pktlist *l, unsigned batch, struct expect ex)
{
	uint8_t buf[MAX_PKT];
	struct result res = {0};
	struct tb_stats st;
	size_t multi = 0;

	mset_init(l->n);
	for (size_t i = 0; i < l->n; i++) {
		NSU_CHECK(l->len[i] <= MAX_PKT, "%s: packet %zu too long", name, i);
		NSU_CHECK(nsu_csum_ok(l->p[i], l->len[i]), "%s: input %zu has a bad checksum", name,
			  i);
		canon(l->p[i], l->len[i], 0, buf);
		struct ent *e = mset_find(buf, l->len[i], 1);
		multi += e->count > 0;
		e->count++;
	}
	tb_coalescer_reset_stats(co);
	for (size_t i = 0; i < l->n; i += batch) {
		size_t n = l->n - i < batch ? l->n - i : batch;
		for (size_t k = 0; k < n; k++) {
			uint8_t *b = tb_coalescer_reserve(co, l->len[i + k]);
			NSU_CHECK(b, "reserve");
			memcpy(b, l->p[i + k], l->len[i + k]);
			NSU_CHECK(tb_coalescer_commit(co, b, l->len[i + k]) == 0, "commit");
		}
		int rc = tb_coalescer_flush(co);
		NSU_CHECK(rc == 0, "%s: flush: %s", name, strerror(-rc));
		collect(n, READ_WAIT, &res);
	}
	collect(SIZE_MAX, 200, &res); /* anything extra */
	for (size_t i = 0; i < tab_size; i++) {
		if (tab[i].hash && tab[i].count > 0) {
			if (res.missing < NOISE_SHOW)
				describe("missing", tab[i].key, tab[i].len);
			res.missing += (size_t)tab[i].count;
		}
	}
	tb_coalescer_stats(co, &st);
	printf("%-12s batch %2u: %5zu packets in, %5zu back (%zu duplicates in input), %5llu "
	       "writes, %4llu superpackets (%.1f segments each), noise %zu\n",
	       name, batch, l->n, res.matched, multi, (unsigned long long)st.writes,
	       (unsigned long long)st.superpackets,
	       st.superpackets ? (double)st.segments / (double)st.superpackets : 0.0, res.noise);
	NSU_CHECK(res.missing == 0 && res.unexpected == 0 && res.bad_csum == 0,
		  "%s: %zu missing, %zu unexpected or duplicated, %zu bad checksums", name,
		  res.missing, res.unexpected, res.bad_csum);
	NSU_CHECK(res.matched == l->n, "%s: %zu of %zu back", name, res.matched, l->n);
	NSU_CHECK(st.write_errors == 0 && st.fallbacks == 0,
		  "%s: %llu write errors, %llu fallbacks: the kernel refused a write", name,
		  (unsigned long long)st.write_errors, (unsigned long long)st.fallbacks);
	NSU_CHECK(st.pkts_in == l->n, "%s: committed %llu", name, (unsigned long long)st.pkts_in);
	if (ex.tcp_sp || (ex.udp_sp && (tb_tun_caps(tin) & TB_CAP_USO)))
		NSU_CHECK(st.superpackets > 0, "%s: no superpacket was written", name);
	if (ex.tcp_sp)
		NSU_CHECK(st.segments > st.superpackets, "%s: superpackets of one segment", name);
}

/* ------------------------------------------------------------------------ */
/* Packet sequences built here                                              */
/* ------------------------------------------------------------------------ */

/* s from 10.76.0.<src_host> to 10.77.0.<dst_host> (fd76::/fd77:: on IPv6). */
static struct tu_spec flow(struct tu_spec s, unsigned src_host, unsigned dst_host)
{
	memset(s.src, 0, 16);
	memset(s.dst, 0, 16);
	if (!s.v6) {
		s.src[0] = s.dst[0] = 10;
		s.src[1] = 76;
		s.dst[1] = 77;
		s.src[3] = (uint8_t)src_host;
		s.dst[3] = (uint8_t)dst_host;
	} else {
		s.src[0] = s.dst[0] = 0xfd;
		s.src[1] = 0x76;
		s.dst[1] = 0x77;
		s.src[15] = (uint8_t)src_host;
		s.dst[15] = (uint8_t)dst_host;
	}
	return s;
}

struct flowgen {
	struct pktlist pk; /* the flow's packets in order */
	size_t next;
};

static void emit(struct flowgen *f, const struct tu_spec *s)
{
	uint8_t buf[MAX_PKT];
	size_t n = tu_build(s, buf, sizeof(buf));

	NSU_CHECK(n > 0, "build");
	pl_add(&f->pk, buf, n);
}

enum { NFLOWS = 12 };

/* Flows that exercise every rule the kernel's segmentation must undo. */
static void make_flows(struct flowgen *f, uint64_t seed)
{
	struct tu_spec s;
	uint64_t r = seed;

	/* TCPv4, timestamps, DF, PSH inside, a short segment, FIN at the end. */
	s = flow(tu_tcp4(), 1, 2);
	tu_set_ts(&s, 1000, 2000);
	s.len = 1000;
	for (int i = 0; i < 40; i++) {
		s.flags = TU_ACK | (i == 12 ? TU_PSH : 0) | (i == 39 ? TU_FIN | TU_PSH : 0);
		s.len = i == 25 ? 300 : 1000;
		emit(&f[0], &s);
		tu_next(&s);
	}
	/* TCPv4, DF clear: IDs must go on +1 to merge, and come back as they were. */
	s = flow(tu_tcp4(), 3, 4);
	s.df = 0;
	s.len = 1200;
	for (int i = 0; i < 30; i++) {
		if (i == 17)
			s.id = (uint16_t)(s.id + 5); /* an ID gap splits the run */
		emit(&f[1], &s);
		tu_next(&s);
	}
	/* TCPv4, DF set, random IDs: merged, and the kernel re-stamps them. */
	s = flow(tu_tcp4(), 5, 6);
	s.len = 800;
	for (int i = 0; i < 30; i++) {
		s.id = (uint16_t)nsu_rand(&r);
		emit(&f[2], &s);
		tu_next(&s);
	}
	/* TCPv6, a short segment in the middle, PSH at the end. */
	s = flow(tu_tcp6(), 1, 2);
	for (int i = 0; i < 35; i++) {
		s.len = i == 14 ? 500 : 1300;
		s.flags = TU_ACK | (i == 34 ? TU_PSH : 0);
		emit(&f[3], &s);
		tu_next(&s);
	}
	/* TCPv6 with timestamps and a sequence gap. */
	s = flow(tu_tcp6(), 3, 4);
	tu_set_ts(&s, 5, 6);
	s.len = 1100;
	for (int i = 0; i < 20; i++) {
		if (i == 9)
			s.seq += 1100;
		emit(&f[4], &s);
		tu_next(&s);
	}
	/* UDPv4: equal datagrams, a short last one. */
	s = flow(tu_udp4(), 7, 8);
	for (int i = 0; i < 30; i++) {
		s.len = i == 29 ? 400 : 1000;
		s.pay_off = (uint32_t)i * 7919;
		s.id = (uint16_t)(s.id + 1);
		emit(&f[5], &s);
	}
	/* UDPv6: equal datagrams. */
	s = flow(tu_udp6(), 5, 6);
	s.len = 1100;
	for (int i = 0; i < 30; i++) {
		s.pay_off = (uint32_t)i * 104729;
		emit(&f[6], &s);
	}
	/* UDPv4 without checksum: passes through. */
	s = flow(tu_udp4(), 9, 10);
	s.udp_nocsum = 1;
	s.len = 500;
	for (int i = 0; i < 6; i++) {
		s.pay_off = (uint32_t)i * 31;
		s.id = (uint16_t)(s.id + 1);
		emit(&f[7], &s);
	}
	/* ICMP both ways: passthrough. */
	s = flow(tu_icmp4(), 11, 12);
	for (int i = 0; i < 4; i++) {
		s.pay_off = (uint32_t)i;
		s.id = (uint16_t)(s.id + 1);
		emit(&f[8], &s);
	}
	s = flow(tu_icmp6(), 11, 12);
	for (int i = 0; i < 4; i++) {
		s.pay_off = (uint32_t)i;
		emit(&f[8], &s);
	}
	/* Pure ACKs of a reverse flow, with changing ack numbers. */
	s = flow(tu_tcp4(), 13, 14);
	s.len = 0;
	for (int i = 0; i < 10; i++) {
		s.ack += 1448;
		s.id = (uint16_t)(s.id + 1);
		emit(&f[9], &s);
	}
	/* TCPv4 whose ECN field changes: runs break at the change. */
	s = flow(tu_tcp4(), 15, 16);
	s.len = 700;
	for (int i = 0; i < 20; i++) {
		s.tos = (i / 5) & 1 ? 0x02 : 0x00;
		emit(&f[10], &s);
		tu_next(&s);
	}
	/* TCPv4 with CWR and ECE on some segments. */
	s = flow(tu_tcp4(), 17, 18);
	s.len = 900;
	for (int i = 0; i < 20; i++) {
		s.flags = TU_ACK | (i == 6 ? TU_CWR : 0) | (i >= 12 ? TU_ECE : 0);
		emit(&f[11], &s);
		tu_next(&s);
	}
}

/* Interleaves the flows in random runs, each flow keeping its order. */
static void interleave(struct flowgen *f, uint64_t seed, struct pktlist *out)
{
	uint64_t r = seed;
	size_t left = 0;

	for (int i = 0; i < NFLOWS; i++)
		left += f[i].pk.n;
	while (left) {
		int i = (int)(nsu_rand(&r) % NFLOWS);
		size_t run = 1 + nsu_rand(&r) % 12;
		while (run-- && f[i].next < f[i].pk.n) {
			pl_add(out, f[i].pk.p[f[i].next], f[i].pk.len[f[i].next]);
			f[i].next++;
			left--;
		}
	}
}

static void built_sequences(void)
{
	static const unsigned batches[] = {64, 7, 256};

	for (uint64_t seed = 1; seed <= 3; seed++) {
		struct flowgen f[NFLOWS];
		struct pktlist l = {0};
		char name[32];

		memset(f, 0, sizeof(f));
		make_flows(f, seed * 0x1234567);
		interleave(f, seed, &l);
		snprintf(name, sizeof(name), "built-%llu", (unsigned long long)seed);
		run(name, &l, batches[seed - 1], (struct expect){1, 1});
		pl_free(&l);
		for (int i = 0; i < NFLOWS; i++)
			pl_free(&f[i].pk);
	}
}

/* ------------------------------------------------------------------------ */
/* The real traces                                                          */
/* ------------------------------------------------------------------------ */

static void traces(void)
{
	static const struct {
		const char *name;
		struct expect ex;
	} tr[] = {
		{"tcp4_bulk", {1, 0}},	{"tcp4_4flows", {1, 0}}, {"tcp6_bulk", {1, 0}},
		{"tcp4_bidir", {1, 0}}, {"udp4_fixed", {0, 1}},	 {"udp6_fixed", {0, 1}},
		{"mixed", {1, 0}},
	};

	for (size_t i = 0; i < sizeof(tr) / sizeof(tr[0]); i++) {
		char path[512], err[256];
		struct tu_trace t;
		struct pktlist l = {0};

		/* The shared traces, else the 1000-packet cuts bundled in examples/. */
		snprintf(path, sizeof(path), "%s/%s.pcap", TB_TRACES_DIR, tr[i].name);
		if (access(path, R_OK) != 0)
			snprintf(path, sizeof(path), "%s/%s.pcap", TB_EXAMPLES_DIR, tr[i].name);
		if (access(path, R_OK) != 0) {
			printf("%-12s not found in the traces or examples: not replayed\n",
			       tr[i].name);
			continue;
		}
		NSU_CHECK(tu_trace_load(path, &t, err, sizeof(err)) == 0, "%s: %s", path, err);
		for (size_t k = 0; k < t.n; k++)
			pl_add(&l, t.pkts[k].data, t.pkts[k].len);
		tu_trace_free(&t);
		run(tr[i].name, &l, BATCH, tr[i].ex);
		pl_free(&l);
	}
}

/* ------------------------------------------------------------------------ */

static void setup(void)
{
	struct tb_tun_opts oin = {.name = "tbin"}, oout = {.name = "tbout", .no_vnet_hdr = 1};
	struct tb_tun_reader_opts ro = {.max_pkts = 256};
	int err;

	nsu_create("w", ns, sizeof(ns));
	nsu_enter(ns);
	nsu_router();

	tin = tb_tun_open(&oin);
	err = tin ? 0 : -errno;
	if (!tin)
		nsu_skip("TUN with IFF_VNET_HDR: %s", strerror(-err));
	if (!tb_tun_vnet(tin) || !(tb_tun_caps(tin) & TB_CAP_TSO))
		nsu_skip("no TSO on TUN (offloads 0x%x)", tb_tun_offloads(tin));
	tout = tb_tun_open(&oout);
	err = tout ? 0 : -errno;
	NSU_CHECK(tout, "open tbout: %s", strerror(-err));
	NSU_CHECK(!tb_tun_vnet(tout), "tbout has a virtio header");
	printf("tbin: offloads 0x%x caps 0x%x; tbout: plain\n", tb_tun_offloads(tin),
	       tb_tun_caps(tin));

	nsu_run("ip -n %s link set tbin up", ns);
	nsu_run("ip -n %s link set tbout up txqueuelen 4096", ns);
	nsu_run("ip -n %s route add 10.77.0.0/16 dev tbout", ns);
	nsu_run("ip -n %s -6 route add fd77::/16 dev tbout", ns);

	rd = tb_tun_reader_create(tout, 0, &ro);
	arena = tb_arena_create(0);
	co = tb_coalescer_create(tb_tun_writer(tin, 0), arena, NULL);
	NSU_CHECK(rd && arena && co, "out of memory");
	NSU_CHECK(tb_coalescer_lanes(co) & (1u << TB_LANE_TCP), "TCP lane off");
}

static int test(void)
{
	struct tb_tun_reader_stats rs;

	setup();
	built_sequences();
	traces();
	tb_tun_reader_stats(rd, &rs);
	NSU_CHECK(rs.dropped == 0 && rs.errors == 0, "reader: %llu dropped, %llu errors",
		  (unsigned long long)rs.dropped, (unsigned long long)rs.errors);
	tb_coalescer_destroy(co);
	tb_arena_destroy(arena);
	tb_tun_reader_destroy(rd);
	tb_tun_close(tin);
	tb_tun_close(tout);
	mset_init(0);
	free(tab);
	return 0;
}

int main(void)
{
	return nsu_main("ktest_write_path", test, 600);
}
