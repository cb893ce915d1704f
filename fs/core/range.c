/* Growable lists of byte (or block) ranges. */
#include <stdlib.h>

#include "fs.h"

int range_list_add(struct range_list *l, uint64_t off, uint64_t len)
{
	if (len == 0)
		return 0;
	/*
	 * Merge with a range it overlaps or touches: all of them in a short
	 * list, the most recent in a long one (writes tend to come back to
	 * where they were a moment ago).
	 */
	size_t look = l->n <= 64 ? l->n : 8;
	for (size_t i = l->n - look; i < l->n; i++) {
		struct pool_range *r = &l->r[i];
		if (off <= r->off + r->len && r->off <= off + len) {
			uint64_t end = off + len > r->off + r->len ? off + len
								   : r->off + r->len;
			r->off = off < r->off ? off : r->off;
			r->len = end - r->off;
			return 0;
		}
	}
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 8;
		struct pool_range *r = realloc(l->r, cap * sizeof(*r));
		if (!r)
			return -1;
		l->r = r;
		l->cap = cap;
	}
	l->r[l->n++] = (struct pool_range){ off, len };
	return 0;
}

void range_list_subtract(struct range_list *l, uint64_t off, uint64_t len)
{
	uint64_t end = off + len;
	for (size_t i = 0; i < l->n;) {
		struct pool_range *r = &l->r[i];
		uint64_t r_end = r->off + r->len;
		if (end <= r->off || off >= r_end) {
			i++;
			continue;
		}
		if (off > r->off && end < r_end) {
			/* A hole in the middle: keep the head, add the tail. */
			r->len = off - r->off;
			range_list_add(l, end, r_end - end);
			i++;
		} else if (off > r->off) {
			r->len = off - r->off;
			i++;
		} else if (end < r_end) {
			r->len = r_end - end;
			r->off = end;
			i++;
		} else {
			l->r[i] = l->r[--l->n]; /* wholly covered */
		}
	}
}

void range_list_free(struct range_list *l)
{
	free(l->r);
	l->r = NULL;
	l->n = l->cap = 0;
}
