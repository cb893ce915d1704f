/* fsck: checking (and repairing) a pool that is not mounted. */
#ifndef NVMPFS_CHECK_H
#define NVMPFS_CHECK_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

struct check_opts {
	bool repair;    /* fix what is wrong (else look only) */
	bool verbose;
	bool skip_data; /* no pass 5 (data checksums) */
	/* Called now and then: pass (1..5), its name, done of total. */
	void (*progress)(int pass, const char *name, uint64_t done,
			 uint64_t total);
};

struct check_result {
	uint64_t found;          /* problems seen */
	uint64_t fixed;          /* of which repaired */
	uint64_t data_bad;       /* of which data blocks failing their
				    checksums (never repaired) */
	uint64_t recoverable;    /* of which left by a crash for the next
				    mount to finish (an interrupted
				    transaction, an unlinked inode) */
	uint64_t inodes_used, inode_count;
	uint64_t blocks_used, block_count;
};

/*
 * Checks the pool at path, writing one line per problem to out.  Without
 * repair the pool file is never written (it is mapped copy-on-write, so
 * even the journal rollback happens only in memory).  Returns 0, or -1
 * with a message in err when the pool cannot be checked at all.
 */
int check_pool(const char *path, const struct check_opts *opts, FILE *out,
	       struct check_result *res, char *err, size_t errlen);

#endif
