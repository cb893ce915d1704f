/*
 * nvmpfs on-media layout (version 2).
 *
 * A pool is one file (or device) divided into 4 KiB blocks.  Every structure
 * here is little-endian (x86-64 native), naturally aligned, and addressed by
 * block number or byte offset from the start of the pool; no pointer is ever
 * stored.  The regions follow each other in this order:
 *
 *   block 0          superblock copy A
 *   block 1          superblock copy B
 *   journal          undo log in journal_lanes lanes: one transaction in
 *                    flight per lane, so transactions run concurrently
 *   inode table      inode_count fixed-size inodes, inode number = index
 *   block bitmap     one bit per pool block, 1 = in use (metadata regions
 *                    are marked in use at mkfs time)
 *   checksum table   one XXH3-64 per pool block (0 = no checksum recorded)
 *   out-of-sync map  one bit per pool block for the mirror's resync
 *   write-intent map one bit per extent of NVMPFS_INTENT_BLOCKS blocks
 *   data             file data, directory blocks, block-map nodes, xattrs
 *
 * Invariants every writer keeps:
 *  - A metadata change that must be atomic (names, link counts, frees,
 *    anything that changes two words that must agree) happens inside a
 *    journal transaction; a crash rolls back a transaction that did not
 *    commit.  A single aligned 8-byte word (a block-map entry, the map
 *    word, a size, a time, a checksum) may change without one: power
 *    failure never tears it.
 *  - File data is written in place and made durable before the WRITE reply;
 *    blocks newly given to a file hold their data (or zeros) durably before
 *    a map entry inside the file's size points at them (an entry past the
 *    size may become durable with the data: nothing reads past the size),
 *    and every byte of a file at an offset >= its size reads as zero.  (An extending write cut short by a
 *    crash can leave bytes past the size; the mount after an unclean
 *    shutdown zeroes them.)
 *  - The block bitmap is exact only while the superblock says CLEAN: a
 *    mounted pool keeps it in memory and writes it back at a clean unmount.
 *    The mount after an unclean shutdown rebuilds it (and every inode's
 *    block count) from the block maps.
 *  - A free block's checksum word is 0.
 *  - Before data of a block is changed in place, the bit of the block's
 *    extent in the write-intent map is set and durable; bits are cleared
 *    lazily once nothing is written there.  After an unclean shutdown a
 *    block in a marked extent whose data does not match its checksum was
 *    being written, not damaged: the mount marks it unverified (0).
 *  - Free directory slots are all-zero bytes.
 */
#ifndef NVMPFS_LAYOUT_H
#define NVMPFS_LAYOUT_H

#include <stdint.h>

#define NVMPFS_BLOCK_SIZE 4096u
#define NVMPFS_BLOCK_SHIFT 12

/* "NVMPFS" then 0x00 0x01, read as a little-endian u64. */
#define NVMPFS_MAGIC 0x0100534650004d4eull
#define NVMPFS_LAYOUT_VERSION 2u

/* The smallest pool mkfs accepts: room for every region and some data. */
#define NVMPFS_MIN_POOL_SIZE (8ull << 20)

/* Superblock state: written clean at a tidy unmount, mounted while in use. */
#define NVMPFS_STATE_CLEAN 1u
#define NVMPFS_STATE_MOUNTED 2u

/*
 * Replication roles (superblock role_flags), set by `nvmpfsctl promote` and
 * `nvmpfsctl demote`:
 *   PROMOTED  this pool was a mirror and was promoted to be a primary; its
 *             mirror_epoch was bumped and epoch_tag drawn anew then.
 *   DEMOTED   this pool was a primary and was demoted: it mounts no more;
 *             nvmpfs-mirror takes it as a mirror of a primary of its size
 *             (full resync), which overwrites it.
 * Two pools of one lineage diverged (split brain) when their epochs
 * differ with the newer not a demoted one, or when their epochs are equal
 * and their epoch tags are not.  A mirror is a byte-for-byte replica,
 * superblock included: the primary's epoch, tag and flags reach it.
 */
#define NVMPFS_ROLE_PROMOTED 0x1u
#define NVMPFS_ROLE_DEMOTED 0x2u

/*
 * The superblock.  Two copies (blocks 0 and 1); an update writes and persists
 * A, then B, so at least one copy is always whole.  A copy is valid when its
 * magic, version and checksum match; the valid copy with the higher
 * generation wins.  Geometry fields never change after mkfs.
 */
