/*
 * Recognises a few well-known formats by their signatures, so that a
 * refusal can say what the file holds; anything else is "text" or
 * "data".  A wrong guess only changes the wording of a refusal: every
 * non-empty file that is not a pool is refused alike.
 */
#include <stdbool.h>
#include <string.h>

#include "sniff.h"

struct signature {
	size_t offset;
	const char *bytes;
	size_t len;
	const char *what;
};

#define SIG(off, lit, what) { off, lit, sizeof(lit) - 1, what }

static const struct signature signatures[] = {
	SIG(0, "\x7f" "ELF", "an ELF executable or library"),
	SIG(0, "\x1f\x8b", "gzip-compressed data"),
	SIG(0, "\xfd" "7zXZ\0", "xz-compressed data"),
	SIG(0, "\x28\xb5\x2f\xfd", "zstd-compressed data"),
	SIG(0, "SQLite format 3\0", "an SQLite database"),
	SIG(0, "%PDF-", "a PDF document"),
	SIG(0, "\x89PNG\r\n\x1a\n", "a PNG image"),
	SIG(0, "\xff\xd8\xff", "a JPEG image"),
	SIG(0, "PK\x03\x04", "a zip archive"),
	SIG(0, "XFSB", "an XFS file system"),
	SIG(0, "LUKS\xba\xbe", "a LUKS encrypted volume"),
	SIG(257, "ustar", "a tar archive"),
	SIG(4086, "SWAPSPACE2", "a swap area"),
};

static bool has_bytes(const uint8_t *head, size_t len, size_t off,
		      const char *bytes, size_t n)
{
	return off + n <= len && memcmp(head + off, bytes, n) == 0;
}

/* "BZh" and a block size digit, then a block or end-of-stream magic. */
static bool is_bzip2(const uint8_t *head, size_t len)
{
	return has_bytes(head, len, 0, "BZh", 3) && len >= 10 &&
	       head[3] >= '1' && head[3] <= '9' &&
	       (has_bytes(head, len, 4, "\x31\x41\x59\x26\x53\x59", 6) ||
		has_bytes(head, len, 4, "\x17\x72\x45\x38\x50\x90", 6));
}

static uint32_t le32_at(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

/* The ext2/3/4 superblock starts at byte 1024; its magic at 56. */
static const char *ext_family(const uint8_t *head, size_t len)
{
	enum { SB = 1024, MAGIC = SB + 56, COMPAT = SB + 0x5c,
	       INCOMPAT = SB + 0x60 };
	if (!has_bytes(head, len, MAGIC, "\x53\xef", 2) || len < INCOMPAT + 4)
		return NULL;
	const uint32_t ext4_only = 0x40 | 0x80 | 0x200; /* extents, 64bit, flex_bg */
	if (le32_at(head + INCOMPAT) & ext4_only)
		return "an ext4 file system";
	if (le32_at(head + COMPAT) & 0x4) /* has_journal */
		return "an ext3 file system";
	return "an ext2 file system";
}

/* Printable characters, usual white space and escapes; no NUL. */
static bool looks_like_text(const uint8_t *head, size_t len)
{
	if (len > 4096)
		len = 4096;
	for (size_t i = 0; i < len; i++) {
		uint8_t c = head[i];
		if (c >= 0x20 && c != 0x7f)
			continue; /* ASCII or a byte of UTF-8 / Latin-1 */
		if (!strchr("\t\n\r\f\v\b\x1b", c) || c == 0)
			return false;
	}
	return true;
}

const char *sniff_contents(const uint8_t *head, size_t len)
{
	for (size_t i = 0; i < sizeof(signatures) / sizeof(signatures[0]); i++) {
		const struct signature *s = &signatures[i];
		if (has_bytes(head, len, s->offset, s->bytes, s->len))
			return s->what;
	}
	if (is_bzip2(head, len))
		return "bzip2-compressed data";
	const char *ext = ext_family(head, len);
	if (ext)
		return ext;
	return looks_like_text(head, len) ? "text"
					  : "data (no format known to mkfs.nvmpfs)";
}
