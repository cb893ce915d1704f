/* Parsing of sizes given on command lines ("256M", "1G", "4096"). */
#ifndef NVMPFS_UNITS_H
#define NVMPFS_UNITS_H

#include <stdint.h>

/* Accepts a number with an optional K, M, G or T suffix (powers of 1024). */
int parse_size(const char *text, uint64_t *out);

#endif
