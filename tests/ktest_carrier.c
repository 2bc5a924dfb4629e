/* SPDX-License-Identifier: MIT */
/*
 * The carrier against the kernel: two namespaces joined by a veth pair, one
 * sending carrier in the first, two receiving carriers (two ports) in the
 * second, over IPv4 and IPv6, with GSO and GRO each on and off.
 *
 * Every datagram carries its index in its receiver's stream and bytes drawn
 * from a seeded stream: each must arrive byte-exact, exactly once and in
 * order. The syscall counts must show the batching (a run of 40 equal
 * datagrams leaves in one message and, with GRO, arrives in one slot), and
 * the UDP_SEGMENT messages counted must be those a reference cutting of the
 * runs predicts. Then: a route refusing segmentation (EIO) loses nothing; a
 * run the MTU refuses goes one by one; a slot smaller than a datagram counts
 * a truncation and delivers nothing cut; a GRO buffer larger than a call's
 * views comes out over two calls; sendmmsg takes 1024 messages at most; a
 * full socket buffer is waited out; tb_carrier_wake ends a blocked receive
 * and a blocked flush; bad arguments give -EINVAL; no allocation while
 * traffic flows.
 *
 * Linked with --wrap for sendmmsg and the malloc family (tests/CMakeLists.txt):
 * the malloc family counts allocations; sendmmsg can refuse UDP_SEGMENT
 * messages the way other kernels do: EIO where this one no longer does it
 * (Linux 6.11+ checksums segmented UDP in software when the device has no
 * checksum offload), EINVAL for more than 64 segments (before 6.9) or a
 * segment over the MTU (before EMSGSIZE).
 */
#define _GNU_SOURCE
#include "nsutil.h"
#include "testutil.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/utsname.h>
#include <unistd.h>

#ifndef SOL_UDP
#define SOL_UDP 17
#endif
#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103
#endif

#define VA	  "va"
#define VB	  "vb"
#define MAX_PLAN  2600
#define MAX_IDX	  40000
#define SKIP	  0xffffffffu /* an index the receiver must never see (truncated) */
#define DGRAM_MAX 65507

static char nsa[64], nsb[64];

/* ---- wrapped calls ------------------------------------------------------- */

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t n);
void __real_free(void *p);
void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t n, size_t size);
void *__wrap_realloc(void *p, size_t n);
void __wrap_free(void *p);
int __real_sendmmsg(int fd, struct mmsghdr *m, unsigned int n, int flags);
int __wrap_sendmmsg(int fd, struct mmsghdr *m, unsigned int n, int flags);

static int counting;
static unsigned long allocs;
static int inject_eio;
static unsigned inject_einval_over; /* refuse UDP_SEGMENT messages of more segments */
static unsigned long injected;

void *__wrap_malloc(size_t n)
{
	allocs += counting;
	return __real_malloc(n);
}

void *__wrap_calloc(size_t n, size_t size)
{
	allocs += counting;
	return __real_calloc(n, size);
}

void *__wrap_realloc(void *p, size_t n)
{
	allocs += counting;
	return __real_realloc(p, n);
}

void __wrap_free(void *p)
{
	allocs += counting;
	__real_free(p);
}

/*
 * With inject_eio, the first UDP_SEGMENT message is refused as a route
 * through IPsec (or a device without checksum offload before Linux 6.11)
 * would refuse it. With inject_einval_over, every UDP_SEGMENT message of
 * more segments is refused with EINVAL, as a kernel before 6.9 refuses more
 * than 64 (inject_einval_over 64), or one before 6.14 a segment over the
 * MTU (1). The messages before a refused one go out.
 */
int __wrap_sendmmsg(int fd, struct mmsghdr *m, unsigned int n, int flags)
{
	for (unsigned k = 0; (inject_eio || inject_einval_over) && k < n; k++) {
		const struct msghdr *h = &m[k].msg_hdr;
		if (!h->msg_controllen)
			continue;
		if (!inject_eio && h->msg_iovlen <= inject_einval_over)
			continue;
		if (k)
			return __real_sendmmsg(fd, m, k, flags);
		errno = inject_eio ? EIO : EINVAL;
		inject_eio = 0;
		injected++;
		return -1;
	}
	return __real_sendmmsg(fd, m, n, flags);
}

/* ---- datagrams ----------------------------------------------------------- */

struct dg {
	unsigned to; /* receiver 0 or 1 */
	uint32_t len;
	uint32_t idx; /* in its receiver's stream */
};

/* Datagram idx of receiver to: its index (little endian), then the stream. */
static void fill(uint8_t *p, unsigned to, uint32_t idx, size_t len)
{
	uint8_t head[4] = {(uint8_t)idx, (uint8_t)(idx >> 8), (uint8_t)(idx >> 16),
			   (uint8_t)(idx >> 24)};

	memcpy(p, head, len < 4 ? len : 4);
	if (len > 4)
		nsu_stream(1000 + to, (uint64_t)idx << 16, p + 4, len - 4);
}

struct rx {
	struct tb_carrier *c;
	struct sockaddr_storage addr; /* where it listens */
	socklen_t addr_len;
	uint32_t plan_next; /* next index handed out */
	uint32_t next;	    /* next index expected */
	uint32_t exp[MAX_IDX];
};

struct peer {
	struct tb_carrier *s;
	struct sockaddr_storage addr; /* the sender's, as receivers see it */
	struct rx rx[2];
	int nrx;
};

/* Appends count datagrams of len to receiver to. */
static unsigned add(struct dg *p, unsigned n, struct peer *pe, unsigned to, uint32_t len,
		    unsigned count)
{
	for (unsigned i = 0; i < count; i++) {
		struct rx *r = &pe->rx[to];
		NSU_CHECK(n < MAX_PLAN && r->plan_next < MAX_IDX, "plan too long");
		p[n] = (struct dg){to, len, r->plan_next};
		r->exp[r->plan_next++] = len;
		n++;
	}
	return n;
}

