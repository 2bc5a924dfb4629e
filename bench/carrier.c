/* SPDX-License-Identifier: MIT */
/*
 * Part 3: the carrier over a veth pair joining two namespaces made for the
 * run. A sending thread pushes 1400-byte datagrams through
 * tb_carrier_reserve/commit/flush, bursts of CB_BURST, for the time given;
 * a receiving thread drains them with tb_carrier_recv. Once with GSO and
 * GRO, once with both off. Each thread's CPU time (user + sys, getrusage)
 * is divided by the bytes it moved; the system calls come from the
 * carriers' counters. Over veth the kernel delivers to the receiving socket
 * in the sender's system call, so the sending thread's time includes the
 * receive path up to the socket queue; the receiving thread's is the poll
 * and the copy out.
 */
#define _GNU_SOURCE /* setns, RUSAGE_THREAD */
#include "bench.h"
#include "tunbatch.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <unistd.h>

#define CB_DGRAM 1400
#define CB_BURST 128

static char ns_name[2][24];
static char ns_path[2][64];
static volatile sig_atomic_t ns_made[2];

/* Only system calls: safe from a signal handler. */
static void ns_remove(void)
{
	for (int i = 0; i < 2; i++) {
		if (!ns_made[i])
			continue;
		umount2(ns_path[i], MNT_DETACH);
		unlink(ns_path[i]);
		ns_made[i] = 0;
	}
}

static void on_signal(int sig)
{
	ns_remove();
	signal(sig, SIG_DFL);
	raise(sig);
}

static uint64_t thread_cpu_ns(void)
{
	struct rusage ru;

	getrusage(RUSAGE_THREAD, &ru);
	return (uint64_t)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000000u +
	       (uint64_t)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1000u;
}

struct side {
	struct tb_carrier *c;
	struct sockaddr_in to;
	double secs;
	atomic_int *stop;
	atomic_int ready, done;
	uint64_t cpu_ns, bytes, dgrams;
	int err;
};

static void *sender(void *arg)
{
	struct side *s = arg;
	uint64_t t0, cpu0, seq = 0;

	atomic_store(&s->ready, 1);
	cpu0 = thread_cpu_ns();
	t0 = now_ns();
	while (now_ns() - t0 < (uint64_t)(s->secs * 1e9)) {
		for (int i = 0; i < CB_BURST; i++) {
			uint8_t *b = tb_carrier_reserve(s->c, CB_DGRAM);
			if (!b) {
				s->err = errno;
				goto out;
			}
			memcpy(b, &seq, sizeof(seq)); /* where a tunnel would encrypt */
			seq++;
			tb_carrier_commit(s->c, b, CB_DGRAM, (struct sockaddr *)&s->to,
					  sizeof(s->to));
		}
		if (tb_carrier_flush(s->c) < 0 && !s->err)
			s->err = EIO;
	}
out:
	s->cpu_ns = thread_cpu_ns() - cpu0;
	atomic_store(s->stop, 1);
	atomic_store(&s->done, 1);
	return NULL;
}

static void *receiver(void *arg)
{
	struct side *s = arg;
	uint64_t cpu0 = thread_cpu_ns();

	atomic_store(&s->ready, 1);
	for (;;) {
		struct tb_dgram *d;
		int n = tb_carrier_recv(s->c, 100, &d);
		if (n < 0) {
			s->err = -n;
			break;
		}
		if (n == 0 && atomic_load(s->stop))
			break; /* the sender is done and 100 ms brought nothing */
		for (int i = 0; i < n; i++)
			s->bytes += d[i].len;
		s->dgrams += (unsigned)n;
	}
	s->cpu_ns = thread_cpu_ns() - cpu0;
	atomic_store(&s->done, 1);
	return NULL;
}

static struct tb_carrier *open_in(int ns, const char *ip, unsigned flags, int *err)
{
	struct sockaddr_in a = {.sin_family = AF_INET};
	struct tb_carrier_opts o = {.bind = (struct sockaddr *)&a,
				    .bind_len = sizeof(a),
				    .flags = flags,
				    .rcvbuf = 32 << 20,
				    .sndbuf = 4 << 20};
	struct tb_carrier *c;
	int fd = open(ns_path[ns], O_RDONLY | O_CLOEXEC);

	inet_pton(AF_INET, ip, &a.sin_addr);
	if (fd < 0 || setns(fd, CLONE_NEWNET)) {
		if (fd >= 0)
			close(fd);
		*err = -errno;
		return NULL;
	}
	close(fd);
	c = tb_carrier_open(&o);
	*err = c ? 0 : -errno;
	return c;
}

