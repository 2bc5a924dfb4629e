/* SPDX-License-Identifier: MIT */
/*
 * tb_bench: the coalescer's cost per packet beside the parse floor and
 * DPDK's rte_gro measured in the same run, segmentation and checksum speed,
 * and (as root) what superpackets save the kernel on a real TUN and what
 * GSO and GRO save the carrier over a veth pair.
 */
#include "bench.h"
#include "tunbatch.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#ifndef TB_BENCH_TRACES_DIR
#define TB_BENCH_TRACES_DIR "../shared/traces"
#endif
#ifndef TB_BENCH_EXAMPLES_DIR
#define TB_BENCH_EXAMPLES_DIR "examples"
#endif

struct opts {
	double secs;	 /* coalescer runs */
	double aux_secs; /* parse floor, verification, rte_gro, segmentation, checksum */
	int runs;
	int json;
	int no_dpdk, no_tun;
	int copy; /* copy each packet into its reserved buffer, as decryption would */
	const char *dir;
	const char *only;
	const char *profile;
	unsigned limit; /* packets per trace, 0: all */
	int count;	/* --profile: exactly this many passes, untimed */
	int keyed;	/* --profile: keyed commits, 1: unordered, 2: TB_COALESCE_ORDER */
	int tun_only;
	int no_carrier, carrier_only;
};

/* ---- the coalescer with a writer that only reads lengths ----------------- */

struct sink {
	struct tb_writer w;
	uint64_t acc;
	uint64_t writes;
};

static int sink_write(struct tb_writer *w, const void *pkt, size_t len)
{
	struct sink *s = (struct sink *)w;

	s->acc += len;
	s->writes++;
	return 0;
}

static int sink_write_gso(struct tb_writer *w, const struct tb_superpacket *sp)
{
	struct sink *s = (struct sink *)w;

	s->writes++;
	for (unsigned i = 0; i < sp->n_payload; i++)
		s->acc += sp->payload[i].iov_len;
	return 0;
}

struct coal {
	const struct trace *t;
	struct sink sink;
	struct tb_arena *arena;
	struct tb_coalescer *c;
	int copy;
	uint64_t fails;
	/* Keyed commits: packet perm[j] (identity when NULL) with counter perm[j]. */
	int keyed;
	const uint32_t *perm;
};

static int coal_open(struct coal *k, const struct trace *t, unsigned flags, int copy)
{
	struct tb_coalescer_opts o = {.flags = flags};

	memset(k, 0, sizeof(*k));
	k->t = t;
	k->copy = copy;
	k->sink.w.write = sink_write;
	k->sink.w.write_gso = sink_write_gso;
	k->sink.w.caps = TB_CAP_TSO | TB_CAP_USO;
	k->arena = tb_arena_create(0);
	k->c = k->arena ? tb_coalescer_create(&k->sink.w, k->arena, &o) : NULL;
	return k->c ? 0 : -ENOMEM;
}

static void coal_close(struct coal *k)
{
	tb_coalescer_destroy(k->c);
	tb_arena_destroy(k->arena);
}

/*
 * One pass with tb_coalescer_commit_key, keyed by the sender's order, in
 * arrival order perm (NULL: in order). No copy: the ordering's own cost.
 */
static uint64_t coal_keyed_pass(struct coal *k)
{
	const struct bench_pkt *p = k->t->pkts;
	const uint32_t *perm = k->perm;
	uint32_t n = k->t->n;
	uint64_t t0 = now_ns();

	for (uint32_t i = 0; i < n; i += BENCH_BATCH) {
		uint32_t end = n - i < BENCH_BATCH ? n : i + BENCH_BATCH;
		if (perm) {
			for (uint32_t j = i; j < end; j++)
				tb_coalescer_commit_key(k->c, p[perm[j]].data, p[perm[j]].len, 1,
							perm[j]);
		} else {
			for (uint32_t j = i; j < end; j++)
				tb_coalescer_commit_key(k->c, p[j].data, p[j].len, 1, j);
		}
		if (tb_coalescer_flush(k->c))
			k->fails++;
	}
	return now_ns() - t0;
}

/* One pass over the trace in batches: reserve, commit, flush. */
static uint64_t coal_pass(void *arg)
{
	struct coal *k = arg;

	if (k->keyed)
		return coal_keyed_pass(k);
	const struct bench_pkt *p = k->t->pkts;
	uint32_t n = k->t->n;
	uint64_t t0 = now_ns();

	for (uint32_t i = 0; i < n; i += BENCH_BATCH) {
		uint32_t end = n - i < BENCH_BATCH ? n : i + BENCH_BATCH;
		for (uint32_t j = i; j < end; j++) {
			void *buf = tb_coalescer_reserve(k->c, p[j].len);
			const void *pkt = p[j].data;
			if (!buf) {
				k->fails++;
			} else if (k->copy) {
				memcpy(buf, pkt, p[j].len);
				pkt = buf;
			}
			tb_coalescer_commit(k->c, pkt, p[j].len);
		}
		if (tb_coalescer_flush(k->c))
			k->fails++;
	}
	return now_ns() - t0;
}

/* ---- the parse floor ----------------------------------------------------- */

struct floorctx {
	const struct trace *t;
	uint64_t sink;
};

static inline uint64_t ld64(const uint8_t *p)
{
	uint64_t v;
	memcpy(&v, p, 8);
	return v;
}

static inline uint32_t ld32(const uint8_t *p)
{
	uint32_t v;
	memcpy(&v, p, 4);
	return v;
}

/* Reads what any coalescer must read, hashes the 5-tuple, nothing else. */
static uint64_t floor_pass(void *arg)
{
	struct floorctx *f = arg;
	const struct bench_pkt *p = f->t->pkts;
	uint32_t n = f->t->n;
	uint64_t acc = 0, t0 = now_ns();

	for (uint32_t i = 0; i < n; i++) {
		const uint8_t *d = p[i].data;
		uint32_t len = p[i].len, l3;
		uint64_t w0, w1 = 0, w2 = 0, w3 = 0, h;
		unsigned proto, v;

		if (len < 20)
			continue;
		v = d[0] >> 4;
		if (v == 4) {
			l3 = (d[0] & 15u) * 4;
			proto = d[9];
			w0 = ld64(d + 12);
		} else if (v == 6 && len >= 40) {
			l3 = 40;
			proto = d[6];
			w0 = ld64(d + 8);
			w1 = ld64(d + 16);
			w2 = ld64(d + 24);
			w3 = ld64(d + 32);
		} else {
			continue;
		}
		h = ((uint64_t)proto << 40 | (uint64_t)v << 32) * 0x9e3779b97f4a7c15ull;
		if (proto == 6 && len >= l3 + 20) {
			h ^= ld32(d + l3);
			acc += ld32(d + l3 + 4) ^ d[l3 + 13]; /* sequence number, flags */
		} else if (proto == 17 && len >= l3 + 8) {
			h ^= ld32(d + l3);
		}
		h = (h ^ w0) * 0xff51afd7ed558ccdull;
		h = (h ^ w1) * 0xff51afd7ed558ccdull;
		h = (h ^ w2) * 0xff51afd7ed558ccdull;
		h = (h ^ w3) * 0xff51afd7ed558ccdull;
		acc += h ^ (h >> 29);
	}
	f->sink += acc;
	return now_ns() - t0;
}