static void send_plan(struct peer *pe, const struct dg *p, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		struct rx *r = &pe->rx[p[i].to];
		uint8_t *b = tb_carrier_reserve(pe->s, p[i].len);
		NSU_CHECK(b, "reserve %u: %s", p[i].len, strerror(errno));
		fill(b, p[i].to, p[i].idx, p[i].len);
		NSU_CHECK(tb_carrier_commit(pe->s, b, p[i].len, (struct sockaddr *)&r->addr,
					    r->addr_len) == 0,
			  "commit");
	}
	int e = tb_carrier_flush(pe->s);
	NSU_CHECK(e == 0, "flush: %s", strerror(-e));
}

static int same_addr(const struct sockaddr *a, const struct sockaddr_storage *b)
{
	if (a->sa_family != b->ss_family)
		return 0;
	if (a->sa_family == AF_INET) {
		const struct sockaddr_in *x = (const void *)a, *y = (const void *)b;
		return x->sin_port == y->sin_port && x->sin_addr.s_addr == y->sin_addr.s_addr;
	}
	const struct sockaddr_in6 *x = (const void *)a, *y = (const void *)b;
	return x->sin6_port == y->sin6_port && !memcmp(&x->sin6_addr, &y->sin6_addr, 16);
}

static void check_dgram(struct peer *pe, struct rx *r, const struct tb_dgram *d, int k)
{
	static uint8_t want[DGRAM_MAX];
	uint32_t len;

	while (r->next < r->plan_next && r->exp[r->next] == SKIP)
		r->next++;
	NSU_CHECK(r->next < r->plan_next, "receiver %d: a datagram more than sent (%zu bytes)", k,
		  d->len);
	len = r->exp[r->next];
	NSU_CHECK(d->len == len, "receiver %d: datagram %u: %zu bytes, sent %u", k, r->next, d->len,
		  len);
	fill(want, (unsigned)k, r->next, len);
	NSU_CHECK(!memcmp(d->data, want, len), "receiver %d: datagram %u (%u bytes) differs", k,
		  r->next, len);
	NSU_CHECK(same_addr(d->from, &pe->addr), "receiver %d: datagram %u from elsewhere", k,
		  r->next);
	r->next++;
}

static int done(const struct rx *r)
{
	uint32_t n = r->next;

	while (n < r->plan_next && r->exp[n] == SKIP)
		n++;
	return n == r->plan_next;
}

/* Receives until every receiver has all it was sent (3 s without progress
 * fail the test). */
static void drain(struct peer *pe)
{
	int idle = 0;

	for (;;) {
		int all = 1, got = 0;
		for (int k = 0; k < pe->nrx; k++) {
			struct rx *r = &pe->rx[k];
			struct tb_dgram *d;
			int n;
			if (done(r))
				continue;
			all = 0;
			n = tb_carrier_recv(r->c, 10, &d);
			NSU_CHECK(n >= 0, "recv: %s", strerror(-n));
			for (int i = 0; i < n; i++)
				check_dgram(pe, r, &d[i], k);
			got += n;
		}
		if (all)
			return;
		idle = got ? 0 : idle + 1;
		if (idle > 300)
			NSU_FAIL("receivers stalled at %u of %u and %u of %u", pe->rx[0].next,
				 pe->rx[0].plan_next, pe->nrx > 1 ? pe->rx[1].next : 0,
				 pe->nrx > 1 ? pe->rx[1].plan_next : 0);
	}
}

/* Nothing more arrives. */
static void quiet(struct peer *pe)
{
	for (int k = 0; k < pe->nrx; k++) {
		struct tb_dgram *d;
		int n = tb_carrier_recv(pe->rx[k].c, 100, &d);
		NSU_CHECK(n == 0, "receiver %d: %d datagrams more than sent", k, n);
	}
}

/* ---- the reference cutting of runs --------------------------------------- */

struct cut {
	unsigned msgs, gso_msgs, gso_segs;
};

/* Same destination, same size, the last may be shorter but not empty, at
 * most cap segments and 65507 bytes. */
static struct cut ref_cut(const struct dg *p, unsigned n, unsigned cap, int gso)
{
	struct cut c = {0};

	for (unsigned i = 0; i < n;) {
		unsigned cnt = 1;
		uint32_t seg = p[i].len, bytes = seg;
		while (gso && seg && i + cnt < n && cnt < cap) {
			const struct dg *q = &p[i + cnt];
			if (q->to != p[i].to || !q->len || q->len > seg ||
			    bytes + q->len > DGRAM_MAX)
				break;
			bytes += q->len;
			cnt++;
			if (q->len < seg)
				break;
		}
		c.msgs++;
		if (cnt > 1) {
			c.gso_msgs++;
			c.gso_segs += cnt;
		}
		i += cnt;
	}
	return c;
}

/* UDP_MAX_SEGMENTS: 128 since Linux 6.9. */
static unsigned kernel_segs(void)
{
	struct utsname u;
	unsigned maj = 0, min = 0;

	uname(&u);
	sscanf(u.release, "%u.%u", &maj, &min);
	return maj > 6 || (maj == 6 && min >= 9) ? 128 : 64;
}

/* ---- set-up -------------------------------------------------------------- */

/* For the carriers opened next; 0: the defaults. */
static unsigned recv_slots, send_max;
static int sndbuf;

static struct tb_carrier *open_in(const char *ns, int v6, const char *ip, unsigned flags,
				  size_t slot, struct sockaddr_storage *local, socklen_t *llen)
{
	struct sockaddr_storage b;
	struct tb_carrier_opts o = {0};
	struct tb_carrier *c;
	int err;

	nsu_addr(ip, 0, &b, &o.bind_len);
	o.bind = (struct sockaddr *)&b;
	o.flags = flags;
	o.rcvbuf = 64 << 20;
	o.sndbuf = sndbuf ? sndbuf : 8 << 20;
	o.slot_size = slot;
	o.recv_slots = recv_slots;
	o.send_max = send_max;
	nsu_enter(ns);
	c = tb_carrier_open(&o);
	err = c ? 0 : -errno;
	nsu_enter(NULL);
	NSU_CHECK(c, "tb_carrier_open %s: %s", ip, strerror(-err));
	NSU_CHECK(tb_carrier_local(c, local, llen) == 0, "tb_carrier_local");
	return c;
}

