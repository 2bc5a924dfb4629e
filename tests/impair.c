/* SPDX-License-Identifier: MIT */
/*
 * tb_impair: a UDP relay between two tunnel endpoints that reorders and
 * duplicates datagrams, for kernels without netem (loss is left to an
 * nftables rule). Used by tests/ktest_tunnel.c and scripts/e2e.sh.
 *
 *   tb_impair --a LOCAL --a-peer ADDR --b LOCAL --b-peer ADDR
 *             [--reorder PERMILLE] [--dup PERMILLE] [--seed N]
 *             [--capture FILE] [--capture-ba FILE] [--capture-max K]
 *
 * What arrives on the socket bound to --a goes out of the one bound to --b
 * to --b-peer, and back. Addresses are IPv4 a.b.c.d:port or [IPv6]:port; the
 * two sides may differ. A reordered datagram is held back until 1 to 8 later
 * datagrams of its direction have gone out (or 2 ms pass without one); a
 * duplicated one goes out twice (counted when both copies left). --capture
 * writes the first K datagrams from a to b to FILE (2-byte big-endian
 * length, then the bytes), --capture-ba those from b to a: for replay and
 * reflection tests.
 * SIGTERM or SIGINT ends it; it then prints one JSON line of counters per direction.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define BATCH	  64
#define MAX_DGRAM 65536
#define MAX_HELD  32
#define HOLD_MS	  2

struct held {
	uint8_t *buf;
	size_t len;
	unsigned countdown;
};

/* A datagram queued for the next sendmmsg. */
struct out {
	const void *buf;
	size_t len;
	void *to_free; /* a held copy, freed once sent */
	int dup;       /* the second copy of the datagram before it */
	int sent;
};

#define MAX_OUT (2 * BATCH + MAX_HELD)

struct dir {
	const char *name;
	int in, out; /* receive on in, send from out */
	struct sockaddr_storage to;
	socklen_t to_len;
	struct held held[MAX_HELD];
	unsigned n_held;
	struct out q[MAX_OUT];
	unsigned n_q;
	uint64_t rx, tx, reordered, duplicated, send_errors;
};

static volatile sig_atomic_t stop;
static uint64_t rng = 0x2545f4914f6cdd1dull;
static unsigned reorder_pm, dup_pm;
static FILE *capture[2]; /* a to b, b to a */
static unsigned capture_left[2];

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static unsigned rnd(unsigned n)
{
	rng ^= rng >> 12;
	rng ^= rng << 25;
	rng ^= rng >> 27;
	return (unsigned)((rng * 0x2545f4914f6cdd1dull) >> 33) % n;
}

static int parse_addr(const char *s, struct sockaddr_storage *a, socklen_t *len)
{
	char host[128];
	const char *port;
	size_t n;

	memset(a, 0, sizeof(*a));
	if (s[0] == '[') {
		const char *close = strchr(s, ']');
		if (!close || close[1] != ':' || (n = (size_t)(close - s - 1)) >= sizeof(host))
			return -1;
		memcpy(host, s + 1, n);
		host[n] = 0;
		port = close + 2;
		struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)a;
		a6->sin6_family = AF_INET6;
		a6->sin6_port = htons((uint16_t)atoi(port));
		*len = sizeof(*a6);
		return inet_pton(AF_INET6, host, &a6->sin6_addr) == 1 ? 0 : -1;
	}
	port = strrchr(s, ':');
	if (!port || (n = (size_t)(port - s)) >= sizeof(host))
		return -1;
	memcpy(host, s, n);
	host[n] = 0;
	struct sockaddr_in *a4 = (struct sockaddr_in *)a;
	a4->sin_family = AF_INET;
	a4->sin_port = htons((uint16_t)atoi(port + 1));
	*len = sizeof(*a4);
	return inet_pton(AF_INET, host, &a4->sin_addr) == 1 ? 0 : -1;
}

