/* SPDX-License-Identifier: MIT */
/*
 * Part 2: what superpackets save the kernel. The trace is written into a real
 * TUN inside a network namespace made for the run, whose routes forward every
 * packet to a dummy interface (which discards it): once through the
 * coalescer, once with every lane off. The writing thread's CPU time (user +
 * sys) covers the kernel's whole receive and forwarding path, which runs in
 * the write call.
 */
#define _GNU_SOURCE /* setns, RUSAGE_THREAD */
#include "bench.h"
#include "tunbatch.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <unistd.h>

#define TUN_NAME   "tbb0"
#define DUMMY_NAME "tbd0"

static char ns_name[32];
static char ns_path[64];
static volatile sig_atomic_t ns_made;

/* Only system calls: safe from a signal handler. */
static void ns_remove(void)
{
	if (!ns_made)
		return;
	umount2(ns_path, MNT_DETACH);
	unlink(ns_path);
	ns_made = 0;
}

static void on_signal(int sig)
{
	ns_remove();
	signal(sig, SIG_DFL);
	raise(sig);
}

static int put_sysctl(const char *path, const char *val)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC), ok;

	if (fd < 0)
		return -1;
	ok = write(fd, val, strlen(val)) == (ssize_t)strlen(val);
	close(fd);
	return ok ? 0 : -1;
}

/* The sink's counters, read in the namespace this thread is in: a dummy
 * counts what it drops as sent, an ifb as received. */
static int dummy_tx(uint64_t *bytes, uint64_t *pkts)
{
	FILE *f = fopen("/proc/thread-self/net/dev", "r");
	char line[512];
	int found = 0;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		char *p = strchr(line, ':');
		unsigned long long v[16];
		char *name = line;
		if (!p)
			continue;
		*p = 0;
		while (*name == ' ')
			name++;
		if (strcmp(name, DUMMY_NAME))
			continue;
		if (sscanf(p + 1, "%llu %llu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1],
			   &v[2], &v[3], &v[4], &v[5], &v[6], &v[7], &v[8], &v[9]) == 10) {
			*bytes = v[0] + v[8];
			*pkts = v[1] + v[9];
			found = 1;
		}
	}
	fclose(f);
	return found ? 0 : -1;
}

/* The calling thread's CPU time: total, and user alone in *user. */
static uint64_t thread_cpu_ns(uint64_t *user)
{
	struct rusage ru;

	getrusage(RUSAGE_THREAD, &ru);
	*user = (uint64_t)ru.ru_utime.tv_sec * 1000000000u + (uint64_t)ru.ru_utime.tv_usec * 1000u;
	return *user + (uint64_t)ru.ru_stime.tv_sec * 1000000000u +
	       (uint64_t)ru.ru_stime.tv_usec * 1000u;
}

static void pass(struct tb_coalescer *c, const struct trace *t)
{
	for (uint32_t i = 0; i < t->n; i += BENCH_BATCH) {
		for (uint32_t j = i; j < t->n && j < i + BENCH_BATCH; j++) {
			tb_coalescer_reserve(c, t->pkts[j].len);
			tb_coalescer_commit(c, t->pkts[j].data, t->pkts[j].len);
		}
		tb_coalescer_flush(c);
	}
}

static int run_mode(struct tb_writer *w, const struct trace *t, unsigned flags, double secs,
		    struct tun_mode *m)
{
	struct tb_coalescer_opts o = {.flags = flags};
	struct tb_arena *a = tb_arena_create(0);
	struct tb_coalescer *c = a ? tb_coalescer_create(w, a, &o) : NULL;
	uint64_t cpu0, cpu1, usr0, usr1, t0, wall, passes = 0, b0 = 0, p0 = 0, b1 = 0, p1 = 0;
	struct tb_stats st;

	memset(m, 0, sizeof(*m));
	if (!c) {
		tb_arena_destroy(a);
		return -1;
	}
	pass(c, t); /* warm-up: caches, routes, neighbour entries */
	tb_coalescer_reset_stats(c);
	dummy_tx(&b0, &p0);
	cpu0 = thread_cpu_ns(&usr0);
	t0 = now_ns();
	do {
		pass(c, t);
		passes++;
		wall = now_ns() - t0;
	} while (wall < (uint64_t)(secs * 1e9));
	cpu1 = thread_cpu_ns(&usr1);
	m->cpu_s_per_gb = (double)(cpu1 - cpu0) / (double)(passes * t->bytes);
	m->user_s_per_gb = (double)(usr1 - usr0) / (double)(passes * t->bytes);
	dummy_tx(&b1, &p1);
	tb_coalescer_stats(c, &st);
	m->pps = (double)(passes * t->n) / ((double)wall / 1e9);
	m->writes_per_pkt = (double)st.writes / (double)(passes * t->n);
	/* Both sinks count the 14-byte Ethernet header the neighbour layer put on. */
	m->fwd_ratio =
		st.bytes_out ? (double)((b1 - b0) - 14 * (p1 - p0)) / (double)st.bytes_out : 0;
	m->write_errors = st.write_errors;
	tb_coalescer_destroy(c);
	tb_arena_destroy(a);
	return 0;
}

