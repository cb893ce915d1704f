#!/usr/bin/env python3
"""crashload.py: a random file-system workload that logs its intent, and a
verifier that checks a tree against what the log says must be there.

  crashload.py run DIR LOG SEED [--ops N] [--mix meta|data|mixed|xattr]
  crashload.py verify DIR LOG
  crashload.py eofcheck POOL

run: scans DIR (the state it starts from is saved in LOG.init), then performs
N random operations on it: creates, writes at random offsets, extending
writes and O_APPEND writes (at most 64 KiB; files stay under 256 KiB), each
sometimes followed by fsync or fdatasync; renames (plain, RENAME_NOREPLACE,
RENAME_EXCHANGE, over existing names, of folders), hard links, unlinks,
truncates up and down, mkdir/rmdir, symlinks, chmod, user.* xattrs,
fallocate / punch hole / zero range, and files kept open across operations
(so that unlinked open files exist).  The xattr mix is mostly setxattr and
removexattr, over hundreds of names and values up to 64 KiB, so that the
files' attribute trees grow, split and shrink.  Some operations are meant to fail
(EEXIST, ENOENT, ENOTEMPTY...).  Before each operation it appends an intent
record (a JSON line from which the operation can be replayed) to LOG, after
its state-changing call a done record with the result (0, a byte count, or
-errno); the log is flushed at each record.  When a call fails with
ENOTCONN, EIO or ECONNABORTED (the daemon died) it stops and exits 0.  It
exits 3 when a result is not what the model predicts (it says which).

verify: replays LOG.init and LOG into a model (paths -> inode; inode -> type,
mode, bytes, symlink target, user.* xattrs; hard links share an inode; link
counts follow) and compares DIR with it.  The tree must be one of:
  - the state after the last completed operation;
  - the state after the operation in flight (intent but no done record);
  - for a write or fallocate in flight: a mix of the two inside the byte
    range it changes, per aligned 8-byte word, with the old or the new size
    (file data is written in place; the design promises only that aligned
    8-byte stores are never torn).  CRASHLOAD_STRICT=1 refuses this;
  - for a write(2) in flight whose first page is partial: the state after
    its first page only (the kernel sends such a write as two WRITE
    requests, the first page and the rest); after a short write (the
    daemon died between the two), the rest may be there, or part of it.
Prints "OK" and exits 0, or prints the differences from each of these
states and exits 1.  Operations that failed change nothing; a result that
differs from the model's prediction is reported as a failure too.

eofcheck: reads an unmounted pool (include/nvmpfs/layout.h) and checks that
every byte past the end of each file, in the blocks the file holds, is zero
(the layout promises it, and extending a file relies on it); lists the
files that break it and exits 1.
"""

import argparse
import copy
import ctypes
import ctypes.util
import errno
import json
import os
import pickle
import random
import stat
import sys

RENAME_NOREPLACE = 1
RENAME_EXCHANGE = 2
AT_FDCWD = -100
FALLOC_FL_KEEP_SIZE = 0x01
FALLOC_FL_PUNCH_HOLE = 0x02
FALLOC_FL_ZERO_RANGE = 0x10
XATTR_CREATE = 1
XATTR_REPLACE = 2

BLOCK = 4096
MAX_SIZE = 256 * 1024
MAX_WRITE = 64 * 1024
MAX_FILES = 40
MAX_DIRS = 12
MAX_DEPTH = 3
FOLLOW = {"write", "truncate", "falloc", "fsync", "open", "chmod",
          "setxattr", "removexattr"}
# With CRASHLOAD_STRICT=1, verify wants a write or fallocate in flight
# done whole or not at all.
STRICT = os.environ.get("CRASHLOAD_STRICT") == "1"
DEAD = {errno.ENOTCONN, errno.EIO, errno.ECONNABORTED}

FILE_NAMES = ["f%d" % i for i in range(12)] + ["l%d" % i for i in range(4)]
TOP_DIR_NAMES = ["d%d" % i for i in range(5)]
SUB_DIR_NAMES = ["s%d" % i for i in range(3)]
XATTR_NAMES = ["user.a", "user.b", "user.c", "user.long_name_" + "x" * 40,
               "user.e"]
XATTR_LENS = [0, 1, 7, 30, 100, 250]
# The xattr mix: many names (a file's tree gets several leaves) and values
# on both sides of the inline limit, up to XATTR_SIZE_MAX.
XATTR_MANY_NAMES = XATTR_NAMES + ["user.m%03d.%s" % (i, "n" * (i % 40))
                                  for i in range(400)]
XATTR_MANY_LENS = [0, 1, 30, 100, 250, 1000, 1024, 1025, 4096, 5000, 20000,
                   65536]
MODES = [0o644, 0o600, 0o640, 0o755, 0o700, 0o444]

_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6",
                    use_errno=True)
_libc.renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int,
                            ctypes.c_char_p, ctypes.c_uint]
_libc.fallocate.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int64,
                            ctypes.c_int64]


def renameat2(src, dst, flags):
    if _libc.renameat2(AT_FDCWD, os.fsencode(src), AT_FDCWD,
                       os.fsencode(dst), flags) != 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e), src)


def fallocate(fd, mode, off, length):
    if _libc.fallocate(fd, mode, off, length) != 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))


def gen_bytes(seed, n):
    return random.Random(seed).randbytes(n)


def ename(e):
    return errno.errorcode.get(e, str(e))


def parent_of(p):
    return p.rpartition("/")[0]


def join(d, name):
    return d + "/" + name if d else name


def depth(p):
    return 0 if p == "" else p.count("/") + 1


def is_dir_name(name):
    return name[0] in "ds"


# ---------------------------------------------------------------------------
# The model.

class Ino:
    __slots__ = ("kind", "mode", "data", "target", "xattrs")

    def __init__(self, kind, mode, data=None, target=None):
        self.kind = kind            # 'f' file, 'd' directory, 'l' symlink
        self.mode = mode            # permission bits
        self.data = bytearray(data or b"")
        self.target = target
        self.xattrs = {}


