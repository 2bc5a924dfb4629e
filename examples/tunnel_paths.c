/* SPDX-License-Identifier: MIT */
/*
 * A tunnel's two data paths with tunbatch, and nothing else: no crypto, no
 * handshake, one queue. Each datagram carries an 8-byte header (a 2-byte
 * epoch and a 6-byte counter, standing in for an AEAD's header) and an IP
 * packet. tools/tunnel.c is the same loop with encryption, replay
 * protection, several queues and statistics.
 *
 *   receive: carrier receive -> "decrypt" in place -> commit with the
 *            sender's (epoch, counter) -> flush -> TUN writes
 *   send:    TUN read -> tb_segment -> "encrypt" into a carrier buffer ->
 *            carrier flush (UDP GSO)
 *
 * Usage (root): example_tunnel_paths TUN LOCAL_PORT PEER_IPV4 PEER_PORT,
 * then give TUN an address, a route and an MTU that leaves room for the 8-byte
 * header and UDP/IP (ip link set TUN mtu 1400 up). Stops on SIGINT.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <tunbatch.h>

#define HDR 8 /* epoch (2 bytes), counter (6 bytes) */

static struct tb_tun *tun;
static struct tb_carrier *carrier;
static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
	tb_tun_wake(tun);
	tb_carrier_wake(carrier);
}

/* Receive path: the plaintext is committed straight from the carrier's
 * receive slots, which stay valid until the next receive. */
static int receive_burst(struct tb_coalescer *co)
{
	struct tb_dgram *d;
	int n = tb_carrier_recv(carrier, 0, &d);

	for (int i = 0; i < n; i++) {
		const uint8_t *h = d[i].data;
		uint64_t epoch, counter = 0;

		if (d[i].len <= HDR)
			continue; /* a real tunnel counts this drop */
		epoch = (uint64_t)h[0] << 8 | h[1];
		for (int k = 2; k < HDR; k++)
			counter = counter << 8 | h[k];
		/* decrypt(d[i].data + HDR, d[i].len - HDR) in place would go here */
		tb_coalescer_commit_key(co, h + HDR, d[i].len - HDR, epoch, counter);
	}
	if (n > 0)
		tb_coalescer_flush(co); /* before the next receive reuses the slots */
	return n < 0 ? n : 0;
}

struct sender {
	const struct sockaddr *peer;
	socklen_t peer_len;
	uint64_t epoch, counter;
};

/* One packet cut from a superpacket: header, then the IP packet gathered
 * from its iovecs into a carrier buffer ("encrypting" is a copy here). */
static int send_segment(void *user, const struct iovec *iov, unsigned iovcnt)
{
	struct sender *s = user;
	size_t len = 0;
	uint8_t *buf, *at;

	for (unsigned i = 0; i < iovcnt; i++)
		len += iov[i].iov_len;
	buf = tb_carrier_reserve(carrier, HDR + len);
	if (!buf)
		return -errno;
	buf[0] = (uint8_t)(s->epoch >> 8);
	buf[1] = (uint8_t)s->epoch;
	for (int k = 0; k < 6; k++)
		buf[2 + k] = (uint8_t)(s->counter >> (40 - 8 * k));
	s->counter++;
	at = buf + HDR;
	for (unsigned i = 0; i < iovcnt; i++) {
		memcpy(at, iov[i].iov_base, iov[i].iov_len);
		at += iov[i].iov_len;
	}
	return tb_carrier_commit(carrier, buf, HDR + len, s->peer, s->peer_len);
}

/* Send path: superpackets from TUN leave as runs of equal datagrams, one
 * UDP_SEGMENT message each. */
static int send_burst(struct tb_tun_reader *r, struct sender *s)
{
	const struct tb_tun_pkt *p;
	int n = tb_tun_read(r, 0, &p);

	for (int i = 0; i < n; i++)
		tb_segment(&p[i].vnet, p[i].data, p[i].len, send_segment, s);
	if (n > 0)
		tb_carrier_flush(carrier);
	return n < 0 ? n : 0;
}

int main(int argc, char **argv)
{
	struct sockaddr_in local = {.sin_family = AF_INET}, peer = {.sin_family = AF_INET};
	struct tb_tun_opts topts = {0};
	struct tb_carrier_opts copts = {.bind = (struct sockaddr *)&local,
					.bind_len = sizeof(local)};
	struct sender s = {(struct sockaddr *)&peer, sizeof(peer), 1, 0};
	struct tb_arena *arena = NULL;
	struct tb_coalescer *co = NULL;
	struct tb_tun_reader *r = NULL;
	int err = 0;

	if (argc != 5 || inet_pton(AF_INET, argv[3], &peer.sin_addr) != 1) {
		fprintf(stderr, "usage: %s TUN LOCAL_PORT PEER_IPV4 PEER_PORT\n", argv[0]);
		return 2;
	}
	local.sin_port = htons((uint16_t)atoi(argv[2]));
	peer.sin_port = htons((uint16_t)atoi(argv[4]));
	topts.name = argv[1];
	tun = tb_tun_open(&topts, &err);
	carrier = tun ? tb_carrier_open(&copts, &err) : NULL;
	if (!tun || !carrier) {
		fprintf(stderr, "%s: %s\n", tun ? "carrier" : argv[1], strerror(-err));
		tb_tun_close(tun);
		return 1;
	}
	arena = tb_arena_create(0);
	co = arena ? tb_coalescer_create(tb_tun_writer(tun, 0), arena,
					 &(struct tb_coalescer_opts){.flags = TB_COALESCE_ORDER})
		   : NULL;
	r = tb_tun_reader_create(tun, 0, NULL);
	if (!co || !r) {
		fprintf(stderr, "out of memory\n");
		return 1;
	}
	signal(SIGINT, on_signal);
	/* One thread serves both directions as their fds become readable. */
	while (!stop && !err) {
		struct pollfd pfd[2] = {{tb_carrier_fd(carrier), POLLIN, 0},
					{tb_tun_fd(tun, 0), POLLIN, 0}};

		if (poll(pfd, 2, 200) < 0)
			continue; /* EINTR: stop is checked */
		if (pfd[0].revents)
			err = receive_burst(co);
		if (!err && pfd[1].revents)
			err = send_burst(r, &s);
	}
	tb_tun_reader_destroy(r);
	tb_coalescer_destroy(co);
	tb_arena_destroy(arena);
	tb_carrier_close(carrier);
	tb_tun_close(tun);
	return err && err != -ESHUTDOWN ? 1 : 0;
}
