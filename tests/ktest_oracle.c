/* SPDX-License-Identifier: MIT */
/*
 * The fuzz oracle against the kernel. Each rule of fuzz/refcheck.c is
 * written at its edges (smallest and largest accepted, first refused) into
 * a real TUN with a virtio header, `tbin`; the kernel forwards what it takes
 * out of `tbout`, a TUN without virtio header, cutting superpackets in
 * software. The kernel's verdict is "taken": the write succeeded and exactly
 * the segments a correct cut gives came out (rc_cut, every checksum
 * complete), else "refused": the write failed, nothing came out, or
 * something else did. That verdict must be what the oracle's kernel rules
 * say (rc_rules with RC_KERNEL). The oracle's own rules (RC_OURS) are
 * printed beside. On the edges of rc_vnet_ok's rules it must agree with the
 * kernel too, but for the three it refuses by choice (V_OURS).
 */
#define _GNU_SOURCE
#include "nsutil.h"
#include "refcheck.h"
#include "testutil.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#define MAX_SP	 140000
#define MAX_OUT	 (MAX_SP + 256 * 64)
#define MAX_SEGS 256

static char ns[64];
static struct tb_tun *tin, *tout;
static struct tb_tun_reader *rd;
static unsigned markers, failures;

/* One superpacket as written: the virtio header, the bytes, and the real
 * headers a correct cut starts from. */
struct sp {
	struct tb_vnet_hdr v;
	uint8_t b[MAX_SP];
	size_t len;
	unsigned ip_len, hdr_len, g;
	int tcp;
};

/* s's flow from 10.76.0.1 (fd76::1) to 10.77.0.2 (fd77::2), routed out of tbout. */
static struct tu_spec flow(struct tu_spec s)
{
	memset(s.src, 0, 16);
	memset(s.dst, 0, 16);
	if (s.v6) {
		s.src[0] = s.dst[0] = 0xfd;
		s.src[1] = 0x76;
		s.dst[1] = 0x77;
		s.src[15] = 1;
		s.dst[15] = 2;
	} else {
		s.src[0] = s.dst[0] = 10;
		s.src[1] = 76;
		s.dst[1] = 77;
		s.src[3] = 1;
		s.dst[3] = 2;
	}
	return s;
}

/* The L4 checksum field as the kernel wants it: the pseudo-header sum over
 * the whole L4 length, folded, not inverted. */
static void seed(struct sp *p)
{
	unsigned ver = p->b[0] >> 4;
	uint8_t proto = p->tcp ? 6 : 17;

	tu_put16(p->b + p->ip_len + (p->tcp ? 16 : 6),
		 rc_pseudo(p->b, (int)ver, proto, (uint32_t)(p->len - p->ip_len)));
}

static void ip4_fix(uint8_t *ip)
{
	unsigned ihl = (ip[0] & 15u) * 4;

	tu_put16(ip + 10, 0);
	tu_put16(ip + 10, (uint16_t)~tu_fold(tu_sum(ip, ihl, 0)));
}

/* A superpacket of s's flow with pay payload bytes cut into g-byte segments. */
static void make(struct sp *p, struct tu_spec s, uint32_t pay, uint16_t g)
{
	s = flow(s);
	s.len = pay;
	p->len = tu_build(&s, p->b, sizeof(p->b));
	NSU_CHECK(p->len > 0, "build %u bytes", pay);
	p->v = tu_gso_hdr(&s, g);
	p->ip_len = tu_spec_iphl(&s);
	p->hdr_len = p->v.hdr_len;
	p->g = g;
	p->tcp = s.proto == 6;
	seed(p);
}

/* The payload that makes a packet of s's flow total bytes long. */
static uint32_t pay_for(struct tu_spec s, size_t total)
{
	return (uint32_t)(total - (tu_spec_len(&s) - s.len));
}

/* ------------------------------------------------------------------------ */
/* What the kernel did                                                      */
/* ------------------------------------------------------------------------ */

static int is_marker(const uint8_t *p, size_t len)
{
	return len >= 28 && p[0] == 0x45 && p[9] == 17 && p[16] == 10 && p[17] == 77 && p[19] == 99;
}