struct nvmpfs_super {
	uint64_t magic;          /* NVMPFS_MAGIC */
	uint32_t version;        /* NVMPFS_LAYOUT_VERSION */
	uint32_t block_size;     /* NVMPFS_BLOCK_SIZE */
	uint8_t uuid[16];        /* random, made by mkfs */
	uint64_t block_count;    /* blocks in the pool */
	uint64_t journal_start;  /* first block of the journal */
	uint64_t journal_blocks;
	uint64_t inode_start;    /* first block of the inode table */
	uint64_t inode_count;    /* inodes; inode 0 is never used, 1 is root */
	uint64_t bitmap_start;
	uint64_t bitmap_blocks;
	uint64_t csum_start;
	uint64_t csum_blocks;
	uint64_t sync_start;     /* mirror out-of-sync bitmap */
	uint64_t sync_blocks;
	uint64_t data_start;     /* first block that may hold file data */
	uint64_t generation;     /* bumped at every mount and superblock write */
	uint64_t mirror_epoch;   /* bumped when a mirror is promoted */
	uint64_t mkfs_time;      /* seconds since the epoch */
	uint32_t state;          /* NVMPFS_STATE_* */
	uint32_t journal_lanes;  /* lanes the journal region is cut into */
	uint64_t intent_start;   /* write-intent map */
	uint64_t intent_blocks;
	uint32_t role_flags;     /* NVMPFS_ROLE_*: replication role (0: none) */
	uint32_t reserved32;     /* zero */
	uint64_t epoch_tag;      /* random, drawn at mkfs and each promotion */
	/*
	 * Random, drawn anew whenever the pool may change without a mirror
	 * seeing the change or its block being marked in the out-of-sync
	 * map: a read-write mount without a mirror, a mount after a crash,
	 * an fsck repair; 0 until the first such event.  A mirror whose
	 * copy of the superblock holds the same token (and epoch, tag) has
	 * every change but those marked: it resyncs only those.
	 */
	uint64_t repl_token;
	uint64_t reserved[27];   /* zero; for later versions */
	uint64_t checksum;       /* XXH3-64 of every byte before this field */
};

/* Inode numbers: 0 is "none", 1 is the root directory (as in FUSE). */
#define NVMPFS_ROOT_INO 1ull

#define NVMPFS_INODE_SIZE 256u
#define NVMPFS_MAX_NAME 255u
#define NVMPFS_MAX_SYMLINK 4095u

/* Inode flags. */
#define NVMPFS_IFLAG_TRUNCATING 0x1u /* blocks past size are being freed */
/*
 * A first write into an empty file without a block map publishes the map
 * word and the size in one drain (fs/core/write.c): while the map word is
 * 0, a size above 0 is one that crash recovery drops (back to 0).  Set, durably, before
 * that drain; cleared where the map is emptied again (a truncate), and by
 * the recovery that drops such a size.
 */
#define NVMPFS_IFLAG_FIRST_MAP 0x2u

struct nvmpfs_time {
	int64_t sec;
	uint32_t nsec;
	uint32_t pad;
};

/*
 * An inode.  mode == 0 means the slot is free.  An in-use inode with
 * nlink == 0 is an orphan (unlinked while open); the mount that follows a
 * crash frees it.  The map word describes the block map: a radix tree of
 * 4 KiB nodes, each holding NVMPFS_MAP_FANOUT block numbers (0 = hole);
 * its low 56 bits are the root node's block (0: no map), its top 8 bits
 * the height h (the tree maps 512^h file blocks).  Root and height share
 * one word so that growing the tree is one atomic store.  `blocks` is
 * exact while the pool is clean; after a crash the mount recounts it.
 */
struct nvmpfs_inode {
	uint32_t mode;           /* S_IFMT type and permission bits */
	uint32_t nlink;
	uint32_t uid;
	uint32_t gid;
	uint64_t size;           /* bytes */
	uint64_t blocks;         /* pool blocks held: data, map nodes, xattrs */
	struct nvmpfs_time atime;
	struct nvmpfs_time mtime;
	struct nvmpfs_time ctime;
	struct nvmpfs_time btime; /* creation */
	uint64_t generation;     /* bumped each time the slot is reused */
	uint64_t rdev;           /* device number of block/char nodes */
	uint64_t map;            /* root block | height << 56 (see above) */
	uint32_t reserved1;      /* zero */
	uint32_t flags;          /* NVMPFS_IFLAG_* */
	uint64_t xattr_block;    /* root of the xattr tree, 0 if none */
	uint64_t parent;         /* directories: inode of "..", else 0 */
	/*
	 * The name hint of a create that publishes its entry with one store
	 * (fs/core/naming.h): the entry in slot naming_slot - 1 of directory
	 * naming_dir names this inode once that store is durable.  Written
	 * with the inode, before the store; cleared by the first link,
	 * unlink or rename of the inode (in their transactions); 0 if none.
	 * Only recovery after a crash reads it.
	 */
	uint64_t naming_dir;
	uint64_t naming_slot;
	uint64_t reserved[12];
};

