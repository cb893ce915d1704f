/* fsck's data pass: file data against the checksums stored for it. */
#ifndef NVMPFS_CHECK_DATA_H
#define NVMPFS_CHECK_DATA_H

#include <stdio.h>

#include "check.h"
#include "fs.h"

/* What the metadata passes learned that the data pass needs. */
struct data_scope {
	const uint64_t *used;    /* blocks in use, as the passes found them */
	bool crashed;            /* not unmounted cleanly (see below) */
	uint64_t torn;           /* out: blocks written at the crash */
};

/*
 * Reads every block in use that has a stored checksum and compares.  Each
 * block that fails is a problem, reported on a line of its own as the
 * path of the file that holds it (from the root; "inode N" for a file no
 * directory reaches) and the block's byte offset in that file.  Nothing
 * is changed, even when repairing: fsck cannot know the lost data, and
 * the stored checksum keeps the block reading as EIO.  Counts into
 * res->found and res->data_bad.  Call after the metadata passes (with
 * -y, on the repaired maps).  After a crash, a block that fails inside an
 * extent of the write-intent map was being written, not damaged: it is
 * counted in scope->torn, not reported (the next mount marks it
 * unverified).
 */
void check_data(struct nvfs *fs, const struct check_opts *opts, FILE *out,
		struct check_result *res, struct data_scope *scope);

#endif