/* Routes every destination of the trace to the dummy. */
static void add_routes(const struct trace *t)
{
	uint8_t seen[16][16];
	int nseen = 0;

	for (uint32_t i = 0; i < t->n && nseen < 16; i++) {
		const uint8_t *p = t->pkts[i].data;
		uint8_t a[16] = {0};
		int v6 = p[0] >> 4 == 6, dup = 0;
		char txt[64];
		if (v6 && t->pkts[i].len >= 40)
			memcpy(a, p + 24, 16);
		else if (p[0] >> 4 == 4 && t->pkts[i].len >= 20)
			memcpy(a, p + 16, 4), a[15] = 0xff; /* tags v4 apart from v6 */
		else
			continue;
		for (int k = 0; k < nseen; k++)
			dup |= !memcmp(seen[k], a, 16);
		if (dup)
			continue;
		memcpy(seen[nseen++], a, 16);
		if (v6) {
			int o = 0;
			for (int k = 0; k < 16; k += 2)
				o += snprintf(txt + o, sizeof(txt) - (size_t)o, "%s%x",
					      k ? ":" : "", a[k] << 8 | a[k + 1]);
			bench_sh("ip -n %s -6 route add %s/128 dev " DUMMY_NAME, ns_name, txt);
		} else {
			snprintf(txt, sizeof(txt), "%u.%u.%u.%u", a[0], a[1], a[2], a[3]);
			bench_sh("ip -n %s route add %s/32 dev " DUMMY_NAME, ns_name, txt);
		}
	}
}

void tun_run(const struct trace *t, double secs, struct tun_result *r)
{
	static int handlers;
	/* The library's own device and writer: what a tunnel would use. */
	struct tb_tun_opts topts = {.name = TUN_NAME};
	struct tb_tun *tun = NULL;
	struct tb_writer *w;
	int err = 0;
	int orig = -1, nsfd = -1;

	memset(r, 0, sizeof(*r));
	if (geteuid() != 0) {
		snprintf(r->why, sizeof(r->why), "skipped: needs root");
		return;
	}
	if (access("/dev/net/tun", R_OK | W_OK)) {
		snprintf(r->why, sizeof(r->why), "skipped: no /dev/net/tun");
		return;
	}
	if (!handlers) {
		signal(SIGINT, on_signal);
		signal(SIGTERM, on_signal);
		signal(SIGHUP, on_signal);
		atexit(ns_remove);
		handlers = 1;
	}
	snprintf(ns_name, sizeof(ns_name), "tbbench_%d", (int)getpid());
	snprintf(ns_path, sizeof(ns_path), "/run/netns/%s", ns_name);
	if (bench_sh("ip netns add %s", ns_name)) {
		snprintf(r->why, sizeof(r->why), "skipped: 'ip netns add' failed");
		return;
	}
	ns_made = 1;
	orig = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
	nsfd = open(ns_path, O_RDONLY | O_CLOEXEC);
	if (orig < 0 || nsfd < 0 || setns(nsfd, CLONE_NEWNET)) {
		snprintf(r->why, sizeof(r->why), "skipped: cannot enter the namespace");
		goto out;
	}
	tun = tb_tun_open(&topts);
	err = tun ? 0 : -errno;
	if (!tun || !tb_tun_vnet(tun)) {
		snprintf(r->why, sizeof(r->why), "skipped: no TUN with virtio headers (%s)",
			 strerror(tun ? EOPNOTSUPP : -err));
		goto out;
	}
	/* A kernel before 6.2 has no USO: the UDP lane goes off by itself. */
	w = tb_tun_writer(tun, 0);
	/* The sink: a dummy, or where the kernel has none an ifb, which drops
	 * whatever it is sent that tc did not redirect to it. Both take
	 * superpackets whole and have no queue. */
	if (bench_sh("ip -n %s link add " DUMMY_NAME " type dummy 2>/dev/null", ns_name) == 0)
		snprintf(r->sink, sizeof(r->sink), "dummy");
	else if (bench_sh("ip -n %s link add " DUMMY_NAME " txqueuelen 0 type ifb", ns_name) == 0)
		snprintf(r->sink, sizeof(r->sink), "ifb");
	if (!r->sink[0] || bench_sh("ip -n %s link set lo up && ip -n %s link set " DUMMY_NAME
				    " up && ip -n %s link set " TUN_NAME " up",
				    ns_name, ns_name, ns_name)) {
		snprintf(r->why, sizeof(r->why), "skipped: could not set up the interfaces");
		goto out;
	}
	put_sysctl("/proc/sys/net/ipv4/ip_forward", "1");
	put_sysctl("/proc/sys/net/ipv6/conf/all/forwarding", "1");
	put_sysctl("/proc/sys/net/ipv4/conf/all/rp_filter", "0");
	put_sysctl("/proc/sys/net/ipv4/conf/" TUN_NAME "/rp_filter", "0");
	add_routes(t);
	if (run_mode(w, t, 0, secs, &r->on) ||
	    run_mode(w, t, TB_COALESCE_NO_TCP | TB_COALESCE_NO_UDP, secs, &r->off)) {
		snprintf(r->why, sizeof(r->why), "skipped: out of memory");
		goto out;
	}
	r->ran = 1;
out:
	tb_tun_close(tun);
	if (orig >= 0) {
		if (setns(orig, CLONE_NEWNET))
			fprintf(stderr, "tb_bench: cannot return to the original namespace\n");
		close(orig);
	}
	if (nsfd >= 0)
		close(nsfd);
	ns_remove();
}
