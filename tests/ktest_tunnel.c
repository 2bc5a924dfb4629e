/* SPDX-License-Identifier: MIT */
/*
 * Integrity of `tunbatch tunnel` under loss, reordering, duplication and
 * attack, with kernel sockets at both ends.
 *
 *   A (tunnel) --IPv6-- R (tb_impair, nftables loss) --IPv4-- B (tunnel) -- X
 *
 * Two tunnel processes (the CLI built beside this test) in namespaces A and
 * B, their carrier path through R: an nftables rule there drops 0.5% of the
 * datagrams both ways, and tb_impair reorders 2% and duplicates 0.1%. B has
 * no --peer: it learns A's address from the first authentic datagram. Over
 * the tunnel: a seeded 256 MiB TCP stream A->B and a 32 MiB TCP stream over
 * IPv6 B->A, every byte checked, and a counted UDP stream A->B whose
 * datagrams must each arrive intact and at most once. Meanwhile X sends B
 * garbage, truncated datagrams, datagrams under a wrong key and of an older
 * session, replays of datagrams R captured, and B's own datagrams sent back
 * to it: B must count each under its reason, deliver none of them, and keep
 * its peer.
 */
#define _GNU_SOURCE
#include "nsutil.h"
#include "tunnel_wire.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103
#endif
#ifndef SOL_UDP
#define SOL_UDP 17
#endif

#define TCP_BYTES    ((uint64_t)256 << 20)
#define TCP6_BYTES   ((uint64_t)32 << 20)
#define DGRAM	     1200
#define DGRAMS	     20000
#define GSO_DGRAMS   20
#define IDLE_LIMIT   20 /* seconds without progress: a failure */
#define STREAM_SEED  0x51ee7c0de5eedull
#define PORT	     5000
#define ATTACK_EACH  50	 /* datagrams of each kind X sends */
#define CAPTURED     200 /* datagrams R captures for X to replay */
#define ATTACK_AFTER ((uint64_t)64 << 20)

static char nsa[64], nsb[64], nsr[64], nsx[64], dir[256];
static _Atomic uint64_t tcp_progress;

/* ------------------------------------------------------------------------ */
/* Processes                                                                */
/* ------------------------------------------------------------------------ */

/* Starts argv in namespace ns with stdout and stderr to file. */
static pid_t spawn(const char *ns, const char *file, char *const argv[])
{
	pid_t pid;

	fflush(NULL);
	pid = fork();
	NSU_CHECK(pid >= 0, "fork: %s", strerror(errno));
	if (pid == 0) {
		int fd = open(file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		/* Never outlive the test, whatever ends it. */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		nsu_enter(ns);
		if (fd < 0 || dup2(fd, 1) < 0 || dup2(fd, 2) < 0)
			_exit(126);
		execv(argv[0], argv);
		_exit(127);
	}
	return pid;
}

/* SIGTERM, then waits for a clean exit (status 0). */
static void stop(pid_t pid, const char *what)
{
	int status = 0;

	kill(pid, SIGTERM);
	for (int i = 0; i < 500; i++) {
		if (waitpid(pid, &status, WNOHANG) == pid) {
			NSU_CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0,
				  "%s did not stop cleanly (status 0x%x)", what, status);
			return;
		}
		usleep(20000);
	}
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	NSU_FAIL("%s did not stop within 10 s of SIGTERM", what);
}

static void path(char *out, size_t len, const char *name)
{
	snprintf(out, len, "%s/%s", dir, name);
}

/* The last line of file that contains tag (static buffer), or NULL. */
static const char *line_with(const char *file, const char *tag)
{
	static char found[8192];
	char line[8192];
	FILE *f = fopen(file, "r");
	int have = 0;

	if (!f)
		return NULL;
	while (fgets(line, sizeof(line), f))
		if (strstr(line, tag)) {
			memcpy(found, line, sizeof(found));
			have = 1;
		}
	fclose(f);
	return have ? found : NULL;
}

