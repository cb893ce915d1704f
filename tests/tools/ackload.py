#!/usr/bin/env python3
"""ackload.py: a workload that logs, outside the file system, which of its
changes a sync point acknowledged; and a checker that a tree holds every
acknowledged change (the failover tests of the mirror, 141..159).

  ackload.py run DIR LOG SEED [--workers W] [--ops N] [--seconds S] [--more]
  ackload.py check DIR LOG [DIR LOG]...

run: W processes (default 3), each in its own folder DIR/wI, perform up
to N operations each, for up to S seconds (default: until the file
system goes away): create
a file with its bytes, overwrite or append a range (page-aligned or not),
truncate, rename (to a new name or over another file), unlink; with
--more also fallocate (punch hole, zero range with and without
KEEP_SIZE, allocation with and without it), copy_file_range from one of
its files to another, and stores through a shared mapping (msync).  Each
operation ends with its sync point: fsync or fdatasync of the file, and
an fsync of the folder after a create, rename or unlink.  Before each
operation a worker appends an intent record (one JSON line) to LOG.wI;
after the sync point returned, an ack record.  A call that fails with
ENOTCONN, EIO, ECONNABORTED or ENODEV (the daemon died) ends the worker
quietly (status 0); any other failure ends it with status 3 and a line
on stderr.

check: replays each LOG.wI of every LOG given into a model of its
folder DIR/wI.  The folder must hold the state after the last acknowledged
operation, except for the one operation in flight (an intent without an
ack), which may show as not done or done; a write in flight may also
show in part: its size the old one, the new one, or after its first page
(the kernel sends a write whose first page is partial as two WRITE
requests), and each byte of the range it writes old or new; one of the
--more operations in flight, each byte old or new and the size between
the two.  Prints "NAME: ok" per log (NAME: LOG's file name), or the differences
from the acknowledged state and exits 1.
"""

import ctypes
import errno
import glob
import hashlib
import json
import mmap
import os
import random
import sys
import time

PAGE = 4096
MAX_FILES = 24
MAX_SIZE = 192 * 1024
MAX_WRITE = 64 * 1024
GONE = {errno.ENOTCONN, errno.EIO, errno.ECONNABORTED, errno.ENODEV}
KEEP_SIZE, PUNCH_HOLE, ZERO_RANGE = 0x01, 0x02, 0x10
# The --more operations: fallocate modes by name, then the others.
FALLOCATE = {"punch": PUNCH_HOLE | KEEP_SIZE, "zero": ZERO_RANGE,
             "zero_keep": ZERO_RANGE | KEEP_SIZE, "alloc": 0,
             "alloc_keep": KEEP_SIZE}
MORE = set(FALLOCATE) | {"copy", "mapwrite"}
libc = ctypes.CDLL(None, use_errno=True)
libc.fallocate.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_long, ctypes.c_long]


def fallocate(fd, mode, off, length):
    if libc.fallocate(fd, mode, off, length) < 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))


def data_of(seed, worker, n, length):
    """The bytes operation n of a worker writes (reproducible)."""
    return random.Random(f"{seed}/{worker}/{n}").randbytes(length)


# ---- the workload ----

