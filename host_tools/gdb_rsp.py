"""A minimal GDB remote serial protocol client, for reading an emulated device's RAM back
and feeding its emulated sensor.

Only what the privacy tests and the sensor feeder (host_tools/sensor.py) need: software
breakpoints (``Z0``), continue (``c``) with a deadline and interrupt (``\x03``), register
read (``g``), memory read (``m``) and write (``M``), against QEMU's gdbstub
(``-gdb tcp:127.0.0.1:PORT -S``). Packets are ``$data#checksum`` with ``+`` acks
(the protocol's default mode); see the GDB manual, "Remote Protocol".

    with GdbClient.connect(port) as gdb:
        gdb.set_breakpoint(checkpoints.symbol_address(elf, "pk_hil_checkpoint"))
        stop = gdb.cont()                    # "T05..." at the breakpoint
        ram = gdb.read_memory(0x20000000, 0x10000)
"""

from __future__ import annotations

import re
import socket
import time
from typing import Self

CHUNK_BYTES = 2048  # bytes per `m` request: 4 KiB of hex, within QEMU's packet size
WRITE_CHUNK_BYTES = 1024  # bytes per `M` request: its 2 KiB of hex must fit QEMU's buffer
PIPELINE = 4  # `m` requests in flight at once (more gains nothing on loopback)


class GdbError(RuntimeError):
    """The stub answered with an error, an unexpected packet, or the link dropped."""


def _checksum(data: bytes) -> bytes:
    return b"%02x" % (sum(data) & 0xFF)


