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

void gro_run(const struct trace *t, double secs, int runs, struct gro_result *r)
{
	memset(r, 0, sizeof(*r));
	snprintf(r->why, sizeof(r->why), "not available");
}

void gro_fini(void)
{
}
