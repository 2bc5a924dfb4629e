/* SPDX-License-Identifier: MIT */
/*
 * The TUN reader and writer on a SOCK_SEQPACKET socketpair standing in for
 * the device (message boundaries kept, no root needed): crafted virtio
 * headers are refused one by one with their reason while the good packets
 * around them are delivered intact; the packet cap, the buffer room, the
 * timeout, the wake eventfd and the end of the peer all behave; the writer
 * puts exactly [virtio header, headers, payload] on the wire and waits out
 * a full socket; attach refuses what it can't use and says why.
 */
#define _GNU_SOURCE
#include "testutil.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

struct pair {
	int sv[2]; /* sv[0]: the "device" fd handed to tunbatch; sv[1]: the kernel's side */
	struct tb_tun *t;
};

static void pair_open(struct pair *p, int vnet)
{
	struct tb_tun_opts o = {.no_vnet_hdr = !vnet};
	int err = 1;

	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, p->sv), 0);
	p->t = tb_tun_attach(p->sv[0], &o);
	err = p->t ? 0 : -errno;
	assert_non_null(p->t);
	assert_int_equal(err, 0);
	assert_int_equal(tb_tun_vnet(p->t), vnet);
	assert_string_equal(tb_tun_name(p->t), "");
	assert_int_equal(tb_tun_fd(p->t, 0), p->sv[0]);
	assert_true(fcntl(p->sv[0], F_GETFL) & O_NONBLOCK);
}

static void pair_close(struct pair *p)
{
	tb_tun_close(p->t);
	/* Attached: the fd stays the caller's. */
	assert_int_not_equal(fcntl(p->sv[0], F_GETFD), -1);
	close(p->sv[0]);
	if (p->sv[1] >= 0)
		close(p->sv[1]);
}

/* What "the kernel" sends: a virtio header and a packet in one message. */
static void kernel_send(struct pair *p, const struct tb_vnet_hdr *vh, const uint8_t *pkt,
			size_t len)
{
	uint8_t raw[TB_VNET_HDR_LEN];
	struct iovec iov[2] = {{raw, sizeof(raw)}, {(void *)pkt, len}};

	tb_vnet_encode(vh, raw);
	assert_int_equal(writev(p->sv[1], iov, 2), (ssize_t)(sizeof(raw) + len));
}

static size_t build(const struct tu_spec *s, uint8_t *buf, size_t cap)
{
	size_t n = tu_build(s, buf, cap);

	assert_true(n > 0);
	return n;
}

/* A TCPv4 superpacket: 3 segments of 1000 bytes behind one header. */
static size_t tcp_super(uint8_t *buf, size_t cap, struct tb_vnet_hdr *vh, int v6)
{
	struct tu_spec s = v6 ? tu_tcp6() : tu_tcp4();
	size_t n;

	s.len = 3000;
	n = build(&s, buf, cap);
	memset(vh, 0, sizeof(*vh));
	vh->flags = TB_VNET_F_NEEDS_CSUM;
	vh->gso_type = v6 ? TB_GSO_TCPV6 : TB_GSO_TCPV4;
	vh->gso_size = 1000;
	vh->hdr_len = 7; /* the kernel's word is not trusted: recomputed */
	vh->csum_start = v6 ? 40 : 20;
	vh->csum_offset = 16;
	return n;
}