class Model:
    def __init__(self):
        self.inodes = {0: Ino("d", 0o755)}
        self.names = {"": 0}
        self.next_ino = 1
        self.fds = {}               # slot -> inode id

    # -- state

    def new_ino(self, ino):
        i = self.next_ino
        self.next_ino += 1
        self.inodes[i] = ino
        return i

    def lookup(self, p):
        i = self.names.get(p)
        return None if i is None else self.inodes[i]

    def kind(self, p):
        ino = self.lookup(p)
        return None if ino is None else ino.kind

    def children(self, d):
        pre = d + "/" if d else ""
        return [p for p in self.names
                if p and p.startswith(pre) and "/" not in p[len(pre):]]

    def subtree(self, d):
        pre = d + "/"
        return [p for p in self.names if p == d or p.startswith(pre)]

    def dir_ok(self, d):
        return self.kind(d) == "d"

    def gc(self):
        live = set(self.names.values()) | set(self.fds.values())
        for i in list(self.inodes):
            if i not in live:
                del self.inodes[i]

    def paths_of(self, kinds):
        return sorted(p for p in self.names if p and self.kind(p) in kinds)

    def snapshot(self):
        return {"inodes": self.inodes, "names": self.names,
                "next_ino": self.next_ino}

    @classmethod
    def from_snapshot(cls, s):
        m = cls()
        m.inodes = s["inodes"]
        m.names = s["names"]
        m.next_ino = s["next_ino"]
        return m

    # -- what an operation should return: 0 (success) or a set of errnos

    def predict(self, r):
        op = r["op"]
        E = lambda *e: frozenset(e)
        if op in ("create", "mkdir", "symlink"):
            p = r["p"]
            if not self.dir_ok(parent_of(p)):
                return E(errno.ENOENT)
            if p in self.names:
                return E(errno.EEXIST)
            return 0
        if op == "link":
            s, p = r["s"], r["p"]
            if s not in self.names:
                return E(errno.ENOENT)
            if not self.dir_ok(parent_of(p)):
                return E(errno.ENOENT)
            if p in self.names:
                return E(errno.EEXIST)
            if self.kind(s) == "d":
                return E(errno.EPERM)
            return 0
        if op == "unlink":
            k = self.kind(r["p"])
            if k is None:
                return E(errno.ENOENT)
            if k == "d":
                return E(errno.EISDIR)
            return 0
        if op == "rmdir":
            k = self.kind(r["p"])
            if k is None:
                return E(errno.ENOENT)
            if k != "d":
                return E(errno.ENOTDIR)
            if self.children(r["p"]):
                return E(errno.ENOTEMPTY, errno.EEXIST)
            return 0
        if op == "rename":
            return self.predict_rename(r["s"], r["p"], r["fl"])
        if op in ("write", "truncate", "falloc", "open") and "slot" in r:
            if op == "open":
                pass
            else:
                return 0 if r["slot"] in self.fds else E(errno.EBADF)
        if op in ("write", "truncate", "open", "falloc"):
            k = self.kind(r["p"])
            if k is None:
                return E(errno.ENOENT)
            if k == "d":
                return E(errno.EISDIR)
            return 0
        if op == "chmod":
            return 0 if r["p"] in self.names else E(errno.ENOENT)
        if op == "setxattr":
            ino = self.lookup(r["p"])
            if ino is None:
                return E(errno.ENOENT)
            if r["fl"] == XATTR_CREATE and r["name"] in ino.xattrs:
                return E(errno.EEXIST)
            if r["fl"] == XATTR_REPLACE and r["name"] not in ino.xattrs:
                return E(errno.ENODATA)
            return 0
        if op == "removexattr":
            ino = self.lookup(r["p"])
            if ino is None:
                return E(errno.ENOENT)
            if r["name"] not in ino.xattrs:
                return E(errno.ENODATA)
            return 0
        if op == "fsync":
            if "slot" in r:
                return 0 if r["slot"] in self.fds else E(errno.EBADF)
            return 0 if r["p"] in self.names else E(errno.ENOENT)
        if op == "close":
            return 0 if r["slot"] in self.fds else E(errno.EBADF)
        raise ValueError("unknown op %r" % op)

    def predict_rename(self, s, p, fl):
        E = lambda *e: frozenset(e)
        if not self.dir_ok(parent_of(s)) or not self.dir_ok(parent_of(p)):
            return E(errno.ENOENT)
        if s not in self.names:
            return E(errno.ENOENT)
        if fl & RENAME_EXCHANGE and p not in self.names:
            return E(errno.ENOENT)
        if fl & RENAME_NOREPLACE and p in self.names:
            return E(errno.EEXIST)
        # source an ancestor of the target / target an ancestor of source
        if s != p and p.startswith(s + "/"):
            return E(errno.EINVAL)
        if s != p and s.startswith(p + "/"):
            return E(errno.EINVAL) if fl & RENAME_EXCHANGE \
                else E(errno.ENOTEMPTY)
        si, pi = self.names[s], self.names.get(p)
        if si == pi:
            return 0
        if pi is not None and not fl & RENAME_EXCHANGE:
            sk, pk = self.inodes[si].kind, self.inodes[pi].kind
            if sk == "d" and pk != "d":
                return E(errno.ENOTDIR)
            if sk != "d" and pk == "d":
                return E(errno.EISDIR)
            if pk == "d" and self.children(p):
                return E(errno.ENOTEMPTY, errno.EEXIST)
        return 0

    # -- the effect of an operation that succeeded (res: its result)

    def apply(self, r, res):
        op = r["op"]
        if op == "create":
            i = self.new_ino(Ino("f", r["mode"]))
            self.names[r["p"]] = i
            if r.get("keep") is not None:
                self.fds[r["keep"]] = i
        elif op == "mkdir":
            self.names[r["p"]] = self.new_ino(Ino("d", r["mode"]))
        elif op == "symlink":
            self.names[r["p"]] = self.new_ino(Ino("l", 0o777,
                                                  target=r["t"]))
        elif op == "link":
            self.names[r["p"]] = self.names[r["s"]]
        elif op in ("unlink", "rmdir"):
            del self.names[r["p"]]
        elif op == "rename":
            self.apply_rename(r["s"], r["p"], r["fl"])
        elif op == "open":
            self.fds[r["slot"]] = self.names[r["p"]]
        elif op == "close":
            del self.fds[r["slot"]]
        elif op == "chmod":
            self.lookup(r["p"]).mode = r["mode"]
        elif op == "setxattr":
            self.lookup(r["p"]).xattrs[r["name"]] = \
                gen_bytes(r["vseed"], r["vlen"])
        elif op == "removexattr":
            del self.lookup(r["p"]).xattrs[r["name"]]
        elif op in ("write", "truncate", "falloc"):
            ino = self.inodes[self.fds[r["slot"]]] if "slot" in r \
                else self.lookup(r["p"])
            d = ino.data
            if op == "write":
                data = gen_bytes(r["seed"], r["len"])[:res]
                off = len(d) if r["off"] is None else r["off"]
                r["_at"] = off
                if off > len(d):
                    d.extend(bytes(off - len(d)))
                d[off:off + len(data)] = data
            elif op == "truncate":
                self.resize(d, r["size"])
            else:
                mode, off, end = r["mode"], r["off"], r["off"] + r["len"]
                keep = mode & FALLOC_FL_KEEP_SIZE
                if mode & (FALLOC_FL_PUNCH_HOLE | FALLOC_FL_ZERO_RANGE):
                    zend = min(end, len(d))
                    if off < zend:
                        d[off:zend] = bytes(zend - off)
                if not keep and end > len(d):
                    self.resize(d, end)
        elif op == "fsync":
            pass
        else:
            raise ValueError("unknown op %r" % op)
        self.gc()

    def apply_data(self, r, data):
        """Writes data at r["off"] into the file r names (a path or a
        slot)."""
        ino = self.inodes[self.fds[r["slot"]]] if "slot" in r \
            else self.lookup(r["p"])
        d, off = ino.data, r["off"]
        if off > len(d):
            d.extend(bytes(off - len(d)))
        d[off:off + len(data)] = data

    @staticmethod
    def resize(d, size):
        if size < len(d):
            del d[size:]
        else:
            d.extend(bytes(size - len(d)))

    def apply_rename(self, s, p, fl):
        si, pi = self.names[s], self.names.get(p)
        if si == pi:
            return
        src = {q: self.names[q] for q in self.subtree(s)}
        if fl & RENAME_EXCHANGE:
            dst = {q: self.names[q] for q in self.subtree(p)}
            for q in list(src) + list(dst):
                del self.names[q]
            for q, i in src.items():
                self.names[p + q[len(s):]] = i
            for q, i in dst.items():
                self.names[s + q[len(p):]] = i
        else:
            if pi is not None:
                del self.names[p]       # a file or an empty directory
            for q in src:
                del self.names[q]
            for q, i in src.items():
                self.names[p + q[len(s):]] = i


