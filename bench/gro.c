/* SPDX-License-Identifier: MIT */
/*
 * DPDK's rte_gro on the same traces, in its two modes. Only the GRO calls are
 * timed: GRO merges the mbufs in place, so every burst is rebuilt from the
 * trace before its call, outside the timed region.
 */
#define _GNU_SOURCE /* sched_getaffinity */
#include "bench.h"

#include <rte_common.h>
#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_gro.h>
#include <rte_lcore.h>
#include <rte_log.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>
#include <rte_version.h>

#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define ETH_LEN	   14
#define POOL_MBUFS 8191
#define BUF_ROOM   2048

static struct rte_mempool *pool;
static double ns_per_cycle;
static uint64_t tsc_overhead; /* cycles of an empty rte_rdtsc() pair */

static int eal_up(void)
{
	/* rte_eal_init keeps pointers into argv: give it storage that lives. */
	static char *argv[16];
	static char args[][24] = {"tb_bench",	   "--no-huge",	    "--no-pci", "-m",
				  "512",	   "--no-shconf",   "-l",	"0",
				  "--log-level=1", "--no-telemetry"};
	int argc = (int)(sizeof(args) / sizeof(args[0]));

	for (int i = 0; i < argc; i++)
		argv[i] = args[i];
	argv[argc] = NULL;
	return rte_eal_init(argc, argv);
}

int gro_init(char *why, size_t whylen)
{
	cpu_set_t saved;
	pid_t pid;
	int st = 0;

	/* EAL can abort the process on some failures: try it in a child first. */
	fflush(NULL);
	pid = fork();
	if (pid == 0) {
		int fd = open("/dev/null", O_WRONLY);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		_exit(eal_up() < 0 ? 1 : 0);
	}
	if (pid < 0 || waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st)) {
		snprintf(why, whylen, "not available: EAL initialisation failed%s",
			 pid > 0 && WIFSIGNALED(st) ? " (it crashed)" : "");
		return -1;
	}
	/* EAL pins the calling thread to lcore 0; the rest of the benchmark
	 * keeps the placement it had. */
	sched_getaffinity(0, sizeof(saved), &saved);
	if (eal_up() < 0) {
		snprintf(why, whylen, "not available: EAL initialisation failed (%s)",
			 rte_strerror(rte_errno));
		return -1;
	}
	sched_setaffinity(0, sizeof(saved), &saved);
	pool = rte_pktmbuf_pool_create("tb_bench", POOL_MBUFS, 0, 0,
				       BUF_ROOM + RTE_PKTMBUF_HEADROOM, SOCKET_ID_ANY);
	if (!pool) {
		snprintf(why, whylen, "not available: no mbuf pool (%s)", rte_strerror(rte_errno));
		rte_eal_cleanup();
		return -1;
	}
	ns_per_cycle = 1e9 / (double)rte_get_tsc_hz();
	tsc_overhead = UINT64_MAX;
	for (int i = 0; i < 10000; i++) {
		uint64_t a = rte_rdtsc(), b = rte_rdtsc();
		if (b - a < tsc_overhead)
			tsc_overhead = b - a;
	}
	snprintf(why, whylen, "%s", rte_version());
	return 0;
}

void gro_fini(void)
{
	rte_mempool_free(pool);
	pool = NULL;
	rte_eal_cleanup();
}

struct groctx {
	const struct trace *t;
	struct rte_mbuf **m; /* one per trace packet */
	struct rte_gro_param lw;
	void *hw; /* heavyweight context */
	int heavy;
	uint64_t outs;
	struct seqtrack *check; /* set for the untimed checking pass */
};

struct gro_bench {
	struct groctx mode[2]; /* lightweight, heavyweight: same mbufs */
	struct rte_mbuf **m;
	uint32_t n;
};

static const uint8_t eth_hdr[ETH_LEN] = {2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00};

/* Gives packet i back its original shape: GRO trims, chains and patches. */
static inline void reprep(const struct trace *t, struct rte_mbuf *m, uint32_t i)
{
	const uint8_t *ip = t->pkts[i].data;
	uint32_t len = t->pkts[i].len;
	unsigned l3 = (ip[0] & 15u) * 4, l4 = (ip[l3 + 12] >> 4) * 4u;
	uint8_t *d;

	m->data_off = RTE_PKTMBUF_HEADROOM;
	m->next = NULL;
	m->nb_segs = 1;
	m->pkt_len = m->data_len = (uint16_t)(ETH_LEN + len);
	m->ol_flags = 0;
	m->tx_offload = 0;
	m->l2_len = ETH_LEN;
	m->l3_len = l3;
	m->l4_len = l4;
	m->packet_type = RTE_PTYPE_L2_ETHER | RTE_PTYPE_L3_IPV4 | RTE_PTYPE_L4_TCP;
	d = rte_pktmbuf_mtod(m, uint8_t *);
	memcpy(d, eth_hdr, ETH_LEN);
	memcpy(d + ETH_LEN, ip, l3 + l4);
}

static void check_out(struct groctx *g, struct rte_mbuf **out, unsigned n)
{
	for (unsigned k = 0; k < n; k++) {
		const uint8_t *d = rte_pktmbuf_mtod(out[k], const uint8_t *);
		seqtrack_pkt(g->check, d + ETH_LEN, out[k]->data_len - ETH_LEN,
			     out[k]->pkt_len - ETH_LEN);
	}
}