static void test_bad_headers(void **state)
{
	struct pair p;
	struct tb_tun_reader *r;
	const struct tb_tun_pkt *pk;
	struct tb_tun_reader_stats st;
	uint8_t tcp4[4096], tcp6[4096], udp4[2048], plain[2048], frag[2048], bare[128];
	size_t ltcp4, ltcp6, ludp4, lplain, lfrag, lbare;
	struct tb_vnet_hdr good4, good6, zero = {0}, v;
	struct tu_spec s;
	uint64_t want[TB_VNET_E_COUNT] = {0};
	unsigned nbad = 0;
	(void)state;

	pair_open(&p, 1);
	r = tb_tun_reader_create(p.t, 0, NULL);
	assert_non_null(r);

	ltcp4 = tcp_super(tcp4, sizeof(tcp4), &good4, 0);
	ltcp6 = tcp_super(tcp6, sizeof(tcp6), &good6, 1);
	s = tu_udp4();
	s.len = 900;
	ludp4 = build(&s, udp4, sizeof(udp4));
	s = tu_icmp4();
	lplain = build(&s, plain, sizeof(plain));
	s = tu_tcp4();
	s.frag = 0x2000; /* MF */
	s.len = 2000;
	lfrag = build(&s, frag, sizeof(frag));
	s = tu_tcp4();
	s.len = 0;
	lbare = build(&s, bare, sizeof(bare));

#define BAD(reason, hdr, pkt, len)                                                                 \
	do {                                                                                       \
		kernel_send(&p, &(hdr), pkt, len);                                                 \
		want[reason]++;                                                                    \
		nbad++;                                                                            \
	} while (0)

	/* Good and bad alternate: every refusal must leave the next packet alone. */
	kernel_send(&p, &good4, tcp4, ltcp4); /* delivered 0 */
	v = zero;
	v.flags = 0x04;
	BAD(TB_VNET_E_FLAGS, v, plain, lplain);
	kernel_send(&p, &zero, plain, lplain); /* delivered 1 */
	v = good4;
	v.gso_type = 2;
	BAD(TB_VNET_E_GSO_TYPE, v, tcp4, ltcp4);
	v = zero;
	v.gso_type = TB_GSO_UDP_L4 | TB_GSO_ECN;
	v.gso_size = 300;
	BAD(TB_VNET_E_ECN, v, udp4, ludp4);
	v = good4;
	v.gso_size = 0;
	BAD(TB_VNET_E_GSO_SIZE, v, tcp4, ltcp4);
	kernel_send(&p, &good6, tcp6, ltcp6); /* delivered 2 */
	v = good4;
	v.csum_start = (uint16_t)ltcp4;
	BAD(TB_VNET_E_CSUM_START, v, tcp4, ltcp4);
	v = zero;
	v.flags = TB_VNET_F_NEEDS_CSUM;
	v.csum_start = 20;
	v.csum_offset = (uint16_t)(ltcp4 - 20 - 1);
	BAD(TB_VNET_E_CSUM_OFFSET, v, tcp4, ltcp4);
	v = good4;
	BAD(TB_VNET_E_GSO_IP, v, tcp6, ltcp6);
	v = good4;
	BAD(TB_VNET_E_GSO_PROTO, v, udp4, ludp4);
	v = good4;
	BAD(TB_VNET_E_IP_LEN, v, tcp4, ltcp4 - 1);
	v = good4;
	BAD(TB_VNET_E_IP_FRAG, v, frag, lfrag);
	v = good4;
	BAD(TB_VNET_E_GSO_EMPTY, v, bare, lbare);
	v = good4;
	v.csum_offset = 6;
	BAD(TB_VNET_E_CSUM_L4, v, tcp4, ltcp4);
	{
		uint8_t notip[64];
		memcpy(notip, tcp4, sizeof(notip));
		notip[0] = 0x55;
		v = good4;
		v.flags = 0;
		BAD(TB_VNET_E_IP_VERSION, v, notip, sizeof(notip));
	}
	/* Shorter than a virtio header: not even decoded. */
	assert_int_equal(write(p.sv[1], "abcde", 5), 5);
	nbad++;
	v = zero;
	v.flags = TB_VNET_F_NEEDS_CSUM;
	v.csum_start = 20;
	v.csum_offset = 6;
	kernel_send(&p, &v, udp4, ludp4); /* delivered 3 */
#undef BAD

	assert_int_equal(tb_tun_read(r, 1000, &pk), 4);
	assert_int_equal(pk[0].len, ltcp4);
	assert_memory_equal(pk[0].data, tcp4, ltcp4);
	assert_int_equal(pk[0].vnet.gso_type, TB_GSO_TCPV4);
	assert_int_equal(pk[0].vnet.gso_size, 1000);
	assert_int_equal(pk[0].vnet.hdr_len, 40); /* from the real headers, not 7 */
	assert_int_equal(pk[1].len, lplain);
	assert_memory_equal(pk[1].data, plain, lplain);
	assert_int_equal(pk[1].vnet.gso_type, TB_GSO_NONE);
	assert_int_equal(pk[2].len, ltcp6);
	assert_memory_equal(pk[2].data, tcp6, ltcp6);
	assert_int_equal(pk[2].vnet.hdr_len, 60);
	assert_int_equal(pk[3].len, ludp4);
	assert_memory_equal(pk[3].data, udp4, ludp4);
	assert_int_equal(pk[3].vnet.flags, TB_VNET_F_NEEDS_CSUM);
	for (int i = 0; i < 4; i++)
		assert_int_equal((uintptr_t)pk[i].data % 16, 0);

	tb_tun_reader_stats(r, &st);
	for (int e = 0; e < TB_VNET_E_COUNT; e++) {
		if (st.bad[e] != want[e])
			fail_msg("reason %s: counted %llu, expected %llu", tb_vnet_err_name(e),
				 (unsigned long long)st.bad[e], (unsigned long long)want[e]);
	}
	assert_int_equal(st.short_reads, 1);
	assert_int_equal(st.dropped, nbad);
	assert_int_equal(st.reads, nbad + 4);
	assert_int_equal(st.pkts, 4);
	assert_int_equal(st.bytes, ltcp4 + lplain + ltcp6 + ludp4);
	assert_int_equal(st.superpackets, 2);
	assert_int_equal(st.segments, 6);
	assert_int_equal(st.csum_partial, 3);
	assert_int_equal(st.errors, 0);

	/* Nothing more: the timeout. */
	assert_int_equal(tb_tun_read(r, 10, &pk), 0);
	tb_tun_reader_destroy(r);
	pair_close(&p);
}

