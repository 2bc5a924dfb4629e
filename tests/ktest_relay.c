/* SPDX-License-Identifier: MIT */
/*
 * The whole data path with kernel sockets at both ends. Namespaces A and B
 * each have a TUN with offloads; a relay in this process joins them, both
 * ways: read a TUN (superpackets from the kernel's TSO/USO), cut them with
 * tb_segment, commit the packets to a coalescer and flush it into the other
 * TUN. A TCP client in A sends a seeded pseudo-random stream to a server in
 * B, which checks every byte; a UDP sender in A using UDP_SEGMENT sends
 * numbered datagrams to a receiver in B, which checks each one and the
 * count. The relay's counters must show superpackets read and written.
 */
#define _GNU_SOURCE
#include "nsutil.h"
#include "testutil.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103
#endif
#ifndef SOL_UDP
#define SOL_UDP 17
#endif

#define TCP_BYTES   ((uint64_t)64 << 20)
#define TCP6_BYTES  ((uint64_t)16 << 20)
#define DGRAM	    1200
#define DGRAMS	    20000
#define GSO_DGRAMS  40	 /* datagrams per UDP_SEGMENT send */
#define UDP_WINDOW  2000 /* datagrams in flight before the sender waits */
#define IDLE_LIMIT  10	 /* seconds without progress: a failure */
#define STREAM_SEED 0x7b3d5a1cf00dull

static char nsa[64], nsb[64];
static struct tb_tun *ta, *tb;

/* ------------------------------------------------------------------------ */
/* The relay: one thread per direction                                      */
/* ------------------------------------------------------------------------ */

/* Counters of one direction, and their growth over a phase. */
struct snap {
	struct tb_tun_reader_stats rs;
	struct tb_stats cs;
};

struct relay {
	const char *name;
	struct tb_tun *from, *to;
	struct tb_tun_reader *rd;
	struct tb_arena *arena;
	struct tb_coalescer *co;
	pthread_t th;
	uint64_t seg_errors, commit_errors, flush_errors;
	int read_err;
	pthread_mutex_t lock; /* guards pub */
	struct snap pub;      /* counters as of the last burst */
};

static struct relay ab = {.name = "A->B", .lock = PTHREAD_MUTEX_INITIALIZER},
		    ba = {.name = "B->A", .lock = PTHREAD_MUTEX_INITIALIZER};

static int commit_segment(void *user, const struct iovec *iov, unsigned iovcnt)
{
	struct relay *r = user;
	size_t len = 0, off = 0;
	uint8_t *buf;

	for (unsigned i = 0; i < iovcnt; i++)
		len += iov[i].iov_len;
	buf = tb_coalescer_reserve(r->co, len);
	if (!buf)
		return -ENOMEM;
	for (unsigned i = 0; i < iovcnt; i++) {
		memcpy(buf + off, iov[i].iov_base, iov[i].iov_len);
		off += iov[i].iov_len;
	}
	if (tb_coalescer_commit(r->co, buf, len))
		r->commit_errors++;
	return 0;
}

static void *relay_main(void *arg)
{
	struct relay *r = arg;

	for (;;) {
		const struct tb_tun_pkt *pk;
		int n = tb_tun_read(r->rd, -1, &pk);
		if (n == -ESHUTDOWN)
			break;
		if (n < 0) {
			r->read_err = n;
			break;
		}
		for (int i = 0; i < n; i++) {
			int s = tb_segment(&pk[i].vnet, pk[i].data, pk[i].len, commit_segment, r);
			if (s <= 0)
				r->seg_errors++;
		}
		if (tb_coalescer_flush(r->co))
			r->flush_errors++;
		pthread_mutex_lock(&r->lock);
		tb_tun_reader_stats(r->rd, &r->pub.rs);
		tb_coalescer_stats(r->co, &r->pub.cs);
		pthread_mutex_unlock(&r->lock);
	}
	return NULL;
}

