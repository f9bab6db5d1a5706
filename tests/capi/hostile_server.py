#!/usr/bin/python3
"""A scripted server that answers with malformed RESP on request, for capi.hostile. No
real server sends broken frames on request; capi.hostile drives these through rcm and
checks that only the requests that met them fail.

Everything rcm sends by itself (INFO, COMMAND, CLIENT, SELECT, PING, ECHO) is answered
as a server would, so the broken replies hit the caller's own requests. GET of any key
not named below answers the key itself as its value (a reply that carries its request),
SET answers +OK.

GET hostile:<case> answers (the connection then serves nothing else; what follows a
broken frame can never be parsed):
  hugebulk     "$2147483647\\r\\n", then one byte every 50 ms
  bulktrickle  "$65536\\r\\n" (within any sane bound), then one byte every 50 ms
  hugearray    "*2147483647\\r\\n", then ":1\\r\\n" elements as fast as the client reads
               (at most FLOOD_BYTES)
  longarray    the same, at most 8 MiB (what a client within a large bound holds of it
               stays affordable)
  endless      "+" and then a line that never ends (at most FLOOD_BYTES)
  deep         100000 nested "*1\\r\\n" around ":1\\r\\n"
  negbulk      "$-5\\r\\n"
  negarray     "*-2\\r\\n"
  badtype      "?what\\r\\n"
  badint       ":99999999999999999999999\\r\\n" (overflows 64 bits)
  badlen       "$12x\\r\\n"
  half         "$10\\r\\nhello", then the connection is closed
  garbage      a valid "$3\\r\\nbar\\r\\n", then "\\x00\\xffgarbage\\r\\n"
  extra        a valid "$3\\r\\nbar\\r\\n", then "+unasked\\r\\n" (a reply nobody asked for)
  silent       nothing at all (the connection stays open)

Usage: hostile_server.py --port P
Prints "READY" on stdout once the port listens; exits when stdin closes (the test that
started it has gone).
"""

import argparse
import asyncio
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "failover"))
from fake_raft import (HOST, ProtocolError, array, bulk, error, parse_request,  # noqa: E402
                       ready_until_stdin_closes, simple)

# What a flood sends at most: far above any bound the test sets, far below what would
# hurt the machine if the client under test had no bound at all.
FLOOD_BYTES = 32 * 1024 * 1024
TRICKLE_S = 0.05


async def trickle(writer, head, byte=b"x"):
    writer.write(head)
    while True:
        await writer.drain()
        await asyncio.sleep(TRICKLE_S)
        writer.write(byte)


async def flood(writer, head, unit, limit=FLOOD_BYTES):
    writer.write(head)
    chunk = unit * (65536 // len(unit))
    sent = len(head)
    while sent < limit:
        writer.write(chunk)
        sent += len(chunk)
        await writer.drain()


def fixed(data, close=False):
    async def run(writer):
        writer.write(data)
        await writer.drain()
        if close:
            writer.close()
    return run


async def silent(writer):
    await asyncio.Event().wait()


CASES = {
    b"hugebulk": lambda w: trickle(w, b"$2147483647\r\n"),
    b"bulktrickle": lambda w: trickle(w, b"$65536\r\n"),
    b"hugearray": lambda w: flood(w, b"*2147483647\r\n", b":1\r\n"),
    b"longarray": lambda w: flood(w, b"*2147483647\r\n", b":1\r\n", 8 * 1024 * 1024),
    b"endless": lambda w: flood(w, b"+", b"a"),
    b"deep": fixed(b"*1\r\n" * 100000 + b":1\r\n"),
    b"negbulk": fixed(b"$-5\r\n"),
    b"negarray": fixed(b"*-2\r\n"),
    b"badtype": fixed(b"?what\r\n"),
    b"badint": fixed(b":99999999999999999999999\r\n"),
    b"badlen": fixed(b"$12x\r\n"),
    b"half": fixed(b"$10\r\nhello", close=True),
    b"garbage": fixed(b"$3\r\nbar\r\n\x00\xffgarbage\r\n"),
    b"extra": fixed(b"$3\r\nbar\r\n+unasked\r\n"),
    b"silent": silent,
}


def answer(args):
    """The reply of a well-behaved server, or the hostile case (a coroutine function)."""
    cmd = args[0].upper()
    if cmd == b"GET" and len(args) == 2:
        if args[1].startswith(b"hostile:"):
            case = CASES.get(args[1][len(b"hostile:"):])
            return case if case is not None else error("ERR no such hostile case")
        return bulk(args[1])
    if cmd == b"SET" and len(args) >= 3:
        return simple("OK")
    if cmd == b"PING":
        return simple("PONG") if len(args) == 1 else bulk(args[1])
    if cmd == b"ECHO" and len(args) == 2:
        return bulk(args[1])
    if cmd in (b"CLIENT", b"SELECT"):
        return simple("OK")
    if cmd == b"INFO":
        section = args[1].lower() if len(args) > 1 else b"server"
        if section == b"server":
            return bulk("# Server\r\nredis_version:7.2.4\r\nserver_mode:standalone\r\nredis_mode:standalone\r\n")
        return bulk("")
    if cmd == b"COMMAND":
        return array([])
    return error("ERR unknown command '%s'" % args[0].decode(errors="replace"))


async def serve(reader, writer):
    buf = b""
    hostile = None
    try:
        while True:
            chunk = await reader.read(65536)
            if not chunk:
                break
            if hostile is not None:
                continue  # after a broken frame nothing more is answered
            buf += chunk
            out = []
            while hostile is None:
                args, used = parse_request(buf)
                if args is None:
                    break
                buf = buf[used:]
                if not args:
                    continue
                reply = answer(args)
                if isinstance(reply, bytes):
                    out.append(reply)
                else:
                    writer.write(b"".join(out))
                    out = []
                    hostile = asyncio.ensure_future(reply(writer))
            if out:
                writer.write(b"".join(out))
                await writer.drain()
    except (ConnectionError, ProtocolError, asyncio.CancelledError):
        pass
    finally:
        if hostile is not None:
            hostile.cancel()
            try:
                await hostile
            except (ConnectionError, asyncio.CancelledError):
                pass
        writer.close()


async def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--port", type=int, required=True, help="the port on 127.0.0.1")
    opts = ap.parse_args()
    await asyncio.start_server(serve, HOST, opts.port, reuse_address=True)
    await ready_until_stdin_closes()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass
