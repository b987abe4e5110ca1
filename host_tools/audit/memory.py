"""RAM read back from a device at a checkpoint (after a frame's wipe), over the GDB
remote protocol (:mod:`host_tools.checkpoints`): the real-board audit compares the
snapshots of runs A and B (:mod:`host_tools.noninterference.sequential`)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class RamRegion:
    name: str
    addr: int
    data: bytes


@dataclass
class RamSnapshot:
    """RAM read back at ``pk_hil_checkpoint(seq)``, when frame ``seq`` has been wiped."""

    seq: int
    regions: list[RamRegion] = field(default_factory=list)
    cycles: int | None = None  # the board's cycle counter here, where the rig names one

    @property
    def nbytes(self) -> int:
        return sum(len(r.data) for r in self.regions)