static int open_bound(const char *spec)
{
	struct sockaddr_storage a;
	socklen_t len;
	int fd, sz = 8 << 20;

	if (parse_addr(spec, &a, &len)) {
		fprintf(stderr, "tb_impair: bad address '%s'\n", spec);
		exit(2);
	}
	fd = socket(a.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&a, len) < 0) {
		fprintf(stderr, "tb_impair: bind %s: %s\n", spec, strerror(errno));
		exit(2);
	}
	setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &sz, sizeof(sz));
	setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &sz, sizeof(sz));
	return fd;
}

static void push(struct dir *d, const void *buf, size_t len, void *to_free, int dup)
{
	d->q[d->n_q++] = (struct out){.buf = buf, .len = len, .to_free = to_free, .dup = dup};
}

/*
 * Sends what is queued with sendmmsg. A datagram the kernel refuses (EPERM
 * from the loss rule) is counted and skipped, never sent again; a full
 * buffer (ENOBUFS on the first message of a call) is waited out.
 */
static void flush_out(struct dir *d)
{
	struct mmsghdr m[MAX_OUT];
	struct iovec iov[MAX_OUT];
	unsigned i = 0;

	for (unsigned k = 0; k < d->n_q; k++) {
		iov[k] = (struct iovec){(void *)d->q[k].buf, d->q[k].len};
		m[k] = (struct mmsghdr){.msg_hdr = {.msg_name = &d->to,
						    .msg_namelen = d->to_len,
						    .msg_iov = &iov[k],
						    .msg_iovlen = 1}};
	}
	while (i < d->n_q) {
		int r = sendmmsg(d->out, m + i, d->n_q - i, 0);
		if (r > 0) {
			for (int k = 0; k < r; k++)
				d->q[i + (unsigned)k].sent = 1;
			i += (unsigned)r;
			/* The socket blocks: a short count means the next one was refused,
			 * and its error is lost. Sent again, it would get a second chance
			 * at the loss rule. */
			if (i < d->n_q) {
				d->send_errors++;
				i++;
			}
		} else if (r < 0 && errno == EINTR) {
			continue;
		} else if (r < 0 && (errno == ENOBUFS || errno == EAGAIN)) {
			usleep(50);
		} else {
			d->send_errors++;
			i++;
		}
	}
	for (unsigned k = 0; k < d->n_q; k++) {
		d->tx += (uint64_t)d->q[k].sent;
		/* Counted as duplicated only when both copies left. */
		if (d->q[k].dup && d->q[k].sent && d->q[k - 1].sent)
			d->duplicated++;
		free(d->q[k].to_free);
	}
	d->n_q = 0;
}

/* One datagram went out: held ones whose turn came follow it. */
static void tick(struct dir *d, int all)
{
	for (unsigned i = 0; i < d->n_held;) {
		struct held *h = &d->held[i];
		if (all || --h->countdown == 0) {
			push(d, h->buf, h->len, h->buf, 0);
			d->held[i] = d->held[--d->n_held];
		} else {
			i++;
		}
	}
}

static void forward(struct dir *d, const uint8_t *buf, size_t len)
{
	int c = d->name[0] == 'b';

	d->rx++;
	if (capture[c] && capture_left[c]) {
		uint8_t l[2] = {(uint8_t)(len >> 8), (uint8_t)len};
		fwrite(l, 1, 2, capture[c]);
		fwrite(buf, 1, len, capture[c]);
		if (--capture_left[c] == 0) {
			fclose(capture[c]);
			capture[c] = NULL;
		}
	}
	if (reorder_pm && d->n_held < MAX_HELD && rnd(1000) < reorder_pm) {
		struct held *h = &d->held[d->n_held];
		h->buf = malloc(len);
		if (h->buf) {
			memcpy(h->buf, buf, len);
			h->len = len;
			h->countdown = 1 + rnd(8);
			d->n_held++;
			d->reordered++;
			return;
		}
	}
	push(d, buf, len, NULL, 0);
	if (dup_pm && rnd(1000) < dup_pm)
		push(d, buf, len, NULL, 1);
	tick(d, 0);
}

