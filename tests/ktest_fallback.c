/* SPDX-License-Identifier: MIT */
/*
 * Fallbacks, with the kernel's sockets as the judge:
 * 1. A TUN without IFF_VNET_HDR (attached from an fd opened here): the
 *    device reports no virtio header and no capability, the coalescer runs
 *    passthrough only, and every UDP datagram and TCP segment still reaches
 *    the namespace's stack.
 * 2. A multi-queue TUN with offloads but USO left out: TSO is on, USO is
 *    off, so mergeable UDP goes to passthrough (lane_off) and every
 *    datagram still arrives, written through the second queue.
 */
#define _GNU_SOURCE
#include "nsutil.h"
#include "testutil.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#define NDGRAM 120
#define DLEN   1000
#define NSEG   40

static char ns[64];

static int udp_socket(int v6, const char *addr, uint16_t port)
{
	int fd = socket(v6 ? AF_INET6 : AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	int big = 4 << 20;

	NSU_CHECK(fd >= 0, "socket: %s", strerror(errno));
	setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &big, sizeof(big));
	if (v6) {
		struct sockaddr_in6 a = {.sin6_family = AF_INET6, .sin6_port = htons(port)};
		inet_pton(AF_INET6, addr, &a.sin6_addr);
		NSU_CHECK(bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0, "bind %s: %s", addr,
			  strerror(errno));
	} else {
		struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
		inet_pton(AF_INET, addr, &a.sin_addr);
		NSU_CHECK(bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0, "bind %s: %s", addr,
			  strerror(errno));
	}
	return fd;
}

/* Datagram i of a flow carries the pattern from i * DLEN on. */
static struct tu_spec udp_spec(int v6, const char *src, const char *dst, uint16_t dport)
{
	struct tu_spec s = tu_udp(v6);

	inet_pton(v6 ? AF_INET6 : AF_INET, src, s.src);
	inet_pton(v6 ? AF_INET6 : AF_INET, dst, s.dst);
	s.sport = 5000;
	s.dport = dport;
	s.len = DLEN;
	return s;
}

/*
 * Brings dev up with 10.<net>.0.1/24 and fd<net>::1/64, binds a UDP socket to
 * each (ports 7000 and 7001), and puts the flows from .2 to them in specs[0]
 * and specs[1].
 */
static void udp_ends(const char *dev, const char *net, int *s4, int *s6, struct tu_spec *specs)
{
	char here4[32], peer4[32], here6[32], peer6[32];

	snprintf(here4, sizeof(here4), "10.%s.0.1", net);
	snprintf(peer4, sizeof(peer4), "10.%s.0.2", net);
	snprintf(here6, sizeof(here6), "fd%s::1", net);
	snprintf(peer6, sizeof(peer6), "fd%s::2", net);
	nsu_run("ip -n %s link set %s up", ns, dev);
	nsu_run("ip -n %s addr add %s/24 dev %s", ns, here4, dev);
	nsu_run("ip -n %s addr add %s/64 dev %s nodad", ns, here6, dev);
	*s4 = udp_socket(0, here4, 7000);
	*s6 = udp_socket(1, here6, 7001);
	specs[0] = udp_spec(0, peer4, here4, 7000);
	specs[1] = udp_spec(1, peer6, here6, 7001);
}

/* Receives the flow's n datagrams, in order, with their content. */
static void expect_datagrams(int fd, size_t n, const char *what)
{
	uint8_t buf[4096];
	size_t got = 0;

	while (got < n) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		if (poll(&p, 1, 2000) <= 0)
			NSU_FAIL("%s: %zu of %zu datagrams arrived", what, got, n);
		ssize_t r = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
		if (r < 0 && errno == EAGAIN)
			continue;
		NSU_CHECK(r == DLEN, "%s: datagram %zu: %zd bytes", what, got, r);
		for (size_t k = 0; k < DLEN; k++)
			NSU_CHECK(buf[k] == tu_pay_byte((uint32_t)(got * DLEN + k)),
				  "%s: datagram %zu differs at byte %zu", what, got, k);
		got++;
	}
	NSU_CHECK(recv(fd, buf, sizeof(buf), MSG_DONTWAIT) < 0, "%s: more datagrams than sent",
		  what);
}