class GdbClient:
    """One connection to a gdbstub; every request goes through :meth:`request`."""

    def __init__(self, sock: socket.socket, timeout_s: float) -> None:
        self._sock = sock
        self._sock.settimeout(timeout_s)
        self._buf = b""
        self.timeout_s = timeout_s
        self._breakpoints: set[int] = set()

    @classmethod
    def connect(
        cls, port: int, host: str = "127.0.0.1", timeout_s: float = 30.0, connect_s: float = 5.0
    ) -> GdbClient:
        """Connect, retrying for ``connect_s`` while the stub starts listening."""
        deadline = time.monotonic() + connect_s
        while True:
            try:
                sock = socket.create_connection((host, port), timeout=timeout_s)
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                return cls(sock, timeout_s)
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.02)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._sock.close()

    # ---- the packet layer --------------------------------------------------------------

    def _recv_some(self) -> None:
        data = self._sock.recv(65536)
        if not data:
            raise GdbError("gdbstub closed the connection")
        self._buf += data

    def _send_packet(self, data: bytes) -> None:
        self._sock.sendall(b"$" + data + b"#" + _checksum(data))
        self._expect_ack(data)

    def _expect_ack(self, data: bytes) -> None:
        """Consume the stub's ``+`` for ``data``; a ``-`` asks for a resend."""
        while True:
            while not self._buf:
                self._recv_some()
            ack, self._buf = self._buf[:1], self._buf[1:]
            if ack == b"+":
                return
            if ack == b"-":
                self._sock.sendall(b"$" + data + b"#" + _checksum(data))

    def _recv_packet(self) -> bytes:
        while True:
            start = self._buf.find(b"$")
            if start >= 0:
                end = self._buf.find(b"#", start)
                if end >= 0 and len(self._buf) >= end + 3:
                    data = self._buf[start + 1 : end]
                    ok = self._buf[end + 1 : end + 3].lower() == _checksum(data)
                    self._buf = self._buf[end + 3 :]
                    self._sock.sendall(b"+" if ok else b"-")
                    if ok:
                        return _unescape(data)
                    continue
            self._recv_some()

    def request(self, command: str | bytes) -> bytes:
        """Send one packet and return the stub's reply (``E..`` replies raise GdbError)."""
        cmd = command.encode() if isinstance(command, str) else command
        self._send_packet(cmd)
        reply = self._recv_packet()
        if re.fullmatch(rb"E[0-9a-fA-F]{2}", reply):
            raise GdbError(f"{cmd.decode(errors='replace')}: stub error {reply.decode()}")
        return reply

    # ---- commands --------------------------------------------------------------------

    def halt_reason(self) -> bytes:
        """``?``: why the target is stopped (``S05``/``T05...``)."""
        return self.request("?")

    def set_breakpoint(self, addr: int, kind: int = 2) -> None:
        """``Z0``: software breakpoint at ``addr`` (kind 2 = a Thumb instruction)."""
        reply = self.request(f"Z0,{addr:x},{kind}")
        if reply != b"OK":
            raise GdbError(f"Z0 at {addr:#x}: {reply!r}")
        self._breakpoints.add(addr)

    def remove_breakpoint(self, addr: int, kind: int = 2) -> None:
        """``z0``: remove the software breakpoint at ``addr``."""
        reply = self.request(f"z0,{addr:x},{kind}")
        if reply != b"OK":
            raise GdbError(f"z0 at {addr:#x}: {reply!r}")
        self._breakpoints.discard(addr)

    def cont(self) -> bytes:
        """``c``: run until the next stop; returns the stop reply (``T05..``, ``W..``).

        Stopped on one of our breakpoints, the stub would stop there again at once, so
        (as GDB does) remove it, single-step (``s``), put it back, then continue.
        """
        early = self.resume()
        return early if early is not None else self._recv_packet()

    def resume(self) -> bytes | None:
        """Start the target running (stepping off a breakpoint first, as :meth:`cont`)
        and return at once; :meth:`wait_stop` collects the stop reply. Returns the stop
        reply instead if the target exited or died during the step."""
        pc = self.read_register(15) if self._breakpoints else None
        if pc is not None and pc in self._breakpoints:
            self.remove_breakpoint(pc)
            self._send_packet(b"s")
            reply = self._recv_packet()
            self.set_breakpoint(pc)
            if not reply.startswith((b"T", b"S")):
                return reply  # exited or died during the step
        self._send_packet(b"c")
        return None

    def wait_stop(self, timeout_s: float) -> bytes | None:
        """The stop reply of a running target, or None if it is still running after
        ``timeout_s`` seconds (then :meth:`interrupt` stops it)."""
        self._sock.settimeout(timeout_s)
        try:
            return self._recv_packet()
        except TimeoutError:
            return None
        finally:
            self._sock.settimeout(self.timeout_s)

    def interrupt(self) -> bytes:
        """Stop a running target (``\x03``, no packet framing) and return its stop reply."""
        self._sock.sendall(b"\x03")
        return self._recv_packet()

    def read_register(self, number: int) -> int:
        """One core register, 0-15 = r0-pc on Arm.

        Uses ``g`` (all registers; r0-r15 come first, 4 bytes each, little-endian):
        QEMU answers ``p`` only to a debugger that fetched its target description.
        """
        if not 0 <= number < 16:
            raise ValueError(f"register {number}: only r0-r15 are supported")
        regs = bytes.fromhex(self.request("g").decode())
        if len(regs) < 64:
            raise GdbError(f"g: {len(regs)} bytes of registers, want at least 64")
        return int.from_bytes(regs[4 * number : 4 * number + 4], "little")

    def read_memory(
        self, addr: int, length: int, chunk: int = CHUNK_BYTES, pipeline: int = PIPELINE
    ) -> bytes:
        """``m``: ``length`` bytes from ``addr``, in requests of at most ``chunk`` bytes.

        Up to ``pipeline`` requests are in flight at once (the stub answers them in order),
        which hides part of the round trip (about 2x faster than one at a time).
        """
        starts = list(range(addr, addr + length, chunk))
        out = bytearray()
        for i in range(0, len(starts), pipeline):
            batch = starts[i : i + pipeline]
            reqs = [f"m{a:x},{min(chunk, addr + length - a):x}".encode() for a in batch]
            self._sock.sendall(b"".join(b"$" + r + b"#" + _checksum(r) for r in reqs))
            for req in reqs:
                self._expect_ack(req)
                reply = self._recv_packet()
                if reply.startswith(b"E") and len(reply) == 3:
                    raise GdbError(f"{req.decode()}: stub error {reply.decode()}")
                data = bytes.fromhex(reply.decode())
                if len(data) != int(req.split(b",")[1], 16):
                    raise GdbError(f"{req.decode()}: {len(data)} bytes in the reply")
                out += data
        return bytes(out)

    def write_memory(
        self, addr: int, data: bytes, chunk: int = WRITE_CHUNK_BYTES, pipeline: int = PIPELINE
    ) -> None:
        """``M``: write ``data`` at ``addr``, in requests of at most ``chunk`` bytes, up to
        ``pipeline`` in flight at once (the stub answers them in order)."""
        starts = list(range(0, len(data), chunk))
        for i in range(0, len(starts), pipeline):
            reqs = [
                f"M{addr + s:x},{len(data[s : s + chunk]):x}:".encode()
                + data[s : s + chunk].hex().encode()
                for s in starts[i : i + pipeline]
            ]
            self._sock.sendall(b"".join(b"$" + r + b"#" + _checksum(r) for r in reqs))
            for req in reqs:
                self._expect_ack(req)
                reply = self._recv_packet()
                if reply != b"OK":
                    head = req.split(b":")[0].decode()
                    raise GdbError(f"{head}: stub answered {reply[:20]!r}")


def _unescape(data: bytes) -> bytes:
    """Undo RSP escaping (``}`` then byte XOR 0x20) and run-length encoding (``*``)."""
    if b"}" not in data and b"*" not in data:
        return data
    out = bytearray()
    i = 0
    while i < len(data):
        c = data[i]
        if c == 0x7D:
            out.append(data[i + 1] ^ 0x20)
            i += 2
        elif c == 0x2A and out:
            out += out[-1:] * (data[i + 1] - 29)
            i += 2
        else:
            out.append(c)
            i += 1
    return bytes(out)