/* Every header the validator refuses is refused by the reader too, whatever
 * the bytes: random headers on real packets never crash it nor deliver a
 * header tb_vnet_validate would refuse. */
static void test_random_headers(void **state)
{
	struct pair p;
	struct tb_tun_reader *r;
	const struct tb_tun_pkt *pk;
	struct tb_tun_reader_stats st;
	uint8_t pkt[4096];
	uint64_t seed = 42, sent_good = 0, got = 0;
	(void)state;

	pair_open(&p, 1);
	r = tb_tun_reader_create(p.t, 0, &(struct tb_tun_reader_opts){.max_pkts = 16});
	assert_non_null(r);
	for (int round = 0; round < 200; round++) {
		for (int k = 0; k < 8; k++) {
			struct tb_vnet_hdr vh, chk;
			struct tu_spec s = (seed & 1) ? tu_tcp6() : tu_udp4();
			size_t len;
			uint8_t raw[TB_VNET_HDR_LEN];

			seed = seed * 6364136223846793005ull + 1442695040888963407ull;
			s.len = (uint32_t)(seed >> 40) % 3000;
			len = build(&s, pkt, sizeof(pkt));
			for (int i = 0; i < TB_VNET_HDR_LEN; i++) {
				seed = seed * 6364136223846793005ull + 1442695040888963407ull;
				raw[i] = (uint8_t)(seed >> 56);
			}
			if (seed & 0x100) /* often a plausible type and flags */
				raw[1] &= 0x85;
			if (seed & 0x200)
				raw[0] &= 1;
			tb_vnet_decode(raw, &vh);
			chk = vh;
			sent_good += tb_vnet_validate(&chk, pkt, len) == TB_VNET_OK;
			len -= (seed >> 20) % 3 == 0 ? (seed >> 24) % (len + 1) : 0; /* cut */
			kernel_send(&p, &vh, pkt, len);
		}
		int n = tb_tun_read(r, 1000, &pk);
		assert_true(n >= 0);
		for (int i = 0; i < n; i++) {
			struct tb_vnet_hdr chk = pk[i].vnet;
			assert_int_equal(tb_vnet_validate(&chk, pk[i].data, pk[i].len), TB_VNET_OK);
		}
		got += (uint64_t)n;
	}
	tb_tun_reader_stats(r, &st);
	assert_int_equal(st.reads, 200 * 8);
	assert_int_equal(st.pkts + st.dropped, st.reads);
	assert_int_equal(st.pkts, got);
	assert_true(got > 0 && st.dropped > 0);
	(void)sent_good;
	tb_tun_reader_destroy(r);
	pair_close(&p);
}

