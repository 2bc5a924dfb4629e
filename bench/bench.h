/* SPDX-License-Identifier: MIT */
/* Shared pieces of the benchmark program. */
#ifndef TB_BENCH_H
#define TB_BENCH_H

#include <stddef.h>
#include <stdint.h>

#define BENCH_BATCH 64

struct bench_pkt {
	const uint8_t *data;
	uint32_t len;
};

struct trace {
	char name[64];
	char origin[16]; /* "file" or "synthetic" */
	struct bench_pkt *pkts;
	uint32_t n;
	uint64_t bytes;
	uint8_t *mem; /* owns every packet's bytes */
	int all_tcp4; /* every packet is TCP over IPv4 without options */
};

/* Loads a classic pcap (raw IP, IPv4/IPv6 link types or Ethernet). 0 or -errno. */
int trace_load_pcap(const char *path, struct trace *t, char *err, size_t errlen);
/* Synthetic traces, by index until it returns -1. */
int trace_synth(int i, struct trace *t);
void trace_free(struct trace *t);
void trace_classify(struct trace *t);

/* Monotonic nanoseconds. */
uint64_t now_ns(void);
/* Runs a shell command built from fmt; returns system()'s status. */
int bench_sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Allocation counters fed by the --wrap'ed malloc family. */
uint64_t alloc_count(void);

/* A median and range over runs. */
struct sample {
	double med, min, max;
	int runs;
};
void sample_from(struct sample *s, double *v, int n);

#define MAX_RUNS 32
/*
 * Runs pass (which returns the nanoseconds it timed) once to warm up, then
 * runs times until each run has timed at least secs; a run's figure is its
 * timed nanoseconds per unit. *allocs gets the malloc-family calls made
 * during the runs.
 */
void measure(uint64_t (*pass)(void *ctx), void *ctx, uint64_t units_per_pass, double secs, int runs,
	     struct sample *s, uint64_t *allocs);

/*
 * The same, one run at a time, so that the runs of several loops can be
 * interleaved: a change in the machine's load then hits all of them alike.
 */
struct timer {
	uint64_t (*pass)(void *ctx);
	void *ctx;
	uint64_t units;
	double secs;
	int runs;
	double v[MAX_RUNS];
	uint64_t allocs;
};
void timer_run(struct timer *t); /* the first run warms up first */
void timer_sample(struct sample *s, const struct timer *t);
/* Median and range of a over b, run by run. */
void sample_ratio(struct sample *s, const struct timer *a, const struct timer *b);

/*
 * Follows each flow's sequence numbers through a stream of output packets
 * (IP headers first) and counts the times one goes backwards, plus the
 * payload bytes seen.
 */
struct seqtrack {
	struct seqflow {
		uint64_t key[5];
		uint32_t next; /* end of the highest sequence number seen */
		uint8_t used;
	} tab[4096];
	uint32_t nflows;
	uint64_t reversals;
	uint64_t payload;
	uint64_t pkts;
};
void seqtrack_init(struct seqtrack *t);
/* One output packet: headers (IP first) in hdr, total IP length len. */
void seqtrack_pkt(struct seqtrack *t, const uint8_t *hdr, size_t hdr_avail, size_t len);

/* The rte_gro comparison (gro.c, built only with DPDK). */
struct gro_result {
	int available;
	char why[160];		      /* when not available, or a warning */
	struct sample lw, hw;	      /* ns per packet, lightweight and heavyweight */
	double lw_wpp, hw_wpp;	      /* writes per packet */
	uint64_t lw_rev, hw_rev;      /* flow sequence reversals in one pass */
	int lw_bytes_ok, hw_bytes_ok; /* output payload == input payload */
	int lw_merged, hw_merged;     /* it merged something */
};
/* 0 when EAL came up; fills why otherwise. */
int gro_init(char *why, size_t whylen);
/*
 * Prepares t's mbufs, runs one checked pass per mode (filling r's writes,
 * reversals, bytes and merged fields) and gives the pass functions and
 * contexts of both modes for struct timer. NULL (and r->why) when it can't.
 */
struct gro_bench;
struct gro_bench *gro_open(const struct trace *t, struct gro_result *r);
uint64_t gro_pass(void *mode_ctx);
void *gro_mode(struct gro_bench *g, int heavy);
void gro_close(struct gro_bench *g);
void gro_fini(void);

/* Segmentation (seg.c): ns per segment of 45-segment superpackets. */
struct seg_result {
	char what[40];
	int available;
	char why[120];
	struct sample ns_per_seg;
	unsigned segs;
	size_t bytes; /* of the superpacket */
	uint64_t allocs;
};
int seg_run(double secs, int runs, struct seg_result *r, int nr);

/* Part 2: writes into a real TUN (tun.c). */
struct tun_mode {
	double cpu_s_per_gb; /* writing thread user + sys */
	double user_s_per_gb;
	double pps;
	double writes_per_pkt;
	double fwd_ratio; /* bytes the dummy sent / bytes written */
	uint64_t write_errors;
};
struct tun_result {
	int ran;
	char why[160];
	char sink[8]; /* "dummy" or "ifb" */
	struct tun_mode on, off;
};
void tun_run(const struct trace *t, double secs, struct tun_result *r);

/* Part 3: the carrier over a veth pair (carrier.c). */
struct carrier_mode {
	unsigned offloads_tx, offloads_rx; /* TB_CARRIER_GSO / TB_CARRIER_GRO in use */
	uint64_t tx_bytes, rx_bytes;
	double tx_cpu_s_per_gb;			 /* sending thread, per GB sent */
	double rx_cpu_s_per_gb;			 /* receiving thread, per GB received */
	double cpu_s_per_gb;			 /* the two added */
	double tx_calls_per_gb, rx_calls_per_gb; /* system calls */
	double gbps;				 /* received, over the run's wall time */
	double dgrams_per_send, dgrams_per_recv; /* per sendmmsg, per recvmmsg */
	double delivered;			 /* bytes received / bytes sent */
	uint64_t allocs;
	uint64_t errors;
};
struct carrier_result {
	int ran;
	char why[160];
	size_t dgram;
	int burst;
	struct carrier_mode on, off; /* GSO and GRO; both off */
};
void carrier_run(double secs, struct carrier_result *r);
void carrier_print_table(const struct carrier_result *r);
/* The "carrier" member of the JSON object, with its leading comma. */
void carrier_print_json(const struct carrier_result *r);

#endif