static const char *ip_of(int v6, int side)
{
	return v6 ? (side ? "fd77::2" : "fd77::1") : (side ? "10.77.0.2" : "10.77.0.1");
}

/* A sender in nsa, nrx receivers in nsb. */
static void peer_open(struct peer *pe, int v6, unsigned sflags, unsigned rflags, size_t slot,
		      int nrx)
{
	socklen_t l;

	memset(pe, 0, sizeof(*pe));
	pe->s = open_in(nsa, v6, ip_of(v6, 0), sflags, 0, &pe->addr, &l);
	pe->nrx = nrx;
	for (int k = 0; k < nrx; k++)
		pe->rx[k].c = open_in(nsb, v6, ip_of(v6, 1), rflags, slot, &pe->rx[k].addr,
				      &pe->rx[k].addr_len);
}

static void peer_close(struct peer *pe)
{
	tb_carrier_close(pe->s);
	for (int k = 0; k < pe->nrx; k++)
		tb_carrier_close(pe->rx[k].c);
}

static struct tb_carrier_stats st_of(struct tb_carrier *c)
{
	struct tb_carrier_stats s;

	tb_carrier_stats(c, &s);
	return s;
}

static uint64_t err_count(const struct tb_carrier_stats *s, int e)
{
	for (int i = 0; i < TB_CARRIER_ERRNOS; i++)
		if (s->by_errno[i].err == e)
			return s->by_errno[i].count;
	return 0;
}

/* ---- the combinations ---------------------------------------------------- */

static struct dg plan[MAX_PLAN];
static struct peer P;

/* A run of 40 equal datagrams: one sendmmsg, one UDP_SEGMENT message with
 * GSO, one receive slot with GSO and GRO. */
static void batching(struct peer *pe, int gso, int gro)
{
	struct tb_carrier_stats s0 = st_of(pe->s), r0 = st_of(pe->rx[0].c), s1, r1;
	unsigned n = add(plan, 0, pe, 0, 1000, 40);

	send_plan(pe, plan, n);
	drain(pe);
	s1 = st_of(pe->s);
	r1 = st_of(pe->rx[0].c);
	NSU_CHECK(s1.send_calls - s0.send_calls == 1, "40 datagrams: %llu send calls",
		  (unsigned long long)(s1.send_calls - s0.send_calls));
	NSU_CHECK(s1.tx_dgrams - s0.tx_dgrams == 40 && s1.tx_bytes - s0.tx_bytes == 40000,
		  "tx counts");
	NSU_CHECK(s1.gso_msgs - s0.gso_msgs == (gso ? 1u : 0u) &&
			  s1.gso_segs - s0.gso_segs == (gso ? 40u : 0u),
		  "gso %d: %llu messages, %llu segments", gso,
		  (unsigned long long)(s1.gso_msgs - s0.gso_msgs),
		  (unsigned long long)(s1.gso_segs - s0.gso_segs));
	NSU_CHECK(r1.rx_dgrams - r0.rx_dgrams == 40 && r1.rx_bytes - r0.rx_bytes == 40000,
		  "rx counts");
	if (gso && gro)
		NSU_CHECK(r1.gro_bufs - r0.gro_bufs == 1 && r1.gro_dgrams - r0.gro_dgrams == 40 &&
				  r1.recv_calls - r0.recv_calls == 1,
			  "GSO+GRO: %llu GRO buffers, %llu datagrams, %llu recvmmsg",
			  (unsigned long long)(r1.gro_bufs - r0.gro_bufs),
			  (unsigned long long)(r1.gro_dgrams - r0.gro_dgrams),
			  (unsigned long long)(r1.recv_calls - r0.recv_calls));
	if (!gro)
		NSU_CHECK(r1.gro_bufs == 0, "GRO off: %llu GRO buffers",
			  (unsigned long long)r1.gro_bufs);
}

/* Runs that must split: over the segment cap, over 65507 bytes, a size
 * change mid-run, another destination mid-run. */
static void splits(struct peer *pe, int gso, unsigned cap)
{
	struct tb_carrier_stats s0 = st_of(pe->s), s1;
	unsigned n = 0;
	struct cut want;

	n = add(plan, n, pe, 0, 1000, 65);
	n = add(plan, n, pe, 1, 100, 129);
	n = add(plan, n, pe, 0, 1200, 65);
	n = add(plan, n, pe, 1, 1000, 20);
	n = add(plan, n, pe, 1, 800, 20);
	n = add(plan, n, pe, 0, 1000, 20);
	n = add(plan, n, pe, 1, 1000, 5);
	n = add(plan, n, pe, 0, 1000, 20);
	n = add(plan, n, pe, 0, 1001, 3); /* larger: a new run */
	want = ref_cut(plan, n, cap, gso);
	send_plan(pe, plan, n);
	drain(pe);
	s1 = st_of(pe->s);
	NSU_CHECK(s1.send_calls - s0.send_calls == 1, "splits: %llu send calls",
		  (unsigned long long)(s1.send_calls - s0.send_calls));
	NSU_CHECK(s1.gso_msgs - s0.gso_msgs == want.gso_msgs &&
			  s1.gso_segs - s0.gso_segs == want.gso_segs,
		  "splits: %llu UDP_SEGMENT messages of %llu datagrams, the reference %u of %u",
		  (unsigned long long)(s1.gso_msgs - s0.gso_msgs),
		  (unsigned long long)(s1.gso_segs - s0.gso_segs), want.gso_msgs, want.gso_segs);
	NSU_CHECK(s1.tx_dgrams - s0.tx_dgrams == n && s1.errors == s0.errors, "splits: tx");
}

