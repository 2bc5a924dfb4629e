/* SPDX-License-Identifier: MIT */
/*
 * Counts the malloc family. The benchmark is linked with
 * -Wl,--wrap=malloc,... so every call from its objects and from the static
 * library lands here first; a timed loop must leave the count unchanged.
 */
#include "bench.h"

#include <stdlib.h>

void *__real_malloc(size_t size);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t size);
void __real_free(void *p);
int __real_posix_memalign(void **p, size_t align, size_t size);
void *__real_aligned_alloc(size_t align, size_t size);

void *__wrap_malloc(size_t size);
void *__wrap_calloc(size_t n, size_t size);
void *__wrap_realloc(void *p, size_t size);
void __wrap_free(void *p);
int __wrap_posix_memalign(void **p, size_t align, size_t size);
void *__wrap_aligned_alloc(size_t align, size_t size);

static uint64_t calls;

static void count(void)
{
	__atomic_fetch_add(&calls, 1, __ATOMIC_RELAXED);
}

uint64_t alloc_count(void)
{
	return __atomic_load_n(&calls, __ATOMIC_RELAXED);
}

void *__wrap_malloc(size_t size)
{
	count();
	return __real_malloc(size);
}

void *__wrap_calloc(size_t n, size_t size)
{
	count();
	return __real_calloc(n, size);
}

void *__wrap_realloc(void *p, size_t size)
{
	count();
	return __real_realloc(p, size);
}

void __wrap_free(void *p)
{
	if (p)
		count();
	__real_free(p);
}

int __wrap_posix_memalign(void **p, size_t align, size_t size)
{
	count();
	return __real_posix_memalign(p, align, size);
}

void *__wrap_aligned_alloc(size_t align, size_t size)
{
	count();
	return __real_aligned_alloc(align, size);
}
