/* SPDX-License-Identifier: MIT */
/*
 * The tunnel's datagrams: round trips with every cipher, the key derivation,
 * and every way a datagram is dropped (wrong key, tampered header or body,
 * truncated, unknown version, replay, window edges, older session).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "tunnel_wire.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#define MAXPKT 2048

static const uint8_t psk[TW_KEY_LEN] = {1,  2,	3,  4,	5,  6,	7,  8,	9,  10, 11,
					12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22,
					23, 24, 25, 26, 27, 28, 29, 30, 31, 32};
static const enum tw_cipher ciphers[] = {TW_AES_256_GCM, TW_CHACHA20_POLY1305, TW_NONE};

struct pair {
	struct tw_sender s;
	struct tw_receiver r;
};

static void pair_init(struct pair *p, enum tw_cipher c, uint64_t epoch)
{
	assert_int_equal(tw_sender_init(&p->s, c, psk, epoch), 0);
	assert_int_equal(tw_receiver_init(&p->r, c, psk), 0);
}

static void pair_free(struct pair *p)
{
	tw_sender_free(&p->s);
	tw_receiver_free(&p->r);
}

static void fill(uint8_t *b, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++)
		b[i] = (uint8_t)(i * 31 + seed);
}

/* Seals n bytes of pattern seed, given as two iovecs, and returns the length. */
static size_t seal(struct tw_sender *s, uint8_t *out, size_t n, unsigned seed)
{
	uint8_t pt[MAXPKT];
	struct iovec iov[2] = {{pt, n / 3}, {pt + n / 3, n - n / 3}};
	long len;

	fill(pt, n, seed);
	len = tw_seal(s, iov, 2, out, MAXPKT + 64);
	assert_int_equal(len, (long)(n + tw_overhead(s->cipher)));
	return (size_t)len;
}

static void expect_open(struct tw_receiver *r, uint8_t *d, size_t len, size_t n, unsigned seed,
			uint64_t counter)
{
	uint8_t pt[MAXPKT];
	struct tw_opened o;

	assert_int_equal(tw_open(r, d, len, &o), -1);
	assert_int_equal(o.len, n);
	assert_ptr_equal(o.data, d + TW_HDR_LEN);
	assert_int_equal(o.counter, counter);
	fill(pt, n, seed);
	assert_memory_equal(o.data, pt, n);
}

static void expect_drop(struct tw_receiver *r, uint8_t *d, size_t len, enum tw_drop why)
{
	uint64_t before = r->drops[why], accepted = r->accepted;
	struct tw_opened o;

	assert_int_equal(tw_open(r, d, len, &o), (int)why);
	assert_int_equal(r->drops[why], before + 1);
	assert_int_equal(r->accepted, accepted);
}

static void test_round_trip(void **state)
{
	(void)state;
	for (unsigned c = 0; c < 3; c++) {
		struct pair p;
		uint8_t d[MAXPKT + 64];
		pair_init(&p, ciphers[c], 1000);
		for (unsigned i = 0; i < 50; i++) {
			size_t n = i == 0 ? 0 : (i * 37) % 1500 + 1;
			size_t len = seal(&p.s, d, n, i);
			assert_int_equal(d[0], TW_VERSION);
			if (ciphers[c] != TW_NONE && n > 8) {
				uint8_t pt[MAXPKT];
				fill(pt, n, i);
				/* Encrypted: the plaintext is not there. */
				assert_memory_not_equal(d + TW_HDR_LEN, pt, n);
			}
			expect_open(&p.r, d, len, n, i, i);
		}
		assert_int_equal(p.r.accepted, 50);
		assert_int_equal(p.r.sessions, 1);
		pair_free(&p);
	}
}

