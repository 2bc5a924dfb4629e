/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target: the tunnel's receive checks (tools/tunnel_wire.c) against a
 * tiny reference model of sessions, the replay window and our own epoch.
 *
 * Input: byte 0 picks the cipher and the receiver's own epoch (none, or one
 * sharing all but its low 8 bits, the queue, with one of the four sessions,
 * whose datagrams are then reflections of our own), then 8-byte operations.
 * Each one makes a datagram and opens it:
 *   op[0] & 3: 0 sealed by the sender, 1 sealed then one byte changed,
 *              2 sealed then cut short, 3 the operation's bytes as garbage
 *   op[1] & 3: which of four sessions (epochs 0x100 < 0x200 < 0x300 < 0x400)
 *              seals it
 *   op[1] >> 2 and op[2..7]: the counter, near the model's highest or anywhere
 * The model says what must happen: accepted, or dropped for which reason.
 * Checked: the verdict and the reason agree with the model, an accepted
 * datagram gives back exactly what was sealed, the counters add up, and
 * nothing outside the datagram is read (ASan).
 */
#include "tunnel_wire.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FAIL(...)                                                                                  \
	do {                                                                                       \
		fprintf(stderr, "fuzz_tunnel: " __VA_ARGS__);                                      \
		fputc('\n', stderr);                                                               \
		abort();                                                                           \
	} while (0)

#define OP_LEN	 8
#define MAX_OPS	 512
#define PT_LEN	 48
#define SESSIONS 4

static const uint8_t psk[TW_KEY_LEN] = "fuzz key: thirty-two bytes long";

/* The model: our own epoch (0: none; ours always has a nonzero queue byte), the
 * current session and every counter accepted in it. */
struct model {
	uint64_t own;
	int have;
	uint64_t epoch, highest;
	uint64_t seen[MAX_OPS];
	unsigned n_seen;
};

static int model_replayed(const struct model *m, uint64_t c)
{
	if (c > m->highest)
		return 0;
	if (m->highest - c >= TW_WINDOW)
		return 1;
	for (unsigned i = 0; i < m->n_seen; i++)
		if (m->seen[i] == c)
			return 1;
	return 0;
}

/* What the receiver must do with a datagram: -1 accept, else the drop. */
static int model_verdict(const struct model *m, enum tw_cipher cipher, const uint8_t *d, size_t len,
			 int authentic)
{
	uint64_t counter = 0, epoch = 0;

	if (len < tw_overhead(cipher))
		return TW_DROP_SHORT;
	if (d[0] != TW_VERSION)
		return TW_DROP_VERSION;
	for (int i = 0; i < 7; i++)
		counter = counter << 8 | d[1 + i];
	for (int i = 0; i < 8; i++)
		epoch = epoch << 8 | d[8 + i];
	/* Our own session is every epoch that differs from ours only in the queue byte. */
	if (m->own && epoch >> 8 == m->own >> 8)
		return TW_DROP_REFLECTED;
	if (m->have && epoch < m->epoch)
		return TW_DROP_OLD_EPOCH;
	if (m->have && epoch == m->epoch && model_replayed(m, counter))
		return TW_DROP_REPLAY;
	if (!authentic && cipher != TW_NONE)
		return TW_DROP_AUTH;
	return -1;
}