class Worker:
    def __init__(self, top, log, seed, w, more=False):
        self.dir = os.path.join(top, f"w{w}")
        self.log = os.open(f"{log}.w{w}", os.O_WRONLY | os.O_CREAT |
                           os.O_APPEND, 0o644)
        self.seed, self.w = seed, w
        self.rnd = random.Random(f"{seed}/{w}")
        self.sizes = {}     # name -> size (the model the choices need)
        self.next_name = 0
        self.n = 0
        self.more = more

    def record(self, rec):
        os.write(self.log, (json.dumps(rec, sort_keys=True) + "\n").encode())

    def sync_dir(self):
        fd = os.open(self.dir, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def sync_file(self, fd):
        if self.rnd.random() < 0.5:
            os.fsync(fd)
        else:
            os.fdatasync(fd)

    def pick_more(self, names):
        """One of the --more operations on a file (None: none fits)."""
        name = self.rnd.choice(names)
        size = self.sizes[name]
        kind = self.rnd.choice(sorted(MORE))
        room = max(0, min(size, MAX_SIZE - MAX_WRITE))
        op = {"op": kind, "name": name, "off": self.rnd.randrange(room + 1),
              "len": self.rnd.randrange(1, MAX_WRITE)}
        if kind == "mapwrite":
            if size == 0:
                return None
            op["off"] = self.rnd.randrange(size)
            op["len"] = self.rnd.randrange(1, min(size - op["off"], MAX_WRITE) + 1)
        elif kind == "copy":
            src = self.rnd.choice(names)
            if src == name or self.sizes[src] == 0:
                return None
            op["from"] = src
            op["from_off"] = self.rnd.randrange(self.sizes[src])
            op["len"] = self.rnd.randrange(
                1, min(self.sizes[src] - op["from_off"], MAX_WRITE) + 1)
        return op

    def pick(self):
        names = sorted(self.sizes)
        if self.more and names and self.rnd.random() < 0.35:
            op = self.pick_more(names)
            if op:
                return op
        r = self.rnd.random()
        if not names or (r < 0.25 and len(names) < MAX_FILES):
            name = f"f{self.next_name}"
            self.next_name += 1
            return {"op": "create", "name": name,
                    "len": self.rnd.choice([0, 100, PAGE, 3 * PAGE + 17,
                                            self.rnd.randrange(MAX_WRITE)])}
        name = self.rnd.choice(names)
        size = self.sizes[name]
        if r < 0.55:
            if self.rnd.random() < 0.5 or size + MAX_WRITE > MAX_SIZE:
                off = self.rnd.randrange(size + 1)
                if self.rnd.random() < 0.5:
                    off -= off % PAGE
            else:
                off = size
            return {"op": "write", "name": name, "off": off,
                    "len": self.rnd.randrange(1, MAX_WRITE)}
        if r < 0.65:
            return {"op": "truncate", "name": name,
                    "len": self.rnd.randrange(size + PAGE)}
        if r < 0.85:
            if self.rnd.random() < 0.7 or len(names) < 2:
                to = f"f{self.next_name}"
                self.next_name += 1
            else:
                to = self.rnd.choice([x for x in names if x != name])
            return {"op": "rename", "name": name, "to": to}
        return {"op": "unlink", "name": name}

    def perform(self, op):
        path = os.path.join(self.dir, op["name"])
        kind = op["op"]
        if kind in ("create", "write"):
            flags = os.O_WRONLY | (os.O_CREAT | os.O_EXCL if kind == "create" else 0)
            fd = os.open(path, flags, 0o644)
            try:
                data = data_of(self.seed, self.w, op["n"], op["len"])
                if data:
                    os.pwrite(fd, data, op.get("off", 0))
                self.sync_file(fd)
            finally:
                os.close(fd)
            if kind == "create":
                self.sync_dir()
                self.sizes[op["name"]] = op["len"]
            else:
                self.sizes[op["name"]] = max(self.sizes[op["name"]],
                                             op["off"] + op["len"])
        elif kind == "truncate":
            fd = os.open(path, os.O_WRONLY)
            try:
                os.ftruncate(fd, op["len"])
                self.sync_file(fd)
            finally:
                os.close(fd)
            self.sizes[op["name"]] = op["len"]
        elif kind == "rename":
            os.rename(path, os.path.join(self.dir, op["to"]))
            self.sync_dir()
            self.sizes[op["to"]] = self.sizes.pop(op["name"])
        elif kind == "unlink":
            os.unlink(path)
            self.sync_dir()
            del self.sizes[op["name"]]
        else:
            self.perform_more(op, path)

    def perform_more(self, op, path):
        kind, name = op["op"], op["name"]
        end = op["off"] + op["len"]
        fd = os.open(path, os.O_RDWR)
        try:
            if kind in FALLOCATE:
                fallocate(fd, FALLOCATE[kind], op["off"], op["len"])
            elif kind == "copy":
                copy_range(os.path.join(self.dir, op["from"]), op["from_off"],
                           fd, op["off"], op["len"])
            else:
                m = mmap.mmap(fd, self.sizes[name])
                try:
                    m[op["off"]:end] = data_of(self.seed, self.w, op["n"],
                                               op["len"])
                    m.flush()
                finally:
                    m.close()
            self.sync_file(fd)
        finally:
            os.close(fd)
        if kind in ("zero", "alloc", "copy"):
            self.sizes[name] = max(self.sizes[name], end)

    def run(self, ops, until):
        try:
            os.mkdir(self.dir)
            self.sync_dir()
            fd = os.open(os.path.dirname(self.dir), os.O_RDONLY)
            os.fsync(fd)
            os.close(fd)
            self.record({"n": 0, "op": "start", "seed": self.seed})
            self.record({"ack": 0})
            while (ops is None or self.n < ops) and time.monotonic() < until:
                self.n += 1
                op = self.pick()
                op["n"] = self.n
                self.record(op)
                self.perform(op)
                self.record({"ack": self.n})
        except OSError as e:
            if e.errno in GONE:
                return 0
            print(f"worker {self.w}: operation {self.n}: {e}", file=sys.stderr)
            return 3
        return 0


def copy_range(src_path, src_off, fd, off, length):
    """copy_file_range of length bytes, all inside the source."""
    src = os.open(src_path, os.O_RDONLY)
    try:
        done = 0
        while done < length:
            k = os.copy_file_range(src, fd, length - done, src_off + done,
                                   off + done)
            if k == 0:
                raise OSError(errno.EIO, f"copy_file_range: {done} of "
                              f"{length} bytes, then nothing")
            done += k
    finally:
        os.close(src)


def run(argv):
    top, log, seed = argv[0], argv[1], argv[2]
    workers, ops, seconds, more = 3, None, None, False
    rest = argv[3:]
    while rest:
        if rest[0] == "--more":
            more = True
            rest = rest[1:]
            continue
        if rest[0] == "--workers":
            workers = int(rest[1])
        elif rest[0] == "--ops":
            ops = int(rest[1])
        elif rest[0] == "--seconds":
            seconds = float(rest[1])
        else:
            sys.exit(__doc__)
        rest = rest[2:]
    try:
        os.mkdir(top)
        fd = os.open(os.path.dirname(os.path.abspath(top)), os.O_RDONLY)
        os.fsync(fd)
        os.close(fd)
    except OSError as e:
        if e.errno in GONE:
            return 0
        print(f"{top}: {e}", file=sys.stderr)
        return 3
    pids = []
    for w in range(workers):
        pid = os.fork()
        if pid == 0:
            until = time.monotonic() + seconds if seconds else float("inf")
            os._exit(Worker(top, log, seed, w, more).run(ops, until))
        pids.append(pid)
    worst = 0
    for pid in pids:
        _, status = os.waitpid(pid, 0)
        worst = max(worst, os.waitstatus_to_exitcode(status))
    return worst


# ---- the checker ----

def apply(model, op, seed, w, part=None):
    """The model after op (a copy); part: bytes of a write done (None: all)."""
    m = dict(model)
    kind = op["op"]
    if kind == "create":
        m[op["name"]] = data_of(seed, w, op["n"], op["len"])[:part]
    elif kind == "write":
        data = data_of(seed, w, op["n"], op["len"])[:part]
        m[op["name"]] = put(m[op["name"]], op["off"], data)
    elif kind == "truncate":
        old = m[op["name"]]
        m[op["name"]] = old[:op["len"]] + bytes(max(0, op["len"] - len(old)))
    elif kind == "rename":
        m[op["to"]] = m.pop(op["name"])
    elif kind == "unlink":
        del m[op["name"]]
    else:
        m[op["name"]] = apply_more(m, op, seed, w)
    return m


def put(old, off, data):
    new = bytearray(old)
    if len(new) < off + len(data):
        new.extend(bytes(off + len(data) - len(new)))
    new[off:off + len(data)] = data
    return bytes(new)


def apply_more(m, op, seed, w):
    """The file's bytes after one of the --more operations."""
    old, kind = m[op["name"]], op["op"]
    off, end = op["off"], op["off"] + op["len"]
    if kind == "copy":
        return put(old, off, m[op["from"]][op["from_off"]:op["from_off"] + op["len"]])
    if kind == "mapwrite":
        return put(old, off, data_of(seed, w, op["n"], op["len"]))
    if kind in ("zero", "alloc"):
        old = put(old, len(old), bytes(max(0, end - len(old))))
    if kind in ("punch", "zero", "zero_keep"):
        zeros = max(0, min(end, len(old)) - off)
        old = put(old, off, bytes(zeros)) if zeros else old
    return old


def more_in_flight(old, new, got):
    """Whether got is what one of the --more operations in flight may
    leave: a size between the old and the new, each byte old or new."""
    if not min(len(old), len(new)) <= len(got) <= max(len(old), len(new)):
        return False
    for i in range(len(got)):
        a = old[i] if i < len(old) else 0
        b = new[i] if i < len(new) else 0
        if got[i] != a and got[i] != b:
            return False
    return True


def in_flight_states(model, op, seed, w):
    """What the folder may hold with op in flight."""
    states = [model, apply(model, op, seed, w)]
    if op["op"] == "create":
        states.append(apply(model, op, seed, w, part=0))
    if op["op"] == "write" and op["off"] % PAGE and \
            op["len"] > PAGE - op["off"] % PAGE:
        states.append(apply(model, op, seed, w,
                            part=PAGE - op["off"] % PAGE))
    return states


def write_in_flight(old, op, seed, w, got):
    """Whether got is what a write in flight may leave of old: its size
    old, new, or after the first page; outside the range written, the old
    bytes (zeros past the old end); inside it, each byte old or new (a
    write's drains -- data, then the size that shows it -- may reach the
    mirror in part, as a crash may leave them on the primary)."""
    data = data_of(seed, w, op["n"], op["len"])
    off, end = op["off"], op["off"] + op["len"]
    first = end if off % PAGE == 0 else min(end, off - off % PAGE + PAGE)
    sizes = {len(old), max(len(old), end), max(len(old), first)}
    if len(got) not in sizes:
        return False
    for i in range(len(got)):
        before = old[i] if i < len(old) else 0
        if got[i] != before and not (off <= i < end and got[i] == data[i - off]):
            return False
    return True


def scan(d):
    out = {}
    for n in sorted(os.listdir(d)):
        with open(os.path.join(d, n), "rb") as f:
            out[n] = f.read()
    return out


def describe(want, got):
    lines = []
    for n in sorted(set(want) | set(got)):
        if n not in got:
            lines.append(f"  {n}: missing ({len(want[n])} bytes acknowledged)")
        elif n not in want:
            lines.append(f"  {n}: there, but not in the acknowledged state")
        elif want[n] != got[n]:
            a, b = want[n], got[n]
            first = next((i for i in range(min(len(a), len(b)))
                          if a[i] != b[i]), min(len(a), len(b)))
            lines.append(f"  {n}: {len(b)} bytes, {len(a)} acknowledged; "
                         f"first difference at byte {first}")
    return lines


def check_worker(top, path, w):
    recs = [json.loads(line) for line in open(path)]
    model, pending, acked, seed = {}, None, 0, None
    for r in recs:
        if r.get("op") == "start":
            seed = r["seed"]
        if "ack" in r:
            if pending is None or pending["n"] != r["ack"]:
                return [f"  log {path}: ack {r['ack']} without its intent"]
            if pending["op"] != "start":
                model = apply(model, pending, seed, w)
            pending, acked = None, r["ack"]
        else:
            if pending is not None:
                return [f"  log {path}: operation {pending['n']} never acked"]
            pending = r
    d = os.path.join(top, f"w{w}")
    if pending is not None and pending["op"] == "start":
        if not os.path.isdir(d):
            return []
        pending = None
    try:
        got = scan(d)
    except OSError as e:
        return [f"  {d}: {e.strerror}"]
    states = [model] if pending is None else in_flight_states(model, pending,
                                                              seed, w)
    if any(got == s for s in states):
        return []
    if pending is not None and pending["op"] in MORE | {"write"}:
        name = pending["name"]
        rest_same = {k: v for k, v in got.items() if k != name} == \
            {k: v for k, v in model.items() if k != name}
        if pending["op"] == "write":
            fits = write_in_flight
        else:
            new = apply(model, pending, seed, w)[name]
            def fits(old, op, seed, w, got):
                return more_in_flight(old, new, got)
        if rest_same and name in got and \
                fits(model[name], pending, seed, w, got[name]):
            return []
    what = f"after operation {acked}" + (
        f" ({pending['op']} {pending['n']} in flight)" if pending else "")
    return [f"  w{w}, {what}:"] + describe(model, got)


def check(argv):
    if len(argv) % 2:
        sys.exit(__doc__)
    bad = False
    for top, log in zip(argv[0::2], argv[1::2]):
        paths = sorted(glob.glob(glob.escape(log) + ".w*"))
        problems = [] if paths else [f"  no log {log}.wN"]
        for path in paths:
            w = int(path.rsplit(".w", 1)[1])
            problems += check_worker(top, path, w)
        name = os.path.basename(log)
        if problems:
            bad = True
            print(f"{name}: acknowledged changes lost or wrong:")
            print("\n".join(problems[:20]))
        else:
            print(f"{name}: ok")
    return 1 if bad else 0


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    if sys.argv[1] == "run" and len(sys.argv) >= 5:
        sys.exit(run(sys.argv[2:]))
    if sys.argv[1] == "check":
        sys.exit(check(sys.argv[2:]))
    sys.exit(__doc__)


if __name__ == "__main__":
    main()