static void drain(struct dir *d, uint8_t (*bufs)[MAX_DGRAM])
{
	struct mmsghdr m[BATCH];
	struct iovec iov[BATCH];
	int n;

	for (int i = 0; i < BATCH; i++) {
		iov[i] = (struct iovec){bufs[i], MAX_DGRAM};
		m[i] = (struct mmsghdr){.msg_hdr = {.msg_iov = &iov[i], .msg_iovlen = 1}};
	}
	n = recvmmsg(d->in, m, BATCH, MSG_DONTWAIT, NULL);
	for (int i = 0; i < n; i++)
		forward(d, bufs[i], m[i].msg_len);
	flush_out(d); /* before the buffers are received into again */
}

int main(int argc, char **argv)
{
	static uint8_t bufs[BATCH][MAX_DGRAM];
	struct dir ab = {.name = "a_to_b"}, ba = {.name = "b_to_a"};
	const char *a = NULL, *b = NULL, *ap = NULL, *bp = NULL;
	struct sigaction sa = {.sa_handler = on_signal};

	for (int i = 1; i + 1 < argc; i += 2) {
		const char *k = argv[i], *v = argv[i + 1];
		if (!strcmp(k, "--a"))
			a = v;
		else if (!strcmp(k, "--b"))
			b = v;
		else if (!strcmp(k, "--a-peer"))
			ap = v;
		else if (!strcmp(k, "--b-peer"))
			bp = v;
		else if (!strcmp(k, "--reorder"))
			reorder_pm = (unsigned)atoi(v);
		else if (!strcmp(k, "--dup"))
			dup_pm = (unsigned)atoi(v);
		else if (!strcmp(k, "--seed"))
			rng = strtoull(v, NULL, 0) | 1;
		else if (!strcmp(k, "--capture"))
			capture[0] = fopen(v, "wb");
		else if (!strcmp(k, "--capture-ba"))
			capture[1] = fopen(v, "wb");
		else if (!strcmp(k, "--capture-max"))
			capture_left[0] = capture_left[1] = (unsigned)atoi(v);
		else {
			fprintf(stderr, "tb_impair: unknown option '%s'\n", k);
			return 2;
		}
	}
	if (!a || !b || !ap || !bp) {
		fprintf(stderr, "usage: tb_impair --a LOCAL --a-peer ADDR --b LOCAL --b-peer ADDR "
				"[--reorder PERMILLE] [--dup PERMILLE] [--seed N] [--capture FILE] "
				"[--capture-ba FILE] [--capture-max K]\n");
		return 2;
	}
	ab.in = ba.out = open_bound(a);
	ba.in = ab.out = open_bound(b);
	if (parse_addr(bp, &ab.to, &ab.to_len) || parse_addr(ap, &ba.to, &ba.to_len)) {
		fprintf(stderr, "tb_impair: bad peer address\n");
		return 2;
	}
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	printf("{\"event\":\"ready\"}\n");
	fflush(stdout);
	while (!stop) {
		struct pollfd pf[2] = {{.fd = ab.in, .events = POLLIN},
				       {.fd = ba.in, .events = POLLIN}};
		int n = poll(pf, 2, ab.n_held || ba.n_held ? HOLD_MS : 200);
		if (n == 0) {
			/* Quiet: what is held goes now rather than waiting for traffic. */
			tick(&ab, 1);
			tick(&ba, 1);
			flush_out(&ab);
			flush_out(&ba);
			continue;
		}
		if (n < 0)
			continue;
		if (pf[0].revents)
			drain(&ab, bufs);
		if (pf[1].revents)
			drain(&ba, bufs);
	}
	tick(&ab, 1);
	tick(&ba, 1);
	flush_out(&ab);
	flush_out(&ba);
	for (int c = 0; c < 2; c++)
		if (capture[c])
			fclose(capture[c]);
	for (int i = 0; i < 2; i++) {
		struct dir *d = i ? &ba : &ab;
		printf("{\"event\":\"final\",\"dir\":\"%s\",\"rx\":%llu,\"tx\":%llu,\"reordered\":%"
		       "llu,"
		       "\"duplicated\":%llu,\"send_errors\":%llu}\n",
		       d->name, (unsigned long long)d->rx, (unsigned long long)d->tx,
		       (unsigned long long)d->reordered, (unsigned long long)d->duplicated,
		       (unsigned long long)d->send_errors);
	}
	return 0;
}