#define NVMPFS_MAP_FANOUT 512u
#define NVMPFS_MAP_SHIFT 9
#define NVMPFS_MAP_MAX_HEIGHT 4u
#define NVMPFS_MAP_HEIGHT_SHIFT 56
#define NVMPFS_MAP_ROOT_MASK ((1ull << NVMPFS_MAP_HEIGHT_SHIFT) - 1)

static inline uint64_t nvmpfs_map_root(uint64_t map)
{
	return map & NVMPFS_MAP_ROOT_MASK;
}

static inline unsigned nvmpfs_map_height(uint64_t map)
{
	return (unsigned)(map >> NVMPFS_MAP_HEIGHT_SHIFT);
}

static inline uint64_t nvmpfs_map_word(uint64_t root, unsigned height)
{
	return root | ((uint64_t)height << NVMPFS_MAP_HEIGHT_SHIFT);
}

/*
 * The write-intent map: one bit per extent of this many blocks (1 MiB).
 * Bit i covers pool blocks [i * NVMPFS_INTENT_BLOCKS, (i + 1) * ...).
 */
#define NVMPFS_INTENT_BLOCKS 256u

/*
 * Directories keep their entries in their data blocks, in 64-byte slots.  An
 * entry takes 1..5 consecutive slots of one block (never crossing a block);
 * a slot whose ino is 0 is free, and its other bytes mean nothing (they
 * are zero, but for what a create cut short by a crash left: naming.h).  Directory sizes are whole
 * blocks.  Lookups go through an in-memory hash index built from the
 * entries the first time the directory is used.
 */
#define NVMPFS_DIRENT_SLOT 64u
#define NVMPFS_SLOTS_PER_BLOCK (NVMPFS_BLOCK_SIZE / NVMPFS_DIRENT_SLOT)
#define NVMPFS_DIRENT_HEADER 16u

struct nvmpfs_dirent {
	uint64_t ino;            /* 0 = free slot */
	uint8_t nslots;          /* slots taken, 1..5 */
	uint8_t type;            /* DT_* of the target */
	uint16_t name_len;       /* 1..255 */
	uint32_t reserved;
	char name[];             /* name_len bytes, not NUL-terminated */
};

/* The most lanes a journal has (the lane set is a 64-bit mask in memory). */
#define NVMPFS_MAX_LANES 64u

/*
 * Extended attributes (new in layout version 2).
 *
 * An inode's attributes form a B+tree keyed by the hash of their names:
 * inode->xattr_block is 0 (no attributes) or the block of the root node.
 * Every node is one block that starts with a struct nvmpfs_xattr_node.
 *
 *  - A leaf (level 0, NVMPFS_XATTR_LEAF_MAGIC) holds `count` records
 *    (struct nvmpfs_xattr_rec), packed from the end of the header, in no
 *    particular order; `used` is the bytes they take.  Bytes past `used`
 *    are free and mean nothing.
 *  - An index node (level 1..NVMPFS_XATTR_MAX_LEVEL,
 *    NVMPFS_XATTR_INDEX_MAGIC) holds `count` entries (struct
 *    nvmpfs_xattr_entry) after the header, `used` is 0.  Entry i points to
 *    a child of level - 1 that holds the hashes h with
 *    low[i] <= h < low[i + 1] (entry 0: every hash of the node's own range
 *    below low[1], whatever its own low says; the last entry: up to the
 *    end of the node's range).
 *
 * A record's hash is the XXH3-64 (seed 0) of its name's bytes.  A record
 * is 8-byte aligned; after its 16-byte header come the name (full, with
 * the namespace prefix, no NUL), padding to a multiple of 8, then its
 * payload, then padding to rec_len:
 *   - an inline value (value_len <= NVMPFS_XATTR_INLINE_MAX bytes);
 *   - or, with NVMPFS_XATTR_REC_EXTERNAL, for a larger value (up to
 *     NVMPFS_XATTR_VALUE_MAX), the numbers of the blocks that hold it, one
 *     u64 per 4 KiB of value, in order; the last block is zero past the
 *     value's end.
 *
 * Invariants (fsck checks them):
 *  - every node and value block lies in the data region and belongs to
 *    this inode alone; inode->blocks counts them with the data blocks;
 *  - levels decrease by one from a node to its children, so every leaf is
 *    at the same depth; an index node has 1..NVMPFS_XATTR_INDEX_MAX
 *    entries whose lows, from entry 1 on, strictly increase; a leaf holds
 *    at least one record (a tree that loses its last one is freed);
 *  - every record lies inside its leaf, has a name of 1..255 bytes
 *    without NUL and a hash that matches it and falls in the leaf's range;
 *    no name appears twice;
 *  - every change goes through the journal: bytes of reachable nodes are
 *    logged before they change; new blocks are filled before anything
 *    points to them; blocks are freed after the last allocation of their
 *    transaction, so a rollback never finds a block it restores reused.
 *    A crash shows every attribute with its old value or its new one.
 */