/* Commits packets in bursts of 32 and flushes each; checks nothing failed. */
static void send_all(struct tb_coalescer *co, struct tu_spec *specs, size_t nspec, size_t per_spec)
{
	size_t done = 0;

	for (size_t i = 0; i < per_spec; i++) {
		for (size_t f = 0; f < nspec; f++) {
			struct tu_spec *s = &specs[f];
			uint8_t *b = tb_coalescer_reserve(co, tu_spec_len(s));
			size_t len;

			NSU_CHECK(b, "reserve");
			if (s->proto == 17) {
				s->pay_off = (uint32_t)(i * DLEN);
				s->id = (uint16_t)(0x100 + i);
			}
			len = tu_build(s, b, tu_spec_len(s));
			NSU_CHECK(tb_coalescer_commit(co, b, len) == 0, "commit");
			if (s->proto == 6)
				tu_next(s);
			if (++done % 32 == 0)
				NSU_CHECK(tb_coalescer_flush(co) == 0, "flush");
		}
	}
	NSU_CHECK(tb_coalescer_flush(co) == 0, "flush");
}

static unsigned long long tcp_in_segs(void)
{
	char line[1024];
	unsigned long long v = 0;
	int header = 1;
	FILE *f = fopen("/proc/net/snmp", "r");

	NSU_CHECK(f, "/proc/net/snmp: %s", strerror(errno));
	while (fgets(line, sizeof(line), f)) {
		if (strncmp(line, "Tcp:", 4))
			continue;
		if (header) {
			header = 0;
			continue;
		}
		/* Tcp: RtoAlgorithm RtoMin RtoMax MaxConn ActiveOpens PassiveOpens
		 * AttemptFails EstabResets CurrEstab InSegs ... */
		unsigned long long x[10];
		NSU_CHECK(sscanf(line + 4, "%llu %llu %llu %lld %llu %llu %llu %llu %llu %llu",
				 &x[0], &x[1], &x[2], (long long *)&x[3], &x[4], &x[5], &x[6],
				 &x[7], &x[8], &x[9]) == 10,
			  "parse /proc/net/snmp");
		v = x[9];
	}
	fclose(f);
	return v;
}

/* Reads and discards what the stack sends back (RSTs): keeps the queue free. */
static void drain(int fd)
{
	uint8_t buf[70000];

	while (read(fd, buf, sizeof(buf)) > 0)
		;
}

static void plain_device(void)
{
	struct tu_spec specs[3];
	struct ifreq ifr;
	struct tb_stats st;
	struct tb_tun *t;
	struct tb_arena *a;
	struct tb_coalescer *co;
	unsigned long long segs0, segs1;
	int fd, err, s4, s6;

	fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
	NSU_CHECK(fd >= 0, "open /dev/net/tun: %s", strerror(errno));
	memset(&ifr, 0, sizeof(ifr));
	ifr.ifr_flags = IFF_TUN | IFF_NO_PI;
	strcpy(ifr.ifr_name, "tbplain");
	NSU_CHECK(ioctl(fd, TUNSETIFF, &ifr) == 0, "TUNSETIFF: %s", strerror(errno));
	t = tb_tun_attach(fd, NULL);
	err = t ? 0 : -errno;
	NSU_CHECK(t, "attach: %s", strerror(-err));
	NSU_CHECK(!tb_tun_vnet(t) && tb_tun_caps(t) == 0 && tb_tun_offloads(t) == 0,
		  "plain TUN: vnet %d caps 0x%x offloads 0x%x", tb_tun_vnet(t), tb_tun_caps(t),
		  tb_tun_offloads(t));
	NSU_CHECK(!strcmp(tb_tun_name(t), "tbplain"), "name %s", tb_tun_name(t));
	NSU_CHECK(fcntl(fd, F_GETFL) & O_NONBLOCK, "attach left the fd blocking");

	udp_ends("tbplain", "79", &s4, &s6, specs);

	a = tb_arena_create(0);
	co = tb_coalescer_create(tb_tun_writer(t, 0), a, NULL);
	NSU_CHECK(a && co, "out of memory");
	NSU_CHECK(tb_coalescer_lanes(co) == 1u << TB_LANE_PASS, "lanes 0x%x",
		  tb_coalescer_lanes(co));

	specs[2] = tu_tcp4(); /* to a closed port: counted in InSegs, answered by RST */
	memcpy(specs[2].src, specs[0].src, 4);
	memcpy(specs[2].dst, specs[0].dst, 4);
	specs[2].dport = 9;
	specs[2].len = 1200;
	segs0 = tcp_in_segs();
	send_all(co, specs, 2, NDGRAM);
	expect_datagrams(s4, NDGRAM, "plain UDPv4");
	expect_datagrams(s6, NDGRAM, "plain UDPv6");
	send_all(co, &specs[2], 1, NSEG);
	drain(fd);
	segs1 = tcp_in_segs();
	NSU_CHECK(segs1 - segs0 == NSEG, "plain TCP: the stack got %llu segments of %d",
		  segs1 - segs0, NSEG);

	tb_coalescer_stats(co, &st);
	NSU_CHECK(st.superpackets == 0 && st.write_errors == 0, "superpackets %llu errors %llu",
		  (unsigned long long)st.superpackets, (unsigned long long)st.write_errors);
	NSU_CHECK(st.writes == 2 * NDGRAM + NSEG && st.lane_pkts[TB_LANE_PASS] == st.writes,
		  "writes %llu, passthrough %llu", (unsigned long long)st.writes,
		  (unsigned long long)st.lane_pkts[TB_LANE_PASS]);
	printf("plain TUN: %llu packets written one by one, %d datagrams x2 and %d segments "
	       "arrived\n",
	       (unsigned long long)st.writes, NDGRAM, NSEG);

	tb_coalescer_destroy(co);
	tb_arena_destroy(a);
	tb_tun_close(t);
	close(fd);
	close(s4);
	close(s6);
}