static int run_mode(int home, unsigned flags, double secs, struct carrier_mode *m)
{
	struct side tx = {0}, rx = {0};
	atomic_int stop = 0;
	struct tb_carrier_stats ts, rs;
	struct sockaddr_storage local;
	pthread_t tt, rt;
	uint64_t a0, a1, t0, wall;
	int err = 0;

	memset(m, 0, sizeof(*m));
	rx.c = open_in(1, "10.78.0.2", flags, &err);
	tx.c = rx.c ? open_in(0, "10.78.0.1", flags, &err) : NULL;
	if (setns(home, CLONE_NEWNET))
		fprintf(stderr, "tb_bench: cannot return to the original namespace\n");
	if (!tx.c || !rx.c) {
		tb_carrier_close(rx.c);
		return err ? err : -ENOMEM;
	}
	tb_carrier_local(rx.c, &local, NULL);
	memcpy(&tx.to, &local, sizeof(tx.to));
	tx.secs = secs;
	tx.stop = rx.stop = &stop;
	m->offloads_tx = tb_carrier_offloads(tx.c);
	m->offloads_rx = tb_carrier_offloads(rx.c);
	pthread_create(&rt, NULL, receiver, &rx);
	pthread_create(&tt, NULL, sender, &tx);
	while (!atomic_load(&tx.ready) || !atomic_load(&rx.ready))
		sched_yield();
	a0 = alloc_count();
	t0 = now_ns();
	while (!atomic_load(&tx.done) || !atomic_load(&rx.done))
		usleep(1000);
	wall = now_ns() - t0;
	a1 = alloc_count();
	pthread_join(tt, NULL);
	pthread_join(rt, NULL);
	tb_carrier_stats(tx.c, &ts);
	tb_carrier_stats(rx.c, &rs);
	m->tx_bytes = ts.tx_bytes;
	m->rx_bytes = rx.bytes;
	m->tx_cpu_s_per_gb = (double)tx.cpu_ns / (double)ts.tx_bytes;
	m->rx_cpu_s_per_gb = rx.bytes ? (double)rx.cpu_ns / (double)rx.bytes : 0;
	m->cpu_s_per_gb = m->tx_cpu_s_per_gb + m->rx_cpu_s_per_gb;
	m->tx_calls_per_gb = (double)(ts.send_calls + ts.polls) * 1e9 / (double)ts.tx_bytes;
	m->rx_calls_per_gb =
		rx.bytes ? (double)(rs.recv_calls + rs.polls) * 1e9 / (double)rx.bytes : 0;
	m->delivered = (double)rx.bytes / (double)ts.tx_bytes;
	m->gbps = (double)rx.bytes * 8 / (double)wall;
	m->dgrams_per_send = (double)ts.tx_dgrams / (double)ts.send_calls;
	m->dgrams_per_recv = rs.recv_calls ? (double)rs.rx_dgrams / (double)rs.recv_calls : 0;
	m->allocs = a1 - a0;
	m->errors = ts.errors + rs.errors + (uint64_t)(tx.err != 0) + (uint64_t)(rx.err != 0);
	tb_carrier_close(tx.c);
	tb_carrier_close(rx.c);
	return ts.tx_bytes ? 0 : -EIO;
}

void carrier_run(double secs, struct carrier_result *r)
{
	static int handlers;
	int home = -1, e;

	memset(r, 0, sizeof(*r));
	r->dgram = CB_DGRAM;
	r->burst = CB_BURST;
	if (geteuid() != 0) {
		snprintf(r->why, sizeof(r->why), "skipped: needs root");
		return;
	}
	if (!handlers) {
		signal(SIGINT, on_signal);
		signal(SIGTERM, on_signal);
		signal(SIGHUP, on_signal);
		atexit(ns_remove);
		handlers = 1;
	}
	for (int i = 0; i < 2; i++) {
		snprintf(ns_name[i], sizeof(ns_name[i]), "tbbench%c_%d", "ab"[i], (int)getpid());
		snprintf(ns_path[i], sizeof(ns_path[i]), "/run/netns/%s", ns_name[i]);
		if (bench_sh("ip netns add %s", ns_name[i])) {
			snprintf(r->why, sizeof(r->why), "skipped: 'ip netns add' failed");
			goto out;
		}
		ns_made[i] = 1;
	}
	if (bench_sh("ip -n %s link set lo up && ip -n %s link set lo up && "
		     "ip -n %s link add tbca type veth peer name tbcb netns %s && "
		     "ip -n %s addr add 10.78.0.1/24 dev tbca && ip -n %s addr add 10.78.0.2/24 "
		     "dev tbcb "
		     "&& ip -n %s link set tbca up && ip -n %s link set tbcb up",
		     ns_name[0], ns_name[1], ns_name[0], ns_name[1], ns_name[0], ns_name[1],
		     ns_name[0], ns_name[1])) {
		snprintf(r->why, sizeof(r->why), "skipped: could not set up the veth pair");
		goto out;
	}
	home = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
	if (home < 0) {
		snprintf(r->why, sizeof(r->why), "skipped: cannot open this namespace");
		goto out;
	}
	e = run_mode(home, 0, secs, &r->on);
	if (!e)
		e = run_mode(home, TB_CARRIER_NO_GSO | TB_CARRIER_NO_GRO, secs, &r->off);
	if (e) {
		snprintf(r->why, sizeof(r->why), "skipped: %s", strerror(-e));
		goto out;
	}
	r->ran = 1;
out:
	if (home >= 0)
		close(home);
	ns_remove();
}

