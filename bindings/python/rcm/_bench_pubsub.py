"""The pubsub workloads of rcm.bench: rcm's ``PubSub.get_message()`` loop against
redis-py's, receiving the same published messages from the same server.

pubsub (live, ``live_round``):

A publisher in a child process (so it shares neither the GIL nor a client with the
receiver) pipelines PUBLISH of --pubsub-messages messages of --value-size bytes over a raw
socket, in batches, and stays at most WINDOW messages ahead of what the receiver has
taken (the receiver tells it its count through a pipe every PROGRESS_EVERY messages). So the server's output buffer and rcm's
``pubsub.max_pending`` never overflow, and the rate measured is the receiver's unless the
publisher and server are slower (then the same for both clients).

Each receiver subscribes (subscribe confirmations ignored), then takes messages with
``get_message(timeout=1.0)`` until it has all of them. Its rate is messages / (first to
last message); its CPU is ``time.process_time()`` of the receiving process over that span
(rcm's I/O threads included; the publisher is another process).

pubsub-drain (``drain_round``): the child publishes a whole round at once while the
PubSub is subscribed; then the loop reads them all. Rate: messages / the drain; CPU: the
receiving process's over publishing and drain. rcm's I/O thread has received and parsed
the backlog while the child published (its client needs ``pubsub.max_pending`` above the
round), redis-py's waits in the server and is parsed during the drain: the rate compares a
read-ahead queue with a socket, the CPU per message is the like-for-like figure.
"""

from __future__ import annotations

import os
import struct
import subprocess
import sys
import time
from typing import Any, Callable, Optional

WINDOW = 5000   # most messages the publisher is ahead of the receiver
BATCH = 128     # PUBLISH commands per pipelined write
PROGRESS_EVERY = 256


# The publisher runs in a child Python (`python -c`, standard library only): no GIL, no
# client shared with the receiver, and nothing of the parent's imported again. It reads the
# receiver's progress (8-byte counts) from a pipe: the first one starts it, later ones let
# it run ahead up to the window.
_PUBLISHER = r"""
import os, socket, struct, sys
from urllib.parse import unquote, urlsplit
url, channel, n, size, fd, window, batch = sys.argv[1], sys.argv[2].encode(), *map(int, sys.argv[3:8])
u = urlsplit(url)
sock = socket.create_connection((u.hostname or "127.0.0.1", u.port or 6379))
sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
def replies(count):
    lines = 0
    while lines < count:  # one ":<n>" or "+OK" line per command
        chunk = sock.recv(65536)
        if not chunk:
            sys.exit("the server closed the publisher's connection")
        lines += chunk.count(b"\r\n")
if u.password:
    args = ([unquote(u.username).encode()] if u.username else []) + [unquote(u.password).encode()]
    sock.sendall(b"*%d\r\n$4\r\nAUTH\r\n" % (len(args) + 1) + b"".join(b"$%d\r\n%s\r\n" % (len(a), a) for a in args))
    replies(1)
head = b"*3\r\n$7\r\nPUBLISH\r\n$%d\r\n%s\r\n$%d\r\n" % (len(channel), channel, size)
filler = b"x" * (size - 10) + b"\r\n"
pipe = os.fdopen(fd, "rb", buffering=0)
progress = struct.unpack("q", pipe.read(8))[0]
sent = 0
while sent < n:
    b = min(batch, n - sent)
    while sent + b - progress > window:
        data = pipe.read(8)
        if len(data) < 8:
            sys.exit("the receiver went away")
        progress = struct.unpack("q", data)[0]
    sock.sendall(b"".join(head + b"%010d" % (sent + i) + filler for i in range(b)))
    replies(b)
    sent += b
"""


def subscribed(client: Any, channel: str) -> Any:
    """A PubSub of client subscribed to channel, its confirmation read (nothing may be
    published before it)."""
    ps = client.pubsub()
    try:
        ps.subscribe(channel)
        deadline = time.monotonic() + 10
        while (m := ps.get_message(timeout=0.5)) is None or m["type"] != "subscribe":
            if time.monotonic() > deadline:
                raise TimeoutError(f"no subscribe confirmation for {channel} within 10 s")
    except BaseException:
        ps.close()
        raise
    return ps


