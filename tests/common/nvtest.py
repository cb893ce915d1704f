"""Helpers for the nvmpfs tests written in Python (PYTHONPATH has tests/common).

Everything prints deterministic lines: errno names, never numbers that
depend on the machine (inode numbers, times, pids).
"""
import ctypes
import ctypes.util
import errno
import os

libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)

AT_FDCWD = -100
RENAME_NOREPLACE = 1
RENAME_EXCHANGE = 2
RENAME_WHITEOUT = 4

FALLOC_FL_KEEP_SIZE = 0x01
FALLOC_FL_PUNCH_HOLE = 0x02
FALLOC_FL_COLLAPSE_RANGE = 0x08
FALLOC_FL_ZERO_RANGE = 0x10
FALLOC_FL_INSERT_RANGE = 0x20

SEEK_DATA = getattr(os, "SEEK_DATA", 3)
SEEK_HOLE = getattr(os, "SEEK_HOLE", 4)


def ename(e):
    """errno value -> its name (e.g. 'ENOENT')."""
    return errno.errorcode.get(e, str(e))


def attempt(label, fn, *args, **kw):
    """Run fn; print 'label: ok' or 'label: ENAME'. Return the result or None."""
    try:
        r = fn(*args, **kw)
    except OSError as e:
        print(f"{label}: {ename(e.errno)}")
        return None
    print(f"{label}: ok")
    return r


def _check(rc):
    if rc < 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))
    return rc


libc.renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int,
                           ctypes.c_char_p, ctypes.c_uint]
libc.fallocate.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int64,
                           ctypes.c_int64]


def renameat2(old, new, flags=0):
    _check(libc.renameat2(AT_FDCWD, os.fsencode(old), AT_FDCWD,
                          os.fsencode(new), flags))


def fallocate(fd, mode, offset, length):
    _check(libc.fallocate(fd, mode, offset, length))


def data_segments(fd):
    """The data extents of a file as [(start, end)], found with SEEK_DATA/SEEK_HOLE."""
    size = os.fstat(fd).st_size
    out = []
    pos = 0
    while pos < size:
        try:
            d = os.lseek(fd, pos, SEEK_DATA)
        except OSError as e:
            if e.errno == errno.ENXIO:
                break
            raise
        h = os.lseek(fd, d, SEEK_HOLE)
        out.append((d, h))
        pos = h
    return out


def pattern(seed, n):
    """n deterministic pseudo-random bytes for a seed."""
    import random
    return random.Random(seed).randbytes(n)


def wait_until(cond, timeout=5.0):
    """Poll cond() until true or timeout; return its last value.  For effects
    the kernel delivers to the daemon a moment later (RELEASE, FORGET of an
    unlinked inode), after which space and inodes come back."""
    import time
    end = time.time() + timeout
    while True:
        v = cond()
        if v or time.time() > end:
            return v
        time.sleep(0.05)


# ---- checks that say why they failed ----
#
# A test prints its checks as "label: True"; a failing one must also show
# what it found.  same() and holds() return True when the check passes
# (so the expected output stays "True"), else a Mismatch, which is false
# and prints as "False (what was found)".

class Mismatch:
    """A failed check: false, and printed as False with the values seen."""

    def __init__(self, detail):
        self.detail = detail

    def __bool__(self):
        return False

    def __str__(self):
        return f"False ({self.detail})"

    __repr__ = __str__

    def __format__(self, spec):
        return format(str(self), spec)


def _short(v, limit=120):
    r = repr(v)
    return r if len(r) <= limit else r[:limit] + f"... ({len(r)} chars)"


def _describe(got, want):
    if isinstance(got, (bytes, bytearray, memoryview)) and \
            isinstance(want, (bytes, bytearray, memoryview)):
        got, want = bytes(got), bytes(want)
        n = min(len(got), len(want))
        i = next((k for k in range(n) if got[k] != want[k]), n)
        where = (f"first difference at byte {i}: {got[i]:#04x}, "
                 f"want {want[i]:#04x}" if i < n else
                 f"the first {n} bytes agree")
        return f"{len(got)} bytes, want {len(want)}; {where}"
    if isinstance(got, (set, frozenset)) and isinstance(want, (set, frozenset)):
        return (f"missing {_short(sorted(want - got, key=repr))}, "
                f"unexpected {_short(sorted(got - want, key=repr))}")
    return f"got {_short(got)}, want {_short(want)}"


def same(got, want):
    """True when got == want, else a Mismatch saying how they differ (for
    bytes: the lengths and the first byte that differs)."""
    if got == want:
        return True
    return Mismatch(_describe(got, want))


def holds(ok, **values):
    """True when ok, else a Mismatch naming the values the check was on:
    holds(used >= 32 * MiB, used=used)."""
    if ok:
        return True
    return Mismatch(", ".join(f"{k}={_short(v)}" for k, v in values.items()))
