/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target: the coalescer. The input is a configuration and a sequence of
 * packets and batch boundaries; after every flush the target checks what the
 * writer got against what was committed:
 *  - every committed packet comes out exactly once (as itself, or as one
 *    segment of a superpacket that the reference segmenter cuts back into a
 *    packet equal to it but for checksums and DF-set IPv4 IDs);
 *  - the passthrough lane keeps input order; a TCP/UDP flow keeps its order
 *    (a pure ACK may fall behind later data of its flow, never ahead of
 *    earlier packets); a malformed or unsupported packet in a lane is a
 *    barrier nothing in that lane crosses;
 *  - every superpacket obeys the kernel's geometry rules;
 *  - with checksum verification on, no packet with a bad checksum is merged;
 *  - the caller's packets are unchanged when they are written;
 *  - the statistics add up.
 *
 * Input: byte 0 = options (bit 0 no TCP, 1 no UDP, 2 verify checksums,
 * 3 writer without TSO, 4 writer without USO, 5-7 lane capacity 2^n, 0 =
 * default); byte 1 = bits 0-2 superpacket writes that fail (the fallback must
 * lose nothing), bit 7 packets live in caller memory instead of the arena.
 * Then operations, by the low 2 bits of a byte:
 *  0: a packet: 2-byte length (big endian), then that many bytes;
 *  1: a packet made from an earlier one (the next segment of its flow):
 *     1 byte how far back, 2 bytes payload length; bits 2-7 tweak it;
 *  2: flush;
 *  3: a short packet: length = byte >> 2, then that many bytes.
 * The input ends with a flush.
 */
#include "internal.h" /* tbi_capture_fail */
#include "refcheck.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_PKTS  4096
#define STORE	  (4u << 20)
#define MAX_OUT	  (MAX_PKTS)
#define HASH_SIZE 8192

#define FAIL(...)                                                                                  \
	do {                                                                                       \
		fprintf(stderr, "fuzz_coalesce: " __VA_ARGS__);                                    \
		fputc('\n', stderr);                                                               \
		abort();                                                                           \
	} while (0)

struct in_pkt {
	uint8_t *master;	  /* our copy, never shown to the coalescer */
	const uint8_t *committed; /* what the coalescer got */
	uint32_t len;
	int lane; /* RC_* lane it rides, after lanes on/off */
	struct rc_info info;
	long pos; /* output position, -1 until written */
};

struct out_rec {
	unsigned first, n; /* ids[first .. first + n) */
	int gso;
};

static struct state {
	struct tb_writer w;
	struct tb_writer *inner;
	struct tb_capture *cap;
	uint8_t *store, *callermem;
	size_t used, cused;
	struct in_pkt in[MAX_PKTS];
	unsigned nin, batch0; /* first input of the current batch */
	struct {
		const uint8_t *ptr;
		unsigned idx;
	} hash[HASH_SIZE];
	unsigned hgen[HASH_SIZE], gen;
	struct out_rec out[MAX_OUT];
	unsigned nout;
	unsigned ids[MAX_PKTS];
	unsigned nids;
	unsigned gso_failed;
	long npos;
	uint8_t *segbuf;
} S;

static unsigned hslot(const uint8_t *p)
{
	uintptr_t v = (uintptr_t)p;
	return (unsigned)((v ^ (v >> 13) ^ (v >> 29)) * 2654435761u) & (HASH_SIZE - 1);
}

static void hput(const uint8_t *p, unsigned idx)
{
	unsigned i = hslot(p);

	while (S.hgen[i] == S.gen)
		i = (i + 1) & (HASH_SIZE - 1);
	S.hgen[i] = S.gen;
	S.hash[i].ptr = p;
	S.hash[i].idx = idx;
}

static unsigned hget(const uint8_t *p)
{
	for (unsigned i = hslot(p); S.hgen[i] == S.gen; i = (i + 1) & (HASH_SIZE - 1))
		if (S.hash[i].ptr == p)
			return S.hash[i].idx;
	FAIL("write of memory that was never committed in this batch");
}

static void dump(const char *what, const uint8_t *p, size_t len)
{
	fprintf(stderr, "%s (%zu bytes):", what, len);
	for (size_t i = 0; i < len && i < 128; i++)
		fprintf(stderr, "%s%02x", i % 32 ? " " : "\n  ", p[i]);
	fputc('\n', stderr);
}

static void take(unsigned idx)
{
	struct in_pkt *p = &S.in[idx];

	if (p->pos >= 0)
		FAIL("packet %u written twice", idx);
	if (memcmp(p->committed, p->master, p->len))
		FAIL("packet %u was modified by the coalescer", idx);
	p->pos = S.npos++;
	S.ids[S.nids++] = idx;
}