static void test_caps_room_wake_eof(void **state)
{
	struct pair p;
	struct tb_tun_reader *r;
	const struct tb_tun_pkt *pk;
	struct tb_vnet_hdr zero = {0};
	uint8_t pkt[2048];
	struct tu_spec s = tu_udp4();
	size_t len;
	(void)state;

	s.len = 500;
	len = build(&s, pkt, sizeof(pkt));
	pair_open(&p, 1);

	/* The packet cap. */
	r = tb_tun_reader_create(p.t, 0, &(struct tb_tun_reader_opts){.max_pkts = 4});
	assert_non_null(r);
	for (int i = 0; i < 10; i++)
		kernel_send(&p, &zero, pkt, len);
	assert_int_equal(tb_tun_read(r, 1000, &pk), 4);
	assert_int_equal(tb_tun_read(r, 1000, &pk), 4);
	assert_int_equal(tb_tun_read(r, 1000, &pk), 2);
	assert_int_equal(tb_tun_read(r, 0, &pk), 0);
	tb_tun_reader_destroy(r);

	/* The smallest buffer has room for one 64 KiB packet per read. */
	r = tb_tun_reader_create(p.t, 0, &(struct tb_tun_reader_opts){.buf_size = 1});
	assert_non_null(r);
	for (int i = 0; i < 3; i++)
		kernel_send(&p, &zero, pkt, len);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(tb_tun_read(r, 1000, &pk), 1);
		assert_memory_equal(pk[0].data, pkt, len);
	}

	/* Woken: now and every time after, even with packets queued. */
	kernel_send(&p, &zero, pkt, len);
	tb_tun_wake(p.t);
	assert_int_equal(tb_tun_read(r, -1, &pk), -ESHUTDOWN);
	assert_int_equal(tb_tun_read(r, -1, &pk), -ESHUTDOWN);
	tb_tun_reader_destroy(r);
	tb_tun_close(p.t);

	/* The peer gone: the end, not a busy loop. */
	p.t = tb_tun_attach(p.sv[0], NULL);
	assert_non_null(p.t);
	r = tb_tun_reader_create(p.t, 0, NULL);
	assert_non_null(r);
	assert_int_equal(tb_tun_read(r, 1000, &pk), 1); /* the one left queued */
	close(p.sv[1]);
	p.sv[1] = -1;
	assert_int_equal(tb_tun_read(r, 1000, &pk), -EPIPE);
	assert_null(tb_tun_reader_create(p.t, 1, NULL));
	tb_tun_reader_destroy(r);
	pair_close(&p);
}

static void test_plain_reader(void **state)
{
	struct pair p;
	struct tb_tun_reader *r;
	const struct tb_tun_pkt *pk;
	uint8_t pkt[2048];
	struct tu_spec s = tu_tcp6();
	size_t len;
	(void)state;

	s.len = 1200;
	len = build(&s, pkt, sizeof(pkt));
	pair_open(&p, 0);
	assert_int_equal(tb_tun_caps(p.t), 0);
	assert_int_equal(tb_tun_offloads(p.t), 0);
	r = tb_tun_reader_create(p.t, 0, NULL);
	assert_non_null(r);
	assert_int_equal(write(p.sv[1], pkt, len), (ssize_t)len);
	assert_int_equal(tb_tun_read(r, 1000, &pk), 1);
	assert_int_equal(pk[0].len, len);
	assert_memory_equal(pk[0].data, pkt, len);
	assert_int_equal(pk[0].vnet.gso_type, 0);
	assert_int_equal(pk[0].vnet.flags, 0);
	tb_tun_reader_destroy(r);
	pair_close(&p);
}

/* ------------------------------------------------------------------------ */
/* Writer                                                                   */
/* ------------------------------------------------------------------------ */

static ssize_t kernel_recv(struct pair *p, uint8_t *buf, size_t cap)
{
	return recv(p->sv[1], buf, cap, MSG_DONTWAIT);
}