#define NVMPFS_XATTR_LEAF_MAGIC 0x4641454cu   /* "LEAF" */
#define NVMPFS_XATTR_INDEX_MAGIC 0x58444e49u  /* "INDX" */
#define NVMPFS_XATTR_MAX_LEVEL 4u
#define NVMPFS_XATTR_VALUE_MAX 65536u         /* XATTR_SIZE_MAX */
#define NVMPFS_XATTR_INLINE_MAX 1024u
#define NVMPFS_XATTR_REC_EXTERNAL 0x01u

struct nvmpfs_xattr_node {
	uint32_t magic;          /* NVMPFS_XATTR_LEAF_MAGIC / _INDEX_MAGIC */
	uint16_t level;          /* 0 for a leaf */
	uint16_t count;          /* records or entries */
	uint32_t used;           /* leaf: bytes of records; index: 0 */
	uint32_t reserved;       /* 0 */
};

#define NVMPFS_XATTR_ROOM (NVMPFS_BLOCK_SIZE - sizeof(struct nvmpfs_xattr_node))

struct nvmpfs_xattr_entry {
	uint64_t low;            /* the smallest hash the child may hold */
	uint64_t child;          /* block of the child node */
};

#define NVMPFS_XATTR_INDEX_MAX \
	(NVMPFS_XATTR_ROOM / sizeof(struct nvmpfs_xattr_entry))

struct nvmpfs_xattr_rec {
	uint64_t hash;           /* XXH3-64 of the name */
	uint32_t value_len;      /* bytes of the value */
	uint16_t rec_len;        /* bytes of the record, a multiple of 8 */
	uint8_t name_len;        /* 1..255 */
	uint8_t flags;           /* NVMPFS_XATTR_REC_* */
	char name[];             /* then padding, payload, padding */
};

/*
 * Journal: an undo log cut into journal_lanes lanes of equal size
 * (journal_blocks / journal_lanes blocks each).  Each lane holds at most
 * one transaction: its head sits at the start of the lane, its records
 * follow.  A transaction with sequence number S (unique across lanes)
 * writes records holding the old bytes of every range it will change, and
 * makes them durable (with active_seq = S in its lane's head) before it
 * changes any of them.  At commit the changed ranges are made durable,
 * then active_seq is set to 0 and made durable.  Recovery: for every lane
 * whose active_seq != 0, every record whose seq equals it and whose
 * checksum matches (in order, stopping at the first that does not) is
 * written back, newest first; lanes are undone newest transaction first.
 * Two transactions in flight never change the same bytes (the file
 * system's locks see to it), so the order of lanes is a precaution.
 */
#define NVMPFS_JOURNAL_MAGIC 0x4c4e524a5046564eull

struct nvmpfs_journal_head {
	uint64_t magic;          /* NVMPFS_JOURNAL_MAGIC */
	uint64_t active_seq;     /* transaction in flight, 0 if none */
	uint64_t last_seq;       /* last sequence number this lane used */
	uint64_t reserved[5];
};

struct nvmpfs_undo_rec {
	uint64_t seq;            /* transaction this record belongs to */
	uint64_t off;            /* pool byte offset of the range */
	uint32_t len;            /* bytes of old data following the record */
	uint32_t reserved;
	uint64_t checksum;       /* XXH3-64 of the data, seeded with the XXH3-64
	                            of seq, off, len, reserved */
};

#endif
