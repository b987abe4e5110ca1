"""The debugger link of the noninterference audit: GDB remote protocol to QEMU's gdbstub
(or any gdbserver: pyOCD, OpenOCD), :class:`host_tools.gdb_rsp.GdbClient` (breakpoints,
memory reads and writes) plus what only the audit needs: no-ack mode, requests sent in
one batch, write watchpoints (``Z2``) and every register the target describes
(``qXfer:features:read`` + ``p``).

A stop on a breakpoint or watchpoint leaves the core *before* the instruction that hit
it (QEMU stops before the access on Arm). :meth:`DebugLink.continue_from` steps over it with
the breakpoints and watchpoints out, puts them back and continues, in one batch of
packets, as GDB itself does.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..gdb_rsp import GdbClient, GdbError, _checksum, _unescape

_REG = re.compile(rb'<reg\s[^>]*name="([^"]+)"[^>]*>')
_REGNUM = re.compile(rb'regnum="(\d+)"')
_BITSIZE = re.compile(rb'bitsize="(\d+)"')
_INCLUDE = re.compile(rb'<xi:include href="([^"]+)"')


@dataclass(frozen=True)
class Stop:
    """Why the target stopped: ``kind`` is ``"break"`` (a breakpoint or a step),
    ``"watch"`` (a write watchpoint at ``addr``), ``"exit"`` (``code``) or ``"other"``."""

    kind: str
    addr: int | None = None
    code: int | None = None
    raw: bytes = b""


def parse_stop(reply: bytes) -> Stop:
    """A stop reply packet (``T05watch:40004000;thread:01;``, ``W00``, ``X0b``...)."""
    if reply[:1] == b"W":
        return Stop("exit", code=int(reply[1:3] or b"0", 16), raw=reply)
    if reply[:1] == b"X":
        return Stop("exit", code=128 + int(reply[1:3] or b"0", 16), raw=reply)
    if reply[:1] in (b"T", b"S"):
        m = re.search(rb"(?:^|;|T..)(?:watch|awatch|rwatch):([0-9a-fA-F]+);", reply)
        if m:
            return Stop("watch", addr=int(m.group(1), 16), raw=reply)
        return Stop("break", raw=reply)
    return Stop("other", raw=reply)


class DebugLink(GdbClient):
    """A GDB remote link in no-ack mode with batched requests.

    ``registers()`` reads every register of the target description, so a checkpoint
    compares r0-r15, xPSR, the FPU's d0-d15 and FPSCR (and whatever else the stub
    describes) between runs.
    """

    def __init__(self, sock, timeout_s: float) -> None:
        super().__init__(sock, timeout_s)
        self._no_ack = False
        self._watch: dict[int, int] = {}  # address -> length
        self._regs: list[tuple[str, int, int]] | None = None  # (name, number, bytes)
        if self.request("QStartNoAckMode") == b"OK":
            self._no_ack = True

    # ---- packet layer without acks ------------------------------------------------------

    def _expect_ack(self, data: bytes) -> None:
        if not self._no_ack:
            super()._expect_ack(data)

    def _recv_packet(self) -> bytes:
        if not self._no_ack:
            return super()._recv_packet()
        while True:
            start = self._buf.find(b"$")
            if start >= 0:
                end = self._buf.find(b"#", start)
                if end >= 0 and len(self._buf) >= end + 3:
                    data = self._buf[start + 1 : end]
                    self._buf = self._buf[end + 3 :]
                    return _unescape(data)
            self._recv_some()

    def batch(self, commands: list[bytes | str]) -> list[bytes]:
        """Send every command at once, then read one reply each (in order)."""
        packets = [c.encode() if isinstance(c, str) else c for c in commands]
        if not self._no_ack:
            return [self.request(p) for p in packets]
        self._sock.sendall(b"".join(b"$" + p + b"#" + _checksum(p) for p in packets))
        return [self._recv_packet() for _ in packets]

    # ---- run control --------------------------------------------------------------------

    def send_continue(self) -> None:
        """Resume, without waiting: :meth:`next_stop` reads the stop reply."""
        self._sock.sendall(b"$c#" + _checksum(b"c"))

    def next_stop(self) -> Stop:
        return parse_stop(self._recv_packet())

    def continue_from(self, over: Stop | None, pc: int | None = None) -> None:
        """Continue from a stop on one of our breakpoints or watchpoints: take out the one
        that stopped the core (the breakpoint at ``pc``, read if not given; the watchpoint
        at the stop's address), step one instruction, put it back, continue; all in one
        batch. The stop reply of the continue is left for :meth:`next_stop`."""
        if over is None or over.kind not in ("break", "watch"):
            self.send_continue()
            return
        if over.kind == "watch":
            length = self._watch.get(over.addr)
            if length is None:
                self.send_continue()
                return
            out, back = f"z2,{over.addr:x},{length:x}", f"Z2,{over.addr:x},{length:x}"
        else:
            pc = self.read_register(15) if pc is None else pc
            if pc not in self._breakpoints:
                self.send_continue()
                return
            out, back = f"z0,{pc:x},2", f"Z0,{pc:x},2"
        replies = self.batch([out, "s", back])
        step = parse_stop(replies[1])
        if replies[0] != b"OK" or replies[2] != b"OK":
            raise GdbError(f"stepping over a stop: {replies[0]!r} {replies[2]!r}")
        if step.kind == "exit":
            raise GdbError(f"target exited while stepping: {step.raw!r}")
        self.send_continue()

    def set_watchpoint(self, addr: int, length: int = 4) -> None:
        """``Z2``: stop before any write to ``[addr, addr + length)``."""
        reply = self.request(f"Z2,{addr:x},{length:x}")
        if reply != b"OK":
            raise GdbError(f"Z2 at {addr:#x}: {reply!r} (no write watchpoints in this stub)")
        self._watch[addr] = length

    def clear_watchpoints(self) -> None:
        for addr, length in list(self._watch.items()):
            self.request(f"z2,{addr:x},{length:x}")
        self._watch.clear()

    # ---- memory and registers -----------------------------------------------------------

    def register_layout(self) -> list[tuple[str, int, int]]:
        """(name, number, bytes) of every register in the target description."""
        if self._regs is None:
            self._regs = []
            self._read_features("target.xml", set())
        return self._regs

    def _read_features(self, name: str, seen: set[str]) -> None:
        if name in seen:
            return
        seen.add(name)
        text = b""
        while True:
            reply = self.request(f"qXfer:features:read:{name}:{len(text):x},800")
            text += reply[1:]
            if reply[:1] != b"m":
                break
        for m in _REG.finditer(text):
            tag = m.group(0)
            num = _REGNUM.search(tag)
            number = int(num.group(1)) if num else (self._regs[-1][1] + 1 if self._regs else 0)
            bits = _BITSIZE.search(tag)
            self._regs.append((m.group(1).decode(), number, int(bits.group(1)) // 8 if bits else 4))
        for inc in _INCLUDE.findall(text):
            self._read_features(inc.decode(), seen)

    def registers(self) -> dict[str, bytes]:
        """Every described register's raw bytes (target byte order)."""
        layout = self.register_layout()
        replies = self.batch([f"p{num:x}" for _, num, _ in layout])
        out = {}
        for (name, _, _), reply in zip(layout, replies, strict=True):
            if re.fullmatch(rb"E[0-9a-fA-F]{2}", reply) or not reply:
                continue  # described but not readable in this state
            out[name] = bytes.fromhex(reply.decode())
        return out
