/* SPDX-License-Identifier: MIT */
/* Built instead of gro.c when pkg-config finds no libdpdk. */
#include "bench.h"

#include <stdio.h>
#include <string.h>

int gro_init(char *why, size_t whylen)
{
	snprintf(why, whylen, "not available: built without libdpdk (Debian: dpdk-dev)");
	return -1;
}

struct gro_bench *gro_open(const struct trace *t, struct gro_result *r)
{
	memset(r, 0, sizeof(*r));
	snprintf(r->why, sizeof(r->why), "not available");
	return NULL;
}

uint64_t gro_pass(void *mode_ctx)
{
	return 0;
}

void *gro_mode(struct gro_bench *g, int heavy)
{
	return NULL;
}

void gro_close(struct gro_bench *g)
{
}

void gro_fini(void)
{
}