# ---------------------------------------------------------------------------
# Reading a real tree.

def scan(root):
    """The tree below root as a model (inode ids from st_ino)."""
    m = Model()
    m.inodes = {}
    m.names = {}
    by_ino = {}
    extra = {}

    def visit(path, rel, st):
        key = st.st_ino
        if key in by_ino:
            m.names[rel] = by_ino[key]
            return
        if stat.S_ISDIR(st.st_mode):
            ino = Ino("d", stat.S_IMODE(st.st_mode))
        elif stat.S_ISREG(st.st_mode):
            with open(path, "rb") as f:
                ino = Ino("f", stat.S_IMODE(st.st_mode), f.read())
        elif stat.S_ISLNK(st.st_mode):
            ino = Ino("l", 0o777, target=os.readlink(path))
        else:
            raise RuntimeError("%s: unexpected file type %o" %
                               (rel, st.st_mode))
        if not stat.S_ISLNK(st.st_mode):
            for n in os.listxattr(path, follow_symlinks=False):
                if n.startswith("user."):
                    ino.xattrs[n] = os.getxattr(path, n,
                                                follow_symlinks=False)
        i = m.new_ino(ino)
        by_ino[key] = i
        extra[i] = st
        m.names[rel] = i
        if stat.S_ISDIR(st.st_mode):
            for n in sorted(os.listdir(path)):
                sub = os.path.join(path, n)
                visit(sub, join(rel, n), os.lstat(sub))

    visit(root, "", os.lstat(root))
    return m, extra


def content_diff(a, b):
    """A description of how bytes a differ from bytes b (None if equal)."""
    if a == b:
        return None
    n = min(len(a), len(b))
    first = next((k for k in range(n) if a[k] != b[k]), None)
    if first is None:
        return None                 # only the sizes differ
    runs, nbytes, k = [], 0, first
    while k < n:
        if a[k] != b[k]:
            e = k
            while e < n and a[e] != b[e]:
                e += 1
            runs.append((k, e))
            nbytes += e - k
            k = e
        else:
            k += 1
    return ("content differs at bytes %d..%d (first: 0x%02x, expected "
            "0x%02x); %d bytes differ in %d runs, the last at %d..%d" %
            (first, runs[0][1] - 1, a[first], b[first], nbytes, len(runs),
             runs[-1][0], runs[-1][1] - 1))


def torn_diff(r, old, new, lo, hi):
    """None if file bytes r may be what an interrupted change of [lo, hi)
    from old to new left: the size old or new, every aligned 8-byte word
    old or new inside the range, new outside."""
    if len(r) not in (len(old), len(new)):
        return "size %d, expected %d or %d" % (len(r), len(old), len(new))
    o = bytes(old) + bytes(max(0, len(r) - len(old)))
    bad = []
    for w in range(0, len(r), 8):
        x = r[w:w + 8]              # shorter at the end of the file
        if x == new[w:w + len(x)]:
            continue
        if w + 8 > lo and w < hi and x == o[w:w + len(x)]:
            continue
        bad.append(w)
    if not bad:
        return None
    return ("%d words are neither the old nor the new data (first at "
            "byte %d: %s, old %s, new %s; last at byte %d)" %
            (len(bad), bad[0], r[bad[0]:bad[0] + 8].hex(),
             o[bad[0]:bad[0] + 8].hex(), new[bad[0]:bad[0] + 8].hex(),
             bad[-1]))


def compare(real, rstat, model, limit=30, torn=None):
    """Differences between a scanned tree and a model, as lines.  torn:
    (inode id in the model, its old bytes, lo, hi) of a file whose change
    of bytes [lo, hi) may have been interrupted (see torn_diff)."""
    out = []
    rp, mp = set(real.names), set(model.names)
    for p in sorted(mp - rp):
        out.append("%s: missing (the model has a %s)" %
                   (p or "/", kind_name(model.kind(p))))
    for p in sorted(rp - mp):
        out.append("%s: unexpected %s" % (p or "/", kind_name(real.kind(p))))
    # hard-link identity: the same partition of paths into inodes
    rmap = {}
    for p in sorted(rp & mp):
        a, b = real.lookup(p), model.lookup(p)
        where = p or "/"
        if a.kind != b.kind:
            out.append("%s: is a %s, the model has a %s" %
                       (where, kind_name(a.kind), kind_name(b.kind)))
            continue
        rmap.setdefault(real.names[p], set()).add(model.names[p])
        if a.kind != "l" and a.mode != b.mode:
            out.append("%s: mode %04o, expected %04o" %
                       (where, a.mode, b.mode))
        if a.kind == "f" and torn and torn[0] == model.names[p]:
            d = torn_diff(a.data, torn[1], b.data, torn[2], torn[3])
            if d:
                out.append("%s: %s" % (where, d))
        elif a.kind == "f":
            if len(a.data) != len(b.data):
                out.append("%s: size %d, expected %d" %
                           (where, len(a.data), len(b.data)))
            d = content_diff(a.data, b.data)
            if d:
                out.append("%s: %s" % (where, d))
        if a.kind == "l" and a.target != b.target:
            out.append("%s: symlink target %r, expected %r" %
                       (where, a.target, b.target))
        if a.xattrs != b.xattrs:
            for n in sorted(set(a.xattrs) | set(b.xattrs)):
                if n not in a.xattrs:
                    out.append("%s: xattr %s missing" % (where, n))
                elif n not in b.xattrs:
                    out.append("%s: unexpected xattr %s" % (where, n))
                elif a.xattrs[n] != b.xattrs[n]:
                    out.append("%s: xattr %s is %d bytes %s, expected "
                               "%d bytes %s" %
                               (where, n, len(a.xattrs[n]),
                                a.xattrs[n][:16].hex(), len(b.xattrs[n]),
                                b.xattrs[n][:16].hex()))
        # link counts
        if a.kind == "d":
            want = 2 + sum(1 for q in model.children(p)
                           if model.kind(q) == "d")
        else:
            want = sum(1 for q in model.names
                       if model.names[q] == model.names[p])
        have = rstat[real.names[p]].st_nlink
        if have != want:
            out.append("%s: st_nlink %d, expected %d" % (where, have, want))
    for ri, mis in sorted(rmap.items()):
        if len(mis) > 1:
            ps = sorted(q for q in rp & mp if real.names[q] == ri)
            out.append("%s: one inode on the mount, %d inodes in the model" %
                       (", ".join(ps), len(mis)))
    inv = {}
    for ri, mis in rmap.items():
        for mi in mis:
            inv.setdefault(mi, set()).add(ri)
    for mi, ris in sorted(inv.items()):
        if len(ris) > 1:
            ps = sorted(q for q in rp & mp if model.names[q] == mi)
            out.append("%s: hard links of one inode in the model, %d inodes "
                       "on the mount" % (", ".join(ps), len(ris)))
    if len(out) > limit:
        out = out[:limit] + ["... %d more differences" % (len(out) - limit)]
    return out


def kind_name(k):
    return {"f": "file", "d": "directory", "l": "symlink"}.get(k, str(k))


# ---------------------------------------------------------------------------
# The workload.

class Workload:
    def __init__(self, root, log, seed, mix):
        self.root = root
        self.rnd = random.Random(seed)
        self.mix = mix
        self.fds = {}
        self.log = log
        self.n = 0
        self.seed_base = seed * 1000003
        self.selfcheck = False

    def path(self, p):
        return os.path.join(self.root, p) if p else self.root

    def record(self, rec):
        self.log.write(json.dumps(rec, separators=(",", ":")) + "\n")
        self.log.flush()

    # -- choosing operations

    WEIGHTS = {
        "meta": dict(create=12, mkdir=5, rmdir=4, unlink=8, symlink=5,
                     link=6, rename=16, chmod=4, setxattr=9, removexattr=4,
                     truncate=5, write=8, falloc=3, open=3, close=3,
                     fsync=2),
        "data": dict(create=5, mkdir=1, rmdir=1, unlink=4, symlink=1,
                     link=2, rename=4, chmod=1, setxattr=2, removexattr=1,
                     truncate=8, write=42, falloc=10, open=4, close=4,
                     fsync=8),
        "mixed": dict(create=9, mkdir=3, rmdir=3, unlink=6, symlink=3,
                      link=4, rename=10, chmod=2, setxattr=5, removexattr=2,
                      truncate=7, write=25, falloc=6, open=3, close=3,
                      fsync=5),
        "xattr": dict(create=3, mkdir=1, rmdir=1, unlink=1, symlink=1,
                      link=1, rename=2, chmod=1, setxattr=60, removexattr=25,
                      truncate=1, write=2, falloc=0, open=1, close=1,
                      fsync=1),
    }

    def xattr_names(self):
        return XATTR_MANY_NAMES if self.mix == "xattr" else XATTR_NAMES

    def pick(self, seq):
        return seq[self.rnd.randrange(len(seq))] if seq else None

    def some_dir(self, m, max_depth=MAX_DEPTH - 1, missing=0.03):
        if self.rnd.random() < missing:
            return self.pick(TOP_DIR_NAMES) + "/" + self.pick(SUB_DIR_NAMES)
        return self.pick([p for p in m.paths_of("d") + [""]
                          if depth(p) <= max_depth])

    def new_file_path(self, m):
        d = self.some_dir(m)
        return join(d, self.pick(FILE_NAMES))

    def new_dir_path(self, m):
        d = self.some_dir(m, MAX_DEPTH - 1)
        names = TOP_DIR_NAMES if d == "" else SUB_DIR_NAMES
        return join(d, self.pick(names))

    def existing(self, m, kinds, miss=0.05):
        ps = m.paths_of(kinds)
        if not ps or self.rnd.random() < miss:
            return self.new_file_path(m)
        return self.pick(ps)

    def file_target(self, m):
        """A path that holds a regular file (never a symlink: the calls
        that take it follow symlinks), sometimes a missing one or a
        directory."""
        x = self.rnd.random()
        if x < 0.03:
            ds = m.paths_of("d")
            if ds:
                return self.pick(ds)
        return self.existing(m, "f")

    def write_len(self):
        x = self.rnd.random()
        if x < 0.3:
            return self.rnd.randint(1, 200)
        if x < 0.55:
            return 4096 * self.rnd.randint(1, 4)
        if x < 0.8:
            return self.rnd.randint(1, 16384)
        return self.rnd.randint(16385, MAX_WRITE)

    def gen(self, m):
        rec = self.gen1(m)
        # Calls that follow symlinks never get one (the model does not
        # resolve them): a symlink there becomes a path in a missing folder.
        if rec["op"] in FOLLOW and "p" in rec and m.kind(rec["p"]) == "l":
            rec["p"] = "nodir/" + rec["p"].rpartition("/")[2]
        return rec

    def gen1(self, m):
        r = self.rnd
        w = dict(self.WEIGHTS[self.mix])
        nfiles = len(m.paths_of("fl"))
        ndirs = len(m.paths_of("d"))
        if nfiles >= MAX_FILES:
            w["create"] = w["symlink"] = w["link"] = 0
            w["unlink"] *= 3
        if ndirs >= MAX_DIRS:
            w["mkdir"] = 0
            w["rmdir"] *= 3
        if len(m.fds) >= 4:
            w["open"] = 0
        if not m.fds:
            w["close"] = 0
        ops = sorted(w)
        op = r.choices(ops, weights=[w[o] for o in ops])[0]
        seed = self.seed_base + self.n
        if op == "create":
            keep = None
            free = [s for s in range(4) if s not in m.fds]
            if free and r.random() < 0.2:
                keep = self.pick(free)
            return dict(op=op, p=self.new_file_path(m),
                        mode=self.pick(MODES[:3]), keep=keep)
        if op == "mkdir":
            return dict(op=op, p=self.new_dir_path(m),
                        mode=self.pick([0o755, 0o700, 0o750]))
        if op == "rmdir":
            ds = m.paths_of("d")
            empty = [d for d in ds if not m.children(d)]
            if empty and r.random() < 0.7:
                return dict(op=op, p=self.pick(empty))
            if ds and r.random() < 0.8:
                return dict(op=op, p=self.pick(ds))
            return dict(op=op, p=self.existing(m, "fl"))
        if op == "unlink":
            x = r.random()
            if x < 0.03 and m.paths_of("d"):
                return dict(op=op, p=self.pick(m.paths_of("d")))
            return dict(op=op, p=self.existing(m, "fl"))
        if op == "symlink":
            t = self.pick(["f1", "../f2", "d0/f3", "missing", "/abs/x",
                           "l" * r.randint(1, 300)])
            return dict(op=op, t=t, p=self.new_file_path(m))
        if op == "link":
            s = self.existing(m, "fl")
            if r.random() < 0.03 and m.paths_of("d"):
                s = self.pick(m.paths_of("d"))
            return dict(op=op, s=s, p=self.new_file_path(m))
        if op == "rename":
            return self.gen_rename(m)
        if op in ("write", "truncate", "falloc", "fsync") and m.fds \
                and r.random() < 0.3:
            where = dict(slot=self.pick(sorted(m.fds)))
            ino = m.inodes[m.fds[where["slot"]]]
        else:
            p = self.file_target(m)
            where = dict(p=p)
            ino = m.lookup(p)
        size = len(ino.data) if ino is not None and ino.kind == "f" else 0
        if op == "write":
            n = self.write_len()
            sync = r.choices([0, 1, 2], weights=[6, 1, 1])[0] \
                if self.mix != "meta" else 0
            if r.random() < 0.2 and size + n <= MAX_SIZE and "p" in where:
                off = None                  # O_APPEND
            else:
                x = r.random()
                if x < 0.3 and size + n <= MAX_SIZE:
                    off = size              # extending
                elif x < 0.4:
                    off = min(size + r.randint(1, 65536), MAX_SIZE - n)
                else:
                    off = r.randint(0, max(0, min(size, MAX_SIZE - n)))
                if r.random() < 0.3:
                    off &= ~4095
            return dict(op=op, len=n, off=off, seed=seed, sync=sync, **where)
        if op == "truncate":
            x = r.random()
            if x < 0.4:
                s = r.randint(0, size)
            elif x < 0.5:
                s = 0
            else:
                s = r.randint(size, MAX_SIZE)
            if r.random() < 0.3:
                s &= ~4095
            return dict(op=op, size=s, **where)
        if op == "falloc":
            mode = r.choices(
                [0, FALLOC_FL_KEEP_SIZE,
                 FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                 FALLOC_FL_ZERO_RANGE,
                 FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE],
                weights=[3, 2, 4, 2, 1])[0]
            off = r.randint(0, max(0, min(size + 8192, MAX_SIZE - 1)))
            n = r.randint(1, min(MAX_WRITE, MAX_SIZE - off))
            if r.random() < 0.4:
                off &= ~4095
                n = max(4096, n & ~4095)
                n = min(n, MAX_SIZE - off)
            return dict(op=op, mode=mode, off=off, len=n, **where)
        if op == "fsync":
            if "p" in where and r.random() < 0.3:
                where = dict(p=self.some_dir(m, missing=0))
            return dict(op=op, ds=r.random() < 0.5, **where)
        if op == "open":
            free = [s for s in range(4) if s not in m.fds]
            return dict(op=op, p=self.file_target(m), slot=self.pick(free))
        if op == "close":
            return dict(op=op, slot=self.pick(sorted(m.fds)))
        if op == "chmod":
            p = self.existing(m, "fd")
            if m.kind(p) == "l":
                p = self.new_file_path(m)
            return dict(op=op, p=p, mode=self.pick(MODES))
        if op == "setxattr":
            p = self.existing(m, "fd") if r.random() < 0.9 \
                else self.some_dir(m, missing=0)
            if m.kind(p) == "l":
                p = ""
            fl = r.choices([0, XATTR_CREATE, XATTR_REPLACE],
                           weights=[6, 2, 2])[0]
            vlen = self.pick(XATTR_MANY_LENS if self.mix == "xattr"
                             else XATTR_LENS)
            return dict(op=op, p=p, name=self.pick(self.xattr_names()),
                        vseed=seed, vlen=vlen, fl=fl)
        if op == "removexattr":
            p = self.existing(m, "fd")
            if m.kind(p) == "l":
                p = ""
            ino = m.lookup(p)
            names = sorted(ino.xattrs) if ino else []
            if names and r.random() < 0.8:
                name = self.pick(names)
            else:
                name = self.pick(self.xattr_names())
            return dict(op=op, p=p, name=name)
        raise AssertionError(op)

    def gen_rename(self, m):
        r = self.rnd
        fl = r.choices([0, RENAME_NOREPLACE, RENAME_EXCHANGE],
                       weights=[6, 2, 2])[0]
        if r.random() < 0.25 and m.paths_of("d"):
            s = self.pick(m.paths_of("d"))
            x = r.random()
            if x < 0.5:
                p = self.new_dir_path(m)
            else:
                p = self.pick(m.paths_of("d"))
            if depth(p) + max(depth(q) - depth(s)
                              for q in m.subtree(s)) > MAX_DEPTH + 1:
                p = s
            if r.random() < 0.05 and m.paths_of("f"):
                # a directory over a file: ENOTDIR, unless NOREPLACE
                # (EEXIST); no exchange (it would mix the namespaces)
                p = self.pick(m.paths_of("f"))
                fl &= ~RENAME_EXCHANGE
        else:
            s = self.existing(m, "fl")
            x = r.random()
            if x < 0.4:
                p = self.existing(m, "fl")
            elif x < 0.45:
                # hard links of one inode (or itself)
                i = m.names.get(s)
                same = [q for q in m.names if m.names[q] == i]
                p = self.pick(same) if same else s
            elif x < 0.5 and m.paths_of("d"):
                p = self.pick(m.paths_of("d"))  # EISDIR or EEXIST
                fl &= ~RENAME_EXCHANGE
            else:
                p = self.new_file_path(m)
        return dict(op="rename", s=s, p=p, fl=fl)

    # -- doing them

    def do(self, rec):
        """Performs the state-changing call of rec; returns its result.
        Steps after it that change nothing (fsync, close) come back as a
        function, run after the done record."""
        op = rec["op"]
        P = self.path
        after = None
        if op == "create":
            fd = os.open(P(rec["p"]), os.O_CREAT | os.O_EXCL | os.O_RDWR,
                         rec["mode"])
            if rec.get("keep") is not None:
                self.fds[rec["keep"]] = fd
            else:
                after = lambda: os.close(fd)
            return 0, after
        if op == "mkdir":
            os.mkdir(P(rec["p"]), rec["mode"])
        elif op == "rmdir":
            os.rmdir(P(rec["p"]))
        elif op == "unlink":
            os.unlink(P(rec["p"]))
        elif op == "symlink":
            os.symlink(rec["t"], P(rec["p"]))
        elif op == "link":
            os.link(P(rec["s"]), P(rec["p"]), follow_symlinks=False)
        elif op == "rename":
            if rec["fl"]:
                renameat2(P(rec["s"]), P(rec["p"]), rec["fl"])
            else:
                os.rename(P(rec["s"]), P(rec["p"]))
        elif op == "chmod":
            os.chmod(P(rec["p"]), rec["mode"])
        elif op == "setxattr":
            os.setxattr(P(rec["p"]), rec["name"],
                        gen_bytes(rec["vseed"], rec["vlen"]), rec["fl"])
        elif op == "removexattr":
            os.removexattr(P(rec["p"]), rec["name"])
        elif op == "open":
            self.fds[rec["slot"]] = os.open(P(rec["p"]), os.O_RDWR)
        elif op == "close":
            fd = self.fds.pop(rec["slot"])
            os.close(fd)
        elif op in ("write", "truncate", "falloc", "fsync"):
            if "slot" in rec:
                fd, own = self.fds[rec["slot"]], False
            else:
                flags = os.O_RDONLY if op == "fsync" else os.O_WRONLY
                if op == "write" and rec["off"] is None:
                    flags |= os.O_APPEND
                fd, own = os.open(P(rec["p"]), flags), True
            try:
                res = 0
                if op == "write":
                    data = gen_bytes(rec["seed"], rec["len"])
                    if rec["off"] is None:
                        res = os.write(fd, data)
                    else:
                        res = os.pwrite(fd, data, rec["off"])
                elif op == "truncate":
                    os.ftruncate(fd, rec["size"])
                elif op == "falloc":
                    fallocate(fd, rec["mode"], rec["off"], rec["len"])
                elif op == "fsync":
                    (os.fdatasync if rec["ds"] else os.fsync)(fd)
            except BaseException:
                if own:
                    os.close(fd)
                raise

            def after():
                try:
                    if op == "write" and rec["sync"]:
                        (os.fsync if rec["sync"] == 1 else os.fdatasync)(fd)
                finally:
                    if own:
                        os.close(fd)
            return res, after
        else:
            raise AssertionError(op)
        return 0, after

    def run(self, m, nops):
        for k in range(nops):
            self.n = k
            rec = self.gen(m)
            rec["i"] = k
            pred = m.predict(rec)
            self.record(rec)
            after = None
            try:
                res, after = self.do(rec)
            except OSError as e:
                if e.errno in DEAD:
                    return 0
                res = -e.errno
            self.record({"d": k, "r": res})
            ok = (res >= 0 and pred == 0) or (res < 0 and pred != 0 and
                                             -res in pred)
            if res >= 0 and pred == 0:
                m.apply(rec, res)
            if rec["op"] == "write" and 0 <= res < rec["len"]:
                # The kernel sends a write whose first page is partial and
                # not cached as two requests: a short count means that the
                # daemon died after the first.  If it lives, it is a bug.
                try:
                    os.statvfs(self.root)   # always asks the daemon
                except OSError as e:
                    if e.errno in DEAD:
                        return 0
                ok = False
            if not ok:
                sys.stderr.write(
                    "crashload: op %d %s: result %s, the model expected "
                    "%s\n" % (k, describe(rec), result_name(res),
                              pred_name(pred)))
                return 3
            if after and self.selfcheck:
                after()
                after = None
            if self.selfcheck:
                real, rstat = scan(self.root)
                diffs = compare(real, rstat, m)
                if diffs:
                    sys.stderr.write("crashload: after op %d %s:\n  %s\n" %
                                     (k, describe(rec), "\n  ".join(diffs)))
                    return 3
            if after:
                try:
                    after()
                except OSError as e:
                    if e.errno in DEAD:
                        return 0
                    sys.stderr.write("crashload: op %d %s: after it: %s\n" %
                                     (k, describe(rec), e))
                    return 3
        for fd in self.fds.values():
            try:
                os.close(fd)
            except OSError:
                pass
        return 0