/* A plain UDP packet behind the case: everything before it came from the case. */
static void write_marker(void)
{
	struct tu_spec s = flow(tu_udp4());
	uint8_t b[128], vh[TB_VNET_HDR_LEN] = {0};
	struct iovec iov[2] = {{vh, sizeof(vh)}, {b, 0}};

	s.dst[3] = 99;
	s.len = 16;
	s.pay_off = ++markers;
	iov[1].iov_len = tu_build(&s, b, sizeof(b));
	NSU_CHECK(writev(tb_tun_fd(tin, 0), iov, 2) == (ssize_t)(sizeof(vh) + iov[1].iov_len),
		  "marker: %s", strerror(errno));
}

/* Forwarding took one from the TTL (and changed the IPv4 header checksum). */
static void unforward(uint8_t *p, size_t len)
{
	if (len >= 20 && p[0] >> 4 == 4) {
		p[8]++;
		ip4_fix(p);
	} else if (len >= 40 && p[0] >> 4 == 6) {
		p[7]++;
	}
}

struct verdict {
	int taken;
	char why[160];
};

/*
 * Writes p to tbin, then a marker, and reads tbout up to the marker: taken
 * when the write succeeded and exactly the segments of a correct cut came
 * out, in order.
 */
static struct verdict kernel(const struct sp *p)
{
	static uint8_t want[MAX_OUT], got[MAX_SP];
	static size_t offs[MAX_SEGS], lens[MAX_SEGS];
	uint8_t vh[TB_VNET_HDR_LEN];
	struct iovec iov[2] = {{vh, sizeof(vh)}, {(void *)p->b, p->len}};
	struct verdict r = {0, ""};
	int n, seen = 0, bad = 0, marker = 0;
	ssize_t w;

	n = rc_cut(p->b, p->len, p->ip_len, p->hdr_len, p->tcp, p->g, want, sizeof(want), offs,
		   lens, MAX_SEGS);
	NSU_CHECK(n > 0, "reference cut of %zu bytes", p->len);
	tb_vnet_encode(&p->v, vh);
	w = writev(tb_tun_fd(tin, 0), iov, 2);
	if (w < 0)
		snprintf(r.why, sizeof(r.why), "write: %s", strerror(errno));
	else
		NSU_CHECK((size_t)w == sizeof(vh) + p->len, "short write %zd", w);
	write_marker();
	while (!marker) {
		const struct tb_tun_pkt *pk;
		int k = tb_tun_read(rd, 3000, &pk);
		NSU_CHECK(k > 0, "tbout: no marker (%d)", k);
		for (int i = 0; i < k && !marker; i++) {
			size_t len = pk[i].len;
			if (is_marker(pk[i].data, len)) {
				marker = 1;
				continue;
			}
			if (len >= 40 && pk[i].data[0] >> 4 == 6 && pk[i].data[24] == 0xff)
				continue; /* the namespace's own multicast */
			if (len > sizeof(got) || seen >= n) {
				bad++;
				seen++;
				continue;
			}
			memcpy(got, pk[i].data, len);
			unforward(got, len);
			if (len != lens[seen] || memcmp(got, want + offs[seen], len)) {
				if (!bad && w >= 0)
					snprintf(r.why, sizeof(r.why),
						 "segment %d: %zu bytes, want %zu%s", seen, len,
						 lens[seen],
						 len == lens[seen] ? ", contents differ" : "");
				bad++;
			}
			seen++;
		}
	}
	if (w >= 0 && !bad && seen == n) {
		r.taken = 1;
		snprintf(r.why, sizeof(r.why), "%d segment(s) delivered intact", n);
	} else if (w >= 0 && !r.why[0]) {
		snprintf(r.why, sizeof(r.why), "%d of %d segment(s) came out, %d wrong", seen, n,
			 bad);
	}
	return r;
}

/* ------------------------------------------------------------------------ */
/* The cases                                                                */
/* ------------------------------------------------------------------------ */

enum {
	V_NONE, /* not an edge of an rc_vnet_ok rule */
	V_SAME, /* an rc_vnet_ok edge: it must say what the kernel says */
	V_OURS, /* rc_vnet_ok refuses by choice what the kernel takes but never
		   hands a reader (tb_vnet_validate's contract) */
};