/* ---- one checked pass: writes, payload bytes, sequence reversals ---------- */

struct checker {
	struct tb_writer w;
	struct seqtrack *out;
};

static int check_write(struct tb_writer *w, const void *pkt, size_t len)
{
	struct checker *c = (struct checker *)w;

	seqtrack_pkt(c->out, pkt, len, len);
	return 0;
}

static int check_write_gso(struct tb_writer *w, const struct tb_superpacket *sp)
{
	struct checker *c = (struct checker *)w;

	seqtrack_pkt(c->out, sp->hdr, sp->vnet.hdr_len, sp->len);
	return 0;
}

struct check_result {
	double wpp;
	uint64_t writes, superpackets;
	uint64_t in_rev, out_rev;
	int bytes_ok;
};

static int check_trace(const struct trace *t, unsigned flags, struct check_result *r)
{
	static struct seqtrack in, out;
	struct checker ck = {.w = {.write = check_write,
				   .write_gso = check_write_gso,
				   .caps = TB_CAP_TSO | TB_CAP_USO},
			     .out = &out};
	struct tb_coalescer_opts o = {.flags = flags};
	struct tb_arena *a = tb_arena_create(0);
	struct tb_coalescer *c = a ? tb_coalescer_create(&ck.w, a, &o) : NULL;
	struct tb_stats st;

	memset(r, 0, sizeof(*r));
	if (!c) {
		tb_arena_destroy(a);
		return -ENOMEM;
	}
	seqtrack_init(&in);
	seqtrack_init(&out);
	for (uint32_t i = 0; i < t->n; i += BENCH_BATCH) {
		for (uint32_t j = i; j < t->n && j < i + BENCH_BATCH; j++) {
			seqtrack_pkt(&in, t->pkts[j].data, t->pkts[j].len, t->pkts[j].len);
			tb_coalescer_commit(c, t->pkts[j].data, t->pkts[j].len);
		}
		tb_coalescer_flush(c);
	}
	tb_coalescer_stats(c, &st);
	r->writes = st.writes;
	r->superpackets = st.superpackets;
	r->wpp = t->n ? (double)st.writes / t->n : 0;
	r->in_rev = in.reversals;
	r->out_rev = out.reversals;
	r->bytes_ok = in.payload == out.payload;
	tb_coalescer_destroy(c);
	tb_arena_destroy(a);
	return 0;
}

/* ---- checksum ------------------------------------------------------------ */

/* The textbook loop: one big-endian 16-bit word at a time. */
__attribute__((noinline)) static uint32_t naive_csum(const uint8_t *p, size_t len, uint32_t s)
{
	for (; len > 1; p += 2, len -= 2)
		s += (uint32_t)(p[0] << 8 | p[1]);
	if (len)
		s += (uint32_t)p[0] << 8;
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return s;
}

struct csumctx {
	const uint8_t *buf;
	size_t len;
	unsigned reps;
	int naive;
	uint32_t sink;
};

static uint64_t csum_pass(void *arg)
{
	struct csumctx *c = arg;
	uint32_t s = c->sink & 0xff;
	uint64_t t0 = now_ns();

	/* Each sum seeds the next so no call can be skipped or hoisted. */
	for (unsigned i = 0; i < c->reps; i++)
		s = c->naive ? naive_csum(c->buf, c->len, s & 0xff)
			     : tb_csum_fold(tb_csum_partial(c->buf, c->len, s & 0xff));
	c->sink += s;
	return now_ns() - t0;
}

struct csum_result {
	size_t len;
	struct sample lib, naive; /* ns per buffer */
	int agree;
	uint64_t allocs;
};

static void run_csum(const struct opts *o, struct csum_result *r, int nr)
{
	static const size_t sizes[] = {64, 1500, 65536};
	uint8_t *buf = aligned_alloc(64, 65536);
	uint64_t x = 0x243f6a8885a308d3ull;

	if (!buf)
		return;
	for (size_t i = 0; i < 65536; i++) {
		x = x * 6364136223846793005ull + 1442695040888963407ull;
		buf[i] = (uint8_t)(x >> 56);
	}
	for (int i = 0; i < nr && i < 3; i++) {
		struct csumctx c = {buf, sizes[i], 0, 0, 0};
		uint64_t al = 0;
		uint16_t lib = tb_csum_fold(tb_csum_partial(buf, sizes[i], 0));
		uint16_t ref = (uint16_t)naive_csum(buf, sizes[i], 0);
		/* The library's sum is in memory order; the naive one is big-endian. */
		r[i].len = sizes[i];
		r[i].agree = (uint16_t)(lib << 8 | lib >> 8) == ref;
		c.reps = (unsigned)(1u << 20) / (unsigned)sizes[i] + 1;
		measure(csum_pass, &c, c.reps, o->aux_secs, o->runs, &r[i].lib, &al);
		r[i].allocs = al;
		c.naive = 1;
		measure(csum_pass, &c, c.reps, o->aux_secs, o->runs, &r[i].naive, NULL);
	}
	free(buf);
}

/* ---- traces -------------------------------------------------------------- */

struct result {
	struct trace t;
	struct sample co, fl, ver;
	uint64_t co_allocs, fl_allocs, ver_allocs, fails;
	struct check_result ck, ver_ck;
	struct gro_result gro;
	int gro_ran;
	/* run-by-run ratios: coalescer/floor, verify/plain, rte_gro's faster/coalescer */
	struct sample x_floor, x_verify, x_gro;
	/* Ordering: keyed commits, unordered vs TB_COALESCE_ORDER in order and displaced */
	int ord_ran;
	struct sample ord_plain, ord_in, ord_disp, x_ord_in, x_ord_disp;
	uint64_t ord_displaced;				    /* packets displaced per pass */
	uint64_t ord_wr_in, ord_wr_disp, ord_wr_unord_disp; /* writes per pass */
	uint64_t ord_allocs;
};

static int has_pcaps(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	if (!d)
		return 0;
	while ((e = readdir(d)))
		n += strlen(e->d_name) > 5 && !strcmp(e->d_name + strlen(e->d_name) - 5, ".pcap");
	closedir(d);
	return n;
}

static int pcap_filter(const struct dirent *e)
{
	size_t l = strlen(e->d_name);
	return l > 5 && !strcmp(e->d_name + l - 5, ".pcap");
}