static void test_seal_errors(void **state)
{
	struct pair p;
	uint8_t d[MAXPKT + 64], pt[100] = {0};
	struct iovec iov = {pt, sizeof(pt)};

	(void)state;
	pair_init(&p, TW_AES_256_GCM, 7);
	assert_int_equal(tw_seal(&p.s, &iov, 1, d, sizeof(pt) + 31), -ENOBUFS);
	assert_int_equal(tw_seal(&p.s, &iov, 1, d, sizeof(pt) + 32), (long)sizeof(pt) + 32);
	p.s.counter = TW_COUNTER_MAX + 1;
	assert_int_equal(tw_seal(&p.s, &iov, 1, d, sizeof(d)), -EOVERFLOW);
	pair_free(&p);
}

static void test_derive(void **state)
{
	uint8_t a[TW_KEY_LEN], b[TW_KEY_LEN], c[TW_KEY_LEN], other[TW_KEY_LEN];

	(void)state;
	memcpy(other, psk, TW_KEY_LEN);
	other[0] ^= 1;
	assert_int_equal(tw_derive(psk, 5, TW_AES_256_GCM, a), 0);
	assert_int_equal(tw_derive(psk, 5, TW_AES_256_GCM, b), 0);
	assert_memory_equal(a, b, TW_KEY_LEN);
	assert_int_equal(tw_derive(psk, 6, TW_AES_256_GCM, b), 0);
	assert_memory_not_equal(a, b, TW_KEY_LEN);
	assert_int_equal(tw_derive(psk, 5, TW_CHACHA20_POLY1305, c), 0);
	assert_memory_not_equal(a, c, TW_KEY_LEN);
	assert_int_equal(tw_derive(other, 5, TW_AES_256_GCM, c), 0);
	assert_memory_not_equal(a, c, TW_KEY_LEN);
}

/* Two sessions never share a key stream: the same plaintext and counter
 * under two epochs give different ciphertexts. */
static void test_epochs_differ(void **state)
{
	struct tw_sender s1, s2;
	uint8_t d1[MAXPKT + 64], d2[MAXPKT + 64];

	(void)state;
	assert_int_equal(tw_sender_init(&s1, TW_AES_256_GCM, psk, 100), 0);
	assert_int_equal(tw_sender_init(&s2, TW_AES_256_GCM, psk, 101), 0);
	seal(&s1, d1, 200, 1);
	seal(&s2, d2, 200, 1);
	assert_memory_not_equal(d1 + TW_HDR_LEN, d2 + TW_HDR_LEN, 200);
	tw_sender_free(&s1);
	tw_sender_free(&s2);
	assert_int_not_equal(tw_new_epoch(0), tw_new_epoch(0));
	assert_int_equal(tw_new_epoch(3) & 0xff, 3);
	assert_true(tw_new_epoch(0) > (1ull << 60)); /* nanoseconds since 1970 */
}

static void test_wrong_key(void **state)
{
	(void)state;
	for (unsigned c = 0; c < 2; c++) {
		uint8_t other[TW_KEY_LEN], d[MAXPKT + 64];
		struct tw_sender s;
		struct pair p;
		memcpy(other, psk, TW_KEY_LEN);
		other[31] ^= 0x80;
		pair_init(&p, ciphers[c], 9);
		assert_int_equal(tw_sender_init(&s, ciphers[c], other, 9), 0);
		expect_drop(&p.r, d, seal(&s, d, 300, 1), TW_DROP_AUTH);
		/* Under the other cipher, with the right key. */
		tw_sender_free(&s);
		assert_int_equal(tw_sender_init(&s, ciphers[1 - c], psk, 9), 0);
		expect_drop(&p.r, d, seal(&s, d, 300, 1), TW_DROP_AUTH);
		/* Nothing was accepted: no session either. */
		assert_int_equal(p.r.have_session, 0);
		expect_open(&p.r, d, seal(&p.s, d, 300, 2), 300, 2, 0);
		tw_sender_free(&s);
		pair_free(&p);
	}
}