static void check(const char *name, const struct sp *p, int vnet)
{
	struct verdict k = kernel(p);
	const char *rk = rc_rules(&p->v, p->b, p->len, RC_KERNEL);
	const char *ro = rc_rules(&p->v, p->b, p->len, RC_OURS);
	unsigned hl;
	int rv = rc_vnet_ok(&p->v, p->b, p->len, &hl);
	int ok = k.taken == !rk && (vnet == V_NONE || (vnet == V_SAME ? rv == k.taken : !rv));

	printf("%-4s %-34s kernel %-7s (%s); oracle: kernel rules %s, ours %s%s%s\n",
	       ok ? "ok" : "FAIL", name, k.taken ? "takes" : "refuses", k.why, rk ? rk : "hold",
	       ro ? ro : "hold", vnet != V_NONE ? ", rc_vnet_ok " : "",
	       vnet != V_NONE ? (rv ? "takes" : "refuses") : "");
	failures += !ok;
}

/* The bytes cap: the IPv4 total length holds 65535; IPv6's payload length
 * 65535 after its 40-byte header. */
static void bytes_cap(void)
{
	static struct sp p;
	struct tu_spec t4 = tu_tcp4(), u4 = tu_udp4(), u6 = tu_udp6(), t6 = tu_tcp6();

	make(&p, t4, pay_for(t4, 65535), 1448);
	check("TCPv4 65535 bytes (45 x 1448 + 335)", &p, V_NONE);
	make(&p, t4, pay_for(t4, 65536), 1448);
	check("TCPv4 65536 bytes: total length 0", &p, V_NONE);
	for (unsigned big = 69000; big <= 135000; big += 33000) {
		char name[64];
		make(&p, t4, pay_for(t4, big), 1448);
		tu_put16(p.b + 2, 0);
		ip4_fix(p.b);
		snprintf(name, sizeof(name), "TCPv4 %u bytes: total length 0", big);
		check(name, &p, V_NONE);
	}
	make(&p, t4, 3000, 1000);
	tu_put16(p.b + 2, 0);
	ip4_fix(p.b);
	check("TCPv4 3040 bytes: total length 0", &p, V_OURS);
	make(&p, u4, pay_for(u4, 65535), 1400);
	check("UDPv4 65535 bytes", &p, V_NONE);
	make(&p, u4, pay_for(u4, 65536), 1400);
	check("UDPv4 65536 bytes: length wraps", &p, V_NONE);
	make(&p, t6, pay_for(t6, 65535), 1400);
	check("TCPv6 65535 bytes", &p, V_NONE);
	make(&p, t6, pay_for(t6, 65536), 1400);
	check("TCPv6 65536 bytes", &p, V_NONE);
	make(&p, t6, pay_for(t6, 70000), 1400);
	tu_put16(p.b + 4, 0);
	check("TCPv6 70000 bytes: payload length 0", &p, V_NONE);
	make(&p, t6, 3000, 1000);
	tu_put16(p.b + 4, 0);
	check("TCPv6 3060 bytes: payload length 0", &p, V_NONE);
	make(&p, u6, pay_for(u6, 65576), 1400);
	tu_put16(p.b + 4, 0);
	check("UDPv6 65576 bytes: payload length 0", &p, V_NONE);
	make(&p, u6, pay_for(u6, 65575), 1400);
	check("UDPv6 65575 bytes (payload len 65535)", &p, V_NONE);
}

/* Segments: TCP has no kernel cap; USO has UDP_MAX_SEGMENTS. */
static void segs_cap(void)
{
	static struct sp p;
	struct tu_spec t4 = tu_tcp4(), u4 = tu_udp4();

	make(&p, t4, 64 * 1000, 1000);
	check("TCPv4 64 segments", &p, V_NONE);
	make(&p, t4, 64 * 1000 + 1, 1000);
	check("TCPv4 65 segments (last of 1 byte)", &p, V_NONE);
	make(&p, u4, 64 * 500 + 1, 500);
	check("UDPv4 65 segments", &p, V_NONE);
	make(&p, u4, 128 * 500, 500);
	check("UDPv4 128 segments", &p, V_NONE);
	make(&p, u4, 128 * 500 + 1, 500);
	check("UDPv4 129 segments (last of 1 byte)", &p, V_NONE);
}

