#!/usr/bin/env python3
"""relay.py: a fault-injecting TCP relay between a primary and its mirror
(the mirror tests, 141..159).

  relay.py LISTEN_HOST:PORT TARGET_HOST:PORT CONTROL_FIFO

Accepts connections on LISTEN and relays each to a new connection to
TARGET, both ways.  Commands, one a line, come through CONTROL_FIFO; after
each the relay prints "done N" on stdout (N counts the commands), so that
a test knows it took effect:

  pass       relay everything at once (the start)
  stall      stop relaying, both ways: connections stay open, bytes wait
             (a partition that TCP does not notice: keepalive probes are
             still answered by the relay's sockets)
  delay MS   relay each piece MS milliseconds after it came, in order
  cut N      relay at most N more bytes from the primary to the mirror,
             then close every connection at once (reset): the mirror gets
             a message cut short; new connections are closed at once
             until the next pass/stall/delay
  drop       close every connection now (reset); new ones are relayed
  refuse     close every connection now, and new ones at once
  tap PATH   append every byte relayed from the primary to PATH
  flip N     change one byte (xor 0xff): the Nth byte from now relayed
             from the primary to the mirror (counting from 1)

Prints "listening" once it listens.  Stops on SIGTERM or SIGKILL.
"""

import os
import selectors
import socket
import struct
import sys
import time

CHUNK = 65536


class Pair:
    def __init__(self, down, up):
        self.down, self.up = down, up          # primary side, mirror side
        self.pending = {down: [], up: []}      # socket -> [(due, bytes)] to send to it
        self.closed = False


class Relay:
    def __init__(self, listen, target, fifo):
        self.target = target
        self.sel = selectors.DefaultSelector()
        self.lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind(listen)
        self.lsock.listen(8)
        self.sel.register(self.lsock, selectors.EVENT_READ, "listen")
        self.ctl = os.open(fifo, os.O_RDWR | os.O_NONBLOCK)
        self.sel.register(self.ctl, selectors.EVENT_READ, "control")
        self.ctl_buf = b""
        self.pairs = []
        self.mode, self.delay, self.budget = "pass", 0.0, None
        self.commands = 0
        self.tap = None
        self.flip_at = None     # bytes from the primary before the flip

    def reset(self, s):
        try:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                         struct.pack("ii", 1, 0))
        except OSError:
            pass
        try:
            self.sel.unregister(s)
        except (KeyError, ValueError):
            pass
        s.close()

    def close_pair(self, p):
        if not p.closed:
            p.closed = True
            self.reset(p.down)
            self.reset(p.up)
            self.pairs.remove(p)

    def close_all(self):
        for p in list(self.pairs):
            self.close_pair(p)

    def accept(self):
        c, _ = self.lsock.accept()
        if self.mode == "refuse" or (self.mode == "cut" and self.budget == 0):
            self.reset(c)
            return
        try:
            u = socket.create_connection(self.target, timeout=5)
        except OSError:
            self.reset(c)
            return
        for s in (c, u):
            s.setblocking(False)
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        p = Pair(c, u)
        self.pairs.append(p)
        if self.mode != "stall":
            self.watch(p, True)

    def watch(self, p, on):
        """Reads a pair's sockets, or not (stalled: bytes wait in them)."""
        for s in (p.down, p.up):
            try:
                if on:
                    self.sel.register(s, selectors.EVENT_READ, p)
                else:
                    self.sel.unregister(s)
            except (KeyError, ValueError):
                pass

    def command(self, line):
        words = line.split()
        if not words:
            return
        cmd = words[0]
        if (cmd == "stall") != (self.mode == "stall"):
            for p in self.pairs:
                self.watch(p, cmd != "stall")
        if cmd in ("pass", "stall"):
            self.mode, self.budget = cmd, None
        elif cmd == "delay":
            self.mode, self.delay, self.budget = "delay", int(words[1]) / 1000, None
        elif cmd == "cut":
            self.mode, self.budget = "cut", int(words[1])
        elif cmd == "drop":
            self.close_all()
            self.mode, self.budget = "pass", None
        elif cmd == "tap":
            self.tap = open(words[1], "ab", buffering=0)
        elif cmd == "flip":
            self.flip_at = int(words[1])
        elif cmd == "refuse":
            self.close_all()
            self.mode, self.budget = "refuse", None
        else:
            print(f"unknown command {line!r}", file=sys.stderr, flush=True)
        self.commands += 1
        print(f"done {self.commands}", flush=True)

    def control(self):
        try:
            self.ctl_buf += os.read(self.ctl, 4096)
        except BlockingIOError:
            return
        while b"\n" in self.ctl_buf:
            line, self.ctl_buf = self.ctl_buf.split(b"\n", 1)
            self.command(line.decode())

    def readable(self, s, p):
        try:
            data = s.recv(CHUNK)
        except OSError:
            data = b""
        if not data:
            self.close_pair(p)
            return
        other = p.up if s is p.down else p.down
        if s is p.down and self.flip_at is not None:
            if self.flip_at <= len(data):
                i = self.flip_at - 1
                data = data[:i] + bytes([data[i] ^ 0xff]) + data[i + 1:]
                self.flip_at = None
            else:
                self.flip_at -= len(data)
        if s is p.down and self.tap:
            self.tap.write(data)
        if self.mode == "cut" and s is p.down:
            if len(data) >= self.budget:
                data = data[:self.budget]
                self.budget = 0
                self.flush_to(p, other, data)
                self.close_all()
                return
            self.budget -= len(data)
        due = time.monotonic() + (self.delay if self.mode == "delay" else 0)
        p.pending[other].append((due, data))
        self.flush(p)

    def flush_to(self, p, s, data):
        """Sends what is pending for s and data now (blocking), for a cut."""
        s.setblocking(True)
        try:
            for _, d in p.pending[s]:
                s.sendall(d)
            s.sendall(data)
        except OSError:
            pass
        p.pending[s] = []

    def flush(self, p):
        now = time.monotonic()
        for s in (p.down, p.up):
            q = p.pending[s]
            while q and q[0][0] <= now and not p.closed:
                due, d = q[0]
                try:
                    n = s.send(d)
                except BlockingIOError:
                    n = 0
                except OSError:
                    self.close_pair(p)
                    return
                if n < len(d):
                    q[0] = (due, d[n:])
                    break
                q.pop(0)

    def run(self):
        print("listening", flush=True)
        while True:
            timeout = 0.01 if any(q for p in self.pairs
                                  for q in p.pending.values()) else 0.2
            for key, _ in self.sel.select(timeout):
                if key.data == "listen":
                    self.accept()
                elif key.data == "control":
                    self.control()
                elif not key.data.closed:
                    self.readable(key.fileobj, key.data)
            for p in list(self.pairs):
                if self.mode != "stall":
                    self.flush(p)


def address(text):
    host, port = text.rsplit(":", 1)
    return host, int(port)


def main():
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    Relay(address(sys.argv[1]), address(sys.argv[2]), sys.argv[3]).run()


if __name__ == "__main__":
    main()