/* Every bit of the header and of the body is covered by the tag. */
static void test_tampered(void **state)
{
	struct pair p;
	uint8_t d[MAXPKT + 64], copy[MAXPKT + 64];
	size_t len;

	(void)state;
	pair_init(&p, TW_CHACHA20_POLY1305, 1ull << 40);
	len = seal(&p.s, d, 64, 3);
	for (size_t i = 0; i < len; i++) {
		for (unsigned bit = 0; bit < 8; bit += 3) {
			memcpy(copy, d, len);
			copy[i] ^= (uint8_t)(1u << bit);
			struct tw_opened o;
			int rc = tw_open(&p.r, copy, len, &o);
			/* No session yet: a changed epoch is tried as a new one. */
			if (i == 0)
				assert_int_equal(rc, TW_DROP_VERSION);
			else
				assert_int_equal(rc, TW_DROP_AUTH);
		}
	}
	assert_int_equal(p.r.accepted, 0);
	expect_open(&p.r, d, len, 64, 3, 0);
	pair_free(&p);
}

static void test_truncated(void **state)
{
	(void)state;
	for (unsigned c = 0; c < 3; c++) {
		struct pair p;
		uint8_t d[MAXPKT + 64];
		size_t len, min = tw_overhead(ciphers[c]);
		pair_init(&p, ciphers[c], 77);
		len = seal(&p.s, d, 100, 4);
		for (size_t cut = 0; cut < min; cut++)
			expect_drop(&p.r, d, cut, TW_DROP_SHORT);
		/* A failed open may leave the bytes decrypted: each try gets a copy. */
		if (ciphers[c] != TW_NONE)
			for (size_t cut = min; cut < len; cut += 7) {
				uint8_t copy[MAXPKT + 64];
				memcpy(copy, d, cut);
				expect_drop(&p.r, copy, cut, TW_DROP_AUTH);
			}
		expect_open(&p.r, d, len, 100, 4, 0);
		pair_free(&p);
	}
}

/* Seals counter c of the session (with its content c) into d. */
static size_t seal_at(struct tw_sender *s, uint8_t *d, uint64_t c)
{
	s->counter = c;
	return seal(s, d, 40, (unsigned)c);
}

static void accept_at(struct pair *p, uint64_t c)
{
	uint8_t d[MAXPKT + 64];
	expect_open(&p->r, d, seal_at(&p->s, d, c), 40, (unsigned)c, c);
}

static void reject_at(struct pair *p, uint64_t c, enum tw_drop why)
{
	uint8_t d[MAXPKT + 64];
	expect_drop(&p->r, d, seal_at(&p->s, d, c), why);
}

static void test_replay(void **state)
{
	(void)state;
	for (unsigned c = 0; c < 3; c++) {
		struct pair p;
		uint8_t d[MAXPKT + 64], copy[MAXPKT + 64];
		size_t len;
		pair_init(&p, ciphers[c], 5);
		len = seal(&p.s, d, 500, 9);
		memcpy(copy, d, len);
		expect_open(&p.r, d, len, 500, 9, 0);
		expect_drop(&p.r, copy, len, TW_DROP_REPLAY);
		/* Out of order but new: accepted once each. */
		accept_at(&p, 10);
		accept_at(&p, 3);
		reject_at(&p, 3, TW_DROP_REPLAY);
		reject_at(&p, 10, TW_DROP_REPLAY);
		accept_at(&p, 9);
		pair_free(&p);
	}
}

static void test_window_edges(void **state)
{
	struct pair p;
	const uint64_t h = 100000;

	(void)state;
	pair_init(&p, TW_AES_256_GCM, 5);
	accept_at(&p, h);
	/* The oldest counter still inside the window, and the first outside it. */
	accept_at(&p, h - (TW_WINDOW - 1));
	reject_at(&p, h - TW_WINDOW, TW_DROP_REPLAY);
	reject_at(&p, h - (TW_WINDOW - 1), TW_DROP_REPLAY);
	/* Every counter of the window once, in reverse. */
	for (uint64_t c = h - 1; c > h - (TW_WINDOW - 1); c--)
		accept_at(&p, c);
	for (uint64_t c = h - (TW_WINDOW - 1); c <= h; c += 97)
		reject_at(&p, c, TW_DROP_REPLAY);
	/* A jump by less than the window keeps the overlap marked... */
	accept_at(&p, h + 100);
	reject_at(&p, h, TW_DROP_REPLAY);
	reject_at(&p, h + 100 - (TW_WINDOW - 1), TW_DROP_REPLAY);
	accept_at(&p, h + 50);
	/* ...and one by more than the ring clears everything behind it. */
	accept_at(&p, h + 100 + 3 * TW_WINDOW);
	accept_at(&p, h + 100 + 2 * TW_WINDOW + 1);
	reject_at(&p, h + 100 + 2 * TW_WINDOW, TW_DROP_REPLAY);
	/* The last counter a session may use. */
	accept_at(&p, TW_COUNTER_MAX);
	reject_at(&p, TW_COUNTER_MAX, TW_DROP_REPLAY);
	pair_free(&p);
}