static void mode_row(const char *name, const struct carrier_mode *x)
{
	printf("%-14s %8.3f %8.3f %8.3f %10.0f %10.0f %7.2f %9.1f %9.1f %6.1f%% %7llu %6llu\n",
	       name, x->tx_cpu_s_per_gb, x->rx_cpu_s_per_gb, x->cpu_s_per_gb, x->tx_calls_per_gb,
	       x->rx_calls_per_gb, x->gbps, x->dgrams_per_send, x->dgrams_per_recv,
	       100 * x->delivered, (unsigned long long)x->allocs, (unsigned long long)x->errors);
}

void carrier_print_table(const struct carrier_result *r)
{
	printf("\n6. Carrier: %zu-byte datagrams over a veth pair, bursts of %d, "
	       "reserve/commit/flush -> recv\n",
	       r->dgram, r->burst);
	printf("   CPU = each thread's user + sys per GB it moved (the sender's includes the "
	       "kernel's delivery to the receiving socket); calls = system calls per GB\n");
	if (!r->ran) {
		printf("   %s\n", r->why);
		return;
	}
	printf("%-14s %8s %8s %8s %10s %10s %7s %9s %9s %7s %7s %6s\n", "mode", "tx s/GB",
	       "rx s/GB", "sum", "tx calls", "rx calls", "Gbit/s", "dg/send", "dg/recv", "deliv",
	       "allocs", "errors");
	mode_row("GSO+GRO", &r->on);
	mode_row("both off", &r->off);
	printf("%-14s %8.3f %8.3f %8.3f %10.3f %10.3f %7.2f\n", "ratio on/off",
	       r->on.tx_cpu_s_per_gb / r->off.tx_cpu_s_per_gb,
	       r->on.rx_cpu_s_per_gb / r->off.rx_cpu_s_per_gb,
	       r->on.cpu_s_per_gb / r->off.cpu_s_per_gb,
	       r->on.tx_calls_per_gb / r->off.tx_calls_per_gb,
	       r->on.rx_calls_per_gb / r->off.rx_calls_per_gb, r->on.gbps / r->off.gbps);
}

void carrier_print_json(const struct carrier_result *r)
{
	printf(",\n \"carrier\": {\"ran\": %s, \"dgram\": %zu, \"burst\": %d",
	       r->ran ? "true" : "false", r->dgram, r->burst);
	if (!r->ran) {
		printf(", \"why\": \"%s\"}", r->why);
		return;
	}
	for (int k = 0; k < 2; k++) {
		const struct carrier_mode *x = k ? &r->off : &r->on;
		printf(", \"%s\": {\"tx_cpu_s_per_gb\": %.5f, \"rx_cpu_s_per_gb\": %.5f, "
		       "\"cpu_s_per_gb\": %.5f, \"tx_syscalls_per_gb\": %.1f, "
		       "\"rx_syscalls_per_gb\": %.1f, \"gbit_per_s\": %.3f, \"dgrams_per_send\": "
		       "%.2f, \"dgrams_per_recv\": %.2f, \"delivered\": %.4f, \"allocs\": %llu, "
		       "\"errors\": %llu}",
		       k ? "both_off" : "gso_gro", x->tx_cpu_s_per_gb, x->rx_cpu_s_per_gb,
		       x->cpu_s_per_gb, x->tx_calls_per_gb, x->rx_calls_per_gb, x->gbps,
		       x->dgrams_per_send, x->dgrams_per_recv, x->delivered,
		       (unsigned long long)x->allocs, (unsigned long long)x->errors);
	}
	printf(", \"cpu_ratio\": %.4f, \"tx_syscall_ratio\": %.4f, \"rx_syscall_ratio\": %.4f}",
	       r->on.cpu_s_per_gb / r->off.cpu_s_per_gb,
	       r->on.tx_calls_per_gb / r->off.tx_calls_per_gb,
	       r->on.rx_calls_per_gb / r->off.rx_calls_per_gb);
}