def result_name(res):
    return "-" + ename(-res) if res < 0 else str(res)


def pred_name(pred):
    if pred == 0:
        return "success"
    return "/".join(sorted("-" + ename(e) for e in pred))


def describe(rec):
    return json.dumps({k: v for k, v in rec.items() if k not in ("i",)},
                      separators=(",", ":"), sort_keys=True)


# ---------------------------------------------------------------------------
# Verification.

def replay(log_path):
    """The model after the last done operation, the in-flight intent (or
    None), the last done operation, and the list of problems (results that
    are not what the model expects)."""
    with open(log_path + ".init", "rb") as f:
        m = Model.from_snapshot(pickle.load(f))
    pending = None
    problems = []
    last_done = None
    with open(log_path) as f:
        lines = f.read().split("\n")
    for ln, line in enumerate(lines):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except ValueError:
            if ln == len(lines) - 1:
                break               # torn last line
            raise
        if "i" in rec:
            if pending is not None:
                problems.append("op %d: intent without a done record "
                                "before op %d" % (pending["i"], rec["i"]))
            pending = rec
        elif "d" in rec:
            if pending is None or pending["i"] != rec["d"]:
                problems.append("done record %d without its intent" %
                                rec["d"])
                continue
            if short_write(last_done):
                problems.append("op %d %s: short write (%d bytes), and the "
                                "file system went on" %
                                (last_done["i"], describe(last_done),
                                 last_done["_res"]))
            res = rec["r"]
            pending["_res"] = res
            pred = m.predict(pending)
            if res >= 0 and pred == 0:
                m.apply(pending, res)
            elif not (res < 0 and pred != 0 and -res in pred):
                problems.append("op %d %s: result %s, the model expected %s"
                                % (pending["i"], describe(pending),
                                   result_name(res), pred_name(pred)))
            last_done = pending
            pending = None
    return m, pending, last_done, problems