static int wanted(const struct opts *o, const char *name)
{
	if (o->profile)
		return !strcmp(name, o->profile);
	return !o->only || strstr(name, o->only);
}

static int load_traces(const struct opts *o, const char *dir, struct result **out)
{
	struct dirent **ents = NULL;
	int n = dir ? scandir(dir, &ents, pcap_filter, alphasort) : 0, cnt = 0;
	struct result *r = calloc((size_t)(n > 0 ? n : 0) + 16, sizeof(*r));

	if (!r)
		return -1;
	for (int i = 0; i < n; i++) {
		char path[4096], err[256];
		snprintf(path, sizeof(path), "%s/%s", dir, ents[i]->d_name);
		/* the filter applies to the trace's name, without .pcap */
		if (trace_load_pcap(path, &r[cnt].t, err, sizeof(err)) != 0)
			fprintf(stderr, "tb_bench: %s (skipped)\n", err);
		else if (wanted(o, r[cnt].t.name))
			cnt++;
		else
			trace_free(&r[cnt].t);
		free(ents[i]);
	}
	free(ents);
	for (int i = 0; trace_synth(i, &r[cnt].t) == 0; i++) {
		if (wanted(o, r[cnt].t.name))
			cnt++;
		else
			trace_free(&r[cnt].t);
	}
	*out = r;
	return cnt;
}

static int is_bulk(const char *name)
{
	return strstr(name, "bulk") || strstr(name, "4flows") || !strcmp(name, "syn_tcp4_1flow") ||
	       !strcmp(name, "syn_tcp6_1flow");
}

static const struct result *find(const struct result *r, int n, const char *name)
{
	for (int i = 0; i < n; i++)
		if (!strcmp(r[i].t.name, name))
			return &r[i];
	return NULL;
}

/* ---- ordering ------------------------------------------------------------ */

/*
 * Swaps one adjacent pair in every 50 packets: 2% of them arrive displaced.
 * A pair never straddles two bursts: order is restored within a burst.
 */
static uint32_t *displace(uint32_t n)
{
	uint32_t *perm = malloc((n ? n : 1) * sizeof(*perm));

	if (!perm)
		return NULL;
	for (uint32_t i = 0; i < n; i++)
		perm[i] = i;
	for (uint32_t i = 25; i + 1 < n; i += 50) {
		if ((i + 1) % BENCH_BATCH == 0)
			i++;
		if (i + 1 >= n)
			break;
		perm[i] = i + 1;
		perm[i + 1] = i;
	}
	return perm;
}

static uint64_t writes_of_pass(struct coal *k)
{
	uint64_t w0 = k->sink.writes;

	coal_pass(k);
	return k->sink.writes - w0;
}

/*
 * The ordering option's cost: keyed commits into an unordered coalescer
 * (the key ignored: today's commit), into an ordering one in order, and into
 * an ordering one with 2% of packets displaced, interleaved run by run.
 */
static int order_run(const struct opts *o, struct result *r)
{
	struct coal plain, in, disp, unord;
	uint32_t *perm = displace(r->t.n);
	struct timer tp = {coal_pass, &plain, r->t.n, o->aux_secs, 0, {0}, 0};
	struct timer ti = {coal_pass, &in, r->t.n, o->aux_secs, 0, {0}, 0};
	struct timer td = {coal_pass, &disp, r->t.n, o->aux_secs, 0, {0}, 0};

	if (!perm || coal_open(&plain, &r->t, 0, 0) ||
	    coal_open(&in, &r->t, TB_COALESCE_ORDER, 0) ||
	    coal_open(&disp, &r->t, TB_COALESCE_ORDER, 0) || coal_open(&unord, &r->t, 0, 0)) {
		free(perm);
		return -ENOMEM;
	}
	plain.keyed = in.keyed = disp.keyed = unord.keyed = 1;
	disp.perm = unord.perm = perm;
	for (int run = 0; run < o->runs; run++) {
		timer_run(&tp);
		timer_run(&ti);
		timer_run(&td);
	}
	timer_sample(&r->ord_plain, &tp);
	timer_sample(&r->ord_in, &ti);
	timer_sample(&r->ord_disp, &td);
	sample_ratio(&r->x_ord_in, &ti, &tp);
	sample_ratio(&r->x_ord_disp, &td, &tp);
	r->ord_allocs = tp.allocs + ti.allocs + td.allocs;
	{
		struct tb_stats st0, st1;
		tb_coalescer_stats(disp.c, &st0);
		r->ord_wr_disp = writes_of_pass(&disp);
		tb_coalescer_stats(disp.c, &st1);
		r->ord_displaced = st1.displaced - st0.displaced;
	}
	r->ord_wr_in = writes_of_pass(&in);
	r->ord_wr_unord_disp = writes_of_pass(&unord);
	r->ord_ran = 1;
	coal_close(&plain);
	coal_close(&in);
	coal_close(&disp);
	coal_close(&unord);
	free(perm);
	return 0;
}

/* ---- output -------------------------------------------------------------- */

struct run {
	struct opts o;
	const char *dir;
	int ndir; /* traces loaded from dir */
	struct result *res;
	int n;
	int gro_up;
	char gro_why[160];
	struct seg_result seg[8];
	int nseg;
	struct csum_result cs[3];
	int ncs;
	struct tun_result tun[3];
	const struct trace *tun_t[3];
	int ntun;
	struct carrier_result carrier;
};

static uint64_t total_allocs(const struct run *R)
{
	uint64_t a = 0;

	for (int i = 0; i < R->n; i++)
		a += R->res[i].co_allocs + R->res[i].fl_allocs + R->res[i].ver_allocs +
		     R->res[i].ord_allocs;
	for (int i = 0; i < R->nseg; i++)
		a += R->seg[i].allocs;
	for (int i = 0; i < R->ncs; i++)
		a += R->cs[i].allocs;
	return a;
}

/* Targets, read from this run's figures. */
struct verdicts {
	int floor_n, floor_met; /* TCP bulk <= 2x floor */
	int gro_n, gro_met;	/* TCP/IPv4 bulk >= 3x faster than rte_gro's faster mode */
	int rr_known, rr_met;	/* 64 flows round-robin <= 2x single flow */
	double rr_ratio;
	int tun_n, tun_met; /* CPU/GB with the coalescer <= 1/5 of without */
	int carrier_met;    /* carrier CPU/GB with GSO and GRO <= 1/3 of without */
	uint64_t allocs;
};