/* Bursts of assorted sizes and run lengths to both receivers. */
static void assorted(struct peer *pe, int v6, int gso, unsigned cap, uint64_t seed)
{
	static const uint32_t sizes[] = {0, 1, 3, 4, 5, 17, 64, 100, 511, 512, 1000, 1200, 1280};
	uint32_t top = v6 ? 1452 : 1472; /* the veth's MTU less the headers */

	for (int burst = 0; burst < 6; burst++) {
		struct tb_carrier_stats s0 = st_of(pe->s), s1;
		unsigned n = 0;
		struct cut want;
		while (n < 600) {
			uint64_t r = nsu_rand(&seed);
			unsigned to = r % 5 == 0;
			uint32_t len =
				r % 3 ? sizes[(r >> 8) % 13] : (uint32_t)((r >> 16) % (top + 1));
			unsigned count = 1 + (unsigned)((r >> 40) % 70);
			if (count > 600 - n)
				count = 600 - n;
			n = add(plan, n, pe, to, len, count);
			if ((r >> 60) % 3 == 0 && n < 600 && len > 1) /* a short last */
				n = add(plan, n, pe, to, len / 2, 1);
		}
		want = ref_cut(plan, n, cap, gso);
		counting = 1;
		send_plan(pe, plan, n);
		drain(pe);
		counting = 0;
		s1 = st_of(pe->s);
		NSU_CHECK(s1.gso_msgs - s0.gso_msgs == want.gso_msgs &&
				  s1.gso_segs - s0.gso_segs == want.gso_segs,
			  "burst %d: %llu UDP_SEGMENT messages of %llu, the reference %u of %u",
			  burst, (unsigned long long)(s1.gso_msgs - s0.gso_msgs),
			  (unsigned long long)(s1.gso_segs - s0.gso_segs), want.gso_msgs,
			  want.gso_segs);
		NSU_CHECK(s1.tx_dgrams - s0.tx_dgrams == n && s1.tx_dropped == 0 &&
				  s1.errors == s0.errors,
			  "burst %d: tx %llu of %u, %llu dropped, %llu errors", burst,
			  (unsigned long long)(s1.tx_dgrams - s0.tx_dgrams), n,
			  (unsigned long long)s1.tx_dropped, (unsigned long long)s1.errors);
	}
	NSU_CHECK(allocs == 0, "%lu allocations while traffic flowed", allocs);
}

/* Runs the MTU refuses to segment go one by one (fragmented); the largest
 * datagram goes alone. Nothing is lost, segmentation stays on. */
static void oversize(struct peer *pe, int gso)
{
	struct tb_carrier_stats s0 = st_of(pe->s), s1;
	unsigned n = 0;

	n = add(plan, n, pe, 0, 4000, 3);
	n = add(plan, n, pe, 0, DGRAM_MAX, 1);
	n = add(plan, n, pe, 1, 9000, 2);
	n = add(plan, n, pe, 0, 1000, 20);
	send_plan(pe, plan, n);
	drain(pe);
	s1 = st_of(pe->s);
	NSU_CHECK(s1.tx_dgrams - s0.tx_dgrams == n && s1.tx_dropped == 0, "oversize: tx");
	if (gso) {
		uint64_t refused = err_count(&s1, EMSGSIZE) + err_count(&s1, EINVAL) -
				   err_count(&s0, EMSGSIZE) - err_count(&s0, EINVAL);
		NSU_CHECK(refused == 2, "oversize: %llu runs refused for the MTU, want 2",
			  (unsigned long long)refused);
		NSU_CHECK(s1.gso_msgs - s0.gso_msgs == 1 && s1.gso_fallbacks == 0 &&
				  (tb_carrier_offloads(pe->s) & TB_CARRIER_GSO),
			  "oversize: segmentation must stay on");
	}
}

static void combination(int v6, int gso, int gro, unsigned cap)
{
	struct tb_carrier_stats s, r[2];

	printf("  %s GSO %s GRO %s\n", v6 ? "IPv6" : "IPv4", gso ? "on " : "off",
	       gro ? "on " : "off");
	peer_open(&P, v6, gso ? 0 : TB_CARRIER_NO_GSO, gro ? 0 : TB_CARRIER_NO_GRO, 0, 2);
	NSU_CHECK(!!(tb_carrier_offloads(P.s) & TB_CARRIER_GSO) == gso, "sender offloads %#x",
		  tb_carrier_offloads(P.s));
	for (int k = 0; k < 2; k++)
		NSU_CHECK(!!(tb_carrier_offloads(P.rx[k].c) & TB_CARRIER_GRO) == gro,
			  "receiver offloads %#x", tb_carrier_offloads(P.rx[k].c));
	batching(&P, gso, gro);
	splits(&P, gso, cap);
	assorted(&P, v6, gso, cap, 0x1234567ull + (uint64_t)(v6 * 4 + gso * 2 + gro));
	oversize(&P, gso);
	quiet(&P);
	s = st_of(P.s);
	r[0] = st_of(P.rx[0].c);
	r[1] = st_of(P.rx[1].c);
	printf("    sent %llu datagrams in %llu calls (%llu UDP_SEGMENT messages of %llu); "
	       "received %llu in %llu recvmmsg, %llu GRO buffers of %llu\n",
	       (unsigned long long)s.tx_dgrams, (unsigned long long)s.send_calls,
	       (unsigned long long)s.gso_msgs, (unsigned long long)s.gso_segs,
	       (unsigned long long)(r[0].rx_dgrams + r[1].rx_dgrams),
	       (unsigned long long)(r[0].recv_calls + r[1].recv_calls),
	       (unsigned long long)(r[0].gro_bufs + r[1].gro_bufs),
	       (unsigned long long)(r[0].gro_dgrams + r[1].gro_dgrams));
	NSU_CHECK(s.tx_dgrams == P.rx[0].plan_next + P.rx[1].plan_next, "sent count");
	NSU_CHECK(r[0].truncated + r[1].truncated == 0 && r[0].errors + r[1].errors == 0,
		  "receive errors");
	peer_close(&P);
}

/* ---- single cases -------------------------------------------------------- */

/* A slot of 1000 bytes: larger datagrams are counted and dropped, never cut;
 * GRO is not asked for with such slots. */
