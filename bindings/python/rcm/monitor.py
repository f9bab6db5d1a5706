"""MONITOR on a lease of its own (redis-py's Monitor): every command the server runs,
parsed. The connection is closed when the monitor ends (rcm never gives a monitoring
connection back to the pool).

    with r.monitor() as m:
        for command in m.listen():
            print(command["command"])
"""

from __future__ import annotations

import re
from typing import Any, AsyncIterator, Iterator, Optional

from .exceptions import RcmError

__all__ = ["Monitor", "AsyncMonitor"]

_MONITOR_RE = re.compile(r"\[(\d+) (.*?)\] (.*)")
_COMMAND_RE = re.compile(r'"(.*?)(?<!\\)"')


def parse_monitor_line(line: Any) -> dict:
    """'1669... [0 127.0.0.1:5000] "SET" "k" "v"' -> redis-py's dict."""
    if isinstance(line, bytes):
        line = line.decode("utf-8", "replace")
    command_time, data = line.split(" ", 1)
    m = _MONITOR_RE.match(data)
    if m is None:
        raise RcmError(f"unexpected MONITOR line: {line[:80]!r}")
    db_id, client_info, command = m.groups()
    command = " ".join(_COMMAND_RE.findall(command)).replace('\\"', '"')
    if client_info == "lua":
        address, port, kind = "lua", "", "lua"
    elif client_info.startswith("unix"):
        address, port, kind = "unix", client_info[5:], "unix"
    else:
        address, port = client_info.rsplit(":", 1)
        kind = "tcp"
    return {"time": float(command_time), "db": int(db_id), "client_address": address, "client_port": port,
            "client_type": kind, "command": command}


class Monitor:
    """Entered, it sends MONITOR on a lease; next_command() waits for the next command."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self._lease: Optional[Any] = None

    def __enter__(self) -> "Monitor":
        self._lease = self._client.lease()
        try:
            reply = self._lease._x(b"MONITOR")
        except BaseException:
            self.close()
            raise
        if reply not in ("OK", b"OK"):
            self.close()
            raise RcmError(f"MONITOR failed: {reply!r}")
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def next_command(self, timeout: Optional[float] = None) -> Optional[dict]:
        """The next command the server ran (None when none came within timeout seconds;
        None: wait without limit)."""
        if self._lease is None:
            raise RcmError("the monitor is not started: use it in a with statement")
        line = self._lease.read(timeout)
        return None if line is None else parse_monitor_line(line)

    def listen(self) -> Iterator[dict]:
        while True:
            command = self.next_command()
            if command is not None:
                yield command

    def close(self) -> None:
        lease, self._lease = self._lease, None
        if lease is not None:
            lease.release()


class AsyncMonitor:
    """Monitor for rcm.asyncio.Client: ``async with r.monitor() as m: await m.next_command()``."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self._lease: Optional[Any] = None

    async def __aenter__(self) -> "AsyncMonitor":
        self._lease = await self._client.lease()
        try:
            reply = await self._lease.execute_command(b"MONITOR")
        except BaseException:
            await self.close()
            raise
        if reply not in ("OK", b"OK"):
            await self.close()
            raise RcmError(f"MONITOR failed: {reply!r}")
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()

    async def next_command(self, timeout: Optional[float] = None) -> Optional[dict]:
        if self._lease is None:
            raise RcmError("the monitor is not started: use it in an async with statement")
        line = await self._lease.read(timeout)
        return None if line is None else parse_monitor_line(line)

    async def listen(self) -> AsyncIterator[dict]:
        while True:
            command = await self.next_command()
            if command is not None:
                yield command

    async def close(self) -> None:
        lease, self._lease = self._lease, None
        if lease is not None:
            await lease.release()
