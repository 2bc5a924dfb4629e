/* SPDX-License-Identifier: MIT */
/*
 * tunbatch tunnel: the reference tunnel. An encrypted point-to-point tunnel
 * between two hosts over batched UDP, and the clearest use of the library:
 *
 *   TUN read (superpackets) -> tb_segment -> seal each segment straight into
 *   a carrier buffer -> tb_carrier_commit -> tb_carrier_flush (UDP GSO)
 *
 *   tb_carrier_recv (UDP GRO) -> open (authenticate, decrypt) in place ->
 *   replay check -> tb_coalescer_commit_key(epoch, counter) ->
 *   tb_coalescer_flush per burst -> one TUN write per superpacket
 *
 * Threads: one per queue, which serves both directions of its queue: it
 * waits in one poll on its TUN queue and its carrier socket. Nothing is
 * shared between queues, so no lock is taken on the data path; queue q uses
 * UDP port PORT + q at both ends and is a session of its own. The main
 * thread only waits for signals and prints statistics.
 *
 * Crypto and datagram checks are in tunnel_wire.c (no sockets there).
 */
#define _GNU_SOURCE
#include "cli.h"
#include "tunnel_wire.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <net/if.h>
#include <netdb.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <time.h>
#include <tunbatch.h>
#include <unistd.h>

#define DEFAULT_MTU   1420
#define MAX_MTU	      (65507 - 32)
#define SOCK_BUF      (8 << 20)
#define RECV_SLOTS    64
#define ORDER_HOLD    (RECV_SLOTS * 64) /* a full receive burst of GRO buffers */
#define CO_ARENA_SIZE 65536		/* the receive path decrypts in place: little used */
#define PFX	      "tunbatch tunnel: "

struct config {
	const char *tun;
	const char *listen;
	const char *peer;
	const char *key_file;
	enum tw_cipher cipher;
	unsigned queues;
	unsigned mtu;
	int no_coalesce, no_order, no_tun_offload, no_carrier_offload;
	double stats;
	int json;
};

/* What one queue counts itself; the library's counters come with it. */
struct counters {
	uint64_t tx_pkts, tx_bytes;    /* packets sealed and committed, plaintext bytes */
	uint64_t rx_pkts, rx_bytes;    /* packets opened and committed to the coalescer */
	uint64_t no_peer;	       /* TUN packets while the peer is unknown: dropped */
	uint64_t seg_errors;	       /* packets tb_segment refused */
	uint64_t seal_errors;	       /* packets that could not be sealed or queued */
	uint64_t send_errors;	       /* flushes that returned an error */
	uint64_t tun_errors;	       /* coalescer flushes that returned an error */
	uint64_t keepalives;	       /* empty datagrams */
	uint64_t peer_changes;	       /* the peer's address was learned or changed */
	uint64_t drops[TW_DROP_COUNT]; /* received datagrams dropped, by reason */
	uint64_t sessions;	       /* peer sessions accepted */
	struct tb_tun_reader_stats rd; /* TUN reads */
	struct tb_stats co;	       /* TUN writes */
	struct tb_carrier_stats car;   /* UDP */
};

struct tunnel;

struct queue {
	struct tunnel *t;
	unsigned idx;
	struct tb_carrier *car;
	struct tb_tun_reader *rd;
	struct tb_arena *arena;
	struct tb_coalescer *co;
	struct tw_sender tx;
	struct tw_receiver rx;
	struct sockaddr_storage peer;
	socklen_t peer_len;
	int ordered;
	pthread_t th;
	int started;
	struct counters own;
	pthread_mutex_t lock; /* guards pub */
	struct counters pub;
};

struct tunnel {
	struct config cfg;
	uint8_t psk[TW_KEY_LEN];
	struct tb_tun *tun;
	struct queue *q;
	int stop_fd;	/* eventfd: every queue thread polls it */
	uint64_t epoch; /* this start's sessions: queue q sends as epoch | q */
	/* The peer's address as queue 0 sees it, learned by any queue: a queue
	 * that has not heard from the peer yet sends there (its port + q). */
	pthread_mutex_t peer_lock;
	struct sockaddr_storage peer;
	socklen_t peer_len;
	atomic_int failed;
};

void cmd_tunnel_usage(FILE *f)
{
	fprintf(f,
		"usage: tunbatch tunnel --tun NAME --listen ADDR:PORT [--peer ADDR:PORT] --key "
		"FILE\n"
		"                       [OPTIONS]\n\n"
		"An encrypted point-to-point tunnel: creates the TUN device NAME with offloads,\n"
		"sets its MTU and brings it up (addresses and routes are left to ip), and carries\n"
		"its packets to the peer over UDP. Without --peer it waits for the peer and\n"
		"learns its address from the first authenticated datagram; it follows the peer\n"
		"when the peer's address changes.\n\n"
		"  --tun NAME            the TUN device to create\n"
		"  --listen ADDR:PORT    local UDP address (IPv4, or [IPv6]:PORT)\n"
		"  --peer ADDR:PORT      the other end (a name is resolved once, at start)\n"
		"  --key FILE            the pre-shared key (tunbatch genkey > FILE)\n"
		"  --cipher C            aes-256-gcm (default), chacha20-poly1305, or none (no\n"
		"                        encryption, no authentication: for measurements only)\n"
		"  --queues N            TUN queues, 1..64, one thread each (default 1); queue q\n"
		"                        uses port PORT+q at both ends, which must stay <= 65535\n"
		"  --mtu M               the TUN device's MTU, 576..65475 (default %u)\n"
		"  --no-coalesce         one TUN write per received packet\n"
		"  --no-order            do not sort each receive burst by the sender's counter\n"
		"  --no-tun-offload      a TUN without virtio headers: one packet per read/write\n"
		"  --no-carrier-offload  no UDP GSO/GRO: one datagram per message\n"
		"  --stats SECONDS       print counters every SECONDS, and once at exit\n"
		"                        (more than 0, at most 86400; fractions allowed)\n"
		"  --json                counters as JSON lines; without --stats, one line only,\n"
		"                        its event \"final\", at exit\n"
		"  -h, --help            this text\n\n"
		"SIGINT or SIGTERM stops it and removes the device. Exit status: 0 stopped by a\n"
		"signal, 1 a failure while running, 2 bad usage or a setup failure.\n",
		DEFAULT_MTU);
}

static int usage_error(const char *fmt, const char *arg)
{
	fprintf(stderr, PFX);
	fprintf(stderr, fmt, arg);
	fprintf(stderr, " (see tunbatch tunnel --help)\n");
	return CLI_USAGE;
}

static int parse_uint(const char *s, unsigned lo, unsigned hi, unsigned *out)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || end == s || *end || v < lo || v > hi)
		return -1;
	*out = (unsigned)v;
	return 0;
}

static int parse_args(int argc, char **argv, struct config *c)
{
	enum {
		O_TUN = 256,
		O_LISTEN,
		O_PEER,
		O_KEY,
		O_CIPHER,
		O_QUEUES,
		O_MTU,
		O_NO_COALESCE,
		O_NO_ORDER,
		O_NO_TUN_OFF,
		O_NO_CAR_OFF,
		O_STATS,
		O_JSON
	};
	static const struct option longopts[] = {
		{"tun", required_argument, NULL, O_TUN},
		{"listen", required_argument, NULL, O_LISTEN},
		{"peer", required_argument, NULL, O_PEER},
		{"key", required_argument, NULL, O_KEY},
		{"cipher", required_argument, NULL, O_CIPHER},
		{"queues", required_argument, NULL, O_QUEUES},
		{"mtu", required_argument, NULL, O_MTU},
		{"no-coalesce", no_argument, NULL, O_NO_COALESCE},
		{"no-order", no_argument, NULL, O_NO_ORDER},
		{"no-tun-offload", no_argument, NULL, O_NO_TUN_OFF},
		{"no-carrier-offload", no_argument, NULL, O_NO_CAR_OFF},
		{"stats", required_argument, NULL, O_STATS},
		{"json", no_argument, NULL, O_JSON},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	int o;

	*c = (struct config){.cipher = TW_AES_256_GCM, .queues = 1, .mtu = DEFAULT_MTU};
	opterr = 0;
	optind = 1;
	while ((o = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		char *end;
		switch (o) {
		case O_TUN:
			if (!*optarg || strlen(optarg) >= IFNAMSIZ)
				return usage_error("--tun: '%s' is not a valid interface name",
						   optarg);
			c->tun = optarg;
			break;
		case O_LISTEN:
			c->listen = optarg;
			break;
		case O_PEER:
			c->peer = optarg;
			break;
		case O_KEY:
			c->key_file = optarg;
			break;
		case O_CIPHER:
			if (tw_cipher_parse(optarg, &c->cipher))
				return usage_error("--cipher: unknown cipher '%s' (aes-256-gcm, "
						   "chacha20-poly1305, none)",
						   optarg);
			break;
		case O_QUEUES:
			if (parse_uint(optarg, 1, 64, &c->queues))
				return usage_error("--queues: '%s' is not a number from 1 to 64",
						   optarg);
			break;
		case O_MTU:
			if (parse_uint(optarg, 576, MAX_MTU, &c->mtu))
				return usage_error("--mtu: '%s' is not a number from 576 to 65475",
						   optarg);
			break;
		case O_NO_COALESCE:
			c->no_coalesce = 1;
			break;
		case O_NO_ORDER:
			c->no_order = 1;
			break;
		case O_NO_TUN_OFF:
			c->no_tun_offload = 1;
			break;
		case O_NO_CAR_OFF:
			c->no_carrier_offload = 1;
			break;
		case O_STATS:
			c->stats = strtod(optarg, &end);
			if (end == optarg || *end || !(c->stats > 0) || c->stats > 86400)
				return usage_error("--stats: '%s' is not a number of seconds, more "
						   "than 0 and at most 86400",
						   optarg);
			break;
		case O_JSON:
			c->json = 1;
			break;
		case 'h':
			cmd_tunnel_usage(stdout);
			return -1;
		default:
			return usage_error("unknown or incomplete option '%s'", argv[optind - 1]);
		}
	}
	if (optind < argc)
		return usage_error("unexpected argument '%s'", argv[optind]);
	if (!c->tun)
		return usage_error("%s--tun NAME is required", "");
	if (!c->listen)
		return usage_error("%s--listen ADDR:PORT is required", "");
	if (!c->key_file)
		return usage_error("%s--key FILE is required", "");
	return 0;
}

/* ------------------------------------------------------------------------ */
/* Setup: addresses, key, device                                            */
/* ------------------------------------------------------------------------ */

/*
 * "ADDR:PORT" or "[ADDR]:PORT" into host and port strings. 0, or -1 when the
 * text has no port.
 */
static int split_hostport(const char *s, char *host, size_t hostlen, const char **port)
{
	const char *colon;
	size_t n;

	if (s[0] == '[') {
		const char *close = strchr(s, ']');
		if (!close || close[1] != ':')
			return -1;
		n = (size_t)(close - s - 1);
		if (n >= hostlen)
			return -1;
		memcpy(host, s + 1, n);
		host[n] = 0;
		*port = close + 2;
	} else {
		colon = strrchr(s, ':');
		if (!colon || strchr(s, ':') != colon)
			return -1;
		n = (size_t)(colon - s);
		if (n >= hostlen)
			return -1;
		memcpy(host, s, n);
		host[n] = 0;
		*port = colon + 1;
	}
	return **port ? 0 : -1;
}

/*
 * Resolves what into an address of family (AF_UNSPEC: any). An IPv4 peer of
 * an IPv6 socket becomes a v4-mapped address. 0, or CLI_USAGE after saying
 * why.
 */
static int resolve(const char *opt, const char *what, int family, int passive,
		   struct sockaddr_storage *out, socklen_t *len)
{
	struct addrinfo hints = {.ai_family = family,
				 .ai_socktype = SOCK_DGRAM,
				 .ai_flags = AI_NUMERICSERV | (passive ? AI_PASSIVE : 0) |
					     (family == AF_INET6 ? AI_V4MAPPED : 0)};
	struct addrinfo *res;
	char host[256];
	const char *port;
	unsigned p;
	int rc;

	if (split_hostport(what, host, sizeof(host), &port) || parse_uint(port, 1, 65535, &p)) {
		fprintf(stderr, PFX "%s: '%s' is not ADDR:PORT or [ADDR]:PORT\n", opt, what);
		return CLI_USAGE;
	}
	rc = getaddrinfo(host[0] ? host : NULL, port, &hints, &res);
	if (rc) {
		fprintf(stderr, PFX "%s: cannot resolve '%s': %s\n", opt, host,
			rc == EAI_SYSTEM ? strerror(errno) : gai_strerror(rc));
		return CLI_USAGE;
	}
	memcpy(out, res->ai_addr, res->ai_addrlen);
	*len = res->ai_addrlen;
	freeaddrinfo(res);
	return 0;
}

/*
 * Queue q uses port PORT + q at both ends: refuses a PORT that would carry
 * the last queue past 65535 rather than wrap around. 0, or CLI_USAGE after
 * saying why.
 */
static int check_ports(const char *opt, const struct sockaddr_storage *a, unsigned queues)
{
	unsigned port =
		ntohs(a->ss_family == AF_INET ? ((const struct sockaddr_in *)a)->sin_port
					      : ((const struct sockaddr_in6 *)a)->sin6_port);

	if (port + queues - 1 <= 65535)
		return 0;
	fprintf(stderr,
		PFX "%s: port %u with --queues %u would put queue %u on port %u, past 65535 "
		    "(queue q uses port PORT+q; PORT may be at most %u)\n",
		opt, port, queues, queues - 1, port + queues - 1, 65536 - queues);
	return CLI_USAGE;
}

static const char *addr_str(const struct sockaddr *a, char *buf, size_t len)
{
	char host[INET6_ADDRSTRLEN] = "?";
	unsigned port = 0;

	if (a->sa_family == AF_INET) {
		const struct sockaddr_in *s = (const struct sockaddr_in *)a;
		inet_ntop(AF_INET, &s->sin_addr, host, sizeof(host));
		port = ntohs(s->sin_port);
		snprintf(buf, len, "%s:%u", host, port);
	} else {
		const struct sockaddr_in6 *s = (const struct sockaddr_in6 *)a;
		inet_ntop(AF_INET6, &s->sin6_addr, host, sizeof(host));
		port = ntohs(s->sin6_port);
		snprintf(buf, len, "[%s]:%u", host, port);
	}
	return buf;
}

static int read_key(const char *path, uint8_t key[TW_KEY_LEN])
{
	char text[256];
	struct stat st;
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0) {
		fprintf(stderr, PFX "--key: cannot open '%s': %s\n", path, strerror(errno));
		return CLI_USAGE;
	}
	if (fstat(fd, &st) == 0 && (st.st_mode & 077))
		fprintf(stderr,
			PFX "warning: key file '%s' is accessible by group or others (mode "
			    "%03o): chmod 600 it\n",
			path, (unsigned)(st.st_mode & 0777));
	n = read(fd, text, sizeof(text) - 1);
	close(fd);
	if (n < 0) {
		fprintf(stderr, PFX "--key: cannot read '%s': %s\n", path, strerror(errno));
		return CLI_USAGE;
	}
	text[n] = 0;
	n = tw_key_decode(text, key);
	OPENSSL_cleanse(text, sizeof(text));
	if (n) {
		fprintf(stderr,
			PFX "--key: '%s' does not hold a key (one line of 44 base64 characters, "
			    "as tunbatch genkey prints)\n",
			path);
		return CLI_USAGE;
	}
	return 0;
}

/* Sets the device's MTU and brings it up. 0, or -errno with what failed. */
static int link_up(const char *name, unsigned mtu, const char **what)
{
	struct ifreq ifr;
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	int rc = 0;

	if (fd < 0)
		fd = socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		*what = "socket";
		return -errno;
	}
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	ifr.ifr_mtu = (int)mtu;
	if (ioctl(fd, SIOCSIFMTU, &ifr) < 0) {
		*what = "set the MTU";
		rc = -errno;
	} else if (ioctl(fd, SIOCGIFFLAGS, &ifr) < 0) {
		*what = "read the flags";
		rc = -errno;
	} else {
		ifr.ifr_flags |= IFF_UP;
		if (ioctl(fd, SIOCSIFFLAGS, &ifr) < 0) {
			*what = "bring it up";
			rc = -errno;
		}
	}
	close(fd);
	return rc;
}