uint64_t gro_pass(void *arg)
{
	struct groctx *g = arg;
	struct rte_mbuf *burst[BENCH_BATCH], *out[BENCH_BATCH];
	uint32_t n = g->t->n;
	uint64_t cycles = 0;

	for (uint32_t i = 0; i < n; i += BENCH_BATCH) {
		uint16_t cnt = (uint16_t)(n - i < BENCH_BATCH ? n - i : BENCH_BATCH), nb;
		uint64_t t0, t1;

		for (uint16_t j = 0; j < cnt; j++) {
			reprep(g->t, g->m[i + j], i + j);
			burst[j] = g->m[i + j];
		}
		if (!g->heavy) {
			t0 = rte_rdtsc();
			nb = rte_gro_reassemble_burst(burst, cnt, &g->lw);
			t1 = rte_rdtsc();
			if (g->check)
				check_out(g, burst, nb);
		} else {
			uint16_t fl;
			t0 = rte_rdtsc();
			nb = rte_gro_reassemble(burst, cnt, g->hw);
			fl = rte_gro_timeout_flush(g->hw, 0, RTE_GRO_TCP_IPV4, out, BENCH_BATCH);
			t1 = rte_rdtsc();
			if (g->check) {
				check_out(g, burst, nb);
				check_out(g, out, fl);
			}
			nb = (uint16_t)(nb + fl);
		}
		g->outs += nb;
		cycles += t1 - t0 > tsc_overhead ? t1 - t0 - tsc_overhead : 0;
	}
	return (uint64_t)((double)cycles * ns_per_cycle);
}

void *gro_mode(struct gro_bench *b, int heavy)
{
	return &b->mode[heavy != 0];
}

void gro_close(struct gro_bench *b)
{
	if (!b)
		return;
	if (b->mode[1].hw)
		rte_gro_ctx_destroy(b->mode[1].hw);
	for (uint32_t i = 0; i < b->n; i++) {
		if (!b->m[i])
			continue;
		reprep(b->mode[0].t, b->m[i], i); /* unchain before giving the mbufs back */
		rte_pktmbuf_free(b->m[i]);
	}
	free(b->m);
	free(b);
}

struct gro_bench *gro_open(const struct trace *t, struct gro_result *r)
{
	static struct seqtrack in, out;
	struct gro_bench *b;
	struct rte_gro_param hp;

	memset(r, 0, sizeof(*r));
	if (!pool || t->n > POOL_MBUFS) {
		snprintf(r->why, sizeof(r->why), "not available: %s",
			 pool ? "trace longer than the mbuf pool" : "no EAL");
		return NULL;
	}
	b = calloc(1, sizeof(*b));
	if (!b || !(b->m = calloc(t->n, sizeof(*b->m))) ||
	    rte_pktmbuf_alloc_bulk(pool, b->m, t->n)) {
		snprintf(r->why, sizeof(r->why), "not available: out of mbufs");
		if (b)
			free(b->m);
		free(b);
		return NULL;
	}
	b->n = t->n;
	for (uint32_t i = 0; i < t->n; i++) {
		/* Payload once; reprep restores the headers before every burst. */
		if (t->pkts[i].len + ETH_LEN > BUF_ROOM) {
			snprintf(r->why, sizeof(r->why), "not available: packet too long");
			goto fail;
		}
		memcpy(rte_pktmbuf_mtod(b->m[i], uint8_t *) + ETH_LEN, t->pkts[i].data,
		       t->pkts[i].len);
	}
	for (int h = 0; h < 2; h++) {
		struct groctx *g = &b->mode[h];
		g->t = t;
		g->m = b->m;
		g->heavy = h;
		g->lw.gro_types = RTE_GRO_TCP_IPV4;
		/* With 2 items per flow: a table of 128 items, more than a burst. */
		g->lw.max_flow_num = BENCH_BATCH;
		g->lw.max_item_per_flow = 2;
		g->lw.socket_id = (uint16_t)rte_socket_id();
	}
	hp = b->mode[1].lw;
	hp.max_flow_num = 128;
	hp.max_item_per_flow = BENCH_BATCH;
	b->mode[1].hw = rte_gro_ctx_create(&hp);
	if (!b->mode[1].hw) {
		snprintf(r->why, sizeof(r->why), "not available: rte_gro_ctx_create failed");
		goto fail;
	}
	r->available = 1;
	seqtrack_init(&in);
	for (uint32_t i = 0; i < t->n; i++)
		seqtrack_pkt(&in, t->pkts[i].data, t->pkts[i].len, t->pkts[i].len);
	for (int h = 0; h < 2; h++) {
		struct groctx *g = &b->mode[h];
		/* One checked pass, untimed: writes, payload bytes, order. */
		seqtrack_init(&out);
		g->check = &out;
		g->outs = 0;
		gro_pass(g);
		g->check = NULL;
		if (h) {
			r->hw_wpp = (double)g->outs / t->n;
			r->hw_rev = out.reversals;
			r->hw_bytes_ok = out.payload == in.payload;
			r->hw_merged = g->outs < t->n;
		} else {
			r->lw_wpp = (double)g->outs / t->n;
			r->lw_rev = out.reversals;
			r->lw_bytes_ok = out.payload == in.payload;
			r->lw_merged = g->outs < t->n;
		}
	}
	return b;
fail:
	gro_close(b);
	return NULL;
}