static void judge(const struct run *R, struct verdicts *v)
{
	const struct result *one = find(R->res, R->n, "syn_tcp4_1flow");
	const struct result *rr = find(R->res, R->n, "syn_tcp4_64rr");

	memset(v, 0, sizeof(*v));
	for (int i = 0; i < R->n; i++) {
		const struct result *r = &R->res[i];
		if (!is_bulk(r->t.name))
			continue;
		v->floor_n++;
		v->floor_met += r->x_floor.med <= 2;
		if (r->gro_ran && r->gro.available) {
			v->gro_n++;
			v->gro_met += r->x_gro.med >= 3;
		}
	}
	if (one && rr) {
		v->rr_known = 1;
		v->rr_ratio = rr->co.med / one->co.med;
		v->rr_met = v->rr_ratio <= 2;
	}
	for (int k = 0; k < R->ntun; k++) {
		if (!R->tun[k].ran)
			continue;
		v->tun_n++;
		v->tun_met += R->tun[k].on.cpu_s_per_gb <= R->tun[k].off.cpu_s_per_gb / 5;
	}
	v->carrier_met =
		R->carrier.ran && R->carrier.on.cpu_s_per_gb <= R->carrier.off.cpu_s_per_gb / 3;
	v->allocs = total_allocs(R) + R->carrier.on.allocs + R->carrier.off.allocs;
}

/* Rows and figures the summary ranges over. */
static int is_bulk_row(const struct result *r)
{
	return is_bulk(r->t.name);
}

static int is_bulk_gro_row(const struct result *r)
{
	return is_bulk(r->t.name) && r->gro_ran && r->gro.available;
}

static int is_ack_gro_row(const struct result *r)
{
	return (strstr(r->t.name, "bidir") || strstr(r->t.name, "acks")) && r->gro_ran &&
	       r->gro.available;
}

static int is_order_row(const struct result *r)
{
	return r->ord_ran;
}

static double x_floor_of(const struct result *r)
{
	return r->x_floor.med;
}

static double x_gro_of(const struct result *r)
{
	return r->x_gro.med;
}

static double x_order_of(const struct result *r)
{
	return r->x_ord_in.med;
}

static double x_order_disp_of(const struct result *r)
{
	return r->x_ord_disp.med;
}

/* "what: lo - hi (n traces)" over the rows keep() takes. */
static void summary_range(const char *what, const struct run *R, int (*keep)(const struct result *),
			  double (*fig)(const struct result *))
{
	double lo = 0, hi = 0;
	int n = 0;

	for (int i = 0; i < R->n; i++) {
		double x;
		if (!keep(&R->res[i]))
			continue;
		x = fig(&R->res[i]);
		lo = n && lo < x ? lo : x;
		hi = n && hi > x ? hi : x;
		n++;
	}
	if (n)
		printf("  %-46s %.2fx - %.2fx (%d traces)\n", what, lo, hi, n);
	else
		printf("  %-46s not measured\n", what);
}

static void print_parts_1_to_4(const struct run *R)
{
	printf("1. Coalescer: reserve -> commit -> flush, writer reads every iovec length\n");
	printf("   floor = parse only (version, protocol, addresses, ports, seq, flags; 5-tuple "
	       "hash)\n");
	printf("   verify = with TB_COALESCE_VERIFY_CSUM; order = flow sequence reversals "
	       "out/in\n\n");
	printf("%-16s %5s %5s %7s %-15s %6s %7s %6s %6s %6s %7s %6s %6s %5s\n", "trace", "pkts",
	       "B/pkt", "ns/pkt", "[range]", "Mpps", "wr/pkt", "allocs", "floor", "xfloor",
	       "verify", "xplain", "bytes", "order");
	for (int i = 0; i < R->n; i++) {
		const struct result *r = &R->res[i];
		char range[32], ord[24];
		snprintf(range, sizeof(range), "[%.2f-%.2f]", r->co.min, r->co.max);
		snprintf(ord, sizeof(ord), "%llu/%llu", (unsigned long long)r->ck.out_rev,
			 (unsigned long long)r->ck.in_rev);
		printf("%-16s %5u %5llu %7.2f %-15s %6.1f %7.4f %6llu %6.2f %6.2f %7.2f %6.2f %6s "
		       "%5s\n",
		       r->t.name, r->t.n, (unsigned long long)(r->t.bytes / r->t.n), r->co.med,
		       range, 1e3 / r->co.med, r->ck.wpp,
		       (unsigned long long)(r->co_allocs + r->fl_allocs + r->ver_allocs), r->fl.med,
		       r->co.med / r->fl.med, r->ver.med, r->ver.med / r->co.med,
		       r->ck.bytes_ok && r->ver_ck.bytes_ok ? "ok" : "DIFF", ord);
	}

	printf("\n2. DPDK rte_gro%s%s, TCP/IPv4 traces (14-byte Ethernet header prepended)\n",
	       R->gro_up ? " " : "", R->gro_up ? R->gro_why : "");
	if (!R->gro_up) {
		printf("   %s\n", R->gro_why);
	} else {
		printf("   lw = rte_gro_reassemble_burst; hw = rte_gro_reassemble + "
		       "rte_gro_timeout_flush on a context\n");
		printf("   only the GRO calls timed; x = its faster mode / ours; rev = flow "
		       "sequence reversals in its output\n\n");
		printf("%-16s %7s %7s %-15s %7s %-15s %6s %7s %7s %7s %6s %6s %5s\n", "trace",
		       "ours", "lw ns", "[range]", "hw ns", "[range]", "x", "wr ours", "wr lw",
		       "wr hw", "rev lw", "rev hw", "bytes");
		for (int i = 0; i < R->n; i++) {
			const struct result *r = &R->res[i];
			const struct gro_result *g = &r->gro;
			char a[32], b[32];
			if (!r->gro_ran)
				continue;
			if (!g->available) {
				printf("%-16s %7.2f %s\n", r->t.name, r->co.med, g->why);
				continue;
			}
			snprintf(a, sizeof(a), "[%.2f-%.2f]", g->lw.min, g->lw.max);
			snprintf(b, sizeof(b), "[%.2f-%.2f]", g->hw.min, g->hw.max);
			printf("%-16s %7.2f %7.2f %-15s %7.2f %-15s %6.2f %7.4f %7.4f %7.4f %6llu "
			       "%6llu %5s\n",
			       r->t.name, r->co.med, g->lw.med, a, g->hw.med, b, r->x_gro.med,
			       r->ck.wpp, g->lw_wpp, g->hw_wpp, (unsigned long long)g->lw_rev,
			       (unsigned long long)g->hw_rev,
			       g->lw_bytes_ok && g->hw_bytes_ok ? "ok" : "DIFF");
		}
		for (int i = 0; i < R->n; i++) {
			const struct result *r = &R->res[i];
			const struct gro_result *g = &r->gro;
			if (!r->gro_ran || !g->available || (g->lw_merged && g->hw_merged))
				continue;
			if (r->ck.superpackets)
				printf("   WARNING: %s: rte_gro merged nothing in %s mode: not a "
				       "comparison\n",
				       r->t.name, !g->lw_merged ? "lightweight" : "heavyweight");
			else
				printf("   note: %s: nothing here can merge (ours wrote no "
				       "superpacket either)\n",
				       r->t.name);
		}
	}

	printf("\n1b. Ordering (TB_COALESCE_ORDER): tb_coalescer_commit_key, no copy\n");
	printf("   plain = unordered coalescer (key ignored); in-order and 2%% displaced (one\n"
	       "   adjacent pair swapped in every 50 packets) with the option; x = over plain,\n"
	       "   run by run; wr/pkt: displaced with the option / displaced without it\n\n");
	printf("%-16s %7s %7s %7s %7s %7s %6s %8s %8s %6s\n", "trace", "plain", "in-ord", "x",
	       "displ", "x", "displ#", "wr ord", "wr unord", "same");
	for (int i = 0; i < R->n; i++) {
		const struct result *r = &R->res[i];
		if (!r->ord_ran)
			continue;
		printf("%-16s %7.2f %7.2f %7.3f %7.2f %7.3f %6llu %8.4f %8.4f %6s\n", r->t.name,
		       r->ord_plain.med, r->ord_in.med, r->x_ord_in.med, r->ord_disp.med,
		       r->x_ord_disp.med, (unsigned long long)r->ord_displaced,
		       (double)r->ord_wr_disp / r->t.n, (double)r->ord_wr_unord_disp / r->t.n,
		       r->ord_wr_disp == r->ord_wr_in ? "yes" : "NO");
	}

	printf("\n3. Segmentation: superpackets of 45 segments (tb_segment: callback reads "
	       "iovec lengths)\n");
	printf("%-22s %7s %9s %-15s %8s %6s\n", "kind", "bytes", "ns/seg", "[range]", "GB/s",
	       "allocs");
	for (int i = 0; i < R->nseg; i++) {
		const struct seg_result *s = &R->seg[i];
		char a[32];
		if (!s->available) {
			printf("%-22s %s\n", s->what, s->why);
			continue;
		}
		snprintf(a, sizeof(a), "[%.2f-%.2f]", s->ns_per_seg.min, s->ns_per_seg.max);
		printf("%-22s %7zu %9.2f %-15s %8.2f %6llu\n", s->what, s->bytes, s->ns_per_seg.med,
		       a, (double)s->bytes / (s->ns_per_seg.med * s->segs),
		       (unsigned long long)s->allocs);
	}

	printf("\n4. Checksum: tb_csum_partial against a naive 16-bit loop\n");
	printf("%-8s %9s %-17s %9s %-17s %7s %5s\n", "buffer", "lib GB/s", "[range]", "naive",
	       "[range]", "x", "same");
	for (int i = 0; i < R->ncs; i++) {
		const struct csum_result *c = &R->cs[i];
		char a[40], b[40];
		double L = (double)c->len;
		snprintf(a, sizeof(a), "[%.2f-%.2f]", L / c->lib.max, L / c->lib.min);
		snprintf(b, sizeof(b), "[%.2f-%.2f]", L / c->naive.max, L / c->naive.min);
		printf("%-8zu %9.2f %-17s %9.2f %-17s %7.2f %5s\n", c->len, L / c->lib.med, a,
		       L / c->naive.med, b, c->naive.med / c->lib.med, c->agree ? "yes" : "NO");
	}
}