static void relay_start(struct relay *r, struct tb_tun *from, struct tb_tun *to)
{
	r->from = from;
	r->to = to;
	r->rd = tb_tun_reader_create(from, 0, NULL);
	r->arena = tb_arena_create(0);
	r->co = tb_coalescer_create(tb_tun_writer(to, 0), r->arena, NULL);
	NSU_CHECK(r->rd && r->arena && r->co, "out of memory");
	NSU_CHECK(pthread_create(&r->th, NULL, relay_main, r) == 0, "pthread_create");
}

static void relay_stop(struct relay *r)
{
	pthread_join(r->th, NULL);
	NSU_CHECK(r->read_err == 0, "%s: read: %s", r->name, strerror(-r->read_err));
	NSU_CHECK(r->seg_errors == 0 && r->commit_errors == 0 && r->flush_errors == 0,
		  "%s: %llu segment errors, %llu commit errors, %llu flush errors", r->name,
		  (unsigned long long)r->seg_errors, (unsigned long long)r->commit_errors,
		  (unsigned long long)r->flush_errors);
}

static void snap(struct relay *r, struct snap *s)
{
	pthread_mutex_lock(&r->lock);
	*s = r->pub;
	pthread_mutex_unlock(&r->lock);
}

struct delta {
	uint64_t read_pkts, read_bytes, read_sp, read_segs, dropped;
	uint64_t writes, written_sp, written_segs, write_errors, fallbacks;
};

static struct delta diff(const struct snap *a, const struct snap *b)
{
	return (struct delta){
		.read_pkts = b->rs.pkts - a->rs.pkts,
		.read_bytes = b->rs.bytes - a->rs.bytes,
		.read_sp = b->rs.superpackets - a->rs.superpackets,
		.read_segs = b->rs.segments - a->rs.segments,
		.dropped = b->rs.dropped - a->rs.dropped,
		.writes = b->cs.writes - a->cs.writes,
		.written_sp = b->cs.superpackets - a->cs.superpackets,
		.written_segs = b->cs.segments - a->cs.segments,
		.write_errors = b->cs.write_errors - a->cs.write_errors,
		.fallbacks = b->cs.fallbacks - a->cs.fallbacks,
	};
}

/* What the phases moved, summed for the final report. */
static void add_up(struct delta *sum, const struct delta *d)
{
	sum->read_sp += d->read_sp;
	sum->written_sp += d->written_sp;
	sum->read_segs += d->read_segs;
	sum->written_segs += d->written_segs;
}

static double ratio(uint64_t a, uint64_t b)
{
	return b ? (double)a / (double)b : 0.0;
}

static void report(const char *phase, const char *dir, const struct delta *d)
{
	printf("  %s %s: read %llu packets (%llu bytes), %llu superpackets (%.1f segments each); "
	       "wrote %llu times, %llu superpackets (%.1f segments each); dropped %llu\n",
	       phase, dir, (unsigned long long)d->read_pkts, (unsigned long long)d->read_bytes,
	       (unsigned long long)d->read_sp, ratio(d->read_segs, d->read_sp),
	       (unsigned long long)d->writes, (unsigned long long)d->written_sp,
	       ratio(d->written_segs, d->written_sp), (unsigned long long)d->dropped);
	NSU_CHECK(d->dropped == 0 && d->write_errors == 0 && d->fallbacks == 0,
		  "%s %s: %llu dropped, %llu write errors, %llu fallbacks", phase, dir,
		  (unsigned long long)d->dropped, (unsigned long long)d->write_errors,
		  (unsigned long long)d->fallbacks);
}

/* ------------------------------------------------------------------------ */
/* TCP                                                                      */
/* ------------------------------------------------------------------------ */