static void test_epochs(void **state)
{
	struct pair p, newer;
	uint8_t d[MAXPKT + 64], old[MAXPKT + 64];
	size_t old_len;

	(void)state;
	pair_init(&p, TW_AES_256_GCM, 1000);
	assert_int_equal(tw_sender_init(&newer.s, TW_AES_256_GCM, psk, 2000), 0);
	accept_at(&p, 0);
	accept_at(&p, 1);
	old_len = seal_at(&p.s, old, 2);
	/* The peer restarted: its new session is accepted from its first datagram. */
	struct tw_opened o;
	size_t len = seal(&newer.s, d, 40, 7);
	assert_int_equal(tw_open(&p.r, d, len, &o), -1);
	assert_true(o.new_session);
	assert_int_equal(o.epoch, 2000);
	assert_int_equal(p.r.sessions, 2);
	/* The window is the new session's: counter 1 is new there. */
	len = seal(&newer.s, d, 40, 8);
	expect_open(&p.r, d, len, 40, 8, 1);
	/* A datagram of the old session, never seen, is now refused. */
	expect_drop(&p.r, old, old_len, TW_DROP_OLD_EPOCH);
	reject_at(&p, 3, TW_DROP_OLD_EPOCH);
	/* A newer epoch that does not authenticate changes nothing. */
	memcpy(d, old, old_len);
	d[15] ^= 0xff; /* epoch 1000 ^ 0xff..: newer than 2000, wrong tag */
	d[9] = 0x7f;
	expect_drop(&p.r, d, old_len, TW_DROP_AUTH);
	assert_int_equal(p.r.epoch, 2000);
	len = seal(&newer.s, d, 40, 9);
	expect_open(&p.r, d, len, 40, 9, 2);
	tw_sender_free(&newer.s);
	pair_free(&p);
}

/* Both ends share the key: our own datagrams sent back must not be accepted. */
static void test_reflected(void **state)
{
	struct pair p;
	uint8_t d[MAXPKT + 64];
	size_t len;

	(void)state;
	pair_init(&p, TW_AES_256_GCM, 0x1234500);
	tw_receiver_own(&p.r, 0x1234500);
	len = seal(&p.s, d, 40, 1);
	expect_drop(&p.r, d, len, TW_DROP_REFLECTED);
	/* Another queue of ours: the low 8 bits differ. */
	tw_sender_free(&p.s);
	assert_int_equal(tw_sender_init(&p.s, TW_AES_256_GCM, psk, 0x12345ff), 0);
	expect_drop(&p.r, d, seal(&p.s, d, 40, 1), TW_DROP_REFLECTED);
	assert_int_equal(p.r.have_session, 0);
	/* The peer's session, one above ours in the ninth bit, is accepted. */
	tw_sender_free(&p.s);
	assert_int_equal(tw_sender_init(&p.s, TW_AES_256_GCM, psk, 0x1234600), 0);
	expect_open(&p.r, d, seal(&p.s, d, 40, 2), 40, 2, 0);
	pair_free(&p);
}

