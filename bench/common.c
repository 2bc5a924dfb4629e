/* SPDX-License-Identifier: MIT */
/* Clock, run statistics, the per-flow sequence tracker, shell commands. */
#include "bench.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

void sample_from(struct sample *s, double *v, int n)
{
	memset(s, 0, sizeof(*s));
	if (n <= 0)
		return;
	qsort(v, (size_t)n, sizeof(*v), cmp_double);
	s->min = v[0];
	s->max = v[n - 1];
	s->med = n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
	s->runs = n;
}

void measure(uint64_t (*pass)(void *ctx), void *ctx, uint64_t units_per_pass, double secs, int runs,
	     struct sample *s, uint64_t *allocs)
{
	double v[MAX_RUNS];
	uint64_t a0, want = (uint64_t)(secs * 1e9);

	if (runs > MAX_RUNS)
		runs = MAX_RUNS;
	pass(ctx);
	a0 = alloc_count();
	for (int r = 0; r < runs; r++) {
		uint64_t timed = 0, n = 0;
		do {
			timed += pass(ctx);
			n++;
		} while (timed < want);
		v[r] = (double)timed / (double)(n * units_per_pass);
	}
	if (allocs)
		*allocs = alloc_count() - a0;
	sample_from(s, v, runs);
}

void timer_run(struct timer *t)
{
	uint64_t a0, timed = 0, n = 0, want = (uint64_t)(t->secs * 1e9);

	if (t->runs >= MAX_RUNS)
		return;
	if (t->runs == 0)
		t->pass(t->ctx);
	a0 = alloc_count();
	do {
		timed += t->pass(t->ctx);
		n++;
	} while (timed < want);
	t->allocs += alloc_count() - a0;
	t->v[t->runs++] = (double)timed / (double)(n * t->units);
}

void timer_sample(struct sample *s, const struct timer *t)
{
	double v[MAX_RUNS];

	memcpy(v, t->v, sizeof(double) * (size_t)t->runs);
	sample_from(s, v, t->runs);
}

void sample_ratio(struct sample *s, const struct timer *a, const struct timer *b)
{
	double v[MAX_RUNS];
	int n = a->runs < b->runs ? a->runs : b->runs;

	for (int i = 0; i < n; i++)
		v[i] = a->v[i] / b->v[i];
	sample_from(s, v, n);
}

void seqtrack_init(struct seqtrack *t)
{
	memset(t, 0, sizeof(*t));
}

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

void seqtrack_pkt(struct seqtrack *t, const uint8_t *h, size_t avail, size_t len)
{
	uint64_t key[5] = {0};
	unsigned iph, proto, l4h;
	uint32_t seq, payload;
	uint64_t hash;
	struct seqflow *f;

	t->pkts++;
	if (avail < 20)
		goto other;
	if (h[0] >> 4 == 4) {
		iph = (h[0] & 15u) * 4;
		proto = h[9];
		memcpy(key, h + 12, 8);
	} else if (h[0] >> 4 == 6 && avail >= 40) {
		iph = 40;
		proto = h[6];
		memcpy(key, h + 8, 32);
	} else {
		goto other;
	}
	if (proto == 17 && avail >= iph + 8 && len >= iph + 8) {
		t->payload += len - iph - 8;
		return;
	}
	if (proto != 6 || avail < iph + 20)
		goto other;
	l4h = (h[iph + 12] >> 4) * 4u;
	if (len < iph + l4h)
		goto other;
	payload = (uint32_t)(len - iph - l4h);
	t->payload += payload;
	seq = be32(h + iph + 4);
	memcpy(&key[4], h + iph, 4);
	key[4] |= (uint64_t)(h[0] >> 4) << 32;
	hash = key[4] * 0x9e3779b97f4a7c15ull;
	for (int i = 0; i < 4; i++)
		hash = (hash ^ key[i]) * 0xff51afd7ed558ccdull;
	for (uint32_t i = (uint32_t)(hash >> 40) & 4095;; i = (i + 1) & 4095) {
		f = &t->tab[i];
		if (!f->used) {
			if (t->nflows >= 4000)
				return; /* more flows than any trace here: stop following */
			t->nflows++;
			f->used = 1;
			memcpy(f->key, key, sizeof(key));
			f->next = seq + payload;
			return;
		}
		if (!memcmp(f->key, key, sizeof(key)))
			break;
	}
	/* Starting before the end of what the flow already sent is going back. */
	if ((int32_t)(seq - f->next) < 0)
		t->reversals++;
	if ((int32_t)(seq + payload - f->next) > 0)
		f->next = seq + payload;
	return;
other:
	t->payload += len;
}

int bench_sh(const char *fmt, ...)
{
	char cmd[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	return system(cmd);
}
