"""A minimal QMP (QEMU Machine Protocol) client: JSON lines over a Unix socket.

Only what the privacy audit needs from outside the guest: pause and resume, the
instruction counter (``query-replay``'s ``icount`` under ``-icount``), physical memory
dumps (``pmemsave``) and monitor text (``human-monitor-command``: ``info mtree -f``,
``info ramblock``). QEMU's docs, "QEMU QMP Reference Manual".

    with QmpClient.connect("/tmp/x/qmp.sock") as qmp:
        qmp.execute("stop")
        qmp.pmemsave(0x20000000, 4 << 20, "/dev/shm/x/ram.bin")
        print(qmp.icount())
"""

from __future__ import annotations

import json
import socket
import time
from typing import Any, Self


class QmpError(RuntimeError):
    """QEMU answered with an error, or the monitor link dropped."""


class QmpClient:
    """One QMP connection; every command goes through :meth:`execute`."""

    def __init__(self, sock: socket.socket, timeout_s: float) -> None:
        self._sock = sock
        self._sock.settimeout(timeout_s)
        self._file = sock.makefile("rwb", buffering=0)
        self.events: list[dict] = []
        greeting = self._read()
        if "QMP" not in greeting:
            raise QmpError(f"not a QMP greeting: {greeting!r}")
        self.version = greeting["QMP"].get("version", {})
        self.execute("qmp_capabilities")

    @classmethod
    def connect(cls, path: str, timeout_s: float = 30.0, connect_s: float = 5.0) -> QmpClient:
        """Connect to QEMU's ``-qmp unix:PATH,server=on,wait=off``, retrying for
        ``connect_s`` while QEMU starts."""
        deadline = time.monotonic() + connect_s
        while True:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                sock.connect(path)
                return cls(sock, timeout_s)
            except (FileNotFoundError, ConnectionRefusedError):
                sock.close()
                if time.monotonic() > deadline:
                    raise QmpError(f"no QMP socket at {path} after {connect_s} s") from None
                time.sleep(0.02)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        try:
            self._file.close()
        finally:
            self._sock.close()

    def _read(self) -> dict:
        line = self._file.readline()
        if not line:
            raise QmpError("QEMU closed the QMP connection")
        return json.loads(line)

    def execute(self, command: str, **arguments: Any) -> Any:
        """Run ``command`` and return its ``return`` value; events that arrive meanwhile
        are kept in :attr:`events`."""
        msg: dict[str, Any] = {"execute": command}
        if arguments:
            msg["arguments"] = arguments
        try:
            self._file.write(json.dumps(msg).encode() + b"\n")
        except OSError as e:
            raise QmpError(f"{command}: {e}") from e
        while True:
            reply = self._read()
            if "event" in reply:
                self.events.append(reply)
                continue
            if "error" in reply:
                err = reply["error"]
                raise QmpError(f"{command}: {err.get('class')}: {err.get('desc')}")
            return reply.get("return")

    # ---- the commands the audit uses ---------------------------------------------------

    def hmp(self, command_line: str) -> str:
        """A human-monitor command's text output (e.g. ``info mtree -f``)."""
        return str(self.execute("human-monitor-command", **{"command-line": command_line}))

    def icount(self) -> int:
        """Instructions executed so far (``-icount`` only): QEMU's own counter, which the
        guest cannot read or reprogram."""
        return int(self.execute("query-replay")["icount"])

    def running(self) -> bool:
        return bool(self.execute("query-status")["running"])

    def pmemsave(self, addr: int, size: int, filename: str) -> None:
        """Write ``size`` bytes of guest physical memory at ``addr`` to ``filename``."""
        self.execute("pmemsave", val=addr, size=size, filename=filename)