/* ------------------------------------------------------------------------ */
/* The data path: one thread per queue                                      */
/* ------------------------------------------------------------------------ */

/* tb_segment's callback: seals one segment straight into a carrier buffer. */
static int seal_segment(void *user, const struct iovec *iov, unsigned iovcnt)
{
	struct queue *q = user;
	size_t len = 0, room;
	uint8_t *buf;
	long n;

	for (unsigned i = 0; i < iovcnt; i++)
		len += iov[i].iov_len;
	room = len + tw_overhead(q->tx.cipher);
	buf = tb_carrier_reserve(q->car, room);
	if (!buf) {
		if (errno == ESHUTDOWN)
			return -ESHUTDOWN;
		q->own.seal_errors++;
		return 0;
	}
	n = tw_seal(&q->tx, iov, iovcnt, buf, room);
	if (n == -EOVERFLOW) {
		/* 2^56 datagrams: a new session, so that no nonce comes back. */
		enum tw_cipher c = q->tx.cipher;
		uint64_t epoch = tw_new_epoch(q->idx);
		tw_sender_free(&q->tx);
		tw_receiver_own(&q->rx, epoch);
		if (tw_sender_init(&q->tx, c, q->t->psk, epoch) == 0)
			n = tw_seal(&q->tx, iov, iovcnt, buf, room);
	}
	if (n < 0 ||
	    tb_carrier_commit(q->car, buf, (size_t)n, (struct sockaddr *)&q->peer, q->peer_len)) {
		q->own.seal_errors++;
		return 0;
	}
	q->own.tx_pkts++;
	q->own.tx_bytes += len;
	return 0;
}