static void model_accept(struct model *m, uint64_t epoch, uint64_t counter)
{
	if (!m->have || epoch > m->epoch) {
		m->have = 1;
		m->epoch = epoch;
		m->highest = counter;
		m->n_seen = 0;
	}
	if (counter > m->highest)
		m->highest = counter;
	m->seen[m->n_seen++] = counter;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct tw_sender senders[SESSIONS];
	static enum tw_cipher keyed = TW_CIPHER_COUNT;
	struct tw_receiver r;
	struct model m = {0};
	enum tw_cipher cipher;
	unsigned own;
	uint64_t accepted = 0, dropped = 0;

	if (size < 1)
		return 0;
	cipher = (enum tw_cipher)(data[0] % TW_CIPHER_COUNT);
	own = data[0] / TW_CIPHER_COUNT % (SESSIONS + 1); /* 0: none, else session own - 1 */
	if (keyed != cipher) {
		/* Keying is slow: the senders are kept from one input to the next. */
		for (int s = 0; s < SESSIONS; s++) {
			tw_sender_free(&senders[s]);
			if (tw_sender_init(&senders[s], cipher, psk, 0x100 * (uint64_t)(s + 1)))
				FAIL("sender init");
		}
		keyed = cipher;
	}
	if (tw_receiver_init(&r, cipher, psk))
		FAIL("receiver init");
	if (own) {
		/* Another queue of the same session: only the low 8 bits differ. */
		m.own = 0x100 * (uint64_t)own | 0x5a;
		tw_receiver_own(&r, m.own);
	}
	data++;
	size--;
	for (size_t off = 0; off + OP_LEN <= size && off / OP_LEN < MAX_OPS; off += OP_LEN) {
		const uint8_t *op = data + off;
		uint8_t pt[PT_LEN], d[PT_LEN + 64], *buf;
		struct iovec iov = {pt, PT_LEN};
		struct tw_sender *s = &senders[op[1] & 3];
		uint64_t raw = 0, counter;
		size_t len;
		int authentic = 1, verdict, rc;
		struct tw_opened o;

		for (int i = 2; i < 8; i++)
			raw = raw << 8 | op[i];
		if (op[1] & 4) /* near the window: within two windows of the highest */
			counter = m.highest + (raw % (4 * TW_WINDOW)) - 2 * TW_WINDOW;
		else
			counter = raw << 8 | (op[1] >> 3);
		counter &= TW_COUNTER_MAX;
		for (int i = 0; i < PT_LEN; i++)
			pt[i] = (uint8_t)(counter * 7 + (uint64_t)i);
		s->counter = counter;
		if (tw_seal(s, &iov, 1, d, sizeof(d)) != (long)(PT_LEN + tw_overhead(cipher)))
			FAIL("seal");
		len = PT_LEN + tw_overhead(cipher);
		switch (op[0] & 3) {
		case 1: { /* one byte changed: a nonzero mask at a chosen place */
			size_t at = op[7] % len;
			d[at] ^= (uint8_t)(op[6] | 1);
			authentic = 0;
			break;
		}
		case 2:
			len = op[7] % len;
			authentic = 0;
			break;
		case 3:
			memcpy(d, op, OP_LEN);
			memcpy(d + OP_LEN, op, OP_LEN);
			len = op[0] >> 2;
			authentic = 0;
			break;
		default:
			break;
		}
		verdict = model_verdict(&m, cipher, d, len, authentic);
		/* Exactly len bytes on the heap, so that ASan sees any read past them. */
		buf = malloc(len ? len : 1);
		if (!buf)
			FAIL("out of memory");
		memcpy(buf, d, len);
		rc = tw_open(&r, buf, len, &o);
		if (rc != verdict)
			FAIL("op %zu: got %d (%s), the model says %d (%s)", off / OP_LEN, rc,
			     rc < 0 ? "accept" : tw_drop_name((enum tw_drop)rc), verdict,
			     verdict < 0 ? "accept" : tw_drop_name((enum tw_drop)verdict));
		if (rc >= 0) {
			dropped++;
			free(buf);
			continue;
		}
		accepted++;
		if (authentic && (o.len != PT_LEN || memcmp(o.data, pt, PT_LEN) ||
				  o.counter != counter || o.epoch != s->epoch))
			FAIL("op %zu: accepted datagram does not give back what was sealed",
			     off / OP_LEN);
		if (o.data != buf + TW_HDR_LEN || o.len + tw_overhead(cipher) != len)
			FAIL("op %zu: plaintext not in place", off / OP_LEN);
		free(buf);
		model_accept(&m, o.epoch, o.counter);
		if (r.epoch != m.epoch || r.highest != m.highest)
			FAIL("op %zu: receiver session %llu/%llu, model %llu/%llu", off / OP_LEN,
			     (unsigned long long)r.epoch, (unsigned long long)r.highest,
			     (unsigned long long)m.epoch, (unsigned long long)m.highest);
	}
	{
		uint64_t sum = 0;
		for (int i = 0; i < TW_DROP_COUNT; i++)
			sum += r.drops[i];
		if (sum != dropped || r.accepted != accepted)
			FAIL("counters: %llu accepted, %llu dropped; receiver says %llu, %llu",
			     (unsigned long long)accepted, (unsigned long long)dropped,
			     (unsigned long long)r.accepted, (unsigned long long)sum);
	}
	tw_receiver_free(&r);
	return 0;
}
