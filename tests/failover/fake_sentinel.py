#!/usr/bin/python3
"""A sentinel that is behind, for sentinel.routing: whatever master name it is asked
about, it names --master, as a real sentinel does until it learns of a failover it
missed. No real sentinel can be made to lag on request, hence this stand-in (beside the
real sentinels of the harness, which the same test also uses).

It answers SENTINEL get-master-addr-by-name, SENTINEL replicas/slaves (none),
SUBSCRIBE (confirmations, then silence), PING, AUTH/CLIENT/SELECT with +OK, and ROLE
as a master with no replicas (so that, naming its own port, it is a laggard whose
answer passes the ROLE check: only the other sentinels' majority can outvote it).

Usage: fake_sentinel.py --port P --master HOST:PORT
Prints "READY" on stdout once it listens; exits when stdin closes.
"""

import argparse
import asyncio
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fake_raft import (HOST, ProtocolError, array, bulk, error, integer, parse_request,  # noqa: E402
                       ready_until_stdin_closes, simple)


def answer(args, master):
    cmd = args[0].upper() if args else b""
    sub = args[1].upper() if len(args) > 1 else b""
    if cmd == b"SENTINEL" and sub == b"GET-MASTER-ADDR-BY-NAME":
        return array([bulk(master[0]), bulk(master[1])])
    if cmd == b"SENTINEL" and sub in (b"REPLICAS", b"SLAVES"):
        return array([])
    if cmd == b"SUBSCRIBE":
        return b"".join(array([bulk("subscribe"), bulk(ch), integer(i + 1)]) for i, ch in enumerate(args[1:]))
    if cmd == b"ROLE":
        return array([bulk("master"), integer(0), array([])])
    if cmd == b"PING":
        return simple("PONG")
    if cmd in (b"AUTH", b"CLIENT", b"SELECT"):
        return simple("OK")
    return error("ERR unknown command '%s'" % cmd.decode(errors="replace"))


async def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--master", required=True, help="HOST:PORT this sentinel names")
    opts = ap.parse_args()
    master = opts.master.rsplit(":", 1)

    async def serve(reader, writer):
        buf = b""
        try:
            while True:
                data = await reader.read(65536)
                if not data:
                    break
                buf += data
                while True:
                    args, used = parse_request(buf)
                    if args is None:
                        break
                    buf = buf[used:]
                    writer.write(answer(args, master))
                await writer.drain()
        except (ConnectionError, ProtocolError):
            pass
        finally:
            writer.close()

    await asyncio.start_server(serve, HOST, opts.port, reuse_address=True)
    await ready_until_stdin_closes()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass
