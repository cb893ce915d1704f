/*
 * The file mkfs.nvmpfs is about to overwrite.  It is opened once, never
 * through a symbolic link, and every decision (what it holds, its mode,
 * its size) is made on that open file, not on its name, so the name
 * cannot be pointed elsewhere between the check and the write.
 */
#ifndef NVMPFS_MKFS_TARGET_H
#define NVMPFS_MKFS_TARGET_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>

struct mkfs_target {
	const char *path;
	int fd;
	struct stat st;          /* of the open file */
	bool created;            /* made here: removed if mkfs fails */
};

/*
 * Opens path for writing without following a symbolic link (refused,
 * naming where it points), or creates it with mode 0600 if it does not
 * exist.  Only regular files and character devices are accepted.
 * Returns 0, or -1 after printing why.
 */
int target_open(struct mkfs_target *t, const char *path);

static inline bool target_is_device(const struct mkfs_target *t)
{
	return S_ISCHR(t->st.st_mode);
}

/*
 * A regular file that holds something (an nvmpfs pool, or anything but
 * zeros) is refused unless force; the message says what it seems to be.
 * Returns 0 to go on, -1 after printing why not.
 */
int target_judge_file(const struct mkfs_target *t, bool force);

/* The same for a device, judged through its mapping. */
int target_judge_mapped(const struct mkfs_target *t, const uint8_t *base,
			uint64_t size, bool force);

/*
 * Regular files: mode 0600 (only its owner may read the pool, which holds
 * every file's data) and the size asked for: size (0 = keep the file's
 * own), or new_size for a file just made.  Returns 0 or -1 (printed).
 */
int target_prepare(struct mkfs_target *t, uint64_t size, uint64_t new_size);

/* Whether fd is the very file that was opened and judged. */
bool target_same_file(const struct mkfs_target *t, int fd);

/* Lets pool_open take the pool's lock (two opens' flock locks conflict). */
void target_unlock(const struct mkfs_target *t);

/* Closes it; a file made here is removed when failed is true. */
void target_close(struct mkfs_target *t, bool failed);

#endif
