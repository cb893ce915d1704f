/*
 * What a file seems to hold, judged from its first bytes: mkfs.nvmpfs
 * names it when it refuses to overwrite a file that is not a pool.
 */
#ifndef NVMPFS_SNIFF_H
#define NVMPFS_SNIFF_H

#include <stddef.h>
#include <stdint.h>

/* Bytes of a file's start that sniff_contents looks at (at most). */
#define SNIFF_HEAD_SIZE (64u << 10)

/*
 * A short description that reads after "seems to hold": "an ELF
 * executable or library", "gzip-compressed data", "text", "data (no
 * format known to mkfs.nvmpfs)" ...  head holds the first len bytes of the
 * file (len > 0); nvmpfs pools and all-zero files are the caller's to
 * recognise.
 */
const char *sniff_contents(const uint8_t *head, size_t len);

#endif