/* TUN to carrier: one read burst. Returns the packets read, or -ESHUTDOWN. */
static int tun_burst(struct queue *q)
{
	const struct tb_tun_pkt *pk;
	int n = tb_tun_read(q->rd, 0, &pk), rc;

	if (n == -ESHUTDOWN)
		return n;
	if (n <= 0)
		return 0; /* errors are in the reader's counters */
	if (!q->peer_len) {
		/* Not heard from the peer on this queue: where another queue did? */
		pthread_mutex_lock(&q->t->peer_lock);
		if (q->t->peer_len) {
			struct sockaddr_storage p = q->t->peer;
			/* The peer's queue 0 port + q: taken when it is a port. */
			if (tw_port_shift(&p, (int)q->idx) == 0) {
				q->peer = p;
				q->peer_len = q->t->peer_len;
			}
		}
		pthread_mutex_unlock(&q->t->peer_lock);
	}
	if (!q->peer_len) {
		q->own.no_peer += (uint64_t)n;
		return n;
	}
	for (int i = 0; i < n; i++) {
		rc = tb_segment(&pk[i].vnet, pk[i].data, pk[i].len, seal_segment, q);
		if (rc == -ESHUTDOWN)
			return rc;
		if (rc < 0)
			q->own.seg_errors++;
	}
	rc = tb_carrier_flush(q->car);
	if (rc == -ESHUTDOWN)
		return rc;
	if (rc)
		q->own.send_errors++;
	return n;
}

static int same_addr(const struct sockaddr_storage *a, socklen_t alen, const struct sockaddr *b,
		     socklen_t blen)
{
	return alen == blen && !memcmp(a, b, blen);
}

/* Carrier to TUN: one receive burst. Returns the datagrams, or -ESHUTDOWN. */
static int carrier_burst(struct queue *q)
{
	struct tb_dgram *dg;
	int n = tb_carrier_recv(q->car, 0, &dg), rc;
	const struct tb_dgram *last = NULL;

	if (n == -ESHUTDOWN)
		return n;
	if (n <= 0)
		return 0;
	for (int i = 0; i < n; i++) {
		struct tw_opened o;
		if (tw_open(&q->rx, dg[i].data, dg[i].len, &o) >= 0)
			continue; /* counted by reason in q->rx.drops */
		last = &dg[i];
		if (!o.len) {
			q->own.keepalives++;
			continue;
		}
		if (q->ordered)
			rc = tb_coalescer_commit_key(q->co, o.data, o.len, o.epoch, o.counter);
		else
			rc = tb_coalescer_commit(q->co, o.data, o.len);
		if (!rc) {
			q->own.rx_pkts++;
			q->own.rx_bytes += o.len;
		}
	}
	/* The peer is where its latest authentic, fresh datagram came from. */
	if (last && !same_addr(&q->peer, q->peer_len, last->from, last->from_len) &&
	    last->from_len <= sizeof(q->peer)) {
		char a[80];
		memcpy(&q->peer, last->from, last->from_len);
		q->peer_len = last->from_len;
		q->own.peer_changes++;
		struct sockaddr_storage p0 = q->peer;
		/* What queue 0 would use: this port - q, unless NAT gave a port
		 * below q, which says nothing of the peer's other queues. */
		if (tw_port_shift(&p0, -(int)q->idx) == 0) {
			pthread_mutex_lock(&q->t->peer_lock);
			q->t->peer = p0;
			q->t->peer_len = q->peer_len;
			pthread_mutex_unlock(&q->t->peer_lock);
		}
		fprintf(stderr, PFX "queue %u: peer is at %s\n", q->idx,
			addr_str(last->from, a, sizeof(a)));
	}
	rc = tb_coalescer_flush(q->co);
	if (rc == -ESHUTDOWN)
		return rc;
	if (rc)
		q->own.tun_errors++;
	return n;
}