static int fz_write(struct tb_writer *w, const void *pkt, size_t len)
{
	unsigned idx = hget(pkt);
	int rc = S.inner->write(S.inner, pkt, len);

	if (rc)
		FAIL("plain write failed: %d", rc);
	S.out[S.nout] = (struct out_rec){S.nids, 1, 0};
	take(idx);
	S.nout++;
	return 0;
}

static int fz_write_gso(struct tb_writer *w, const struct tb_superpacket *sp)
{
	unsigned idx[64];
	int rc;

	if (sp->n_payload < 2 || sp->n_payload > 64)
		FAIL("superpacket of %u segments", sp->n_payload);
	for (unsigned i = 0; i < sp->n_payload; i++)
		idx[i] = hget((const uint8_t *)sp->payload[i].iov_base - sp->vnet.hdr_len);
	rc = S.inner->write_gso(S.inner, sp);
	if (rc) {
		S.gso_failed++;
		return rc;
	}
	S.out[S.nout] = (struct out_rec){S.nids, sp->n_payload, 1};
	for (unsigned i = 0; i < sp->n_payload; i++)
		take(idx[i]);
	S.nout++;
	return 0;
}

/* Per flow of a batch: the highest output position so far, of all its
 * packets and of those that are not pure ACKs. */
static struct flow {
	unsigned gen;
	const struct rc_info *key;
	long max_all, max_data;
} flows[HASH_SIZE];

static void check_flow(const struct in_pkt *p, unsigned i)
{
	const struct rc_info *k = &p->info;
	uint32_t h = 2166136261u;
	struct flow *f;

	for (unsigned b = 0; b < k->keylen; b++)
		h = (h ^ k->key[b]) * 16777619u;
	for (h &= HASH_SIZE - 1;; h = (h + 1) & (HASH_SIZE - 1)) {
		f = &flows[h];
		if (f->gen != S.gen) {
			*f = (struct flow){S.gen, k, -1, -1};
			break;
		}
		if (f->key->keylen == k->keylen && !memcmp(f->key->key, k->key, k->keylen) &&
		    f->key->lane == k->lane)
			break;
	}
	/* A pure ACK may fall behind later data of its flow, never ahead of
	 * anything earlier. */
	if (p->pos < (k->pure_ack ? f->max_all : f->max_data))
		FAIL("packet %u overtook an earlier packet of its flow", i);
	if (p->pos > f->max_all)
		f->max_all = p->pos;
	if (!k->pure_ack && p->pos > f->max_data)
		f->max_data = p->pos;
}

/* Checks one batch's output against its input. */
static void check_batch(const struct tb_stats *before, const struct tb_stats *after, unsigned flags)
{
	static size_t offs[64], lens[64];
	unsigned n = S.nin - S.batch0, nsp = 0, nseg = 0;

	if (tb_capture_count(S.cap) != S.nout)
		FAIL("capture holds %zu records, %u writes seen", tb_capture_count(S.cap), S.nout);
	for (unsigned r = 0; r < S.nout; r++) {
		struct out_rec *o = &S.out[r];
		struct tb_vnet_hdr v;
		size_t len;
		const uint8_t *b = tb_capture_get(S.cap, r, &len, &v);
		const char *why = rc_geometry(&v, b, len);

		if (why)
			FAIL("record %u: %s", r, why);
		if (!o->gso) {
			struct in_pkt *p = &S.in[S.ids[o->first]];
			if (len > p->len || memcmp(b, p->master, len))
				FAIL("record %u is not the packet committed", r);
			if (len < p->len &&
			    !(p->info.clean && p->lane != RC_PASS && len == p->info.len))
				FAIL("record %u: packet cut to %zu of %u bytes", r, len, p->len);
			continue;
		}
		nsp++;
		nseg += o->n;
		if (rc_segment(&v, b, len, S.segbuf, 65536 + 64 * 128, offs, lens, 64) != (int)o->n)
			FAIL("record %u does not cut into its %u segments", r, o->n);
		for (unsigned i = 0; i < o->n; i++) {
			struct in_pkt *p = &S.in[S.ids[o->first + i]];
			why = rc_same_segment(S.segbuf + offs[i], lens[i], p->master, &p->info);
			if (why) {
				dump("segment", S.segbuf + offs[i], lens[i]);
				dump("packet", p->master, p->len);
				FAIL("record %u segment %u: %s", r, i, why);
			}
			if (p->lane == RC_PASS)
				FAIL("record %u: a packet of the passthrough lane was merged", r);
			if ((flags & TB_COALESCE_VERIFY_CSUM) && !rc_csum_ok(p->master, &p->info))
				FAIL("record %u: a packet with a bad checksum was merged", r);
			if (i &&
			    memcmp(p->info.key, S.in[S.ids[o->first]].info.key, p->info.keylen))
				FAIL("record %u: packets of different flows merged", r);
		}
	}
	/* Each packet exactly once: take() refused doubles, so count. */
	if (S.nids != n)
		FAIL("%u packets committed, %u written", n, S.nids);

	/* Order. Per lane: last barrier and highest position so far. */
	long pass_last = -1, barrier[3] = {-1, -1, -1}, lane_max[3] = {-1, -1, -1};
	for (unsigned i = S.batch0; i < S.nin; i++) {
		struct in_pkt *p = &S.in[i];
		if (p->lane == RC_PASS) {
			if (p->pos < pass_last)
				FAIL("passthrough packet %u overtook an earlier one", i);
			pass_last = p->pos;
			continue;
		}
		if (p->pos < barrier[p->lane])
			FAIL("packet %u overtook a malformed/unsupported packet of its lane", i);
		if (!p->info.clean) {
			if (p->pos < lane_max[p->lane])
				FAIL("malformed/unsupported packet %u overtook its lane", i);
			barrier[p->lane] = p->pos;
		}
		if (p->pos > lane_max[p->lane])
			lane_max[p->lane] = p->pos;
		if (p->info.clean)
			check_flow(p, i);
	}

	/* Statistics. */
	uint64_t lanes = 0;
	for (int l = 0; l < TB_LANE_COUNT; l++)
		lanes += after->lane_pkts[l] - before->lane_pkts[l];
	if (after->pkts_in - before->pkts_in != n || lanes != n)
		FAIL("statistics: %u packets committed, pkts_in +%llu, lanes +%llu", n,
		     (unsigned long long)(after->pkts_in - before->pkts_in),
		     (unsigned long long)lanes);
	if (after->writes - before->writes != S.nout ||
	    after->superpackets - before->superpackets != nsp ||
	    after->segments - before->segments != nseg ||
	    after->fallbacks - before->fallbacks != S.gso_failed)
		FAIL("statistics: writes/superpackets/segments/fallbacks do not add up");
}

