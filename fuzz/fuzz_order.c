/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target: the ordering option. Packets arrive with (epoch, counter)
 * keys in any order; an ordering coalescer must write exactly what an
 * unordered one writes when it is handed each window of the same packets
 * sorted by key (stable: equal keys in arrival order). A window is what the
 * ordering coalescer holds at once: the packets between two flushes, cut
 * every max_pkts packets.
 *
 * Input: byte 0 = options (bits 0-2: max_pkts 2^(n+1), 7 = the default;
 * bit 3 no TCP, bit 4 no USO), then operations by the low 2 bits of a byte:
 *  0: a packet: 1 byte length, that many bytes, 2 key bytes;
 *  1: the next segment of an earlier packet's flow (same size, TCP
 *     sequence and IPv4 ID moved on): 1 byte how far back, 2 key bytes;
 *  2: flush;
 *  3: a copy of an earlier packet: 1 byte how far back, 2 key bytes.
 * A key byte pair gives the epoch (0-3, top bits of the first) and the
 * counter. The input ends with a flush.
 */
#include "refcheck.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_PKTS 2048
#define STORE	 (MAX_PKTS * 256)

#define FAIL(...)                                                                                  \
	do {                                                                                       \
		fprintf(stderr, "fuzz_order: " __VA_ARGS__);                                       \
		fputc('\n', stderr);                                                               \
		abort();                                                                           \
	} while (0)

struct pkt {
	const uint8_t *data;
	size_t len;
	uint64_t epoch, counter;
};

static uint8_t store[STORE];
static struct pkt pkts[MAX_PKTS], window[MAX_PKTS];
static size_t npkts, nwin, used;

struct side {
	struct tb_arena *arena;
	struct tb_capture *cap;
	struct tb_coalescer *co;
};

static int open_side(struct side *s, unsigned caps, unsigned flags, unsigned max_pkts)
{
	struct tb_coalescer_opts o = {.flags = flags, .max_pkts = max_pkts};

	s->arena = tb_arena_create(4096);
	s->cap = tb_capture_create(caps);
	s->co = s->arena && s->cap ? tb_coalescer_create(tb_capture_writer(s->cap), s->arena, &o)
				   : NULL;
	return s->co ? 0 : -1;
}

static void close_side(struct side *s)
{
	tb_coalescer_destroy(s->co);
	tb_capture_destroy(s->cap);
	tb_arena_destroy(s->arena);
}

static int key_less(const struct pkt *a, const struct pkt *b)
{
	return a->epoch < b->epoch || (a->epoch == b->epoch && a->counter < b->counter);
}

/* The reference: the window sorted by key (insertion sort: stable), committed. */
static void release_window(struct side *ref)
{
	for (size_t i = 1; i < nwin; i++) {
		struct pkt x = window[i];
		size_t j = i;
		while (j > 0 && key_less(&x, &window[j - 1])) {
			window[j] = window[j - 1];
			j--;
		}
		window[j] = x;
	}
	for (size_t i = 0; i < nwin; i++)
		if (tb_coalescer_commit(ref->co, window[i].data, window[i].len))
			FAIL("reference commit refused");
	nwin = 0;
}

static void compare(const struct side *ord, const struct side *ref)
{
	size_t n = tb_capture_count(ord->cap);

	if (n != tb_capture_count(ref->cap))
		FAIL("%zu writes, the sorted windows give %zu", n, tb_capture_count(ref->cap));
	for (size_t i = 0; i < n; i++) {
		struct tb_vnet_hdr va, vb;
		size_t la, lb;
		const uint8_t *a = tb_capture_get(ord->cap, i, &la, &va);
		const uint8_t *b = tb_capture_get(ref->cap, i, &lb, &vb);
		if (la != lb || memcmp(&va, &vb, sizeof(va)) || memcmp(a, b, la))
			FAIL("write %zu differs from the sorted windows'", i);
	}
}