static void truncation(void)
{
	struct tb_carrier_stats r;
	unsigned n = 0;

	peer_open(&P, 0, 0, 0, 1000, 1);
	NSU_CHECK(!(tb_carrier_offloads(P.rx[0].c) & TB_CARRIER_GRO), "GRO with 1000-byte slots");
	n = add(plan, n, &P, 0, 1400, 1);
	n = add(plan, n, &P, 0, 500, 1);
	n = add(plan, n, &P, 0, 1000, 1);
	n = add(plan, n, &P, 0, 1001, 1);
	n = add(plan, n, &P, 0, 0, 1);
	n = add(plan, n, &P, 0, 1400, 3); /* one UDP_SEGMENT message, cut up by the kernel */
	n = add(plan, n, &P, 0, 700, 1);
	for (uint32_t i = 0; i < P.rx[0].plan_next; i++)
		if (P.rx[0].exp[i] > 1000)
			P.rx[0].exp[i] = SKIP;
	send_plan(&P, plan, n);
	drain(&P);
	quiet(&P);
	r = st_of(P.rx[0].c);
	NSU_CHECK(r.truncated == 5 && r.rx_dgrams == 4 && r.rx_bytes == 2200,
		  "truncation: %llu truncated, %llu delivered (%llu bytes)",
		  (unsigned long long)r.truncated, (unsigned long long)r.rx_dgrams,
		  (unsigned long long)r.rx_bytes);
	printf("  slot of 1000 bytes: 5 larger datagrams counted as truncated, 4 delivered\n");
	peer_close(&P);
}

/* A route that refuses UDP_SEGMENT with EIO: segmentation goes off for this
 * carrier, the refused datagrams go one by one, none is lost. */
static void eio_fallback(void)
{
	struct tb_carrier_stats s;
	unsigned n = 0;
	int kernel_eio = 0;

	/* Without checksum offload, kernels before 6.11 refuse UDP_SEGMENT. */
	if (nsu_sh("ip netns exec %s ethtool -K " VA " tx off >/dev/null 2>&1", nsa) == 0) {
		struct sockaddr_storage to;
		socklen_t tl;
		char buf[2000] = {0}, cb[CMSG_SPACE(sizeof(uint16_t))] = {0};
		struct iovec iov = {buf, sizeof(buf)};
		struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1};
		struct cmsghdr *cm = (struct cmsghdr *)cb;
		uint16_t gso = 1000;
		int fd;

		nsu_enter(nsa);
		fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
		nsu_enter(NULL);
		NSU_CHECK(fd >= 0, "socket");
		nsu_addr(ip_of(0, 1), 9, &to, &tl);
		m.msg_name = &to;
		m.msg_namelen = tl;
		m.msg_control = cb;
		m.msg_controllen = sizeof(cb);
		cm->cmsg_level = SOL_UDP;
		cm->cmsg_type = UDP_SEGMENT;
		cm->cmsg_len = CMSG_LEN(sizeof(gso));
		memcpy(CMSG_DATA(cm), &gso, sizeof(gso));
		kernel_eio = sendmsg(fd, &m, 0) < 0 && errno == EIO;
		close(fd);
	}
	injected = 0;
	inject_eio = !kernel_eio;
	printf("  EIO fallback: %s\n",
	       kernel_eio ? "the kernel refuses UDP_SEGMENT without checksum offload"
			  : "this kernel segments without checksum offload: EIO injected");
	peer_open(&P, 0, 0, 0, 0, 2);
	n = add(plan, n, &P, 1, 300, 3);
	n = add(plan, n, &P, 0, 1000, 40);
	n = add(plan, n, &P, 1, 500, 10);
	n = add(plan, n, &P, 0, 500, 30);
	send_plan(&P, plan, n);
	drain(&P);
	s = st_of(P.s);
	NSU_CHECK(s.gso_fallbacks == 1 && !(tb_carrier_offloads(P.s) & TB_CARRIER_GSO),
		  "EIO: %llu fallbacks, offloads %#x", (unsigned long long)s.gso_fallbacks,
		  tb_carrier_offloads(P.s));
	NSU_CHECK(s.tx_dgrams == n && s.tx_dropped == 0 && s.errors == 1 && err_count(&s, EIO) == 1,
		  "EIO: %llu of %u sent, %llu dropped, %llu errors",
		  (unsigned long long)s.tx_dgrams, n, (unsigned long long)s.tx_dropped,
		  (unsigned long long)s.errors);
	NSU_CHECK(kernel_eio || injected == 1, "EIO injected %lu times", injected);
	/* Segmentation stays off: the next run goes as single datagrams. */
	n = add(plan, 0, &P, 0, 1000, 40);
	send_plan(&P, plan, n);
	drain(&P);
	quiet(&P);
	s = st_of(P.s);
	NSU_CHECK(s.gso_msgs == 0 && s.gso_fallbacks == 1 && s.tx_dgrams == 123, "after EIO");
	peer_close(&P);
	inject_eio = 0;
	nsu_sh("ip netns exec %s ethtool -K " VA " tx on >/dev/null 2>&1", nsa);
}

/* One slot: a UDP_SEGMENT message of 128 datagrams arrives as one GRO
 * buffer, more than the 64 views a slot gets per call; the second call
 * returns the rest without waiting or calling the kernel. */
static void views_resume(void)
{
	struct tb_carrier_stats r;
	struct tb_dgram *d;
	unsigned n;
	int got, more;

	recv_slots = 1;
	peer_open(&P, 0, 0, 0, 0, 1);
	recv_slots = 0;
	n = add(plan, 0, &P, 0, 100, 128);
	send_plan(&P, plan, n);
	got = tb_carrier_recv(P.rx[0].c, 2000, &d);
	NSU_CHECK(got == 64, "first call: %d datagrams", got);
	for (int i = 0; i < got; i++)
		check_dgram(&P, &P.rx[0], &d[i], 0);
	more = tb_carrier_recv(P.rx[0].c, 0, &d);
	NSU_CHECK(more == 64, "second call: %d datagrams", more);
	for (int i = 0; i < more; i++)
		check_dgram(&P, &P.rx[0], &d[i], 0);
	r = st_of(P.rx[0].c);
	NSU_CHECK(r.polls == 1 && r.recv_calls == 1 && r.gro_bufs == 1 && r.gro_dgrams == 128,
		  "%llu polls, %llu recvmmsg, %llu GRO buffers of %llu",
		  (unsigned long long)r.polls, (unsigned long long)r.recv_calls,
		  (unsigned long long)r.gro_bufs, (unsigned long long)r.gro_dgrams);
	quiet(&P);
	printf("  a GRO buffer of 128 in one slot: 64 + 64 views, one recvmmsg\n");
	peer_close(&P);
}

