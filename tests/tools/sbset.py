#!/usr/bin/env python3
"""sbset.py POOL FIELD=VALUE...: sets superblock fields of an nvmpfs pool
(both copies, checksums recomputed), as nvmpfsctl promote/demote or a
promoted pool would leave them, for the mirror's tests.  FIELD is one of
mirror_epoch, role_flags (NVMPFS_ROLE_PROMOTED 1, DEMOTED 2), state
(CLEAN 1, MOUNTED 2).  Offsets follow struct nvmpfs_super
(include/nvmpfs/layout.h, layout version 2)."""
import ctypes
import struct
import sys

FIELDS = {"mirror_epoch": (136, "<Q"), "state": (152, "<I"),
          "role_flags": (176, "<I")}
CHECKSUM_OFF = 416
BLOCK = 4096

xxh = ctypes.CDLL("libxxhash.so.0")
xxh.XXH3_64bits.restype = ctypes.c_uint64
xxh.XXH3_64bits.argtypes = [ctypes.c_char_p, ctypes.c_size_t]


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    with open(sys.argv[1], "r+b") as f:
        for copy in (0, 1):
            f.seek(copy * BLOCK)
            sb = bytearray(f.read(CHECKSUM_OFF + 8))
            for arg in sys.argv[2:]:
                name, value = arg.split("=", 1)
                off, fmt = FIELDS[name]
                struct.pack_into(fmt, sb, off, int(value, 0))
            csum = xxh.XXH3_64bits(bytes(sb[:CHECKSUM_OFF]), CHECKSUM_OFF)
            struct.pack_into("<Q", sb, CHECKSUM_OFF, csum)
            f.seek(copy * BLOCK)
            f.write(sb)


main()