class Publisher:
    """The child process publishing n messages to channel; tell() feeds it the receiver's
    progress (the first call starts it)."""

    def __init__(self, url: str, channel: str, n: int, size: int) -> None:
        rfd, self.fd = os.pipe()
        try:
            self.proc = subprocess.Popen([sys.executable, "-c", _PUBLISHER, url, channel, str(n), str(size),
                                          str(rfd), str(WINDOW), str(BATCH)], pass_fds=(rfd,))
        except BaseException:
            os.close(self.fd)
            raise
        finally:
            os.close(rfd)

    def tell(self, progress: int) -> None:
        os.write(self.fd, struct.pack("q", progress))

    def finish(self) -> None:
        """Waits for the child (the pipe's EOF stops it if it still waits); raises if it failed."""
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
        try:
            self.proc.wait(60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        if self.proc.returncode != 0:
            raise RuntimeError(f"the publisher process exited with {self.proc.returncode}")


def live_round(url: str, client: Any, channel: str, n: int, size: int) -> "tuple[int, float, float]":
    """get_message() while the child publishes (at most WINDOW ahead): (messages after the
    first, seconds and CPU seconds from the first message to the last)."""
    ps = subscribed(client, channel)
    try:
        pub = Publisher(url, channel, n, size)
        try:
            get, tell = ps.get_message, pub.tell
            tell(0)  # go
            m = None
            while m is None:  # the first message starts the clocks
                m = get(ignore_subscribe_messages=True, timeout=1.0)
                if m is None:
                    raise TimeoutError("no message within 1 s of the publisher's start")
            w0, c0 = time.perf_counter(), time.process_time()
            got = 1
            while got < n:
                m = get(ignore_subscribe_messages=True, timeout=1.0)
                if m is None:
                    raise TimeoutError(f"no message within 1 s after {got} of {n}")
                got += 1
                if got % PROGRESS_EVERY == 0 and got - PROGRESS_EVERY < n - WINDOW:  # none once it may send all
                    tell(got)
            secs, cpu = time.perf_counter() - w0, time.process_time() - c0
        finally:
            pub.finish()
    finally:
        ps.close()
    return n - 1, secs, cpu


def drain_round(url: str, client: Any, channel: str, n: int, size: int) -> "tuple[int, float, float]":
    """The child publishes all n at once while the PubSub is subscribed, then get_message()
    reads them: (n, seconds of the drain, CPU seconds of publishing and drain)."""
    ps = subscribed(client, channel)
    try:
        c0 = time.process_time()
        pub = Publisher(url, channel, n, size)
        try:
            pub.tell(n)  # no window: everything at once
        finally:
            pub.finish()
        w0 = time.perf_counter()
        get, got = ps.get_message, 0
        while got < n:
            if get(ignore_subscribe_messages=True, timeout=5) is None:
                raise TimeoutError(f"{got} of {n} messages arrived")
            got += 1
        return n, time.perf_counter() - w0, time.process_time() - c0
    finally:
        ps.close()


def run_pubsub(url: str, clients: "dict[str, Any]", n: int, size: int, rounds: int, drain: bool,
               sample_type: Callable[..., Any]) -> "dict[str, Any]":
    """Alternating rounds of each client (name -> client): {name: Sample}. n messages per
    client in all; drain: drain_round (at most 100 000 a round: redis-py's backlog waits in
    the server, under its 32 MB pubsub output buffer limit), else live_round."""
    if size < 10:
        raise ValueError("the pubsub workload needs a size >= 10 (a sequence number leads each payload)")
    channel = f"bench:py:psb:{os.getpid()}"
    measure = drain_round if drain else live_round
    per_round = max(2, n // rounds)
    if drain:
        per_round = min(per_round, 100_000)
    samples = {name: sample_type() for name in clients}
    for c in clients.values():  # warm-up: connections, the child's start-up path
        measure(url, c, channel, min(per_round, 2000), size)
    for _ in range(rounds):
        for name, c in clients.items():
            msgs, secs, cpu = measure(url, c, channel, per_round, size)
            samples[name].add(sample_type(msgs, secs, cpu, cpu))
    return samples
