/* SPDX-License-Identifier: MIT */
/* The arena: bump allocation from a slab, chained chunks when it overflows,
 * consolidated at reset so the steady state is one slab and no malloc. */
#include "internal.h"

#include <errno.h>

#include <stdlib.h>

static struct tbi_chunk *chunk_new(size_t size)
{
	struct tbi_chunk *ch;

	if (size > SIZE_MAX - sizeof(*ch))
		return NULL;
	ch = malloc(sizeof(*ch) + size);
	if (!ch)
		return NULL;
	ch->next = NULL;
	ch->size = size;
	ch->used = 0;
	return ch;
}

struct tb_arena *tb_arena_create(size_t size)
{
	struct tb_arena *a = calloc(1, sizeof(*a));

	if (!a) {
		errno = ENOMEM;
		return NULL;
	}
	if (!size)
		size = TB_ARENA_DEFAULT_SIZE;
	a->head = a->cur = chunk_new(size);
	if (!a->head) {
		free(a);
		errno = ENOMEM;
		return NULL;
	}
	a->capacity = size;
	a->nchunks = 1;
	return a;
}

static void free_chunks(struct tbi_chunk *ch)
{
	while (ch) {
		struct tbi_chunk *next = ch->next;
		free(ch);
		ch = next;
	}
}

void tb_arena_destroy(struct tb_arena *a)
{
	if (!a)
		return;
	free_chunks(a->head);
	free(a);
}

void *tb_arena_reserve(struct tb_arena *a, size_t size)
{
	void *p;

	if (size > SIZE_MAX / 2) {
		errno = ENOMEM; /* no chunk could ever hold it */
		return NULL;
	}
	for (;;) {
		p = tbi_arena_take(a->cur, size);
		if (p)
			return p;
		if (!a->cur->next)
			break;
		a->cur = a->cur->next; /* a chain kept by a reset that could not merge it */
	}
	/* Grow without moving anything handed out: chain a new chunk. */
	struct tbi_chunk *ch = a->cur;
	size_t want = a->head->size > size ? a->head->size : size;
	struct tbi_chunk *n = chunk_new(want);
	if (!n) {
		errno = ENOMEM;
		return NULL;
	}
	ch->next = n;
	a->cur = n;
	a->capacity += want;
	a->nchunks++;
	n->used = size;
	return n->data;
}

void tb_arena_reset(struct tb_arena *a)
{
	if (a->nchunks > 1) {
		struct tbi_chunk *one = chunk_new(a->capacity);
		if (one) {
			free_chunks(a->head);
			a->head = a->cur = one;
			a->nchunks = 1;
			return;
		}
		/* Out of memory: keep the chain, it still works. */
		for (struct tbi_chunk *ch = a->head; ch; ch = ch->next)
			ch->used = 0;
	}
	a->head->used = 0;
	a->cur = a->head;
}

size_t tb_arena_capacity(const struct tb_arena *a)
{
	return a->capacity;
}

size_t tb_arena_used(const struct tb_arena *a)
{
	size_t used = 0;

	for (const struct tbi_chunk *ch = a->head; ch; ch = ch->next) {
		used += ch->used;
		if (ch == a->cur)
			break;
	}
	return used;
}

unsigned tb_arena_chunks(const struct tb_arena *a)
{
	return a->nchunks;
}