static void test_writer_wire_format(void **state)
{
	struct pair p;
	struct tb_writer *w;
	uint8_t hdr[40], pay[3][700], got[4096], want[4096];
	struct iovec iov[3];
	struct tb_superpacket sp;
	uint8_t pkt[100];
	size_t off = 0;
	(void)state;

	pair_open(&p, 1);
	assert_int_equal(tb_tun_caps(p.t), TB_CAP_TSO | TB_CAP_USO);
	assert_int_equal(tb_tun_offloads(p.t), TB_TUN_ALL);
	w = tb_tun_writer(p.t, 0);
	assert_non_null(w);
	assert_int_equal(w->caps, TB_CAP_TSO | TB_CAP_USO);
	assert_null(tb_tun_writer(p.t, 1));

	/* A plain packet: ten zero bytes, then the packet. */
	for (size_t i = 0; i < sizeof(pkt); i++)
		pkt[i] = (uint8_t)(i * 3);
	assert_int_equal(w->write(w, pkt, sizeof(pkt)), 0);
	assert_int_equal(kernel_recv(&p, got, sizeof(got)), TB_VNET_HDR_LEN + sizeof(pkt));
	memset(want, 0, TB_VNET_HDR_LEN);
	assert_memory_equal(got, want, TB_VNET_HDR_LEN);
	assert_memory_equal(got + TB_VNET_HDR_LEN, pkt, sizeof(pkt));

	/* A superpacket: the encoded header, the headers, the payload in order. */
	memset(&sp, 0, sizeof(sp));
	for (size_t i = 0; i < sizeof(hdr); i++)
		hdr[i] = (uint8_t)(0xa0 + i);
	for (int k = 0; k < 3; k++) {
		memset(pay[k], 'a' + k, sizeof(pay[k]));
		iov[k] = (struct iovec){pay[k], k == 2 ? 300 : 700};
	}
	sp.vnet = (struct tb_vnet_hdr){.flags = TB_VNET_F_NEEDS_CSUM,
				       .gso_type = TB_GSO_TCPV4,
				       .hdr_len = 40,
				       .gso_size = 700,
				       .csum_start = 20,
				       .csum_offset = 16};
	sp.hdr = hdr;
	sp.payload = iov;
	sp.n_payload = 3;
	sp.len = 40 + 700 + 700 + 300;
	assert_int_equal(w->write_gso(w, &sp), 0);
	tb_vnet_encode(&sp.vnet, want);
	off = TB_VNET_HDR_LEN;
	memcpy(want + off, hdr, 40);
	off += 40;
	for (int k = 0; k < 3; k++) {
		memcpy(want + off, pay[k], iov[k].iov_len);
		off += iov[k].iov_len;
	}
	assert_int_equal(kernel_recv(&p, got, sizeof(got)), (ssize_t)off);
	assert_memory_equal(got, want, off);

	/* A superpacket whose length does not add up is not sent. */
	sp.len++;
	assert_int_equal(w->write_gso(w, &sp), -EINVAL);
	assert_true(kernel_recv(&p, got, sizeof(got)) < 0);
	pair_close(&p);

	/* Without virtio headers: the bare packet, and no superpackets. */
	pair_open(&p, 0);
	w = tb_tun_writer(p.t, 0);
	assert_int_equal(w->caps, 0);
	assert_int_equal(w->write(w, pkt, sizeof(pkt)), 0);
	assert_int_equal(kernel_recv(&p, got, sizeof(got)), sizeof(pkt));
	assert_memory_equal(got, pkt, sizeof(pkt));
	sp.len--;
	assert_int_equal(w->write_gso(w, &sp), -EOPNOTSUPP);
	pair_close(&p);
}

struct drainer {
	struct pair *p;
	unsigned want, got, bad;
	size_t len;
};

static void *drain_later(void *arg)
{
	struct drainer *d = arg;
	uint8_t buf[70000];

	usleep(50 * 1000); /* let the writer hit a full socket first */
	while (d->got < d->want) {
		ssize_t n = recv(d->p->sv[1], buf, sizeof(buf), 0);
		if (n <= 0)
			break;
		uint32_t idx;
		memcpy(&idx, buf + TB_VNET_HDR_LEN, 4);
		if ((size_t)n != TB_VNET_HDR_LEN + d->len || idx != d->got)
			d->bad++;
		d->got++;
	}
	return NULL;
}