/* The smallest superpackets, and payload against gso_size. */
static void small(void)
{
	static struct sp p;
	struct tu_spec u4 = tu_udp4(), t4 = tu_tcp4(), u6 = tu_udp6();

	make(&p, u4, 6, 5);
	check("UDPv4 34 bytes: 5 + 1", &p, V_NONE);
	make(&p, u4, 3, 1);
	check("UDPv4 31 bytes: 1 + 1 + 1", &p, V_NONE);
	make(&p, u4, 2, 1);
	check("UDPv4 30 bytes: 1 + 1", &p, V_NONE);
	make(&p, u4, 1, 1);
	check("UDPv4 29 bytes: one segment", &p, V_NONE);
	make(&p, u4, 0, 1);
	check("UDPv4 28 bytes: no payload", &p, V_OURS);
	make(&p, t4, 2, 1);
	check("TCPv4 42 bytes: 1 + 1", &p, V_NONE);
	make(&p, u6, 2, 1);
	check("UDPv6 50 bytes: 1 + 1", &p, V_NONE);
	make(&p, t4, 1001, 1000);
	check("TCPv4 payload gso_size + 1", &p, V_NONE);
	make(&p, t4, 1000, 1000);
	check("TCPv4 payload = gso_size", &p, V_NONE);
	make(&p, t4, 1000, 0);
	check("TCPv4 gso_size 0", &p, V_SAME);
}

/* The virtio header's own fields. */
static void vnet_fields(void)
{
	static struct sp p;
	struct tu_spec t4 = tu_tcp4(), u4 = tu_udp4(), t6 = tu_tcp6(), u6 = tu_udp6();

	make(&p, t4, 3000, 1000);
	check("TCPv4 good", &p, V_SAME);
	p.v.gso_type = 2;
	check("gso_type 2", &p, V_SAME);
	p.v.gso_type = TB_GSO_TCPV4 | TB_GSO_ECN;
	check("TCPV4 with the ECN bit", &p, V_SAME);
	p.v.gso_type = TB_GSO_TCPV6;
	check("TCPV6 on IPv4", &p, V_SAME);
	p.v.gso_type = TB_GSO_UDP_L4;
	check("UDP_L4 on TCP", &p, V_SAME);
	p.v.gso_type = TB_GSO_TCPV4;
	p.v.flags = 0;
	check("TCPv4 without NEEDS_CSUM", &p, V_NONE);
	p.v.flags = TB_VNET_F_NEEDS_CSUM;
	for (unsigned cs = 19; cs <= 21; cs++) {
		char name[64];
		p.v.csum_start = (uint16_t)cs;
		snprintf(name, sizeof(name), "TCPv4 csum_start %u", cs);
		check(name, &p, V_NONE);
	}
	p.v.csum_start = 20;
	for (unsigned co = 15; co <= 17; co += 2) {
		char name[64];
		p.v.csum_offset = (uint16_t)co;
		snprintf(name, sizeof(name), "TCPv4 csum_offset %u", co);
		check(name, &p, V_NONE);
	}
	p.v.csum_offset = 16;
	for (unsigned hl = 39; hl <= 41; hl += 2) {
		char name[64];
		p.v.hdr_len = (uint16_t)hl;
		snprintf(name, sizeof(name), "TCPv4 hdr_len %u", hl);
		check(name, &p, V_NONE);
	}
	p.v.hdr_len = (uint16_t)p.len;
	check("TCPv4 hdr_len = length", &p, V_NONE);
	p.v.hdr_len = (uint16_t)(p.len + 1);
	check("TCPv4 hdr_len = length + 1", &p, V_NONE);

	make(&p, u4, 3000, 1000);
	check("UDPv4 good", &p, V_SAME);
	p.v.flags = 0;
	check("UDPv4 without NEEDS_CSUM", &p, V_NONE);
	p.v.flags = TB_VNET_F_NEEDS_CSUM;
	p.v.gso_type = TB_GSO_UDP_L4 | TB_GSO_ECN;
	check("UDP_L4 with the ECN bit", &p, V_SAME);
	p.v.gso_type = TB_GSO_TCPV4;
	check("TCPV4 on UDP", &p, V_SAME);
	p.v.gso_type = TB_GSO_UDP_L4;
	p.v.csum_offset = 7;
	check("UDPv4 csum_offset 7", &p, V_NONE);

	make(&p, t6, 3000, 1000);
	check("TCPv6 good", &p, V_SAME);
	p.v.gso_type = TB_GSO_TCPV4;
	check("TCPV4 on IPv6", &p, V_SAME);
	make(&p, u6, 3000, 1000);
	check("UDPv6 good", &p, V_SAME);
	p.v.csum_start = 39;
	check("UDPv6 csum_start 39", &p, V_NONE);
}

