/*
 * The held-blocks table (held.h): linear probing, deletion by shifting
 * back the entries that follow (no tombstones), grown at half full.
 */
#include <stdlib.h>

#include "held.h"

static size_t slot_of(const struct held_map *m, uint64_t pblk)
{
	/* Fibonacci hashing: runs of consecutive blocks spread out. */
	return (size_t)((pblk * 0x9e3779b97f4a7c15ull) >> 32) & (m->cap - 1);
}

struct held *held_find(const struct held_map *m, uint64_t pblk)
{
	if (m->cap == 0)
		return NULL;
	for (size_t i = slot_of(m, pblk);; i = (i + 1) & (m->cap - 1)) {
		if (m->slots[i].pblk == pblk)
			return &m->slots[i];
		if (m->slots[i].pblk == 0)
			return NULL;
	}
}

static struct held *place(struct held_map *m, uint64_t pblk)
{
	size_t i = slot_of(m, pblk);
	while (m->slots[i].pblk != 0 && m->slots[i].pblk != pblk)
		i = (i + 1) & (m->cap - 1);
	return &m->slots[i];
}

static int grow(struct held_map *m)
{
	size_t cap = m->cap ? m->cap * 2 : 64;
	struct held *old = m->slots;
	size_t old_cap = m->cap;
	struct held *slots = calloc(cap, sizeof(*slots));
	if (!slots)
		return -1;
	m->slots = slots;
	m->cap = cap;
	for (size_t i = 0; i < old_cap; i++)
		if (old[i].pblk)
			*place(m, old[i].pblk) = old[i];
	free(old);
	return 0;
}

struct held *held_get(struct held_map *m, uint64_t pblk)
{
	struct held *h = held_find(m, pblk);
	if (h)
		return h;
	if ((m->used + 1) * 2 > m->cap && grow(m) < 0)
		return NULL;
	h = place(m, pblk);
	*h = (struct held){ .pblk = pblk };
	m->used++;
	return h;
}

void held_remove(struct held_map *m, struct held *h)
{
	size_t mask = m->cap - 1;
	size_t hole = (size_t)(h - m->slots);
	m->slots[hole].pblk = 0;
	m->used--;
	/*
	 * Entries after the hole whose home slot lies at or before it (in
	 * probe order) move into it, so that no lookup stops short.
	 */
	for (size_t i = (hole + 1) & mask; m->slots[i].pblk; i = (i + 1) & mask) {
		size_t home = slot_of(m, m->slots[i].pblk);
		if (((i - home) & mask) >= ((i - hole) & mask)) {
			m->slots[hole] = m->slots[i];
			m->slots[i].pblk = 0;
			hole = i;
		}
	}
}

void held_free(struct held_map *m)
{
	free(m->slots);
	*m = (struct held_map){ 0 };
}
