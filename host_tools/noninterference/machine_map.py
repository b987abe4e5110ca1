"""What an emulated board has that a leak could use, asked of QEMU itself: every RAM
block (writable memory, the sensor window, the "flash" that accepts writes) and every
serial port, with the address where the CPU sees it.

Nothing here is a hand-written list per board, so a region added by a new QEMU machine
(or one forgotten by a human, such as mps2's 16 KiB block RAM at 0x01000000) is
covered the day it exists:

1. ``info ramblock`` names every block of guest RAM/ROM QEMU allocated for the machine;
2. ``info mtree -f -o`` gives the CPU's flat view of its address space: a block that
   appears there directly is read where the CPU sees it;
3. a TrustZone memory protection controller (``tz-mpc-upstream``, mps3-an547) is
   followed through its QOM ``downstream`` link to the block behind it, and a TrustZone
   peripheral protection controller (``tz-ppc-port[N]``) through ``port[N]`` to the
   device behind it (so an547's UARTs are found);
4. a block the CPU cannot see is read through the system bus view if it is there, and
   otherwise reported as unreachable.

Aliases (the same block at several addresses) are read once.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_ENTRY = re.compile(
    r"^\s*(?P<start>[0-9a-f]+)-(?P<end>[0-9a-f]+) \(prio -?\d+, (?P<type>[^)]+)\): "
    r"(?P<name>.*?)(?: @(?P<offset>[0-9a-f]{16}))?"
    r"(?: (?:owner|parent):\{(?:dev|obj) path=(?P<owner>[^}]*)\})?\s*$"
)
_BLOCK = re.compile(
    r"^\s*(?P<name>.+?)\s+\d+ [KMG]iB\s+0x(?P<offset>[0-9a-f]+)\s+0x(?P<used>[0-9a-f]+)\s+"
    r"0x(?P<total>[0-9a-f]+)\s*$"
)
UART_TYPES = ("cmsdk-apb-uart", "pl011", "pl011_luminary")
#: Stub registers of UART types, relative to the base: the data register (writes send).
UART_DATA_OFFSET = {"cmsdk-apb-uart": 0x00, "pl011": 0x00, "pl011_luminary": 0x00}


@dataclass(frozen=True)
class FlatEntry:
    """One line of ``info mtree -f``: [start, end] of type ``type`` (ram, rom, i/o...)."""

    start: int
    end: int
    type: str
    name: str
    offset: int = 0
    owner: str | None = None

    @property
    def size(self) -> int:
        return self.end - self.start + 1


@dataclass(frozen=True)
class Region:
    """One RAM block of the board and how the audit reads it.

    ``via``: ``"cpu"`` (QMP ``memsave`` through the CPU's view, at ``addr``),
    ``"system"`` (``pmemsave`` through the system bus), ``"backend"`` (the machine's main
    RAM, a file the audit maps) or ``"none"`` (unreachable: not read)."""

    name: str
    addr: int
    size: int
    kind: str  # "ram" or "rom"
    via: str
    offset: int = 0  # offset of addr inside the block

    def describe(self) -> str:
        where = f"0x{self.addr:08x}..0x{self.addr + self.size - 1:08x}"
        return f"{self.name} ({self.kind}, {self.size} bytes at {where}, read via {self.via})"


@dataclass
class Uart:
    """A serial port: its QOM device, the chardev QEMU connected to it (``serial0``...;
    None if none), and every address of its data register the CPU can write (an547
    maps each UART twice, secure and non-secure)."""

    device: str
    chardev: str | None
    data_addrs: list[int] = field(default_factory=list)


@dataclass
class MachineMap:
    regions: list[Region] = field(default_factory=list)
    uarts: list[Uart] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def uart_of(self, addr: int) -> int:
        """Index in :attr:`uarts` of the UART whose data register is at ``addr``."""
        for i, u in enumerate(self.uarts):
            if addr in u.data_addrs:
                return i
        raise KeyError(f"no UART data register at {addr:#x}")


def parse_flatviews(text: str) -> list[tuple[list[str], list[FlatEntry]]]:
    """``info mtree -f [-o]`` text -> [(address spaces sharing it, entries)] per flat view
    (several address spaces may have the same name, e.g. every MPC's downstream)."""
    views: list[tuple[list[str], list[FlatEntry]]] = []
    names: list[str] = []
    entries: list[FlatEntry] = []
    for line in text.splitlines():
        if line.startswith("FlatView #"):
            if names:
                views.append((names, entries))
            names, entries = [], []
            continue
        m = re.match(r'^\s*AS "([^"]+)"', line)
        if m:
            names.append(m.group(1))
            continue
        m = _ENTRY.match(line)
        if m:
            entries.append(
                FlatEntry(
                    int(m["start"], 16),
                    int(m["end"], 16),
                    m["type"].strip(),
                    m["name"],
                    int(m["offset"], 16) if m["offset"] else 0,
                    m["owner"],
                )
            )
    if names:
        views.append((names, entries))
    return views


def view_of(views: list[tuple[list[str], list[FlatEntry]]], name: str) -> list[FlatEntry] | None:
    """The flat view of the first address space called ``name``."""
    return next((entries for names, entries in views if name in names), None)


def parse_ramblocks(text: str) -> dict[str, int]:
    """``info ramblock`` text -> {block name: bytes used}."""
    out = {}
    for line in text.splitlines():
        m = _BLOCK.match(line)
        if m and m["name"] != "Block Name":
            out[m["name"].strip()] = int(m["used"], 16)
    return out


def _block_of_path(path: str) -> str:
    """QOM path of a memory region -> the block name (``/machine/unattached/sram[0]``
    -> ``sram``; ``/objects/DDR/DDR[0]`` -> ``DDR``)."""
    return re.sub(r"\[\d+\]$", "", path.rstrip("/").rsplit("/", 1)[-1])


def _device_of_path(path: str) -> str:
    """QOM path of a device's memory region (``/machine/uart0/uart[0]``) -> the device."""
    return path.rsplit("/", 1)[0] if re.search(r"\[\d+\]$", path) else path


class _Qom:
    def __init__(self, qmp) -> None:
        self.qmp = qmp
        self.cache: dict[tuple[str, str], str | None] = {}

    def get(self, path: str, prop: str) -> str | None:
        key = (path, prop)
        if key not in self.cache:
            try:
                value = self.qmp.execute("qom-get", path=path, property=prop)
                self.cache[key] = value if isinstance(value, str) else None
            except Exception:  # noqa: BLE001 (no such property: not this kind of device)
                self.cache[key] = None
        return self.cache[key]


def build_map(qmp, main_ram: str | None = None, cpu_as: str = "cpu-memory-0") -> MachineMap:
    """The machine's regions and UARTs, from a QEMU started (halted) for the audit.

    ``main_ram``: the block name of the machine's main RAM when it is backed by a file
    the caller maps itself (``-machine memory-backend=ID``); it is read ``via="backend"``.
    """
    blocks = parse_ramblocks(qmp.hmp("info ramblock"))
    views = parse_flatviews(qmp.hmp("info mtree -f -o"))
    cpu_view = view_of(views, cpu_as)
    if cpu_view is None:
        raise RuntimeError(f"QEMU shows no address space {cpu_as!r}")
    qom = _Qom(qmp)
    out = MachineMap()
    covered: dict[str, list[tuple[int, int]]] = {}
    uarts: dict[str, Uart] = {}

    def add(block: str, addr: int, size: int, offset: int, kind: str, via: str) -> None:
        spans = covered.setdefault(block, [])
        if any(o <= offset and offset + size <= o + n for o, n in spans):
            return  # an alias of what is read already
        spans.append((offset, size))
        out.regions.append(Region(block, addr, size, kind, via, offset))

    for e in cpu_view:
        kind = e.type.split(",")[0].strip()
        if e.name in blocks and kind in ("ram", "rom", "ramd", "romd"):
            add(
                e.name, e.start, e.size, e.offset, "rom" if kind.startswith("rom") else "ram", "cpu"
            )
            continue
        if kind != "i/o" or not e.owner:
            continue
        if e.name == "tz-mpc-upstream":
            target = qom.get(e.owner, "downstream")
            block = _block_of_path(target) if target else None
            if block in blocks:
                add(block, e.start, e.size, e.offset, _kind_behind(views, block), "cpu")
            continue
        device = e.owner
        m = re.fullmatch(r"tz-ppc-port\[(\d+)\]", e.name)
        if m:
            target = qom.get(e.owner, f"port[{m.group(1)}]")
            device = _device_of_path(target) if target else None
        dtype = qom.get(device, "type") if device else None
        if dtype in UART_TYPES and e.offset == 0:
            uart = uarts.get(device)
            if uart is None:
                uart = uarts[device] = Uart(device, qom.get(device, "chardev"))
            uart.data_addrs.append(e.start + UART_DATA_OFFSET[dtype])

    system = view_of(views, "memory") or []
    for name, size in blocks.items():
        if name == main_ram:
            continue
        have = sum(n for _, n in covered.get(name, []))
        if have >= size:
            continue
        hit = [e for e in system if e.name == name and e.type.split(",")[0] in ("ram", "rom")]
        if hit:
            for e in hit:
                add(
                    name,
                    e.start,
                    e.size,
                    e.offset,
                    "rom" if e.type.startswith("rom") else "ram",
                    "system",
                )
        else:
            out.notes.append(
                f"RAM block {name} ({size} bytes) is mapped nowhere the CPU or the system bus "
                f"can reach; not read"
            )
    if main_ram is not None:
        if main_ram not in blocks:
            raise RuntimeError(
                f"main RAM block {main_ram!r} not in info ramblock: {sorted(blocks)}"
            )
        addrs = [r for r in out.regions if r.name == main_ram]
        for r in addrs:
            out.regions.remove(r)
        addr = addrs[0].addr if addrs else _main_ram_addr(cpu_view, main_ram, qom)
        out.regions.append(Region(main_ram, addr, blocks[main_ram], "ram", "backend"))
    out.regions.sort(key=lambda r: r.addr)
    out.uarts = sorted(uarts.values(), key=lambda u: min(u.data_addrs))
    return out


def _kind_behind(views: list[tuple[list[str], list[FlatEntry]]], block: str) -> str:
    for _, entries in views:
        for e in entries:
            if e.name == block:
                return "rom" if e.type.startswith("rom") else "ram"
    return "ram"


def _main_ram_addr(entries: list[FlatEntry], block: str, qom: _Qom) -> int:
    for e in entries:
        if e.name == "tz-mpc-upstream" and e.owner:
            target = qom.get(e.owner, "downstream")
            if target and _block_of_path(target) == block:
                return e.start
    return -1