/* A socket in namespace ns, where the calling thread stays. */
static int ns_socket(const char *ns, int family, int type)
{
	int fd;

	nsu_enter(ns);
	fd = socket(family, type | SOCK_CLOEXEC, 0);
	NSU_CHECK(fd >= 0, "socket: %s", strerror(errno));
	return fd;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint64_t tcp_phase(int v6, uint64_t bytes, struct delta *sum)
{
	const char *server = v6 ? "fd88::2" : "10.88.0.2";
	struct nsu_tcp t = {.bytes = bytes, .seed = STREAM_SEED, .idle_s = IDLE_LIMIT};
	struct sockaddr_storage ss;
	socklen_t sl;
	pthread_t cth, sth;
	struct snap a0, a1, b0, b1;
	struct delta dab, dba;
	int one = 1;
	double t0;

	nsu_addr(server, 5001, &ss, &sl);
	t.lfd = ns_socket(nsb, ss.ss_family, SOCK_STREAM);
	setsockopt(t.lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	NSU_CHECK(bind(t.lfd, (struct sockaddr *)&ss, sl) == 0, "bind %s: %s", server,
		  strerror(errno));
	NSU_CHECK(listen(t.lfd, 1) == 0, "listen");
	t.cfd = ns_socket(nsa, ss.ss_family, SOCK_STREAM);
	nsu_tcp_timeouts(t.cfd, IDLE_LIMIT);
	nsu_enter(NULL);

	snap(&ab, &a0);
	snap(&ba, &b0);
	t0 = now();
	NSU_CHECK(connect(t.cfd, (struct sockaddr *)&ss, sl) == 0, "connect %s: %s", server,
		  strerror(errno));
	NSU_CHECK(pthread_create(&sth, NULL, nsu_tcp_server, &t) == 0, "pthread_create");
	NSU_CHECK(pthread_create(&cth, NULL, nsu_tcp_client, &t) == 0, "pthread_create");
	pthread_join(cth, NULL);
	pthread_join(sth, NULL);
	double secs = now() - t0;
	close(t.cfd);
	close(t.lfd);
	usleep(100 * 1000); /* let the last ACKs and FINs through the relay */
	snap(&ab, &a1);
	snap(&ba, &b1);
	NSU_CHECK(!t.fail, "TCP%s: %s at byte %llu", v6 ? "v6" : "v4", t.fail,
		  (unsigned long long)t.fail_at);
	NSU_CHECK(t.received == bytes, "TCP%s: %llu of %llu bytes arrived", v6 ? "v6" : "v4",
		  (unsigned long long)t.received, (unsigned long long)bytes);
	dab = diff(&a0, &a1);
	dba = diff(&b0, &b1);
	printf("TCP/IPv%d: %llu bytes moved and verified in %.2f s\n", v6 ? 6 : 4,
	       (unsigned long long)t.received, secs);
	report(v6 ? "TCPv6" : "TCPv4", "A->B (data)", &dab);
	report(v6 ? "TCPv6" : "TCPv4", "B->A (acks)", &dba);
	NSU_CHECK(dab.read_sp > 0, "TCP: no superpacket read from A's TUN");
	NSU_CHECK(dab.written_sp > 0, "TCP: no superpacket written into B's TUN");
	add_up(sum, &dab);
	return t.received;
}

/* ------------------------------------------------------------------------ */
/* UDP with UDP_SEGMENT                                                     */
/* ------------------------------------------------------------------------ */

struct udp_run {
	int sfd, rfd;
	_Atomic uint64_t received;
	uint64_t bad, dup;
	const char *fail;
	uint8_t *seen;
};

/* Datagram i: its index, then the stream bytes from i * DGRAM + 8 on. */
static void fill_dgram(uint64_t i, uint8_t *p)
{
	memcpy(p, &i, 8);
	nsu_stream(STREAM_SEED ^ 0x55, i * DGRAM + 8, p + 8, DGRAM - 8);
}

static void *udp_receiver(void *arg)
{
	struct udp_run *u = arg;
	uint8_t buf[2048], want[DGRAM];

	while (atomic_load(&u->received) + u->bad + u->dup < DGRAMS) {
		struct pollfd p = {.fd = u->rfd, .events = POLLIN};
		if (poll(&p, 1, IDLE_LIMIT * 1000) <= 0) {
			u->fail = "receiver: nothing for too long";
			return NULL;
		}
		ssize_t r = recv(u->rfd, buf, sizeof(buf), MSG_DONTWAIT);
		if (r < 0)
			continue;
		uint64_t i;
		memcpy(&i, buf, 8);
		if (r != DGRAM || i >= DGRAMS) {
			u->bad++;
			continue;
		}
		fill_dgram(i, want);
		if (memcmp(buf, want, DGRAM)) {
			u->bad++;
			continue;
		}
		if (u->seen[i]) {
			u->dup++;
			continue;
		}
		u->seen[i] = 1;
		atomic_fetch_add(&u->received, 1);
	}
	return NULL;
}

static void *udp_sender(void *arg)
{
	struct udp_run *u = arg;
	uint8_t *buf = malloc(GSO_DGRAMS * DGRAM);
	uint64_t i = 0;

	if (!buf) {
		u->fail = "sender: out of memory";
		return NULL;
	}
	while (i < DGRAMS) {
		unsigned n = DGRAMS - i < GSO_DGRAMS ? (unsigned)(DGRAMS - i) : GSO_DGRAMS;
		double t0 = now();
		/* Pace: a local path loses nothing unless a queue overflows. */
		while (i - atomic_load(&u->received) > UDP_WINDOW) {
			if (now() - t0 > IDLE_LIMIT) {
				u->fail = "sender: the receiver stopped making progress";
				free(buf);
				return NULL;
			}
			usleep(200);
		}
		for (unsigned k = 0; k < n; k++)
			fill_dgram(i + k, buf + (size_t)k * DGRAM);
		ssize_t w = send(u->sfd, buf, (size_t)n * DGRAM, 0);
		if (w < 0 && (errno == EINTR || errno == ENOBUFS || errno == EAGAIN)) {
			usleep(200);
			continue;
		}
		if (w != (ssize_t)n * DGRAM) {
			u->fail = "sender: send failed";
			free(buf);
			return NULL;
		}
		i += n;
	}
	free(buf);
	return NULL;
}

static uint64_t udp_phase(int v6, struct delta *sum)
{
	const char *server = v6 ? "fd88::2" : "10.88.0.2";
	struct udp_run u = {0};
	struct sockaddr_storage ss;
	socklen_t sl;
	pthread_t sth, rth;
	struct snap a0, a1;
	struct delta dab;
	int gso = DGRAM, big = 32 << 20;
	double t0;

	u.seen = calloc(DGRAMS, 1);
	NSU_CHECK(u.seen, "out of memory");
	nsu_addr(server, 6000, &ss, &sl);
	u.rfd = ns_socket(nsb, ss.ss_family, SOCK_DGRAM);
	setsockopt(u.rfd, SOL_SOCKET, SO_RCVBUFFORCE, &big, sizeof(big));
	NSU_CHECK(bind(u.rfd, (struct sockaddr *)&ss, sl) == 0, "bind %s: %s", server,
		  strerror(errno));
	u.sfd = ns_socket(nsa, ss.ss_family, SOCK_DGRAM);
	if (setsockopt(u.sfd, SOL_UDP, UDP_SEGMENT, &gso, sizeof(gso)) != 0)
		nsu_skip("UDP_SEGMENT: %s", strerror(errno));
	setsockopt(u.sfd, SOL_SOCKET, SO_SNDBUFFORCE, &big, sizeof(big));
	NSU_CHECK(connect(u.sfd, (struct sockaddr *)&ss, sl) == 0, "connect: %s", strerror(errno));
	nsu_enter(NULL);

	snap(&ab, &a0);
	t0 = now();
	NSU_CHECK(pthread_create(&rth, NULL, udp_receiver, &u) == 0, "pthread_create");
	NSU_CHECK(pthread_create(&sth, NULL, udp_sender, &u) == 0, "pthread_create");
	pthread_join(sth, NULL);
	pthread_join(rth, NULL);
	double secs = now() - t0;
	usleep(100 * 1000); /* the relay publishes its counters after each burst */
	snap(&ab, &a1);
	close(u.sfd);
	close(u.rfd);
	free(u.seen);
	NSU_CHECK(!u.fail, "UDP%s: %s (%llu received)", v6 ? "v6" : "v4", u.fail,
		  (unsigned long long)atomic_load(&u.received));
	NSU_CHECK(atomic_load(&u.received) == DGRAMS && !u.bad && !u.dup,
		  "UDP%s: %llu of %d datagrams, %llu corrupt, %llu duplicated", v6 ? "v6" : "v4",
		  (unsigned long long)atomic_load(&u.received), DGRAMS, (unsigned long long)u.bad,
		  (unsigned long long)u.dup);
	dab = diff(&a0, &a1);
	printf("UDP/IPv%d: %d datagrams of %d bytes (%llu bytes) moved and verified in %.2f s\n",
	       v6 ? 6 : 4, DGRAMS, DGRAM, (unsigned long long)DGRAMS * DGRAM, secs);
	report(v6 ? "UDPv6" : "UDPv4", "A->B", &dab);
	if (tb_tun_caps(ta) & TB_CAP_USO) {
		NSU_CHECK(dab.read_sp > 0, "UDP: no superpacket read from A's TUN");
		NSU_CHECK(dab.written_sp > 0, "UDP: no superpacket written into B's TUN");
	}
	add_up(sum, &dab);
	return (uint64_t)DGRAMS * DGRAM;
}

/* ------------------------------------------------------------------------ */

static struct tb_tun *make_tun(const char *ns, const char *dev, const char *ip4, const char *ip6)
{
	struct tb_tun_opts o = {.name = dev};
	struct tb_tun *t;
	int err;

	nsu_enter(ns);
	nsu_sysctl("/proc/sys/net/ipv6/conf/default/addr_gen_mode", "1");
	t = tb_tun_open(&o);
	err = t ? 0 : -errno;
	if (!t)
		nsu_skip("TUN with IFF_VNET_HDR: %s", strerror(-err));
	if (!(tb_tun_caps(t) & TB_CAP_TSO))
		nsu_skip("no TSO on TUN (offloads 0x%x)", tb_tun_offloads(t));
	nsu_enter(NULL);
	nsu_run("ip -n %s addr add %s/24 dev %s", ns, ip4, dev);
	nsu_run("ip -n %s addr add %s/64 dev %s nodad", ns, ip6, dev);
	nsu_run("ip -n %s link set %s up", ns, dev);
	return t;
}

static int test(void)
{
	struct delta sum = {0};
	uint64_t moved = 0;

	nsu_create("a", nsa, sizeof(nsa));
	nsu_create("b", nsb, sizeof(nsb));
	ta = make_tun(nsa, "tbra", "10.88.0.1", "fd88::1");
	tb = make_tun(nsb, "tbrb", "10.88.0.2", "fd88::2");
	printf("A: offloads 0x%x caps 0x%x; B: offloads 0x%x caps 0x%x\n", tb_tun_offloads(ta),
	       tb_tun_caps(ta), tb_tun_offloads(tb), tb_tun_caps(tb));
	relay_start(&ab, ta, tb);
	relay_start(&ba, tb, ta);

	moved += tcp_phase(0, TCP_BYTES, &sum);
	moved += tcp_phase(1, TCP6_BYTES, &sum);
	moved += udp_phase(0, &sum);
	moved += udp_phase(1, &sum);

	tb_tun_wake(ta);
	tb_tun_wake(tb);
	relay_stop(&ab);
	relay_stop(&ba);
	printf("relay total: %llu bytes moved end to end; %llu superpackets read (%.1f segments "
	       "each), %llu superpackets written (%.1f segments each)\n",
	       (unsigned long long)moved, (unsigned long long)sum.read_sp,
	       ratio(sum.read_segs, sum.read_sp), (unsigned long long)sum.written_sp,
	       ratio(sum.written_segs, sum.written_sp));
	for (int i = 0; i < 2; i++) {
		struct relay *r = i ? &ba : &ab;
		tb_coalescer_destroy(r->co);
		tb_arena_destroy(r->arena);
		tb_tun_reader_destroy(r->rd);
	}
	tb_tun_close(ta);
	tb_tun_close(tb);
	return 0;
}

int main(void)
{
	return nsu_main("ktest_relay", test, 300);
}