static void print_part_5(const struct run *R)
{
	printf("\n5. TUN writes: a real TUN in a namespace, routed to a discarding interface%s%s\n",
	       R->ntun && R->tun[0].ran ? ": " : "",
	       R->ntun && R->tun[0].ran ? R->tun[0].sink : "");
	printf("   CPU = the writing thread's user + sys time per GB of packets; fwd = bytes the "
	       "sink got / bytes written\n");
	if (!R->ntun)
		printf("   not run\n");
	for (int k = 0; k < R->ntun; k++) {
		const struct tun_result *t = &R->tun[k];
		if (!t->ran) {
			printf("   %s: %s\n", R->tun_t[k]->name, t->why);
			break;
		}
		if (k == 0)
			printf("%-16s %-10s %9s %7s %7s %8s %8s %6s %6s\n", "trace", "mode",
			       "CPU s/GB", "user", "sys", "Mpps", "wr/pkt", "fwd", "errors");
		for (int m = 0; m < 2; m++) {
			const struct tun_mode *x = m ? &t->off : &t->on;
			printf("%-16s %-10s %9.3f %7.3f %7.3f %8.3f %8.4f %5.1f%% %6llu\n",
			       m ? "" : R->tun_t[k]->name, m ? "lanes off" : "coalescer",
			       x->cpu_s_per_gb, x->user_s_per_gb,
			       x->cpu_s_per_gb - x->user_s_per_gb, x->pps / 1e6, x->writes_per_pkt,
			       100 * x->fwd_ratio, (unsigned long long)x->write_errors);
		}
		printf("%-16s %-10s %9.3f %8.2f\n", "", "ratio",
		       t->on.cpu_s_per_gb / t->off.cpu_s_per_gb, t->on.pps / t->off.pps);
	}
}

/* The trace directory without the machine's path: its last two components. */
static const char *dir_label(const char *dir)
{
	const char *p;
	int slashes = 0;

	if (!dir)
		return "none";
	p = dir + strlen(dir);
	while (p > dir && p[-1] == '/')
		p--;
	while (p > dir) {
		if (p[-1] == '/' && ++slashes == 2)
			break;
		p--;
	}
	return p;
}

static void print_table(const struct run *R)
{
	const struct opts *o = &R->o;
	struct verdicts v;

	printf("tunbatch %s benchmark: bursts of %d, %d runs per figure, median [min-max]\n",
	       tb_version(), BENCH_BATCH, o->runs);
	printf("runs time at least %.2f s (coalescer) and %.2f s (everything else) each%s\n",
	       o->secs, o->aux_secs, o->copy ? "; packets copied into reserved buffers" : "");
	printf("traces: %s (%d) + %d synthetic\n\n", dir_label(R->dir), R->ndir, R->n - R->ndir);

	if (!o->tun_only && !o->carrier_only)
		print_parts_1_to_4(R);
	if (!o->carrier_only)
		print_part_5(R);
	if (!o->tun_only)
		carrier_print_table(&R->carrier);

	judge(R, &v);
	printf("\nSummary: figures from this run (docs/bench.md sets them beside the goals)\n");
	if (!o->tun_only && !o->carrier_only) {
		summary_range("TCP bulk, coalescer / parse floor", R, is_bulk_row, x_floor_of);
		summary_range("TCP bulk, rte_gro's faster mode / coalescer", R, is_bulk_gro_row,
			      x_gro_of);
		summary_range("ACK-heavy, rte_gro's faster mode / coalescer", R, is_ack_gro_row,
			      x_gro_of);
		if (v.rr_known)
			printf("  %-46s %.2fx\n", "64 flows round-robin / one flow", v.rr_ratio);
		summary_range("ordering in order / unordered", R, is_order_row, x_order_of);
		summary_range("ordering 2% displaced / unordered", R, is_order_row,
			      x_order_disp_of);
	}
	{
		double lo = 0, hi = 0;
		int n = 0;
		for (int k = 0; k < R->ntun; k++) {
			double x;
			if (!R->tun[k].ran)
				continue;
			x = R->tun[k].on.cpu_s_per_gb / R->tun[k].off.cpu_s_per_gb;
			lo = n && lo < x ? lo : x;
			hi = n && hi > x ? hi : x;
			n++;
		}
		if (n)
			printf("  %-46s %.3f - %.3f (%d traces)\n",
			       "TUN CPU/GB, coalescer / lanes off", lo, hi, n);
		else
			printf("  %-46s not run\n", "TUN CPU/GB, coalescer / lanes off");
	}
	if (R->carrier.ran)
		printf("  %-46s %.3f\n", "carrier CPU/GB, GSO+GRO / both off",
		       R->carrier.on.cpu_s_per_gb / R->carrier.off.cpu_s_per_gb);
	else
		printf("  %-46s not run\n", "carrier CPU/GB, GSO+GRO / both off");
	printf("  %-46s %llu\n", "allocations in timed loops", (unsigned long long)v.allocs);
}

