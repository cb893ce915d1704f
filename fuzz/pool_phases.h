/*
 * The phases a damaged pool goes through: those of the libFuzzer target
 * (fuzz/fuzz_pool.c, which describes them) and of the replay of the
 * reproducers in fuzz/crashes (tests/tools/poolreplay.c, run by make
 * check).  A phase that finds a bug calls abort() after describing it on
 * stderr; a crash of the core is a finding as well.
 */
#ifndef NVMPFS_POOL_PHASES_H
#define NVMPFS_POOL_PHASES_H

struct nvfs;

/* Reads FUZZ_POOL_STRICT and FUZZ_POOL_ALLOW (see fuzz_pool.c). */
void phases_setup(void);
/* The template's tree, made through the core API on a fresh pool. */
void phases_populate(struct nvfs *fs);
/* (a) mount, walk, mutate, unmount: a refused mount is no finding. */
void phases_mount(const char *path);
/* (b)-(e) check, repair, check again, mount the repaired pool. */
void phases_check(const char *path);

#endif