static void collect(struct queue *q, struct counters *c)
{
	memcpy(c->drops, q->rx.drops, sizeof(c->drops));
	c->sessions = q->rx.sessions;
	tb_tun_reader_stats(q->rd, &c->rd);
	tb_coalescer_stats(q->co, &c->co);
	tb_carrier_stats(q->car, &c->car);
}

static void publish(struct queue *q)
{
	collect(q, &q->own);
	pthread_mutex_lock(&q->lock);
	q->pub = q->own;
	pthread_mutex_unlock(&q->lock);
}

/*
 * Both directions in turn, without waiting while either has work: the
 * reader and the carrier each look (poll with no timeout) before they read,
 * and the carrier may hold views of its last receive that need no call at
 * all. Only when neither had anything does the thread sleep in one poll on
 * both, and on the stop eventfd.
 */
static void *queue_main(void *arg)
{
	struct queue *q = arg;
	struct pollfd pf[3] = {
		{.fd = tb_tun_fd(q->t->tun, q->idx), .events = POLLIN},
		{.fd = tb_carrier_fd(q->car), .events = POLLIN},
		{.fd = q->t->stop_fd, .events = POLLIN},
	};
	int publishing = q->t->cfg.stats > 0;

	for (;;) {
		int a = tun_burst(q), b;
		if (a == -ESHUTDOWN)
			break;
		b = carrier_burst(q);
		if (b == -ESHUTDOWN)
			break;
		if (publishing)
			publish(q);
		if (a > 0 || b > 0)
			continue;
		if (poll(pf, 3, -1) < 0 && errno != EINTR) {
			fprintf(stderr, PFX "queue %u: poll: %s\n", q->idx, strerror(errno));
			atomic_store(&q->t->failed, 1);
			break;
		}
		if (pf[2].revents)
			break;
	}
	return NULL;
}

/* ------------------------------------------------------------------------ */
/* Statistics                                                               */
/* ------------------------------------------------------------------------ */

static void sum_counters(struct tunnel *t, struct counters *s, int final)
{
	memset(s, 0, sizeof(*s));
	for (unsigned i = 0; i < t->cfg.queues; i++) {
		struct queue *q = &t->q[i];
		struct counters c;
		if (final) {
			collect(q, &q->own);
			c = q->own;
		} else {
			pthread_mutex_lock(&q->lock);
			c = q->pub;
			pthread_mutex_unlock(&q->lock);
		}
		s->tx_pkts += c.tx_pkts;
		s->tx_bytes += c.tx_bytes;
		s->rx_pkts += c.rx_pkts;
		s->rx_bytes += c.rx_bytes;
		s->no_peer += c.no_peer;
		s->seg_errors += c.seg_errors;
		s->seal_errors += c.seal_errors;
		s->send_errors += c.send_errors;
		s->tun_errors += c.tun_errors;
		s->keepalives += c.keepalives;
		s->peer_changes += c.peer_changes;
		s->sessions += c.sessions;
		for (int d = 0; d < TW_DROP_COUNT; d++)
			s->drops[d] += c.drops[d];
		s->rd.superpackets += c.rd.superpackets;
		s->rd.segments += c.rd.segments;
		s->rd.pkts += c.rd.pkts;
		s->rd.dropped += c.rd.dropped;
		s->co.writes += c.co.writes;
		s->co.superpackets += c.co.superpackets;
		s->co.segments += c.co.segments;
		s->co.write_errors += c.co.write_errors;
		s->co.fallbacks += c.co.fallbacks;
		s->co.displaced += c.co.displaced;
		s->car.tx_dgrams += c.car.tx_dgrams;
		s->car.tx_bytes += c.car.tx_bytes;
		s->car.rx_dgrams += c.car.rx_dgrams;
		s->car.rx_bytes += c.car.rx_bytes;
		s->car.gso_msgs += c.car.gso_msgs;
		s->car.gso_segs += c.car.gso_segs;
		s->car.gro_bufs += c.car.gro_bufs;
		s->car.gro_dgrams += c.car.gro_dgrams;
		s->car.recv_calls += c.car.recv_calls;
		s->car.send_calls += c.car.send_calls;
		s->car.truncated += c.car.truncated;
		s->car.tx_dropped += c.car.tx_dropped;
	}
}

