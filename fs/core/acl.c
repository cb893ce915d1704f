/* POSIX ACL values: validation, mode bits, chmod and inheritance. */
#include <string.h>

#include "acl.h"

enum {
	TAG_USER_OBJ = 0x01, TAG_USER = 0x02, TAG_GROUP_OBJ = 0x04,
	TAG_GROUP = 0x08, TAG_MASK = 0x10, TAG_OTHER = 0x20,
};
#define HEADER 4u
#define ENTRY 8u
#define ACL_VERSION 2u


static uint16_t get16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }
static void put16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); }
static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

static size_t count_of(size_t size) { return (size - HEADER) / ENTRY; }
static uint8_t *entry(const void *value, size_t i)
{
	return (uint8_t *)value + HEADER + i * ENTRY;
}

bool acl_valid(const void *value, size_t size)
{
	if (size < HEADER + 3 * ENTRY || size > ACL_MAX_SIZE ||
	    (size - HEADER) % ENTRY || get32(value) != ACL_VERSION)
		return false;
	unsigned seen = 0, named = 0;
	for (size_t i = 0; i < count_of(size); i++) {
		const uint8_t *e = entry(value, i);
		uint16_t tag = get16(e), perm = get16(e + 2);
		if (perm & ~7u)
			return false;
		switch (tag) {
		case TAG_USER_OBJ: case TAG_GROUP_OBJ: case TAG_MASK: case TAG_OTHER:
			if (seen & tag)
				return false; /* at most one of each */
			seen |= tag;
			break;
		case TAG_USER: case TAG_GROUP:
			named++;
			break;
		default:
			return false;
		}
	}
	unsigned base = TAG_USER_OBJ | TAG_GROUP_OBJ | TAG_OTHER;
	return (seen & base) == base && (!named || (seen & TAG_MASK));
}

static uint8_t *find_tag(const void *value, size_t size, uint16_t tag)
{
	for (size_t i = 0; i < count_of(size); i++)
		if (get16(entry(value, i)) == tag)
			return entry(value, i);
	return NULL;
}

/* The entry that stands for the group class: the mask if any. */
static uint8_t *group_class(const void *value, size_t size)
{
	uint8_t *mask = find_tag(value, size, TAG_MASK);
	return mask ? mask : find_tag(value, size, TAG_GROUP_OBJ);
}

uint32_t acl_mode_bits(const void *value, size_t size)
{
	return (uint32_t)get16(find_tag(value, size, TAG_USER_OBJ) + 2) << 6 |
	       (uint32_t)get16(group_class(value, size) + 2) << 3 |
	       get16(find_tag(value, size, TAG_OTHER) + 2);
}

bool acl_is_minimal(const void *value, size_t size)
{
	(void)value; /* the three base entries are all a valid ACL must hold */
	return count_of(size) == 3;
}

void acl_chmod(void *value, size_t size, uint32_t mode)
{
	put16(find_tag(value, size, TAG_USER_OBJ) + 2, (mode >> 6) & 7);
	put16(group_class(value, size) + 2, (mode >> 3) & 7);
	put16(find_tag(value, size, TAG_OTHER) + 2, mode & 7);
}

bool acl_inherit(const void *dflt, size_t size, uint32_t *mode, void *out)
{
	memcpy(out, dflt, size);
	uint8_t *u = find_tag(out, size, TAG_USER_OBJ);
	uint8_t *g = group_class(out, size);
	uint8_t *o = find_tag(out, size, TAG_OTHER);
	put16(u + 2, get16(u + 2) & ((*mode >> 6) & 7));
	put16(g + 2, get16(g + 2) & ((*mode >> 3) & 7));
	put16(o + 2, get16(o + 2) & (*mode & 7));
	*mode = (*mode & ~0777u) | acl_mode_bits(out, size);
	return !acl_is_minimal(out, size);
}
