/* fsck's data pass: file data against the checksums stored for it. */
#ifndef NVMPFS_CHECK_DATA_H
#define NVMPFS_CHECK_DATA_H

#include <stdio.h>

#include "check.h"
#include "fs.h"

/*
 * Reads every block in use that has a stored checksum and compares.  Each
 * block that fails is a problem, reported on a line of its own as the
 * path of the file that holds it (from the root; "inode N" for a file no
 * directory reaches) and the block's byte offset in that file.  Nothing
 * is changed, even when repairing: fsck cannot know the lost data, and
 * the stored checksum keeps the block reading as EIO.  Counts into
 * res->found and res->data_bad.  Call after the metadata passes (with
 * -y, on the repaired maps).
 */
void check_data(struct nvfs *fs, const struct check_opts *opts, FILE *out,
		struct check_result *res);

#endif