/* 2500 single datagrams held for one flush: sendmmsg takes at most 1024
 * messages, so three calls. */
static void many_messages(void)
{
	struct tb_carrier_stats s;
	unsigned n = 0;

	send_max = 3000;
	peer_open(&P, 0, TB_CARRIER_NO_GSO, 0, 0, 1);
	send_max = 0;
	for (int i = 0; i < 2500; i++)
		n = add(plan, n, &P, 0, (uint32_t)(i % 2 ? 64 : 65), 1);
	send_plan(&P, plan, n);
	drain(&P);
	quiet(&P);
	s = st_of(P.s);
	NSU_CHECK(s.send_calls == 3 && s.tx_dgrams == 2500 && s.polls == 0,
		  "2500 messages: %llu sendmmsg, %llu sent, %llu polls",
		  (unsigned long long)s.send_calls, (unsigned long long)s.tx_dgrams,
		  (unsigned long long)s.polls);
	printf("  2500 messages in one flush: 3 sendmmsg calls\n");
	peer_close(&P);
}

/* An AF_INET destination of a dual-stack IPv6 carrier goes to ::ffff:a.b.c.d,
 * segmented like any other. */
static void mapped(void)
{
	struct tb_carrier_stats s;
	struct sockaddr_storage local;
	socklen_t l;
	unsigned n;

	memset(&P, 0, sizeof(P));
	P.s = open_in(nsa, 1, "::", 0, 0, &local, &l);
	P.nrx = 1;
	P.rx[0].c = open_in(nsb, 0, ip_of(0, 1), 0, 0, &P.rx[0].addr, &P.rx[0].addr_len);
	nsu_addr(ip_of(0, 0), ntohs(((struct sockaddr_in6 *)&local)->sin6_port), &P.addr, &l);
	n = add(plan, 0, &P, 0, 1000, 40);
	n = add(plan, n, &P, 0, 300, 1);
	send_plan(&P, plan, n);
	drain(&P);
	quiet(&P);
	s = st_of(P.s);
	NSU_CHECK(s.tx_dgrams == 41 && s.gso_msgs == 1 && s.gso_segs == 41 && s.errors == 0,
		  "mapped: %llu datagrams, %llu UDP_SEGMENT messages",
		  (unsigned long long)s.tx_dgrams, (unsigned long long)s.gso_msgs);
	printf("  IPv4 destination of an IPv6 carrier: 41 datagrams in one message\n");
	peer_close(&P);
}

/*
 * Kernels this one is not, by their answers to sendmmsg:
 * - before 6.9, UDP_SEGMENT messages over 64 segments are refused with
 *   EINVAL: the first refusal cuts the run to 64, which goes, so 64 holds
 *   from then on (one refusal in all, not counted as an error), and the
 *   messages are those a reference cutting at 64 predicts;
 * - before 6.14, a segment over the MTU is refused with EINVAL too: the run
 *   cut to 64 is refused as well, so the cap was not the reason and stays
 *   128, and the datagrams go one by one.
 */
static void older_kernels(void)
{
	struct tb_carrier_stats s0, s;
	unsigned n = 0;
	struct cut want;

	injected = 0;
	inject_einval_over = 64;
	peer_open(&P, 0, 0, 0, 0, 2);
	n = add(plan, n, &P, 0, 1000, 65);
	n = add(plan, n, &P, 1, 100, 129);
	n = add(plan, n, &P, 0, 1200, 65);
	n = add(plan, n, &P, 1, 50, 200);
	want = ref_cut(plan, n, 64, 1);
	send_plan(&P, plan, n);
	drain(&P);
	s = st_of(P.s);
	NSU_CHECK(injected == 1 && s.errors == 0 && s.tx_dropped == 0 && s.tx_dgrams == n,
		  "64-segment kernel: %lu refusals, %llu errors, %llu of %u sent", injected,
		  (unsigned long long)s.errors, (unsigned long long)s.tx_dgrams, n);
	NSU_CHECK(s.gso_msgs == want.gso_msgs && s.gso_segs == want.gso_segs,
		  "64-segment kernel: %llu messages of %llu, the reference %u of %u",
		  (unsigned long long)s.gso_msgs, (unsigned long long)s.gso_segs, want.gso_msgs,
		  want.gso_segs);
	quiet(&P);
	peer_close(&P);

	injected = 0;
	inject_einval_over = 1;
	peer_open(&P, 0, 0, 0, 0, 1);
	n = add(plan, 0, &P, 0, 500, 100);
	send_plan(&P, plan, n);
	drain(&P);
	s0 = st_of(P.s);
	/* 100 refused (the cap tried), 64 refused, then the last 36. */
	NSU_CHECK(injected == 3 && s0.gso_msgs == 0 && s0.tx_dgrams == 100 && s0.tx_dropped == 0 &&
			  err_count(&s0, EINVAL) == 2,
		  "MTU refusals: %lu injected, %llu messages, %llu sent, %llu EINVAL", injected,
		  (unsigned long long)s0.gso_msgs, (unsigned long long)s0.tx_dgrams,
		  (unsigned long long)err_count(&s0, EINVAL));
	inject_einval_over = 0;
	n = add(plan, 0, &P, 0, 500, 100);
	send_plan(&P, plan, n);
	drain(&P);
	quiet(&P);
	s = st_of(P.s);
	NSU_CHECK(s.gso_msgs == 1 && s.gso_segs == 100, "the cap stayed 128: %llu messages",
		  (unsigned long long)s.gso_msgs);
	printf("  older kernels: the 64-segment cap found with one refusal; MTU refusals "
	       "leave it at 128\n");
	peer_close(&P);
}