static void test_writer_full_socket(void **state)
{
	struct pair p;
	struct tb_writer *w;
	struct drainer d = {.p = &p, .want = 2000, .len = 1400};
	uint8_t pkt[1400];
	pthread_t th;
	int small = 4096;
	(void)state;

	pair_open(&p, 1);
	setsockopt(p.sv[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof(small));
	w = tb_tun_writer(p.t, 0);
	memset(pkt, 0x5a, sizeof(pkt));
	assert_int_equal(pthread_create(&th, NULL, drain_later, &d), 0);
	/* Far more than the socket holds: EAGAIN is waited out, in order. */
	for (uint32_t i = 0; i < d.want; i++) {
		memcpy(pkt, &i, 4);
		assert_int_equal(w->write(w, pkt, sizeof(pkt)), 0);
	}
	pthread_join(th, NULL);
	assert_int_equal(d.got, d.want);
	assert_int_equal(d.bad, 0);

	/* Blocked on a full socket nobody drains: the wake ends the wait. */
	int rc;
	unsigned sent = 0;
	tb_tun_wake(p.t);
	while ((rc = w->write(w, pkt, sizeof(pkt))) == 0)
		sent++;
	assert_int_equal(rc, -ESHUTDOWN);
	assert_true(sent > 0);
	pair_close(&p);
}

static void test_open_errors(void **state)
{
	char longname[64];
	(void)state;

	memset(longname, 'x', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = 0;
	assert_null(tb_tun_open(&(struct tb_tun_opts){.name = longname}));
	assert_int_equal(errno, EINVAL);
	assert_null(tb_tun_open(&(struct tb_tun_opts){.queues = TB_TUN_MAX_QUEUES + 1}));
	assert_int_equal(errno, EINVAL);
	assert_null(tb_tun_attach(-1, NULL));
	assert_int_equal(errno, EBADF);
	tb_tun_close(NULL);
	tb_tun_reader_destroy(NULL);
}

/* Offloads asked of a non-TUN fd are taken as given, minus what the kernel
 * could never accept: segmentation without checksum offload. */
static void test_attach_offloads(void **state)
{
	int sv[2];
	struct tb_tun *t;
	(void)state;

	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
	t = tb_tun_attach(
		sv[0], &(struct tb_tun_opts){.offloads = TB_TUN_CSUM | TB_TUN_TSO4 | TB_TUN_TSO6});
	assert_int_equal(tb_tun_caps(t), TB_CAP_TSO);
	tb_tun_close(t);
	t = tb_tun_attach(sv[0], &(struct tb_tun_opts){.offloads = TB_TUN_TSO4 | TB_TUN_TSO6});
	assert_int_equal(tb_tun_offloads(t), 0);
	assert_int_equal(tb_tun_caps(t), 0);
	tb_tun_close(t);
	t = tb_tun_attach(sv[0], &(struct tb_tun_opts){.offloads = TB_TUN_ALL & ~TB_TUN_USO6});
	assert_int_equal(tb_tun_caps(t), TB_CAP_TSO);
	tb_tun_close(t);
	close(sv[0]);
	close(sv[1]);
}

/* The wake eventfd can't be made, no fd being left: attach says why
 * (EMFILE), not ENOMEM. */
static void test_attach_no_fd_left(void **state)
{
	struct rlimit old, low;
	struct tb_tun *t;
	int sv[2], lowest, e;
	(void)state;

	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
	lowest = dup(sv[0]); /* every fd below it is taken */
	assert_true(lowest >= 0);
	close(lowest);
	assert_int_equal(getrlimit(RLIMIT_NOFILE, &old), 0);
	low = old;
	low.rlim_cur = (rlim_t)lowest;
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &low), 0);
	errno = 0;
	t = tb_tun_attach(sv[0], NULL);
	e = errno;
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &old), 0);
	assert_null(t);
	assert_int_equal(e, EMFILE);
	close(sv[0]);
	close(sv[1]);
}

/* A /dev/net/tun fd that never had TUNSETIFF is no device (TUNGETIFF says
 * EBADFD): refused, not taken for a socket. Opening it needs no privilege
 * on most systems; where it fails there is nothing to check. */
static void test_attach_unbound_tun(void **state)
{
	int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
	(void)state;

	if (fd < 0)
		skip();
	errno = 0;
	assert_null(tb_tun_attach(fd, NULL));
	assert_int_equal(errno, EBADFD);
	close(fd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bad_headers),
		cmocka_unit_test(test_random_headers),
		cmocka_unit_test(test_caps_room_wake_eof),
		cmocka_unit_test(test_plain_reader),
		cmocka_unit_test(test_writer_wire_format),
		cmocka_unit_test(test_writer_full_socket),
		cmocka_unit_test(test_open_errors),
		cmocka_unit_test(test_attach_offloads),
		cmocka_unit_test(test_attach_no_fd_left),
		cmocka_unit_test(test_attach_unbound_tun),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