static void begin_batch(void)
{
	tb_capture_clear(S.cap);
	S.batch0 = S.nin;
	S.nout = S.nids = 0;
	S.npos = 0;
	S.gso_failed = 0;
	S.gen++;
	S.cused = 0;
}

static void put16(uint8_t *p, unsigned v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

/* The next packet of ref's flow, tweaked. Returns its length. */
static size_t derive(const struct in_pkt *ref, size_t payload, unsigned tweak, uint8_t *out,
		     size_t room)
{
	const struct rc_info *in = &ref->info;
	const uint8_t *r = ref->master;
	size_t hl = (size_t)in->ip_len + in->l4_len, len, extra = (tweak >> 5) & 1 ? 3 : 0;
	uint8_t *l4 = out + in->ip_len;
	unsigned c;

	if (!in->clean) {
		if (ref->len > room)
			return 0;
		memcpy(out, r, ref->len);
		return ref->len;
	}
	if (hl + payload > 65535)
		payload = 65535 - hl;
	len = hl + payload;
	if (len + extra > room)
		return 0;
	memcpy(out, r, hl);
	for (size_t i = 0; i < payload + extra; i++)
		out[hl + i] = (uint8_t)('0' + (i + (size_t)(ref - S.in)) % 10);
	if (in->version == 4) {
		unsigned id = (unsigned)out[4] << 8 | out[5];
		put16(out + 2, (unsigned)len);
		if (!(tweak & 4))
			put16(out + 4, id + 1);
		if (tweak & 8)
			out[1] ^= 1;
	} else {
		put16(out + 4, (unsigned)(len - 40));
		if (tweak & 8)
			out[1] ^= 0x10;
	}
	if (in->lane == RC_TCP) {
		uint32_t seq = (uint32_t)l4[4] << 24 | (uint32_t)l4[5] << 16 | l4[6] << 8 | l4[7];
		if (!(tweak & 2))
			seq += in->payload;
		put16(l4 + 4, seq >> 16);
		put16(l4 + 6, seq & 0xffff);
		if (tweak & 1)
			l4[13] ^= 0x08;
	} else {
		put16(l4 + 4, (unsigned)(len - in->ip_len));
	}
	if (in->version == 4) {
		put16(out + 10, 0);
		put16(out + 10, ~rc_fold(rc_sum(out, 20, 0)) & 0xffff);
	}
	c = in->lane == RC_TCP ? 16 : 6;
	put16(l4 + c, 0);
	put16(l4 + c, ~rc_fold(rc_sum(l4, len - in->ip_len,
				      rc_pseudo(out, in->version, in->lane == RC_TCP ? 6 : 17,
						(uint32_t)(len - in->ip_len)))) &
			      0xffff);
	if (in->lane == RC_UDP && l4[6] == 0 && l4[7] == 0)
		put16(l4 + 6, 0xffff);
	if (tweak & 16)
		l4[c + 1] ^= 0x40; /* corrupt the checksum */
	return len + extra;
}

static void commit(struct tb_coalescer *c, unsigned lane_mask, int callermem, size_t len)
{
	struct in_pkt *p = &S.in[S.nin];
	uint8_t *dst;

	if (callermem) {
		dst = S.callermem + S.cused;
		S.cused += len ? len : 1; /* distinct pointers identify packets */
	} else {
		dst = tb_coalescer_reserve(c, len ? len : 1);
		if (!dst)
			FAIL("arena reserve failed");
	}
	memcpy(dst, p->master, len);
	p->committed = dst;
	p->len = (uint32_t)len;
	p->pos = -1;
	rc_classify(p->master, len, &p->info);
	p->lane = p->info.lane;
	if (!(lane_mask & (1u << (p->lane == RC_TCP ? TB_LANE_TCP : TB_LANE_UDP))))
		p->lane = RC_PASS;
	hput(dst, S.nin);
	S.nin++;
	S.used += len;
	if (tb_coalescer_commit(c, dst, len))
		FAIL("commit refused a packet");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct tb_coalescer_opts opts = {0};
	struct tb_stats before, after;
	struct tb_arena *arena;
	struct tb_coalescer *c;
	unsigned caps = TB_CAP_TSO | TB_CAP_USO, lanes;
	int callermem;
	size_t i = 2;

	if (size < 2)
		return 0;
	if (!S.store) {
		S.store = malloc(STORE);
		S.callermem = malloc(STORE);
		S.segbuf = malloc(65536 + 64 * 128);
		if (!S.store || !S.callermem || !S.segbuf)
			abort();
	}
	opts.flags = data[0] & 7;
	if (data[0] & 8)
		caps &= ~TB_CAP_TSO;
	if (data[0] & 16)
		caps &= ~TB_CAP_USO;
	opts.max_pkts = data[0] >> 5 ? 1u << (data[0] >> 5) : 0;
	callermem = data[1] >> 7;

	S.cap = tb_capture_create(caps);
	S.inner = tb_capture_writer(S.cap);
	S.w.write = fz_write;
	S.w.write_gso = fz_write_gso;
	S.w.caps = caps;
	arena = tb_arena_create(1 << 16); /* small: reserves must chain chunks */
	c = tb_coalescer_create(&S.w, arena, &opts);
	if (!S.cap || !arena || !c)
		abort();
	tbi_capture_fail(S.cap, data[1] & 7, -5, 1);
	lanes = tb_coalescer_lanes(c);
	S.nin = 0;
	S.used = 0;
	begin_batch();
	tb_coalescer_stats(c, &before);

	for (;;) {
		int flush = i >= size;
		if (!flush) {
			unsigned op = data[i++];
			size_t len = 0;
			uint8_t *m = S.store + S.used;
			if (S.nin == MAX_PKTS || S.used + 65536 + 8 > STORE) {
				flush = 1;
				i = size;
			} else if ((op & 3) == 0 || (op & 3) == 3) {
				if ((op & 3) == 0) {
					if (i + 2 > size)
						len = 0;
					else
						len = (size_t)data[i] << 8 | data[i + 1];
					i += 2;
				} else {
					len = op >> 2;
				}
				if (i > size)
					i = size;
				if (len > size - i)
					len = size - i;
				memcpy(m, data + i, len);
				i += len;
				S.in[S.nin].master = m;
				commit(c, lanes, callermem, len);
			} else if ((op & 3) == 1) {
				unsigned back = i < size ? data[i] : 0;
				size_t pl =
					i + 2 < size ? (size_t)data[i + 1] << 8 | data[i + 2] : 0;
				i += 3;
				if (i > size)
					i = size;
				if (S.nin == 0)
					continue;
				back = back % S.nin;
				len = derive(&S.in[S.nin - 1 - back], pl, op >> 2, m,
					     STORE - S.used);
				S.in[S.nin].master = m;
				commit(c, lanes, callermem, len);
			} else {
				flush = 1;
			}
		}
		if (flush) {
			tb_coalescer_flush(c);
			tb_coalescer_stats(c, &after);
			check_batch(&before, &after, opts.flags);
			before = after;
			if (i >= size)
				break;
			begin_batch();
		}
	}
	tb_coalescer_destroy(c);
	tb_arena_destroy(arena);
	tb_capture_destroy(S.cap);
	return 0;
}