static void flush_both(struct side *ord, struct side *ref)
{
	release_window(ref);
	tb_coalescer_flush(ord->co);
	tb_coalescer_flush(ref->co);
	compare(ord, ref);
	tb_capture_clear(ord->cap);
	tb_capture_clear(ref->cap);
}

/* The next segment of p's flow, when p is IPv4 TCP or UDP; else a copy. */
static void next_segment(uint8_t *q, size_t len)
{
	unsigned ihl, tot, doff;

	if (len < 28 || q[0] >> 4 != 4)
		return;
	ihl = (q[0] & 15u) * 4;
	tot = (unsigned)q[2] << 8 | q[3];
	if (ihl < 20 || tot > len || tot < ihl + 8)
		return;
	{
		unsigned id = ((unsigned)q[4] << 8 | q[5]) + 1;
		q[4] = (uint8_t)(id >> 8);
		q[5] = (uint8_t)id;
	}
	if (q[9] != 6 || tot < ihl + 20)
		return;
	doff = (q[ihl + 12] >> 4) * 4u;
	if (doff < 20 || ihl + doff > tot)
		return;
	{
		uint8_t *s = q + ihl + 4;
		uint32_t seq =
			(uint32_t)s[0] << 24 | (uint32_t)s[1] << 16 | (uint32_t)s[2] << 8 | s[3];
		seq += tot - ihl - doff;
		s[0] = (uint8_t)(seq >> 24);
		s[1] = (uint8_t)(seq >> 16);
		s[2] = (uint8_t)(seq >> 8);
		s[3] = (uint8_t)seq;
	}
}

static int add(struct side *ord, struct side *ref, unsigned cap, const uint8_t *data, size_t len,
	       const uint8_t *key)
{
	struct pkt *p;

	if (npkts == MAX_PKTS || used + len > STORE)
		return -1;
	p = &pkts[npkts++];
	memcpy(store + used, data, len);
	p->data = store + used;
	p->len = len;
	p->epoch = key[0] >> 6;
	p->counter = (uint64_t)(key[0] & 0x3f) << 8 | key[1];
	used += (len + 15) & ~(size_t)15;
	/* The ordering coalescer releases a full window before it holds this one. */
	if (nwin == cap)
		release_window(ref);
	window[nwin++] = *p;
	if (tb_coalescer_commit_key(ord->co, p->data, p->len, p->epoch, p->counter))
		FAIL("commit_key refused a packet");
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct side ord, ref;
	unsigned caps = TB_CAP_TSO | TB_CAP_USO, flags = 0, cap;
	size_t at = 1;
	uint8_t tmp[256];

	if (size < 1)
		return 0;
	cap = (data[0] & 7) == 7 ? 1024 : 2u << (data[0] & 7);
	if (data[0] & 8)
		flags |= TB_COALESCE_NO_TCP;
	if (data[0] & 16)
		caps &= ~(unsigned)TB_CAP_USO;
	npkts = nwin = used = 0;
	if (open_side(&ord, caps, flags | TB_COALESCE_ORDER, cap) ||
	    open_side(&ref, caps, flags, cap))
		FAIL("out of memory");
	while (at < size) {
		uint8_t op = data[at++];
		size_t len, back;

		switch (op & 3) {
		case 0:
			if (at >= size)
				break;
			len = data[at++];
			if (at + len + 2 > size) {
				at = size;
				break;
			}
			if (add(&ord, &ref, cap, data + at, len, data + at + len))
				at = size;
			else
				at += len + 2;
			break;
		case 1:
		case 3:
			if (at + 3 > size || !npkts) {
				at = size;
				break;
			}
			back = data[at] % npkts;
			len = pkts[npkts - 1 - back].len;
			memcpy(tmp, pkts[npkts - 1 - back].data, len);
			if ((op & 3) == 1)
				next_segment(tmp, len);
			if (add(&ord, &ref, cap, tmp, len, data + at + 1))
				at = size;
			else
				at += 3;
			break;
		default:
			flush_both(&ord, &ref);
			break;
		}
	}
	flush_both(&ord, &ref);
	close_side(&ord);
	close_side(&ref);
	return 0;
}