static void jsample(const char *key, const struct sample *s)
{
	printf("\"%s\": {\"median\": %.4f, \"min\": %.4f, \"max\": %.4f, \"runs\": %d}", key,
	       s->med, s->min, s->max, s->runs);
}

static void jstr(const char *s)
{
	putchar('"');
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			printf("\\%c", *s);
		else if ((unsigned char)*s < 0x20)
			printf("\\u%04x", *s);
		else
			putchar(*s);
	}
	putchar('"');
}

static const char *jb(int v)
{
	return v ? "true" : "false";
}

static void print_json(const struct run *R)
{
	const struct opts *o = &R->o;
	struct verdicts v;

	judge(R, &v);
	printf("{\"version\": \"%s\", \"batch\": %d, \"runs\": %d, \"secs\": %.3f, "
	       "\"aux_secs\": %.3f, \"copy\": %s, \"traces_dir\": ",
	       tb_version(), BENCH_BATCH, o->runs, o->secs, o->aux_secs, jb(o->copy));
	if (R->dir)
		jstr(R->dir);
	else
		printf("null");
	printf(",\n \"unit\": \"ns per packet unless named otherwise\",\n \"traces\": [\n");
	for (int i = 0; i < R->n; i++) {
		const struct result *r = &R->res[i];
		const struct gro_result *g = &r->gro;
		printf("  {\"name\": ");
		jstr(r->t.name);
		printf(", \"origin\": \"%s\", \"packets\": %u, \"bytes\": %llu, \"tcp4_only\": "
		       "%s,\n",
		       r->t.origin, r->t.n, (unsigned long long)r->t.bytes, jb(r->t.all_tcp4));
		printf("   \"coalescer\": {");
		jsample("ns_per_pkt", &r->co);
		printf(", \"mpps\": %.3f, \"writes_per_pkt\": %.5f, \"writes\": %llu, "
		       "\"superpackets\": %llu, \"allocs\": %llu, \"payload_ok\": %s, "
		       "\"seq_reversals_in\": %llu, \"seq_reversals_out\": %llu, \"failures\": "
		       "%llu},\n",
		       1e3 / r->co.med, r->ck.wpp, (unsigned long long)r->ck.writes,
		       (unsigned long long)r->ck.superpackets, (unsigned long long)r->co_allocs,
		       jb(r->ck.bytes_ok), (unsigned long long)r->ck.in_rev,
		       (unsigned long long)r->ck.out_rev, (unsigned long long)r->fails);
		printf("   \"floor\": {");
		jsample("ns_per_pkt", &r->fl);
		printf(", \"allocs\": %llu, ", (unsigned long long)r->fl_allocs);
		jsample("coalescer_over_floor", &r->x_floor);
		printf("},\n");
		printf("   \"verify_csum\": {");
		jsample("ns_per_pkt", &r->ver);
		printf(", \"allocs\": %llu, \"writes_per_pkt\": %.5f, \"payload_ok\": %s, ",
		       (unsigned long long)r->ver_allocs, r->ver_ck.wpp, jb(r->ver_ck.bytes_ok));
		jsample("over_plain", &r->x_verify);
		printf("},\n");
		if (r->ord_ran) {
			printf("   \"ordering\": {");
			jsample("plain_ns_per_pkt", &r->ord_plain);
			printf(", ");
			jsample("in_order_ns_per_pkt", &r->ord_in);
			printf(", ");
			jsample("displaced_ns_per_pkt", &r->ord_disp);
			printf(", ");
			jsample("in_order_over_plain", &r->x_ord_in);
			printf(", ");
			jsample("displaced_over_plain", &r->x_ord_disp);
			printf(", \"displaced_pkts\": %llu, \"writes_in_order\": %llu, "
			       "\"writes_displaced\": %llu, \"writes_displaced_unordered\": %llu, "
			       "\"allocs\": %llu},\n",
			       (unsigned long long)r->ord_displaced,
			       (unsigned long long)r->ord_wr_in, (unsigned long long)r->ord_wr_disp,
			       (unsigned long long)r->ord_wr_unord_disp,
			       (unsigned long long)r->ord_allocs);
		}
		printf("   \"rte_gro\": ");
		if (!r->gro_ran) {
			printf("null}");
		} else if (!g->available) {
			printf("{\"available\": false, \"why\": ");
			jstr(g->why);
			printf("}}");
		} else {
			printf("{\"available\": true, \"lightweight\": {");
			jsample("ns_per_pkt", &g->lw);
			printf(", \"writes_per_pkt\": %.5f, \"seq_reversals\": %llu, "
			       "\"payload_ok\": "
			       "%s, \"merged\": %s}, \"heavyweight\": {",
			       g->lw_wpp, (unsigned long long)g->lw_rev, jb(g->lw_bytes_ok),
			       jb(g->lw_merged));
			jsample("ns_per_pkt", &g->hw);
			printf(", \"writes_per_pkt\": %.5f, \"seq_reversals\": %llu, "
			       "\"payload_ok\": "
			       "%s, \"merged\": %s}, ",
			       g->hw_wpp, (unsigned long long)g->hw_rev, jb(g->hw_bytes_ok),
			       jb(g->hw_merged));
			jsample("faster_over_coalescer", &r->x_gro);
			printf("}}");
		}
		printf("%s\n", i + 1 < R->n ? "," : "");
	}
	printf(" ],\n \"rte_gro\": {\"available\": %s, \"about\": ", jb(R->gro_up));
	jstr(R->gro_why);
	printf("},\n \"segmentation\": [");
	for (int i = 0; i < R->nseg; i++) {
		const struct seg_result *s = &R->seg[i];
		printf("%s\n  {\"kind\": ", i ? "," : "");
		jstr(s->what);
		if (!s->available) {
			printf(", \"available\": false, \"why\": ");
			jstr(s->why);
			printf("}");
			continue;
		}
		printf(", \"available\": true, \"segments\": %u, \"bytes\": %zu, ", s->segs,
		       s->bytes);
		jsample("ns_per_segment", &s->ns_per_seg);
		printf(", \"allocs\": %llu}", (unsigned long long)s->allocs);
	}
	printf("\n ],\n \"checksum\": [");
	for (int i = 0; i < R->ncs; i++) {
		const struct csum_result *c = &R->cs[i];
		printf("%s\n  {\"bytes\": %zu, ", i ? "," : "", c->len);
		jsample("lib_ns", &c->lib);
		printf(", ");
		jsample("naive_ns", &c->naive);
		printf(", \"lib_gbps\": %.3f, \"naive_gbps\": %.3f, \"agree\": %s}",
		       (double)c->len / c->lib.med, (double)c->len / c->naive.med, jb(c->agree));
	}
	printf("\n ],\n \"tun\": [");
	for (int k = 0; k < R->ntun; k++) {
		const struct tun_result *t = &R->tun[k];
		printf("%s\n  {\"trace\": ", k ? "," : "");
		jstr(R->tun_t[k]->name);
		if (!t->ran) {
			printf(", \"ran\": false, \"why\": ");
			jstr(t->why);
			printf("}");
			continue;
		}
		printf(", \"ran\": true, \"sink\": \"%s\"", t->sink);
		for (int m = 0; m < 2; m++) {
			const struct tun_mode *x = m ? &t->off : &t->on;
			printf(", \"%s\": {\"cpu_s_per_gb\": %.5f, \"user_s_per_gb\": %.5f, "
			       "\"pps\": %.0f, \"writes_per_pkt\": %.5f, \"forwarded\": %.4f, "
			       "\"write_errors\": %llu}",
			       m ? "lanes_off" : "coalescer", x->cpu_s_per_gb, x->user_s_per_gb,
			       x->pps, x->writes_per_pkt, x->fwd_ratio,
			       (unsigned long long)x->write_errors);
		}
		printf(", \"cpu_ratio\": %.4f, \"pps_ratio\": %.4f}",
		       t->on.cpu_s_per_gb / t->off.cpu_s_per_gb, t->on.pps / t->off.pps);
	}
	printf("\n ]");
	carrier_print_json(&R->carrier);
	printf(",\n \"targets\": {\"bulk_within_2x_floor\": [%d, %d], "
	       "\"bulk_3x_faster_than_rte_gro\": [%d, %d], \"rr64_over_one_flow\": ",
	       v.floor_met, v.floor_n, v.gro_met, v.gro_n);
	if (v.rr_known)
		printf("%.4f", v.rr_ratio);
	else
		printf("null");
	printf(", \"tun_cpu_fifth\": [%d, %d], \"carrier_cpu_third\": %s, \"allocations\": "
	       "%llu}\n}\n",
	       v.tun_met, v.tun_n, R->carrier.ran ? jb(v.carrier_met) : "null",
	       (unsigned long long)v.allocs);
}