static double per(uint64_t a, uint64_t b)
{
	return b ? (double)a / (double)b : 0.0;
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/*
 * One line of counters: rates over the last interval (dt seconds since
 * prev), totals since start. Throughput is the tunnel's payload: the IP
 * packets read from and written to TUN.
 */
static void print_stats(const struct tunnel *t, const struct counters *c,
			const struct counters *prev, double elapsed, double dt, int final)
{
	double txg = dt > 0 ? (double)(c->tx_bytes - prev->tx_bytes) * 8 / dt / 1e9 : 0;
	double rxg = dt > 0 ? (double)(c->rx_bytes - prev->rx_bytes) * 8 / dt / 1e9 : 0;
	double txp = dt > 0 ? (double)(c->tx_pkts - prev->tx_pkts) / dt : 0;
	double rxp = dt > 0 ? (double)(c->rx_pkts - prev->rx_pkts) / dt : 0;
	uint64_t dropped = c->no_peer;

	for (int d = 0; d < TW_DROP_COUNT; d++)
		dropped += c->drops[d];
	if (t->cfg.json) {
		printf("{\"event\":\"%s\",\"t\":%.3f,\"tx_gbps\":%.4f,\"rx_gbps\":%.4f,"
		       "\"tx_pps\":%.0f,\"rx_pps\":%.0f,"
		       "\"tx_pkts\":%llu,\"tx_bytes\":%llu,\"rx_pkts\":%llu,\"rx_bytes\":%llu,"
		       "\"tun_read\":{\"pkts\":%llu,\"superpackets\":%llu,\"segments\":%llu,"
		       "\"mean_segments\":%.2f,\"dropped\":%llu},"
		       "\"tun_write\":{\"writes\":%llu,\"superpackets\":%llu,\"segments\":%llu,"
		       "\"mean_segments\":%.2f,\"errors\":%llu,\"fallbacks\":%llu,"
		       "\"displaced\":%llu},"
		       "\"udp\":{\"tx_dgrams\":%llu,\"rx_dgrams\":%llu,\"gso_msgs\":%llu,"
		       "\"gso_mean\":%.2f,\"gro_bufs\":%llu,\"gro_mean\":%.2f,\"send_calls\":%llu,"
		       "\"recv_calls\":%llu,\"truncated\":%llu,\"tx_dropped\":%llu},"
		       "\"sessions\":%llu,\"peer_changes\":%llu,\"keepalives\":%llu,"
		       "\"errors\":{\"segment\":%llu,\"seal\":%llu,\"send\":%llu,\"tun\":%llu},"
		       "\"drops\":{",
		       final ? "final" : "stats", elapsed, txg, rxg, txp, rxp,
		       (unsigned long long)c->tx_pkts, (unsigned long long)c->tx_bytes,
		       (unsigned long long)c->rx_pkts, (unsigned long long)c->rx_bytes,
		       (unsigned long long)c->rd.pkts, (unsigned long long)c->rd.superpackets,
		       (unsigned long long)c->rd.segments, per(c->rd.segments, c->rd.superpackets),
		       (unsigned long long)c->rd.dropped, (unsigned long long)c->co.writes,
		       (unsigned long long)c->co.superpackets, (unsigned long long)c->co.segments,
		       per(c->co.segments, c->co.superpackets),
		       (unsigned long long)c->co.write_errors, (unsigned long long)c->co.fallbacks,
		       (unsigned long long)c->co.displaced, (unsigned long long)c->car.tx_dgrams,
		       (unsigned long long)c->car.rx_dgrams, (unsigned long long)c->car.gso_msgs,
		       per(c->car.gso_segs, c->car.gso_msgs), (unsigned long long)c->car.gro_bufs,
		       per(c->car.gro_dgrams, c->car.gro_bufs),
		       (unsigned long long)c->car.send_calls, (unsigned long long)c->car.recv_calls,
		       (unsigned long long)c->car.truncated, (unsigned long long)c->car.tx_dropped,
		       (unsigned long long)c->sessions, (unsigned long long)c->peer_changes,
		       (unsigned long long)c->keepalives, (unsigned long long)c->seg_errors,
		       (unsigned long long)c->seal_errors, (unsigned long long)c->send_errors,
		       (unsigned long long)c->tun_errors);
		for (int d = 0; d < TW_DROP_COUNT; d++)
			printf("\"%s\":%llu,", tw_drop_name((enum tw_drop)d),
			       (unsigned long long)c->drops[d]);
		printf("\"no_peer\":%llu}}\n", (unsigned long long)c->no_peer);
	} else {
		printf("%s %.1fs: tx %.3f Gbit/s %.0f pkt/s, rx %.3f Gbit/s %.0f pkt/s | "
		       "TUN read %llu superpackets (%.1f segments), wrote %llu (%.1f segments) | "
		       "UDP GSO %.1f, GRO %.1f datagrams per message | drops",
		       final ? "final" : "stats", elapsed, txg, txp, rxg, rxp,
		       (unsigned long long)c->rd.superpackets,
		       per(c->rd.segments, c->rd.superpackets),
		       (unsigned long long)c->co.superpackets,
		       per(c->co.segments, c->co.superpackets),
		       per(c->car.gso_segs, c->car.gso_msgs),
		       per(c->car.gro_dgrams, c->car.gro_bufs));
		for (int d = 0; d < TW_DROP_COUNT; d++)
			printf(" %s %llu", tw_drop_name((enum tw_drop)d),
			       (unsigned long long)c->drops[d]);
		printf(" no_peer %llu (total %llu)\n", (unsigned long long)c->no_peer,
		       (unsigned long long)dropped);
	}
	fflush(stdout);
}

/* ------------------------------------------------------------------------ */
/* Start and stop                                                           */
/* ------------------------------------------------------------------------ */

static const char *tun_error(int err)
{
	switch (-err) {
	case EPERM:
	case EACCES:
		return "no permission for /dev/net/tun (run as root or with CAP_NET_ADMIN)";
	case ENOENT:
	case ENODEV:
		return "/dev/net/tun is missing (is the tun module loaded?)";
	case EBUSY:
		return "the device exists and is in use, or has other flags";
	default:
		return strerror(-err);
	}
}

/* The queue's UDP socket: before the device, so that a taken port leaves no trace. */
static int queue_listen(struct tunnel *t, struct queue *q, const struct sockaddr_storage *local,
			socklen_t local_len, const struct sockaddr_storage *peer,
			socklen_t peer_len)
{
	const struct config *c = &t->cfg;
	struct sockaddr_storage bind = *local;
	struct tb_carrier_opts co = {
		.bind = (struct sockaddr *)&bind,
		.bind_len = local_len,
		.flags = c->no_carrier_offload ? TB_CARRIER_NO_GSO | TB_CARRIER_NO_GRO : 0,
		.rcvbuf = SOCK_BUF,
		.sndbuf = SOCK_BUF,
		.recv_slots = RECV_SLOTS,
	};
	char a[80];
	int err = 0;

	(void)tw_port_shift(&bind, (int)q->idx); /* in range: checked at setup */
	q->car = tb_carrier_open(&co);
	if (!q->car) {
		err = -errno;
		fprintf(stderr, PFX "cannot listen on %s: %s\n",
			addr_str((struct sockaddr *)&bind, a, sizeof(a)),
			err == -EADDRINUSE ? "address in use" : strerror(-err));
		return CLI_USAGE;
	}
	if (peer_len) {
		q->peer = *peer;
		q->peer_len = peer_len;
		(void)tw_port_shift(&q->peer, (int)q->idx); /* in range: checked at setup */
	}
	return 0;
}

/*
 * The queue's sender and receiver: before the device, since they need none.
 * libcrypto says why it failed in its error queue, else errno does.
 */
static int queue_keys(struct tunnel *t, struct queue *q)
{
	const struct config *c = &t->cfg;
	unsigned long e;
	char why[256];

	ERR_clear_error();
	errno = 0;
	/* Every queue's session starts with this start's epoch, its number in the low bits. */
	if (tw_sender_init(&q->tx, c->cipher, t->psk, t->epoch | q->idx) ||
	    tw_receiver_init(&q->rx, c->cipher, t->psk)) {
		e = ERR_get_error();
		if (e)
			ERR_error_string_n(e, why, sizeof(why));
		else
			snprintf(why, sizeof(why), "%s",
				 errno ? strerror(errno) : "no reason given");
		fprintf(stderr, PFX "queue %u: libcrypto could not set up %s: %s\n", q->idx,
			tw_cipher_name(c->cipher), why);
		return CLI_USAGE;
	}
	tw_receiver_own(&q->rx, t->epoch);
	return 0;
}

/* The rest of the queue, once the device exists. */
static int queue_open(struct tunnel *t, struct queue *q)
{
	const struct config *c = &t->cfg;
	struct tb_coalescer_opts opts = {
		.flags = (c->no_coalesce ? TB_COALESCE_NO_TCP | TB_COALESCE_NO_UDP : 0) |
			 (c->no_order ? 0 : TB_COALESCE_ORDER),
		.max_pkts = ORDER_HOLD,
	};
	const char *what = NULL;
	int err = 0;

	q->ordered = !c->no_order;
	if (!(q->rd = tb_tun_reader_create(t->tun, q->idx, NULL))) {
		what = "its TUN reader";
		err = errno;
	} else if (!(q->arena = tb_arena_create(CO_ARENA_SIZE))) {
		what = "its arena";
		err = errno;
	} else if (!(q->co = tb_coalescer_create(tb_tun_writer(t->tun, q->idx), q->arena, &opts))) {
		what = "its coalescer";
		err = errno;
	} else if ((err = pthread_mutex_init(&q->lock, NULL))) {
		what = "its counters' mutex";
	}
	if (what) {
		fprintf(stderr, PFX "queue %u: cannot create %s: %s\n", q->idx, what,
			strerror(err ? err : ENOMEM));
		return CLI_USAGE;
	}
	return 0;
}

static void queue_close(struct queue *q)
{
	tb_coalescer_destroy(q->co);
	tb_arena_destroy(q->arena);
	tb_tun_reader_destroy(q->rd);
	tb_carrier_close(q->car);
	tw_sender_free(&q->tx);
	tw_receiver_free(&q->rx);
}

static void describe(const struct tunnel *t, const struct sockaddr_storage *local,
		     const struct sockaddr_storage *peer, socklen_t peer_len)
{
	const struct config *c = &t->cfg;
	unsigned off = tb_tun_offloads(t->tun), car = tb_carrier_offloads(t->q[0].car);
	char l[80], p[80];

	fprintf(stderr,
		PFX "%s up, MTU %u, %u queue%s; TUN offloads:%s%s%s%s; listening on %s (+queue), "
		    "peer %s; cipher %s; UDP%s%s%s; coalescing %s, ordering %s\n",
		tb_tun_name(t->tun), c->mtu, c->queues, c->queues == 1 ? "" : "s",
		!tb_tun_vnet(t->tun) ? " none (no virtio header)" : "",
		off & (TB_TUN_TSO4 | TB_TUN_TSO6) ? " TSO" : "",
		off & (TB_TUN_USO4 | TB_TUN_USO6) ? " USO" : "",
		tb_tun_vnet(t->tun) && !(off & (TB_TUN_TSO4 | TB_TUN_USO4)) ? " csum only" : "",
		addr_str((const struct sockaddr *)local, l, sizeof(l)),
		peer_len ? addr_str((const struct sockaddr *)peer, p, sizeof(p))
			 : "unknown (learned from its first authentic datagram)",
		tw_cipher_name(c->cipher), car & TB_CARRIER_GSO ? " GSO" : "",
		car & TB_CARRIER_GRO ? " GRO" : "", car ? "" : " without offloads",
		c->no_coalesce ? "off" : "on", c->no_order ? "off" : "on");
	if (c->cipher == TW_NONE)
		fprintf(stderr, PFX "WARNING: --cipher none: traffic is neither encrypted nor "
				    "authenticated; anyone on the path can read, change and inject "
				    "it. Use it for measurements only.\n");
}

/* Waits for SIGINT/SIGTERM (blocked in every thread), printing statistics. */
static void wait_for_stop(struct tunnel *t, sigset_t *sigs, double start)
{
	struct counters prev = {0}, cur;
	double last = start, period = t->cfg.stats > 0 ? t->cfg.stats : 1.0;
	double next = start + period;

	for (;;) {
		double now = now_s(), wait = next - now;
		struct timespec ts;
		if (wait < 0)
			wait = 0;
		ts.tv_sec = (time_t)wait;
		ts.tv_nsec = (long)((wait - (double)ts.tv_sec) * 1e9);
		if (sigtimedwait(sigs, NULL, &ts) > 0)
			return;
		if (atomic_load(&t->failed))
			return;
		now = now_s();
		if (now < next)
			continue;
		next += period;
		if (t->cfg.stats > 0) {
			sum_counters(t, &cur, 0);
			print_stats(t, &cur, &prev, now - start, now - last, 0);
			prev = cur;
			last = now;
		}
	}
}

int cmd_tunnel(int argc, char **argv)
{
	struct tunnel t;
	struct sockaddr_storage local, peer;
	socklen_t local_len = 0, peer_len = 0;
	struct tb_tun_opts to;
	sigset_t sigs, old;
	double start;
	int rc, err = 0;
	uint64_t one = 1;

	memset(&t, 0, sizeof(t));
	t.stop_fd = -1;
	pthread_mutex_init(&t.peer_lock, NULL);
	rc = parse_args(argc, argv, &t.cfg);
	if (rc)
		return rc < 0 ? CLI_OK : rc;
	if ((rc = read_key(t.cfg.key_file, t.psk)))
		return rc;
	if ((rc = resolve("--listen", t.cfg.listen, AF_UNSPEC, 1, &local, &local_len)))
		goto out;
	if (t.cfg.peer &&
	    (rc = resolve("--peer", t.cfg.peer, local.ss_family, 0, &peer, &peer_len)))
		goto out;
	if ((rc = check_ports("--listen", &local, t.cfg.queues)) ||
	    (peer_len && (rc = check_ports("--peer", &peer, t.cfg.queues))))
		goto out;

	t.epoch = tw_new_epoch(0) & ~0xffull;
	t.q = calloc(t.cfg.queues, sizeof(*t.q));
	if (!t.q) {
		fprintf(stderr, PFX "cannot allocate %u queues: %s\n", t.cfg.queues,
			strerror(errno));
		rc = CLI_USAGE;
		goto out;
	}
	t.stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (t.stop_fd < 0) {
		fprintf(stderr, PFX "cannot create the stop eventfd: %s\n", strerror(errno));
		rc = CLI_USAGE;
		goto out;
	}
	for (unsigned i = 0; i < t.cfg.queues; i++) {
		t.q[i].t = &t;
		t.q[i].idx = i;
		if ((rc = queue_keys(&t, &t.q[i])) ||
		    (rc = queue_listen(&t, &t.q[i], &local, local_len, &peer, peer_len)))
			goto out;
	}
	to = (struct tb_tun_opts){
		.name = t.cfg.tun, .queues = t.cfg.queues, .no_vnet_hdr = t.cfg.no_tun_offload};
	t.tun = tb_tun_open(&to);
	if (!t.tun) {
		err = -errno;
		fprintf(stderr, PFX "cannot create TUN device '%s': %s\n", t.cfg.tun,
			tun_error(err));
		rc = CLI_USAGE;
		goto out;
	}
	for (unsigned i = 0; i < t.cfg.queues; i++)
		if ((rc = queue_open(&t, &t.q[i])))
			goto out;
	{
		const char *what = "";
		int e = link_up(tb_tun_name(t.tun), t.cfg.mtu, &what);
		if (e) {
			fprintf(stderr, PFX "%s: cannot %s: %s\n", tb_tun_name(t.tun), what,
				strerror(-e));
			rc = CLI_USAGE;
			goto out;
		}
	}
	describe(&t, &local, &peer, peer_len);

	/* Signals are taken by the main thread alone, with sigtimedwait. */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &sigs, &old);
	start = now_s();
	for (unsigned i = 0; i < t.cfg.queues; i++) {
		int e = pthread_create(&t.q[i].th, NULL, queue_main, &t.q[i]);
		if (e) {
			fprintf(stderr, PFX "cannot start the thread of queue %u: %s\n", i,
				strerror(e));
			atomic_store(&t.failed, 1);
			break;
		}
		t.q[i].started = 1;
	}
	if (!atomic_load(&t.failed))
		wait_for_stop(&t, &sigs, start);
	rc = atomic_load(&t.failed) ? CLI_FAIL : CLI_OK;

	/* Wake everything that may block, then join. */
	if (write(t.stop_fd, &one, sizeof(one)) < 0)
		perror(PFX "eventfd");
	tb_tun_wake(t.tun);
	for (unsigned i = 0; i < t.cfg.queues; i++)
		tb_carrier_wake(t.q[i].car);
	for (unsigned i = 0; i < t.cfg.queues; i++)
		if (t.q[i].started)
			pthread_join(t.q[i].th, NULL);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (t.cfg.stats > 0 || t.cfg.json) {
		struct counters cur, zero = {0};
		sum_counters(&t, &cur, 1);
		double el = now_s() - start;
		print_stats(&t, &cur, &zero, el, el, 1);
	}
out:
	if (t.q)
		for (unsigned i = 0; i < t.cfg.queues; i++)
			queue_close(&t.q[i]);
	free(t.q);
	if (t.stop_fd >= 0)
		close(t.stop_fd);
	tb_tun_close(t.tun); /* the device goes with its last queue */
	OPENSSL_cleanse(t.psk, sizeof(t.psk));
	return rc;
}