static void no_uso(void)
{
	const unsigned want = TB_TUN_CSUM | TB_TUN_TSO4 | TB_TUN_TSO6;
	struct tb_tun_opts o = {.name = "tbnouso", .queues = 2, .offloads = want};
	struct tu_spec specs[2];
	struct tb_stats st;
	struct tb_tun *t;
	struct tb_arena *a;
	struct tb_coalescer *co;
	int err, s4, s6;

	t = tb_tun_open(&o);
	err = t ? 0 : -errno;
	NSU_CHECK(t, "open: %s", strerror(-err));
	NSU_CHECK(tb_tun_queues(t) == 2 && tb_tun_fd(t, 1) >= 0 && tb_tun_fd(t, 2) == -EINVAL,
		  "queues");
	NSU_CHECK(tb_tun_vnet(t) && tb_tun_offloads(t) == want && tb_tun_caps(t) == TB_CAP_TSO,
		  "offloads 0x%x caps 0x%x", tb_tun_offloads(t), tb_tun_caps(t));
	NSU_CHECK(!tb_tun_writer(t, 2), "a writer for a queue that does not exist");

	udp_ends("tbnouso", "80", &s4, &s6, specs);

	a = tb_arena_create(0);
	co = tb_coalescer_create(tb_tun_writer(t, 1), a, NULL);
	NSU_CHECK(a && co, "out of memory");
	NSU_CHECK(tb_coalescer_lanes(co) == (1u << TB_LANE_PASS | 1u << TB_LANE_TCP), "lanes 0x%x",
		  tb_coalescer_lanes(co));
	send_all(co, specs, 2, NDGRAM);
	expect_datagrams(s4, NDGRAM, "no-USO UDPv4");
	expect_datagrams(s6, NDGRAM, "no-USO UDPv6");
	tb_coalescer_stats(co, &st);
	NSU_CHECK(st.superpackets == 0 && st.write_errors == 0 && st.writes == 2 * NDGRAM,
		  "superpackets %llu errors %llu writes %llu", (unsigned long long)st.superpackets,
		  (unsigned long long)st.write_errors, (unsigned long long)st.writes);
	NSU_CHECK(st.why[TB_WHY_LANE_OFF] == 2 * NDGRAM, "lane_off %llu",
		  (unsigned long long)st.why[TB_WHY_LANE_OFF]);
	printf("USO off: offloads 0x%x, %llu datagrams passed through (lane_off) and arrived\n",
	       tb_tun_offloads(t), (unsigned long long)st.why[TB_WHY_LANE_OFF]);

	tb_coalescer_destroy(co);
	tb_arena_destroy(a);
	tb_tun_close(t);
	close(s4);
	close(s6);
}

static int test(void)
{
	nsu_create("f", ns, sizeof(ns));
	nsu_enter(ns);
	nsu_sysctl("/proc/sys/net/ipv6/conf/default/addr_gen_mode", "1");
	plain_device();
	no_uso();
	return 0;
}

int main(void)
{
	return nsu_main("ktest_fallback", test, 120);
}