/* The number after "key": in a JSON line; fails the test when absent. */
static uint64_t jnum(const char *line, const char *key)
{
	char k[64];
	const char *p;

	snprintf(k, sizeof(k), "\"%s\":", key);
	p = strstr(line, k);
	NSU_CHECK(p, "no %s in: %s", key, line);
	return strtoull(p + strlen(k), NULL, 10);
}

static void show(const char *file)
{
	char cmd[512];
	snprintf(cmd, sizeof(cmd), "sed 's/^/    /' %s >&2", file);
	nsu_sh("%s", cmd);
}

/* ------------------------------------------------------------------------ */
/* TCP: a seeded stream (nsu_tcp), every byte checked                     */
/* ------------------------------------------------------------------------ */

/* A socket in namespace ns; the calling thread goes back home. */
static int ns_socket(const char *ns, int family, int type)
{
	int fd;

	nsu_enter(ns);
	fd = socket(family, type | SOCK_CLOEXEC, 0);
	NSU_CHECK(fd >= 0, "socket: %s", strerror(errno));
	nsu_enter(NULL);
	return fd;
}

struct tcp_threads {
	struct nsu_tcp t;
	pthread_t cth, sth;
};

static void tcp_start(struct tcp_threads *x, const char *name, const char *client_ns,
		      const char *server_ns, const char *server_ip, uint16_t port, uint64_t bytes,
		      uint64_t seed, _Atomic uint64_t *progress)
{
	struct sockaddr_storage ss;
	socklen_t sl;
	int one = 1;

	x->t = (struct nsu_tcp){.name = name,
				.bytes = bytes,
				.seed = seed,
				.idle_s = IDLE_LIMIT,
				.progress = progress};
	nsu_addr(server_ip, port, &ss, &sl);
	x->t.lfd = ns_socket(server_ns, ss.ss_family, SOCK_STREAM);
	setsockopt(x->t.lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	NSU_CHECK(bind(x->t.lfd, (struct sockaddr *)&ss, sl) == 0, "bind %s: %s", server_ip,
		  strerror(errno));
	NSU_CHECK(listen(x->t.lfd, 1) == 0, "listen");
	x->t.cfd = ns_socket(client_ns, ss.ss_family, SOCK_STREAM);
	nsu_tcp_timeouts(x->t.cfd, IDLE_LIMIT);
	NSU_CHECK(connect(x->t.cfd, (struct sockaddr *)&ss, sl) == 0, "%s: connect %s: %s", name,
		  server_ip, strerror(errno));
	NSU_CHECK(pthread_create(&x->sth, NULL, nsu_tcp_server, &x->t) == 0, "pthread_create");
	NSU_CHECK(pthread_create(&x->cth, NULL, nsu_tcp_client, &x->t) == 0, "pthread_create");
}

static void tcp_finish(struct tcp_threads *x)
{
	pthread_join(x->cth, NULL);
	pthread_join(x->sth, NULL);
	close(x->t.cfd);
	close(x->t.lfd);
	NSU_CHECK(!x->t.fail, "%s: %s at byte %llu", x->t.name, x->t.fail,
		  (unsigned long long)x->t.fail_at);
	NSU_CHECK(x->t.received == x->t.bytes, "%s: %llu of %llu bytes arrived", x->t.name,
		  (unsigned long long)x->t.received, (unsigned long long)x->t.bytes);
	printf("%s: %llu bytes arrived complete and intact\n", x->t.name,
	       (unsigned long long)x->t.received);
}

/* ------------------------------------------------------------------------ */
/* UDP: counted datagrams, each intact and at most once                     */
/* ------------------------------------------------------------------------ */

struct udp_run {
	int sfd, rfd;
	_Atomic int sender_done;
	uint64_t received, bad, dup;
	const char *fail;
	uint8_t *seen;
	pthread_t sth, rth;
};

static void fill_dgram(uint64_t i, uint8_t *p)
{
	memcpy(p, &i, 8);
	nsu_stream(STREAM_SEED ^ 0x55, i * DGRAM + 8, p + 8, DGRAM - 8);
}

static void *udp_receiver(void *arg)
{
	struct udp_run *u = arg;
	uint8_t buf[2048], want[DGRAM];

	for (;;) {
		struct pollfd p = {.fd = u->rfd, .events = POLLIN};
		/* Losses are expected: after the sender is done, a quiet second ends it. */
		int n = poll(&p, 1, atomic_load(&u->sender_done) ? 1000 : IDLE_LIMIT * 1000);
		if (n == 0 && atomic_load(&u->sender_done))
			return NULL;
		if (n <= 0) {
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
		u->received++;
	}
}

static void *udp_sender(void *arg)
{
	struct udp_run *u = arg;
	uint8_t buf[GSO_DGRAMS * DGRAM];
	uint64_t i = 0;

	while (i < DGRAMS) {
		unsigned n = DGRAMS - i < GSO_DGRAMS ? (unsigned)(DGRAMS - i) : GSO_DGRAMS;
		for (unsigned k = 0; k < n; k++)
			fill_dgram(i + k, buf + (size_t)k * DGRAM);
		ssize_t w = send(u->sfd, buf, (size_t)n * DGRAM, 0);
		if (w < 0 && (errno == EINTR || errno == ENOBUFS || errno == EAGAIN)) {
			usleep(200);
			continue;
		}
		if (w != (ssize_t)n * DGRAM) {
			u->fail = "sender: send failed";
			break;
		}
		i += n;
		usleep(1000); /* 20k datagrams a second: a stream beside TCP, not a flood */
	}
	atomic_store(&u->sender_done, 1);
	return NULL;
}

static void udp_start(struct udp_run *u)
{
	struct sockaddr_storage ss;
	socklen_t sl;
	int gso = DGRAM, big = 32 << 20;

	u->seen = calloc(DGRAMS, 1);
	NSU_CHECK(u->seen, "out of memory");
	nsu_addr("10.10.0.2", 6000, &ss, &sl);
	u->rfd = ns_socket(nsb, AF_INET, SOCK_DGRAM);
	setsockopt(u->rfd, SOL_SOCKET, SO_RCVBUFFORCE, &big, sizeof(big));
	NSU_CHECK(bind(u->rfd, (struct sockaddr *)&ss, sl) == 0, "bind: %s", strerror(errno));
	u->sfd = ns_socket(nsa, AF_INET, SOCK_DGRAM);
	NSU_CHECK(setsockopt(u->sfd, SOL_UDP, UDP_SEGMENT, &gso, sizeof(gso)) == 0,
		  "UDP_SEGMENT: %s", strerror(errno));
	NSU_CHECK(connect(u->sfd, (struct sockaddr *)&ss, sl) == 0, "connect: %s", strerror(errno));
	NSU_CHECK(pthread_create(&u->rth, NULL, udp_receiver, u) == 0, "pthread_create");
	NSU_CHECK(pthread_create(&u->sth, NULL, udp_sender, u) == 0, "pthread_create");
}

static void udp_finish(struct udp_run *u)
{
	pthread_join(u->sth, NULL);
	pthread_join(u->rth, NULL);
	close(u->sfd);
	close(u->rfd);
	free(u->seen);
	NSU_CHECK(!u->fail, "UDP: %s (%llu received)", u->fail, (unsigned long long)u->received);
	printf("UDP: %llu of %d datagrams arrived intact (%.2f%% lost on the way), %llu corrupt, "
	       "%llu duplicated\n",
	       (unsigned long long)u->received, DGRAMS,
	       100.0 * (double)(DGRAMS - u->received) / DGRAMS, (unsigned long long)u->bad,
	       (unsigned long long)u->dup);
	NSU_CHECK(!u->bad && !u->dup, "UDP: corrupt or duplicated datagrams reached the receiver");
	/* 0.5% dropped each way by the rule; anything beyond 3% is the tunnel's doing. */
	NSU_CHECK(u->received >= DGRAMS * 97 / 100, "UDP: only %llu of %d datagrams arrived",
		  (unsigned long long)u->received, DGRAMS);
}

/* ------------------------------------------------------------------------ */
/* The attacker in X                                                        */
/* ------------------------------------------------------------------------ */

struct attack {
	uint8_t psk[TW_KEY_LEN];
	uint64_t sent[TW_DROP_COUNT];
	const char *fail;
	pthread_t th;
};

static uint64_t rng = 0x9e3779b97f4a7c15ull;

static void send_to_b(int fd, const void *buf, size_t len)
{
	struct sockaddr_storage ss;
	socklen_t sl;

	nsu_addr("10.9.3.2", PORT, &ss, &sl);
	NSU_CHECK(sendto(fd, buf, len, 0, (struct sockaddr *)&ss, sl) == (ssize_t)len,
		  "attacker: sendto: %s", strerror(errno));
	usleep(500); /* slow enough that B's socket never overflows because of X */
}

/* Reads the datagrams tb_impair captured into file name: how many (all of them). */
static unsigned read_capture(const char *name, uint8_t (*bufs)[2048], size_t *lens)
{
	char file[300];
	unsigned n = 0;
	FILE *f;

	path(file, sizeof(file), name);
	f = fopen(file, "rb");
	NSU_CHECK(f, "no capture file %s from the relay", name);
	for (uint8_t l[2]; n < CAPTURED && fread(l, 1, 2, f) == 2; n++) {
		lens[n] = (size_t)l[0] << 8 | l[1];
		NSU_CHECK(lens[n] <= sizeof(bufs[0]) && fread(bufs[n], 1, lens[n], f) == lens[n],
			  "capture file %s cut short", name);
	}
	fclose(f);
	NSU_CHECK(n == CAPTURED, "the relay captured %u datagrams in %s, not %d", n, name,
		  CAPTURED);
	return n;
}

static void *attacker(void *arg)
{
	struct attack *at = arg;
	static uint8_t captured[CAPTURED][2048], own[CAPTURED][2048];
	size_t cap_len[CAPTURED], own_len[CAPTURED];
	uint8_t d[2048], pt[1000], other[TW_KEY_LEN];
	unsigned n_cap, n_own;
	uint64_t epoch = 0;
	int fd;

	/* Wait until A's session is well past the captured datagrams' window. */
	while (atomic_load(&tcp_progress) < ATTACK_AFTER)
		usleep(20000);
	n_cap = read_capture("captured", captured, cap_len);
	n_own = read_capture("captured-ba", own, own_len);
	for (int i = 0; i < 8; i++)
		epoch = epoch << 8 | captured[0][8 + i];

	fd = ns_socket(nsx, AF_INET, SOCK_DGRAM);
	for (int i = 0; i < ATTACK_EACH; i++) {
		/* Garbage: any length, any bytes, but not our version. */
		size_t len = 32 + nsu_rand(&rng) % 1400;
		nsu_stream(nsu_rand(&rng), 0, d, len);
		d[0] = (uint8_t)(2 + nsu_rand(&rng) % 254);
		send_to_b(fd, d, len);
		at->sent[TW_DROP_VERSION]++;
		/* Truncated: a captured datagram cut inside its header or tag. */
		send_to_b(fd, captured[i], 1 + (size_t)i % (TW_HDR_LEN + TW_TAG_LEN - 1));
		at->sent[TW_DROP_SHORT]++;
	}
	memcpy(other, at->psk, TW_KEY_LEN);
	other[7] ^= 0x40;
	for (int i = 0; i < ATTACK_EACH; i++) {
		struct iovec iov = {pt, sizeof(pt)};
		struct tw_sender s;
		long n;
		memset(pt, 0x45, sizeof(pt));
		/* A wrong key, in A's session and in a newer one. */
		NSU_CHECK(tw_sender_init(&s, TW_AES_256_GCM, other, epoch + (uint64_t)(i & 1)) == 0,
			  "tw_sender_init");
		s.counter = (1ull << 40) + (uint64_t)i;
		n = tw_seal(&s, &iov, 1, d, sizeof(d));
		tw_sender_free(&s);
		NSU_CHECK(n > 0, "tw_seal");
		send_to_b(fd, d, (size_t)n);
		at->sent[TW_DROP_AUTH]++;
		/* The right key, an older session than A's. */
		NSU_CHECK(tw_sender_init(&s, TW_AES_256_GCM, at->psk, epoch - 1 - (uint64_t)i) == 0,
			  "tw_sender_init");
		n = tw_seal(&s, &iov, 1, d, sizeof(d));
		tw_sender_free(&s);
		NSU_CHECK(n > 0, "tw_seal");
		send_to_b(fd, d, (size_t)n);
		at->sent[TW_DROP_OLD_EPOCH]++;
	}
	/* Replays of what A really sent. */
	for (unsigned i = 0; i < n_cap; i++) {
		send_to_b(fd, captured[i], cap_len[i]);
		at->sent[TW_DROP_REPLAY]++;
	}
	/* What B itself sent, back to B: it authenticates, since both ends share the key. */
	for (unsigned i = 0; i < n_own; i++) {
		send_to_b(fd, own[i], own_len[i]);
		at->sent[TW_DROP_REFLECTED]++;
	}
	close(fd);
	return NULL;
}

/* ------------------------------------------------------------------------ */

static void write_key(const char *file, uint8_t psk[TW_KEY_LEN])
{
	char text[TW_KEY_B64_LEN + 1];
	FILE *f;
	int fd;

	NSU_CHECK(tw_key_random(psk) == 0, "tw_key_random");
	tw_key_encode(psk, text);
	fd = open(file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	NSU_CHECK(fd >= 0, "open %s: %s", file, strerror(errno));
	f = fdopen(fd, "w");
	NSU_CHECK(f && fprintf(f, "%s\n", text) > 0 && fclose(f) == 0, "write %s", file);
}

static void wait_link(const char *ns, const char *dev)
{
	for (int i = 0; i < 250; i++) {
		if (nsu_sh("ip -n %s link show %s 2>/dev/null | grep -q UP", ns, dev) == 0)
			return;
		usleep(20000);
	}
	NSU_FAIL("the tunnel in %s did not bring %s up", ns, dev);
}

/* UDP receive-buffer overflows in namespace ns, from /proc/net/snmp. */
static uint64_t rcvbuf_errors(const char *ns)
{
	char cmd[256], line[1024], names[1024] = "";
	uint64_t v = 0;
	FILE *p;

	snprintf(cmd, sizeof(cmd), "ip netns exec %s cat /proc/net/snmp", ns);
	p = popen(cmd, "r");
	NSU_CHECK(p, "popen");
	while (fgets(line, sizeof(line), p)) {
		if (strncmp(line, "Udp: ", 5))
			continue;
		if (!names[0]) {
			memcpy(names, line, sizeof(names));
			continue;
		}
		/* The value line: the column named RcvbufErrors. */
		char *save1, *save2, *n = strtok_r(names, " \n", &save1),
				     *x = strtok_r(line, " \n", &save2);
		while (n && x) {
			if (!strcmp(n, "RcvbufErrors"))
				v = strtoull(x, NULL, 10);
			n = strtok_r(NULL, " \n", &save1);
			x = strtok_r(NULL, " \n", &save2);
		}
		break;
	}
	pclose(p);
	return v;
}

/* Datagrams the loss rule in R dropped. */
static uint64_t nft_dropped(void)
{
	char cmd[256], line[512];
	uint64_t v = 0;
	FILE *p;

	snprintf(cmd, sizeof(cmd), "ip netns exec %s nft list chain inet impair out", nsr);
	p = popen(cmd, "r");
	NSU_CHECK(p, "popen");
	while (fgets(line, sizeof(line), p)) {
		const char *k = strstr(line, "counter packets ");
		if (k)
			v = strtoull(k + 16, NULL, 10);
	}
	pclose(p);
	return v;
}

static int test(void)
{
	char key[300], outa[300], outb[300], outr[300], cap[300], cap_ba[300], port_a[64],
		port_b[64];
	char *cli = TB_CLI, *impair = TB_IMPAIR;
	struct attack at = {0};
	struct tcp_threads t4, t6;
	struct udp_run u = {0};
	pid_t pa, pb, pr;
	const char *fa, *fb, *r_ab, *r_ba;
	const char *tmp = getenv("TMPDIR");

	snprintf(dir, sizeof(dir), "%s/tb_ktest_tunnel_XXXXXX", tmp && *tmp ? tmp : "/tmp");
	NSU_CHECK(mkdtemp(dir), "mkdtemp: %s", strerror(errno));
	if (nsu_sh("nft --version >/dev/null 2>&1"))
		nsu_skip("no nft (nftables)");
	path(key, sizeof(key), "key");
	path(outa, sizeof(outa), "tunnel-a.out");
	path(outb, sizeof(outb), "tunnel-b.out");
	path(outr, sizeof(outr), "impair.out");
	path(cap, sizeof(cap), "captured");
	path(cap_ba, sizeof(cap_ba), "captured-ba");
	write_key(key, at.psk);

	nsu_create("a", nsa, sizeof(nsa));
	nsu_create("b", nsb, sizeof(nsb));
	nsu_create("r", nsr, sizeof(nsr));
	nsu_create("x", nsx, sizeof(nsx));
	nsu_run("ip -n %s link add ua type veth peer name ra netns %s", nsa, nsr);
	nsu_run("ip -n %s link add ub type veth peer name rb netns %s", nsb, nsr);
	nsu_run("ip -n %s link add ux type veth peer name bx netns %s", nsx, nsb);
	nsu_run("ip -n %s addr add fd09:1::1/64 dev ua nodad", nsa);
	nsu_run("ip -n %s addr add fd09:1::2/64 dev ra nodad", nsr);
	nsu_run("ip -n %s addr add 10.9.2.1/24 dev ub", nsb);
	nsu_run("ip -n %s addr add 10.9.2.2/24 dev rb", nsr);
	nsu_run("ip -n %s addr add 10.9.3.1/24 dev ux", nsx);
	nsu_run("ip -n %s addr add 10.9.3.2/24 dev bx", nsb);
	nsu_run("ip -n %s link set ua up && ip -n %s link set ub up && ip -n %s link set ux up",
		nsa, nsb, nsx);
	nsu_run("ip -n %s link set ra up && ip -n %s link set rb up && ip -n %s link set bx up",
		nsr, nsr, nsb);
	/*
	 * 0.5% of the carrier's datagrams lost, both ways: on the relay's output,
	 * where each datagram is its own packet (on input, one UDP GSO batch of the
	 * tunnel would be one packet and the rule would drop whole batches).
	 */
	nsu_run("ip netns exec %s nft add table inet impair", nsr);
	nsu_run("ip netns exec %s nft add chain inet impair out "
		"'{ type filter hook output priority 0; }'",
		nsr);
	nsu_run("ip netns exec %s nft add rule inet impair out udp dport %d "
		"numgen random mod 1000 '<' 5 counter drop",
		nsr, PORT);

	snprintf(port_a, sizeof(port_a), "[fd09:1::2]:%d", PORT);
	snprintf(port_b, sizeof(port_b), "10.9.2.2:%d", PORT);
	{
		char a_peer[64], b_peer[64];
		snprintf(a_peer, sizeof(a_peer), "[fd09:1::1]:%d", PORT);
		snprintf(b_peer, sizeof(b_peer), "10.9.2.1:%d", PORT);
		char *argv[] = {
			impair, "--a",		 port_a, "--a-peer",  a_peer, "--b",
			port_b, "--b-peer",	 b_peer, "--reorder", "20",   "--dup",
			"1",	"--seed",	 "7",	 "--capture", cap,    "--capture-ba",
			cap_ba, "--capture-max", "200",	 NULL};
		pr = spawn(nsr, outr, argv);
	}
	{
		char listen_a[64], listen_b[64];
		snprintf(listen_a, sizeof(listen_a), "[fd09:1::1]:%d", PORT);
		snprintf(listen_b, sizeof(listen_b), "0.0.0.0:%d", PORT);
		char *argv_a[] = {cli,	     "tunnel", "--tun",	 "tbt",	  "--listen",
				  listen_a,  "--peer", port_a,	 "--key", key,
				  "--stats", "1",      "--json", NULL};
		char *argv_b[] = {cli,	   "tunnel", "--tun",	"tbt", "--listen", listen_b,
				  "--key", key,	     "--stats", "1",   "--json",   NULL};
		pa = spawn(nsa, outa, argv_a);
		pb = spawn(nsb, outb, argv_b);
	}
	wait_link(nsa, "tbt");
	wait_link(nsb, "tbt");
	nsu_run("ip -n %s addr add 10.10.0.1/24 dev tbt && ip -n %s addr add fd10::1/64 dev tbt "
		"nodad",
		nsa, nsa);
	nsu_run("ip -n %s addr add 10.10.0.2/24 dev tbt && ip -n %s addr add fd10::2/64 dev tbt "
		"nodad",
		nsb, nsb);

	tcp_start(&t4, "TCP/IPv4 A->B", nsa, nsb, "10.10.0.2", 5001, TCP_BYTES, STREAM_SEED,
		  &tcp_progress);
	tcp_start(&t6, "TCP/IPv6 B->A", nsb, nsa, "fd10::1", 5002, TCP6_BYTES, STREAM_SEED ^ 6,
		  NULL);
	udp_start(&u);
	NSU_CHECK(pthread_create(&at.th, NULL, attacker, &at) == 0, "pthread_create");

	tcp_finish(&t4);
	tcp_finish(&t6);
	udp_finish(&u);
	pthread_join(at.th, NULL);
	usleep(200 * 1000);

	stop(pa, "tunnel A");
	stop(pb, "tunnel B");
	stop(pr, "tb_impair");
	fa = line_with(outa, "\"event\":\"final\"");
	if (!fa)
		show(outa);
	NSU_CHECK(fa, "tunnel A printed no final counters");
	printf("tunnel A: %s", fa);
	char a_line[8192];
	snprintf(a_line, sizeof(a_line), "%s", fa);
	fb = line_with(outb, "\"event\":\"final\"");
	if (!fb)
		show(outb);
	NSU_CHECK(fb, "tunnel B printed no final counters");
	printf("tunnel B: %s", fb);
	char b_line[8192];
	snprintf(b_line, sizeof(b_line), "%s", fb);
	r_ab = line_with(outr, "\"dir\":\"a_to_b\"");
	NSU_CHECK(r_ab, "tb_impair printed no counters");
	char ab_line[8192];
	snprintf(ab_line, sizeof(ab_line), "%s", r_ab);
	r_ba = line_with(outr, "\"dir\":\"b_to_a\"");
	NSU_CHECK(r_ba, "tb_impair printed no counters");
	printf("relay: %srelay: %s", ab_line, r_ba);
	uint64_t nft_drops = nft_dropped();
	uint64_t relayed = jnum(ab_line, "tx") + jnum(r_ba, "tx") + jnum(ab_line, "send_errors") +
			   jnum(r_ba, "send_errors");
	printf("the nftables rule dropped %llu of %llu datagrams the relay sent (%.2f%%)\n",
	       (unsigned long long)nft_drops, (unsigned long long)relayed,
	       100.0 * (double)nft_drops / (double)(relayed ? relayed : 1));
	NSU_CHECK(nft_drops * 1000 >= relayed * 2 && nft_drops * 1000 <= relayed * 10,
		  "the loss rule dropped %llu of %llu datagrams, not about 0.5%%",
		  (unsigned long long)nft_drops, (unsigned long long)relayed);

	/* The carrier path really was impaired, both ways. */
	NSU_CHECK(jnum(ab_line, "reordered") > 0 && jnum(ab_line, "duplicated") > 0 &&
			  jnum(r_ba, "reordered") > 0,
		  "the relay reordered or duplicated nothing");
	/* Every datagram X sent was dropped under its reason; only relay copies add replays. */
	uint64_t lost = rcvbuf_errors(nsb), dup_ab = jnum(ab_line, "duplicated");
	printf("B's UDP receive-buffer overflows: %llu\n", (unsigned long long)lost);
	for (int d = 0; d < TW_DROP_COUNT; d++) {
		const char *name = tw_drop_name((enum tw_drop)d);
		uint64_t got = jnum(strstr(b_line, "\"drops\""), name), want = at.sent[d];
		uint64_t extra = d == TW_DROP_REPLAY ? dup_ab : 0;
		printf("B dropped %llu as %s: X sent %llu%s\n", (unsigned long long)got, name,
		       (unsigned long long)want,
		       d == TW_DROP_REPLAY ? " plus the relay's duplicates" : "");
		NSU_CHECK(got <= want + extra && got + lost >= want + (lost ? 0 : extra),
			  "B counted %llu %s drops, expected %llu (+%llu)", (unsigned long long)got,
			  name, (unsigned long long)want, (unsigned long long)extra);
	}
	NSU_CHECK(jnum(strstr(a_line, "\"drops\""), "replay") <= jnum(r_ba, "duplicated") &&
			  jnum(strstr(a_line, "\"drops\""), "auth") == 0,
		  "A dropped datagrams nobody forged");
	/* Nothing forged reached B's TUN: every datagram was opened or counted dropped. */
	{
		uint64_t dropped = 0;
		for (int d = 0; d < TW_DROP_COUNT; d++)
			dropped += jnum(strstr(b_line, "\"drops\""), tw_drop_name((enum tw_drop)d));
		NSU_CHECK(jnum(b_line, "rx_dgrams") ==
				  jnum(b_line, "rx_pkts") + dropped + jnum(b_line, "keepalives"),
			  "B: received datagrams do not add up to delivered + dropped");
	}
	NSU_CHECK(jnum(b_line, "peer_changes") == 1, "B's peer changed %llu times",
		  (unsigned long long)jnum(b_line, "peer_changes"));
	NSU_CHECK(jnum(b_line, "sessions") == 1 && jnum(a_line, "sessions") == 1,
		  "a session other than the peer's one was accepted");
	NSU_CHECK(jnum(strstr(b_line, "\"errors\""), "tun") == 0 &&
			  jnum(strstr(a_line, "\"errors\""), "tun") == 0,
		  "TUN writes failed");
	NSU_CHECK(jnum(strstr(b_line, "\"tun_write\""), "superpackets") > 0 &&
			  jnum(strstr(a_line, "\"tun_read\""), "superpackets") > 0,
		  "no superpackets on the tunnel's TUN path");
	nsu_sh("rm -rf %s", dir);
	return 0;
}

int main(void)
{
	return nsu_main("ktest_tunnel", test, 600);
}
