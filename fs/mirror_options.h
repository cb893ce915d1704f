/*
 * The mirror's mount options (nvmpfs -o mirror=HOST:PORT,mirror_key=FILE
 * [,mirror_timeout=MS][,mirror_policy=degrade|block][,mirror_sync=all|points]
 * [,resync_rate=MB/s][,mirror_seal=on|off][,mirror_hold=MS]): parsed with the daemon's other
 * options, checked (and the key file read) before the daemon goes to the
 * background, so that every mistake is said on the terminal.
 */
#ifndef NVMPFS_MIRROR_OPTIONS_H
#define NVMPFS_MIRROR_OPTIONS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct mirror_opts;

struct mirror_cli {
	const char *addr;        /* mirror=: NULL when no mirror */
	const char *key_path;    /* mirror_key= */
	long timeout_ms;         /* mirror_timeout=, 0: default */
	bool policy_block;       /* mirror_policy=block */
	bool sync_all;           /* mirror_sync=all */
	uint64_t resync_mb;      /* resync_rate= in MB/s, 0: no limit */
	bool seal;               /* mirror_seal=on */
	bool hold_given;         /* mirror_hold= given: */
	long hold_ms;            /* its value */
	const char *first_given; /* the first mirror_* or resync_rate option */
};

/* True when opt is one of them (*rc: 0, or -1 after a message). */
bool take_mirror_option(struct mirror_cli *mc, const char *opt, int *rc);
/* Checks them together and reads the key; -1 after a message. */
int mirror_opts_build(const struct mirror_cli *mc, struct mirror_opts *o);

#endif