static void usage(void)
{
	fprintf(stderr,
		"usage: tb_bench [options] [TRACE_DIR]\n"
		"  --json          machine-readable output\n"
		"  --secs S        minimum timed seconds per coalescer run (default 1)\n"
		"  --aux-secs S    the same for the floor, checksum verification, rte_gro,\n"
		"                  segmentation and checksum runs (default 0.3)\n"
		"  --runs N        runs per figure (default 5)\n"
		"  --only SUBSTR   only traces whose name contains SUBSTR\n"
		"  --profile NAME  only the coalescer on one trace (for perf record)\n"
		"  --keyed         with --profile: tb_coalescer_commit_key, in order\n"
		"  --order         with --profile: the same with TB_COALESCE_ORDER\n"
		"  --count N       with --profile: exactly N passes, untimed (for\n"
		"                  instruction counters)\n"
		"  --copy          copy each packet into its reserved buffer first\n"
		"  --limit N       only the first N packets of each trace\n"
		"  --no-dpdk       skip rte_gro\n"
		"  --no-tun        skip the TUN part\n"
		"  --tun-only      only the TUN part\n"
		"  --no-carrier    skip the carrier part\n"
		"  --carrier-only  only the carrier part\n");
}

static int parse_args(int argc, char **argv, struct opts *o)
{
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--json"))
			o->json = 1;
		else if (!strcmp(argv[i], "--secs") && i + 1 < argc)
			o->secs = atof(argv[++i]);
		else if (!strcmp(argv[i], "--aux-secs") && i + 1 < argc)
			o->aux_secs = atof(argv[++i]);
		else if (!strcmp(argv[i], "--runs") && i + 1 < argc)
			o->runs = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--only") && i + 1 < argc)
			o->only = argv[++i];
		else if (!strcmp(argv[i], "--keyed"))
			o->keyed = 1;
		else if (!strcmp(argv[i], "--order"))
			o->keyed = 2;
		else if (!strcmp(argv[i], "--profile") && i + 1 < argc)
			o->profile = argv[++i];
		else if (!strcmp(argv[i], "--count") && i + 1 < argc)
			o->count = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--copy"))
			o->copy = 1;
		else if (!strcmp(argv[i], "--limit") && i + 1 < argc)
			o->limit = (unsigned)atoi(argv[++i]);
		else if (!strcmp(argv[i], "--no-dpdk"))
			o->no_dpdk = 1;
		else if (!strcmp(argv[i], "--no-tun"))
			o->no_tun = 1;
		else if (!strcmp(argv[i], "--tun-only"))
			o->tun_only = 1;
		else if (!strcmp(argv[i], "--no-carrier"))
			o->no_carrier = 1;
		else if (!strcmp(argv[i], "--carrier-only"))
			o->carrier_only = 1;
		else if (argv[i][0] != '-' && !o->dir)
			o->dir = argv[i];
		else
			return -1;
	}
	if (o->runs < 1 || o->runs > MAX_RUNS || o->secs <= 0 || o->aux_secs <= 0)
		return -1;
	return 0;
}

static int profile(const struct run *R)
{
	const struct trace *t = &R->res[0].t;
	struct coal k;
	struct sample s;
	uint64_t al;

	if (coal_open(&k, t, R->o.keyed == 2 ? TB_COALESCE_ORDER : 0, R->o.copy))
		return 1;
	k.keyed = R->o.keyed != 0;
	if (R->o.count) {
		/* A fixed amount of work, for instruction counters. */
		for (int i = 0; i < R->o.count; i++)
			coal_pass(&k);
		printf("%s: %u packets, %d passes\n", t->name, t->n, R->o.count);
		coal_close(&k);
		return 0;
	}
	measure(coal_pass, &k, t->n, R->o.secs, R->o.runs, &s, &al);
	printf("%s: %.2f ns/pkt [%.2f-%.2f], %llu allocations\n", t->name, s.med, s.min, s.max,
	       (unsigned long long)al);
	coal_close(&k);
	return 0;
}