/* The IP, TCP and UDP headers of the superpacket. */
static void headers(void)
{
	static struct sp p;
	struct tu_spec t4 = tu_tcp4(), u4 = tu_udp4(), t6 = tu_tcp6();

	make(&p, t4, 3000, 1000);
	tu_put16(p.b + 2, (uint16_t)(p.len - 1));
	ip4_fix(p.b);
	check("IPv4 total length - 1", &p, V_SAME);
	tu_put16(p.b + 2, (uint16_t)(p.len + 1));
	ip4_fix(p.b);
	check("IPv4 total length + 1", &p, V_SAME);
	tu_put16(p.b + 2, (uint16_t)p.len);
	p.b[10] ^= 1;
	check("IPv4 header checksum wrong", &p, V_NONE);
	p.b[6] |= 0x20;
	ip4_fix(p.b);
	check("IPv4 MF set", &p, V_OURS);
	p.b[6] &= (uint8_t)~0x20;
	p.b[7] = 1;
	ip4_fix(p.b);
	check("IPv4 fragment offset 8", &p, V_OURS);
	p.b[7] = 0;
	p.b[6] &= (uint8_t)~0x40;
	ip4_fix(p.b);
	check("IPv4 DF clear", &p, V_NONE);

	t4.ipopt_len = 4;
	make(&p, t4, 3000, 1000);
	check("IPv4 with 4 option bytes", &p, V_NONE);

	t4 = tu_tcp4();
	make(&p, t4, 3000, 1000);
	p.b[p.ip_len + 16] ^= 1;
	check("TCPv4 checksum seed off by one", &p, V_NONE);
	p.b[p.ip_len + 16] ^= 1;
	p.b[p.ip_len + 12] = 4 << 4;
	check("TCPv4 data offset 4", &p, V_SAME);
	t4.flags = TU_ACK | TU_FIN;
	make(&p, t4, 3000, 1000);
	check("TCPv4 FIN", &p, V_NONE);
	t4.flags = TU_ACK | TU_PSH;
	make(&p, t4, 3000, 1000);
	check("TCPv4 PSH", &p, V_NONE);

	make(&p, u4, 3000, 1000);
	tu_put16(p.b + 24, (uint16_t)(p.len - 20 - 1));
	check("UDPv4 length - 1", &p, V_SAME);
	tu_put16(p.b + 24, (uint16_t)(p.len - 20 + 1));
	check("UDPv4 length + 1", &p, V_SAME);

	make(&p, t6, 3000, 1000);
	tu_put16(p.b + 4, (uint16_t)(p.len - 40 - 1));
	check("IPv6 payload length - 1", &p, V_SAME);
	tu_put16(p.b + 4, (uint16_t)(p.len - 40 + 1));
	check("IPv6 payload length + 1", &p, V_SAME);
}

static void setup(void)
{
	struct tb_tun_opts oin = {.name = "tbin"}, oout = {.name = "tbout", .no_vnet_hdr = 1};
	struct tb_tun_reader_opts ro = {.max_pkts = 256, .buf_size = 4u << 20};
	int err;

	nsu_create("o", ns, sizeof(ns));
	nsu_enter(ns);
	nsu_router();

	tin = tb_tun_open(&oin);
	err = tin ? 0 : -errno;
	if (!tin)
		nsu_skip("TUN with IFF_VNET_HDR: %s", strerror(-err));
	if (!tb_tun_vnet(tin) || tb_tun_caps(tin) != (TB_CAP_TSO | TB_CAP_USO))
		nsu_skip("no TSO and USO on TUN (offloads 0x%x)", tb_tun_offloads(tin));
	tout = tb_tun_open(&oout);
	err = tout ? 0 : -errno;
	NSU_CHECK(tout, "open tbout: %s", strerror(-err));

	nsu_run("ip -n %s link set tbin up", ns);
	nsu_run("ip -n %s link set tbout up txqueuelen 4096", ns);
	nsu_run("ip -n %s route add 10.77.0.0/16 dev tbout", ns);
	nsu_run("ip -n %s -6 route add fd77::/16 dev tbout", ns);
	rd = tb_tun_reader_create(tout, 0, &ro);
	NSU_CHECK(rd, "out of memory");
}

static int test(void)
{
	setup();
	small();
	bytes_cap();
	segs_cap();
	vnet_fields();
	headers();
	NSU_CHECK(failures == 0, "%u case(s) where the oracle and the kernel disagree", failures);
	tb_tun_reader_destroy(rd);
	tb_tun_close(tin);
	tb_tun_close(tout);
	return 0;
}

int main(void)
{
	return nsu_main("ktest_oracle", test, 300);
}