struct flusher {
	struct tb_carrier *c;
	int ret;
	int returned;
	pthread_mutex_t lock;
};

static void *flush_main(void *arg)
{
	struct flusher *f = arg;
	int r = tb_carrier_flush(f->c);

	pthread_mutex_lock(&f->lock);
	f->ret = r;
	f->returned = 1;
	pthread_mutex_unlock(&f->lock);
	return NULL;
}

/*
 * A slow queue (tbf, 20 Mbit/s) behind a small socket buffer: sendmmsg says
 * EAGAIN, the flush waits for room and goes on, nothing is lost. Then a
 * flush blocked there is ended by tb_carrier_wake from another thread: it
 * returns -ESHUTDOWN, and what was not sent is counted as dropped.
 */
static void full_buffer(void)
{
	struct flusher f = {.lock = PTHREAD_MUTEX_INITIALIZER};
	struct tb_carrier_stats s;
	pthread_t th;
	unsigned n = 0;
	int returned;

	nsu_run("tc -n %s qdisc add dev " VA " root tbf rate 20mbit burst 16kb limit 4mb", nsa);
	sndbuf = 32768;
	send_max = 3000;
	peer_open(&P, 0, TB_CARRIER_NO_GSO, 0, 0, 1);
	n = add(plan, n, &P, 0, 1000, 400);
	send_plan(&P, plan, n);
	drain(&P);
	quiet(&P);
	s = st_of(P.s);
	NSU_CHECK(s.polls > 0 && s.send_calls > 1 && s.tx_dgrams == 400 && s.tx_dropped == 0,
		  "full buffer: %llu polls, %llu sendmmsg, %llu sent, %llu dropped",
		  (unsigned long long)s.polls, (unsigned long long)s.send_calls,
		  (unsigned long long)s.tx_dgrams, (unsigned long long)s.tx_dropped);
	printf("  a full socket buffer: %llu waits, %llu sendmmsg calls, all 400 arrived\n",
	       (unsigned long long)s.polls, (unsigned long long)s.send_calls);

	/* 2000 more: 2 MB take 0.8 s at 20 Mbit/s; woken after 0.2 s. */
	for (int i = 0; i < 2000; i++) {
		uint8_t *b = tb_carrier_reserve(P.s, 1000);
		NSU_CHECK(b, "reserve");
		memset(b, 0, 1000);
		NSU_CHECK(tb_carrier_commit(P.s, b, 1000, (struct sockaddr *)&P.rx[0].addr,
					    P.rx[0].addr_len) == 0,
			  "commit");
	}
	f.c = P.s;
	NSU_CHECK(pthread_create(&th, NULL, flush_main, &f) == 0, "pthread_create");
	usleep(200000);
	pthread_mutex_lock(&f.lock);
	returned = f.returned;
	pthread_mutex_unlock(&f.lock);
	NSU_CHECK(!returned, "flush returned %d before the wake", f.ret);
	tb_carrier_wake(P.s);
	pthread_join(th, NULL);
	s = st_of(P.s);
	NSU_CHECK(f.ret == -ESHUTDOWN, "woken flush returned %d", f.ret);
	NSU_CHECK(s.tx_dropped > 0 && s.tx_dgrams + s.tx_dropped == 2400,
		  "woken flush: %llu sent, %llu dropped", (unsigned long long)s.tx_dgrams,
		  (unsigned long long)s.tx_dropped);
	printf("  tb_carrier_wake ended a blocked flush: %llu of 2000 sent, %llu discarded\n",
	       (unsigned long long)(s.tx_dgrams - 400), (unsigned long long)s.tx_dropped);
	sndbuf = 0;
	send_max = 0;
	peer_close(&P);
	nsu_run("tc -n %s qdisc del dev " VA " root", nsa);
}

struct waiter {
	struct tb_carrier *c;
	int ret;
	int returned;
	pthread_mutex_t lock;
};

static void *wait_main(void *arg)
{
	struct waiter *w = arg;
	struct tb_dgram *d;
	int r = tb_carrier_recv(w->c, -1, &d);

	pthread_mutex_lock(&w->lock);
	w->ret = r;
	w->returned = 1;
	pthread_mutex_unlock(&w->lock);
	return NULL;
}

static void wake(void)
{
	struct waiter w = {.lock = PTHREAD_MUTEX_INITIALIZER};
	struct tb_dgram *d;
	pthread_t th;
	int returned;

	peer_open(&P, 1, 0, 0, 0, 1);
	w.c = P.rx[0].c;
	NSU_CHECK(pthread_create(&th, NULL, wait_main, &w) == 0, "pthread_create");
	usleep(200000);
	pthread_mutex_lock(&w.lock);
	returned = w.returned;
	pthread_mutex_unlock(&w.lock);
	NSU_CHECK(!returned, "recv returned %d before the wake", w.ret);
	tb_carrier_wake(P.rx[0].c);
	pthread_join(th, NULL);
	NSU_CHECK(w.ret == -ESHUTDOWN, "woken recv returned %d", w.ret);
	NSU_CHECK(tb_carrier_recv(P.rx[0].c, 0, &d) == -ESHUTDOWN, "recv after the wake");
	printf("  tb_carrier_wake ended a blocked receive with -ESHUTDOWN\n");
	peer_close(&P);
}