def short_write(rec):
    return rec is not None and rec["op"] == "write" and \
        0 <= rec["_res"] < rec["len"]


def file_of(m, r):
    """The inode id of the file an operation changes (slot or path)."""
    return m.fds[r["slot"]] if "slot" in r else m.names[r["p"]]


def candidates(m, pending, last_done):
    """The states the tree may be in: (description, model, torn), torn as
    for compare.  They are: the state after the last completed operation;
    after the one in flight; and, for a write or a fallocate in flight,
    any mix of the two in the range it changes, per aligned 8-byte word
    (file data is written in place: an interrupted write, or zeroing, may
    leave part of its range done -- the design promises only that aligned
    8-byte stores are not torn).  A write(2) whose first page is partial
    and not cached reaches the daemon as two WRITE requests (the first
    page, the rest): a short write means the daemon died after the first;
    the rest counts as in flight."""
    out = [("the state after the last completed operation", m, None)]
    if short_write(last_done):
        r = last_done
        mf = copy.deepcopy(m)
        lo = r["_at"] + r["_res"]
        rest = dict(r, off=lo, len=r["len"] - r["_res"])
        mf.apply_data(rest, gen_bytes(r["seed"], r["len"])[r["_res"]:])
        out.append(("the state after all of the short write", mf, None))
        if not STRICT:
            i = file_of(m, r)
            out.append(("the state after part of the rest of the short "
                        "write", mf, (i, bytes(m.inodes[i].data), lo,
                                      lo + rest["len"])))
    if pending is not None and m.predict(pending) == 0:
        op = pending["op"]
        mb = copy.deepcopy(m)
        mb.apply(pending, pending["len"] if op == "write" else 0)
        out.append(("the state after the operation in flight", mb, None))
        if op == "write":
            off = pending["_at"]
            first = BLOCK - off % BLOCK
            if off % BLOCK and first < pending["len"]:
                mp = copy.deepcopy(m)
                mp.apply(dict(pending), first)
                out.append(("the state after the first page of the write "
                            "in flight", mp, None))
        if op in ("write", "falloc") and not STRICT:
            i = file_of(m, pending)
            lo = pending["_at"] if op == "write" else pending["off"]
            out.append(("the state after part of the operation in flight",
                        mb, (i, bytes(m.inodes[i].data), lo,
                             lo + pending["len"])))
    return out


def verify(root, log_path):
    m, pending, last_done, problems = replay(log_path)
    real, rstat = scan(root)
    if problems:
        print("FAIL: operations did not return what the model expects:")
        for p in problems[:20]:
            print("  " + p)
    results = []
    for what, model, torn in candidates(m, pending, last_done):
        diffs = compare(real, rstat, model, torn=torn)
        if not diffs:
            if problems:
                return 1
            print("OK")
            return 0
        results.append((what, diffs))
    where = "op %d %s" % (last_done["i"], describe(last_done)) \
        if last_done else "the start"
    print("FAIL: the tree is none of the states it may be in; last "
          "completed operation: %s; in flight: %s" %
          (where, "none" if pending is None else
           "op %d %s" % (pending["i"], describe(pending))))
    for what, diffs in results:
        print("differences from %s:" % what)
        for d in diffs:
            print("  " + d)
    return 1


# ---------------------------------------------------------------------------
# A check of the pool itself (unmounted): include/nvmpfs/layout.h promises
# that every byte of a file at an offset >= its size reads as zero, and the
# code that extends files (fallocate, zero range, writes past the end)
# relies on it.

def eof_check(pool_path, limit=20):
    import mmap
    import struct
    BS = 4096
    with open(pool_path, "rb") as f:
        mm = mmap.mmap(f.fileno(), 0, prot=mmap.PROT_READ)
    try:
        best = None
        for sb_off in (0, BS):
            magic, version = struct.unpack_from("<QI", mm, sb_off)
            if magic != 0x0100534650004d4e:
                continue
            geo = struct.unpack_from("<15Q", mm, sb_off + 32)
            if best is None or geo[12] > best[12]:
                best = geo
        if best is None:
            print("%s: no superblock" % pool_path)
            return 1
        (block_count, _js, _jb, inode_start, inode_count, _bs, _bb, _cs,
         _cb, _ss, _sb, data_start, _gen, _ep, _mt) = best
        q = lambda off: struct.unpack_from("<Q", mm, off)[0]

        def inode(ino):
            o = inode_start * BS + ino * 256
            mode, nlink = struct.unpack_from("<II", mm, o)
            size = q(o + 16)
            word = q(o + 112)  # the map word: root | height << 56
            root = word & ((1 << 56) - 1)
            height = word >> 56
            return mode, nlink, size, root, height

        def bmap(root, height):
            out = {}
            if not root or not 1 <= height <= 4:
                return out

            def walk(blk, level, base):
                if not data_start <= blk < block_count:
                    return
                for k in range(512):
                    v = q(blk * BS + k * 8)
                    if not v:
                        continue
                    if level == 0:
                        out[base + k] = v
                    else:
                        walk(v, level - 1, (base + k) * 512)
            walk(root, height - 1, 0)
            return out

        # paths, from the root down
        names = {1: "/"}
        todo = [1]
        while todo:
            d = todo.pop()
            mode, _, size, root, height = inode(d)
            for fb, pb in sorted(bmap(root, height).items()):
                if not data_start <= pb < block_count:
                    continue
                k = 0
                while k < 64:
                    o = pb * BS + k * 64
                    ino, nslots, typ, nlen = struct.unpack_from("<QBBH", mm, o)
                    if ino and 0 < ino < inode_count:
                        name = bytes(mm[o + 16:o + 16 + nlen]).decode(
                            errors="replace")
                        if ino not in names:
                            names[ino] = (names[d].rstrip("/") + "/" + name)
                            if stat.S_ISDIR(inode(ino)[0]):
                                todo.append(ino)
                    k += max(1, nslots) if ino else 1
        bad = []
        for ino in range(1, inode_count):
            mode, nlink, size, root, height = inode(ino)
            if not stat.S_ISREG(mode) or not root:
                continue
            for fb, pb in sorted(bmap(root, height).items()):
                lo = max(0, size - fb * BS)
                if lo >= BS or not data_start <= pb < block_count:
                    continue
                blk = mm[pb * BS + lo:pb * BS + BS]
                if blk.count(0) != len(blk):
                    nz = next(k for k, x in enumerate(blk) if x)
                    bad.append("inode %d (%s, size %d): nonzero bytes past "
                               "the end of the file, at offset %d (%s...), "
                               "pool block %d" %
                               (ino, names.get(ino, "unnamed"), size,
                                fb * BS + lo + nz,
                                bytes(blk[nz:nz + 8]).hex(), pb))
        if bad:
            print("the pool breaks the layout's rule that every byte of a "
                  "file past its size is zero:")
            for b in bad[:limit]:
                print("  " + b)
            return 1
        return 0
    finally:
        mm.close()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run")
    r.add_argument("dir")
    r.add_argument("log")
    r.add_argument("seed", type=int)
    r.add_argument("--ops", type=int, default=1000)
    r.add_argument("--mix", choices=sorted(Workload.WEIGHTS),
                   default="mixed")
    r.add_argument("--selfcheck", action="store_true",
                   help="compare the tree with the model after every "
                   "operation (slow; for debugging)")
    v = sub.add_parser("verify")
    v.add_argument("dir")
    v.add_argument("log")
    e = sub.add_parser("eofcheck", help="check, in an unmounted pool, that "
                       "the bytes past the end of every file are zero")
    e.add_argument("pool")
    a = ap.parse_args()
    if a.cmd == "verify":
        return verify(a.dir, a.log)
    if a.cmd == "eofcheck":
        return eof_check(a.pool)
    os.umask(0)
    try:
        m, _ = scan(a.dir)
    except OSError as e:
        if e.errno in DEAD:
            return 0
        raise
    with open(a.log + ".init", "wb") as f:
        pickle.dump(m.snapshot(), f)
    with open(a.log, "w") as log:
        w = Workload(a.dir, log, a.seed, a.mix)
        w.selfcheck = a.selfcheck
        return w.run(m, a.ops)


if __name__ == "__main__":
    sys.exit(main())