static void progress(const struct run *R, const char *what, const char *name)
{
	if (!R->o.json)
		fprintf(stderr, "tb_bench: %s %s\n", what, name);
}

int main(int argc, char **argv)
{
	static struct run R;
	struct opts *o = &R.o;

	*o = (struct opts){.secs = 1.0, .aux_secs = 0.3, .runs = 5};
	if (parse_args(argc, argv, o)) {
		usage();
		return 2;
	}
	R.dir = o->dir;
	if (!R.dir)
		R.dir = has_pcaps(TB_BENCH_TRACES_DIR)	   ? TB_BENCH_TRACES_DIR
			: has_pcaps(TB_BENCH_EXAMPLES_DIR) ? TB_BENCH_EXAMPLES_DIR
							   : NULL;
	if (R.dir && !has_pcaps(R.dir))
		fprintf(stderr, "tb_bench: no .pcap file in %s: synthetic traces only\n", R.dir);
	R.n = load_traces(o, R.dir, &R.res);
	if (R.n <= 0) {
		fprintf(stderr, "tb_bench: no trace to run\n");
		return 1;
	}
	for (int i = 0; i < R.n; i++) {
		R.ndir += !strcmp(R.res[i].t.origin, "file");
		if (o->limit && R.res[i].t.n > o->limit) {
			R.res[i].t.n = o->limit;
			R.res[i].t.bytes = 0;
			for (unsigned k = 0; k < o->limit; k++)
				R.res[i].t.bytes += R.res[i].t.pkts[k].len;
		}
	}
	if (o->profile)
		return profile(&R);

	if (o->carrier_only)
		goto carrier;
	if (o->tun_only)
		goto tun;
	if (!o->no_dpdk)
		R.gro_up = gro_init(R.gro_why, sizeof(R.gro_why)) == 0;
	else
		snprintf(R.gro_why, sizeof(R.gro_why), "not run (--no-dpdk)");

	for (int i = 0; i < R.n; i++) {
		struct result *r = &R.res[i];
		struct coal k, kv;
		struct floorctx f = {&r->t, 0};
		struct gro_bench *gb = NULL;
		struct timer tc = {coal_pass, &k, r->t.n, o->secs, 0, {0}, 0};
		struct timer tf = {floor_pass, &f, r->t.n, o->aux_secs, 0, {0}, 0};
		struct timer tv = {coal_pass, &kv, r->t.n, o->aux_secs, 0, {0}, 0};
		struct timer tl = {gro_pass, NULL, r->t.n, o->aux_secs, 0, {0}, 0};
		struct timer th = tl;

		progress(&R, "trace", r->t.name);
		check_trace(&r->t, 0, &r->ck);
		check_trace(&r->t, TB_COALESCE_VERIFY_CSUM, &r->ver_ck);
		if (coal_open(&k, &r->t, 0, o->copy) ||
		    coal_open(&kv, &r->t, TB_COALESCE_VERIFY_CSUM, o->copy)) {
			fprintf(stderr, "tb_bench: out of memory\n");
			return 1;
		}
		if (R.gro_up && r->t.all_tcp4) {
			r->gro_ran = 1;
			gb = gro_open(&r->t, &r->gro);
			if (gb) {
				tl.ctx = gro_mode(gb, 0);
				th.ctx = gro_mode(gb, 1);
			}
		}
		/* Run by run, every loop in turn: the ratios compare like with like. */
		for (int run = 0; run < o->runs; run++) {
			timer_run(&tc);
			timer_run(&tf);
			timer_run(&tv);
			if (gb) {
				timer_run(&tl);
				timer_run(&th);
			}
		}
		timer_sample(&r->co, &tc);
		timer_sample(&r->fl, &tf);
		timer_sample(&r->ver, &tv);
		r->co_allocs = tc.allocs;
		r->fl_allocs = tf.allocs;
		r->ver_allocs = tv.allocs;
		sample_ratio(&r->x_floor, &tc, &tf);
		sample_ratio(&r->x_verify, &tv, &tc);
		r->fails = k.fails + kv.fails;
		coal_close(&k);
		coal_close(&kv);
		if (gb) {
			double v[MAX_RUNS];
			timer_sample(&r->gro.lw, &tl);
			timer_sample(&r->gro.hw, &th);
			for (int run = 0; run < o->runs; run++)
				v[run] =
					(tl.v[run] < th.v[run] ? tl.v[run] : th.v[run]) / tc.v[run];
			sample_from(&r->x_gro, v, o->runs);
			gro_close(gb);
		}
	}
	if (R.gro_up)
		gro_fini();

	for (int i = 0; i < R.n; i++) {
		if (strcmp(R.res[i].t.origin, "file"))
			continue;
		progress(&R, "ordering", R.res[i].t.name);
		if (order_run(o, &R.res[i])) {
			fprintf(stderr, "tb_bench: out of memory\n");
			return 1;
		}
	}

	if (!o->only) {
		progress(&R, "segmentation", "");
		R.nseg = seg_run(o->aux_secs, o->runs, R.seg, 8);
		progress(&R, "checksum", "");
		run_csum(o, R.cs, 3);
		R.ncs = 3;
	}

tun:
	/* Part 2: a TCP/IPv4, a TCP/IPv6 and a UDP trace into a real TUN. */
	if (!o->no_tun) {
		static const char *const pick[3][2] = {{"tcp4_bulk", "syn_tcp4_1flow"},
						       {"tcp6_bulk", "syn_tcp6_1flow"},
						       {"udp4_fixed", "syn_udp4_1flow"}};
		for (int k = 0; k < 3; k++) {
			const struct result *r = find(R.res, R.n, pick[k][0]);
			if (!r)
				r = find(R.res, R.n, pick[k][1]);
			if (r)
				R.tun_t[R.ntun++] = &r->t;
		}
		for (int k = 0; k < R.ntun; k++) {
			progress(&R, "TUN", R.tun_t[k]->name);
			tun_run(R.tun_t[k], o->secs, &R.tun[k]);
			if (!R.tun[k].ran) {
				R.ntun = k + 1; /* the reason holds for the rest */
				break;
			}
		}
	}

	if (o->tun_only)
		goto out;
carrier:
	/* Part 3: the carrier over a veth pair, GSO and GRO on, then off. */
	if (!o->no_carrier) {
		progress(&R, "carrier", "");
		carrier_run(o->secs, &R.carrier);
	} else {
		snprintf(R.carrier.why, sizeof(R.carrier.why), "not run (--no-carrier)");
	}
out:
	if (o->json)
		print_json(&R);
	else
		print_table(&R);
	for (int i = 0; i < R.n; i++)
		trace_free(&R.res[i].t);
	free(R.res);
	return 0;
}
