"""The pubsub workload of rcm.bench: rcm's ``PubSub.get_message()`` loop against
redis-py's, receiving the same published messages from the same server.

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


def receive(pubsub: Any, n: int, progress_fd: int) -> "tuple[float, float]":
    """Takes n messages from pubsub.get_message(); returns (seconds, CPU seconds) from the
    first message to the last."""
    get = pubsub.get_message
    tell = os.write
    tell(progress_fd, struct.pack("q", 0))  # go
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
            tell(progress_fd, struct.pack("q", got))
    return time.perf_counter() - w0, time.process_time() - c0


def one_round(url: str, make_pubsub: Callable[[], Any], channel: str, n: int, size: int) -> "tuple[int, float, float]":
    """One receiver, one publisher process: (messages after the first, seconds, CPU)."""
    ps = make_pubsub()
    try:
        ps.subscribe(channel)
        # The confirmation must have come before anything is published.
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            m = ps.get_message(timeout=0.5)
            if m is not None and m["type"] == "subscribe":
                break
        else:
            raise TimeoutError(f"no subscribe confirmation for {channel}")
        rfd, wfd = os.pipe()
        try:
            proc = subprocess.Popen([sys.executable, "-c", _PUBLISHER, url, channel, str(n), str(size), str(rfd),
                                     str(WINDOW), str(BATCH)], pass_fds=(rfd,))
        finally:
            os.close(rfd)
        try:
            secs, cpu = receive(ps, n, wfd)
        finally:
            os.close(wfd)  # the publisher stops at EOF if it is still waiting
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if proc.returncode != 0:
            raise RuntimeError(f"the publisher process exited with {proc.returncode}")
    finally:
        ps.close()
    return n - 1, secs, cpu


def run_pubsub(url: str, rcm_client: Any, redis_client: Optional[Any], n: int, size: int, rounds: int,
               sample_type: Callable[..., Any]) -> "dict[str, Any]":
    """Alternating rounds of rcm and redis-py; returns {"rcm": Sample, "redis-py": Sample}."""
    if size < 10:
        raise ValueError("the pubsub workload needs a size >= 10 (a sequence number leads each payload)")
    channel = f"bench:py:psb:{os.getpid()}"
    samples = {"rcm": sample_type()}
    if redis_client is not None:
        samples["redis-py"] = sample_type()
    per_round = max(2, n // rounds)
    clients = [("rcm", rcm_client)] + ([("redis-py", redis_client)] if redis_client is not None else [])
    for name, c in clients:  # warm-up: connections, the child's start-up path
        one_round(url, c.pubsub, channel, min(per_round, 2000), size)
    for _ in range(rounds):
        for name, c in clients:
            msgs, secs, cpu = one_round(url, c.pubsub, channel, per_round, size)
            samples[name].add(sample_type(msgs, secs, cpu, cpu))
    return samples