static void test_key_text(void **state)
{
	uint8_t k[TW_KEY_LEN], back[TW_KEY_LEN];
	char text[TW_KEY_B64_LEN + 1], padded[64];

	(void)state;
	assert_int_equal(tw_key_random(k), 0);
	tw_key_encode(k, text);
	assert_int_equal(strlen(text), TW_KEY_B64_LEN);
	assert_int_equal(tw_key_decode(text, back), 0);
	assert_memory_equal(k, back, TW_KEY_LEN);
	snprintf(padded, sizeof(padded), "  %s\n", text);
	assert_int_equal(tw_key_decode(padded, back), 0);
	assert_memory_equal(k, back, TW_KEY_LEN);
	assert_int_equal(tw_key_decode("", back), -1);
	assert_int_equal(tw_key_decode("c2hvcnQ=", back), -1);
	text[5] = '*';
	assert_int_equal(tw_key_decode(text, back), -1);
	tw_key_encode(k, text);
	text[TW_KEY_B64_LEN - 1] = 'A'; /* 33 bytes */
	assert_int_equal(tw_key_decode(text, back), -1);
}

static void test_names(void **state)
{
	enum tw_cipher c;

	(void)state;
	for (unsigned i = 0; i < TW_CIPHER_COUNT; i++) {
		assert_int_equal(tw_cipher_parse(tw_cipher_name((enum tw_cipher)i), &c), 0);
		assert_int_equal(c, i);
	}
	assert_int_equal(tw_cipher_parse("aes", &c), -1);
	assert_string_equal(tw_drop_name(TW_DROP_REPLAY), "replay");
	assert_string_equal(tw_drop_name(TW_DROP_REFLECTED), "reflected");
	assert_string_equal(tw_drop_name(TW_DROP_COUNT), "unknown");
	assert_int_equal(tw_overhead(TW_AES_256_GCM), 32);
	assert_int_equal(tw_overhead(TW_NONE), 16);
}

/* Queue q's peer port is PORT + q: a shift that leaves 1..65535 is refused
 * and changes nothing (a peer behind NAT may come from port 2 on queue 3). */
static void test_port_shift(void **st)
{
	(void)st;
	struct sockaddr_storage a = {0};
	struct sockaddr_in *v4 = (struct sockaddr_in *)&a;
	struct sockaddr_in6 *v6;

	v4->sin_family = AF_INET;
	v4->sin_port = htons(2);
	assert_int_equal(tw_port_shift(&a, -3), -ERANGE);
	assert_int_equal(ntohs(v4->sin_port), 2);
	assert_int_equal(tw_port_shift(&a, -2), -ERANGE); /* port 0 is no peer */
	assert_int_equal(tw_port_shift(&a, -1), 0);
	assert_int_equal(ntohs(v4->sin_port), 1);
	v4->sin_port = htons(65534);
	assert_int_equal(tw_port_shift(&a, 1), 0);
	assert_int_equal(ntohs(v4->sin_port), 65535);
	assert_int_equal(tw_port_shift(&a, 1), -ERANGE);
	assert_int_equal(ntohs(v4->sin_port), 65535);

	memset(&a, 0, sizeof(a));
	v6 = (struct sockaddr_in6 *)&a;
	v6->sin6_family = AF_INET6;
	v6->sin6_port = htons(51820);
	assert_int_equal(tw_port_shift(&a, 3), 0);
	assert_int_equal(ntohs(v6->sin6_port), 51823);
	assert_int_equal(tw_port_shift(&a, -51823), -ERANGE);
	assert_int_equal(ntohs(v6->sin6_port), 51823);

	a.ss_family = AF_UNIX;
	assert_int_equal(tw_port_shift(&a, 1), -EAFNOSUPPORT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),   cmocka_unit_test(test_seal_errors),
		cmocka_unit_test(test_derive),	     cmocka_unit_test(test_epochs_differ),
		cmocka_unit_test(test_wrong_key),    cmocka_unit_test(test_tampered),
		cmocka_unit_test(test_truncated),    cmocka_unit_test(test_replay),
		cmocka_unit_test(test_window_edges), cmocka_unit_test(test_epochs),
		cmocka_unit_test(test_reflected),    cmocka_unit_test(test_key_text),
		cmocka_unit_test(test_names),	     cmocka_unit_test(test_port_shift),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