static void bad_arguments(void)
{
	struct sockaddr_storage b, to;
	struct sockaddr_in6 v6 = {.sin6_family = AF_INET6, .sin6_port = htons(9)};
	struct sockaddr_un_like {
		sa_family_t f;
		char path[30];
	} un = {AF_UNIX, "x"};
	struct tb_carrier_opts o = {0};
	struct tb_carrier *c, *c2;
	struct tb_dgram *d;
	socklen_t bl, tl;
	uint8_t *buf;
	int err;

	nsu_addr(ip_of(0, 1), 0, &b, &bl);
	nsu_enter(nsb);
	NSU_CHECK(!tb_carrier_open(NULL) && errno == EINVAL, "NULL opts");
	NSU_CHECK(!tb_carrier_open(&o) && errno == EINVAL, "no bind address");
	o.bind = (struct sockaddr *)&b;
	o.bind_len = bl - 1;
	NSU_CHECK(!tb_carrier_open(&o) && errno == EINVAL, "short bind_len");
	o.bind_len = 0;
	NSU_CHECK(!tb_carrier_open(&o) && errno == EINVAL, "bind_len 0");
	o.bind_len = bl;
	o.flags = 1u << 7;
	NSU_CHECK(!tb_carrier_open(&o) && errno == EINVAL, "unknown flag");
	o.flags = 0;
	o.recv_slots = 1025;
	NSU_CHECK(!tb_carrier_open(&o) && errno == EINVAL, "1025 slots");
	o.recv_slots = 0;
	o.slot_size = (2u << 20);
	NSU_CHECK(!tb_carrier_open(&o) && errno == EINVAL, "2 MiB slots");
	o.slot_size = 0;
	o.rcvbuf = -1;
	NSU_CHECK(!tb_carrier_open(&o) && errno == EINVAL, "negative rcvbuf");
	o.rcvbuf = 0;
	o.bind = (struct sockaddr *)&un;
	o.bind_len = sizeof(un);
	NSU_CHECK(!tb_carrier_open(&o) && errno == EINVAL, "AF_UNIX");
	o.bind = (struct sockaddr *)&b;
	o.bind_len = bl;
	c = tb_carrier_open(&o);
	err = c ? 0 : -errno;
	NSU_CHECK(c, "open: %s", strerror(-err));
	/* The same port again: in use, unless both ask for SO_REUSEPORT. */
	NSU_CHECK(tb_carrier_local(c, &b, &bl) == 0, "local");
	c2 = tb_carrier_open(&o);
	err = c2 ? 0 : -errno;
	NSU_CHECK(!c2 && err == -EADDRINUSE, "second bind: %d", err);
	tb_carrier_close(c);
	o.flags = TB_CARRIER_REUSEPORT;
	c = tb_carrier_open(&o);
	err = c ? 0 : -errno;
	c2 = tb_carrier_open(&o);
	err = c2 ? 0 : -errno;
	NSU_CHECK(c && c2, "SO_REUSEPORT twice: %s", strerror(-err));
	tb_carrier_close(c2);
	nsu_enter(NULL);

	errno = 0;
	NSU_CHECK(!tb_carrier_reserve(c, DGRAM_MAX + 1) && errno == EINVAL, "reserve 65508");
	buf = tb_carrier_reserve(c, 100);
	NSU_CHECK(buf && ((uintptr_t)buf & 15) == 0, "reserve 100");
	nsu_addr(ip_of(0, 0), 9, &to, &tl);
	NSU_CHECK(tb_carrier_commit(c, buf, 101, (struct sockaddr *)&to, tl) == -EINVAL,
		  "commit past the reserved size");
	NSU_CHECK(tb_carrier_commit(c, buf, DGRAM_MAX + 1, (struct sockaddr *)&to, tl) == -EINVAL,
		  "commit 65508");
	NSU_CHECK(tb_carrier_commit(c, NULL, 10, (struct sockaddr *)&to, tl) == -EINVAL,
		  "commit NULL");
	NSU_CHECK(tb_carrier_commit(c, buf, 10, NULL, tl) == -EINVAL, "to NULL");
	NSU_CHECK(tb_carrier_commit(c, buf, 10, (struct sockaddr *)&to, tl - 1) == -EINVAL,
		  "short to_len");
	NSU_CHECK(tb_carrier_commit(c, buf, 10, (struct sockaddr *)&to, 0) == -EINVAL, "to_len 0");
	NSU_CHECK(tb_carrier_commit(c, buf, 10, (struct sockaddr *)&v6, sizeof(v6)) == -EINVAL,
		  "IPv6 destination of an IPv4 carrier");
	nsu_addr(ip_of(0, 0), 0, &to, &tl);
	NSU_CHECK(tb_carrier_commit(c, buf, 10, (struct sockaddr *)&to, tl) == -EINVAL, "port 0");
	NSU_CHECK(tb_carrier_recv(c, 0, NULL) == -EINVAL, "recv without dgrams");
	NSU_CHECK(tb_carrier_recv(c, 0, &d) == 0, "recv of nothing");
	NSU_CHECK(tb_carrier_flush(c) == 0, "flush of nothing");
	tb_carrier_close(c);
	tb_carrier_close(NULL);
	printf("  bad arguments: -EINVAL; a port in use: -EADDRINUSE\n");
}

static int run(void)
{
	unsigned cap = kernel_segs();

	nsu_create("ca", nsa, sizeof(nsa));
	nsu_create("cb", nsb, sizeof(nsb));
	nsu_run("ip -n %s link add " VA " type veth peer name " VB " netns %s", nsa, nsb);
	nsu_run("ip -n %s addr add 10.77.0.1/24 dev " VA, nsa);
	nsu_run("ip -n %s addr add fd77::1/64 dev " VA " nodad", nsa);
	nsu_run("ip -n %s addr add 10.77.0.2/24 dev " VB, nsb);
	nsu_run("ip -n %s addr add fd77::2/64 dev " VB " nodad", nsb);
	nsu_run("ip -n %s link set " VA " up", nsa);
	nsu_run("ip -n %s link set " VB " up", nsb);
	/* The receiving veth merges too (NAPI GRO), where ethtool is found. */
	nsu_sh("ip netns exec %s ethtool -K " VB " gro on >/dev/null 2>&1", nsb);
	printf("UDP_SEGMENT cap by kernel version: %u segments\n", cap);

	for (int v6 = 0; v6 < 2; v6++)
		for (int gso = 1; gso >= 0; gso--)
			for (int gro = 1; gro >= 0; gro--)
				combination(v6, gso, gro, cap);
	truncation();
	views_resume();
	older_kernels();
	many_messages();
	full_buffer();
	mapped();
	wake();
	bad_arguments();
	eio_fallback();
	return 0;
}

int main(void)
{
	return nsu_main("ktest_carrier", run, 240);
}
