"""Production ELF check: no way to inject frames, read memory, write flash or talk
semihosting may be linked into a production image.

Two independent looks at the ELF:

* its symbol table (``arm-none-eabi-nm``), matched against a deny-list of name patterns
  per category;
* its code (``arm-none-eabi-objdump -d``), searched for the semihosting trap
  ``bkpt 0xab`` (Thumb), which no production code path may contain.

A production image must also have a symbol table (a stripped ELF cannot be checked) and a
``main``. CI runs this through tests/test_boards.py on every board; by hand:

    python -m host_tools.elf_check build/an386-production/peekless.elf
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

#: category -> regular expressions (case-insensitive, searched in each symbol name).
#: "peekless" itself must not match the debug-read pattern, hence the look-ahead.
DENY_PATTERNS: dict[str, tuple[str, ...]] = {
    "injection": (r"bank", r"(^|_)hil(_|$)", r"inject", r"(^|_)cmd(_|$)", r"command"),
    "debug-read": (r"gdb", r"memdump", r"peek(?!less)", r"(^|_)dump(_|$)"),
    "flash-write": (r"flash_write", r"flash_erase", r"flash_program", r"nvm"),
    "semihosting-write": (
        r"semihost",
        r"sys_write",
        r"^_?_write(_r)?$",
        r"^_sbrk",
        r"^_open(_r)?$",
        r"initialise_monitor_handles",
    ),
    "leak": (r"leak",),
}
# Thumb BKPT 0xAB: the Arm semihosting call (objdump prints it as "bkpt 0x00ab").
_SEMIHOST_TRAP = re.compile(r"\bbkpt\s+(0x00ab|0xab|171)\b", re.IGNORECASE)


@dataclass
class Finding:
    category: str
    what: str  # the symbol name, or the disassembly line
    pattern: str


@dataclass
class ElfCheckResult:
    elf: Path
    symbols: list[str]
    findings: list[Finding] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # could not check at all

    @property
    def passed(self) -> bool:
        return not self.findings and not self.errors

    def summary(self) -> str:
        lines = [f"{self.elf}: {'PASS' if self.passed else 'FAIL'} ({len(self.symbols)} symbols)"]
        lines += [f"  error: {e}" for e in self.errors]
        lines += [f"  {f.category}: {f.what} (matches {f.pattern!r})" for f in self.findings]
        return "\n".join(lines)


def list_symbols(elf: Path, nm: str = "arm-none-eabi-nm") -> list[str]:
    """Every symbol name in the ELF's symbol table (local ones included)."""
    out = subprocess.run([nm, str(elf)], capture_output=True, text=True, check=True).stdout
    return [line.split()[-1] for line in out.splitlines() if line.strip()]


def check_production_elf(
    elf: Path, nm: str = "arm-none-eabi-nm", objdump: str | None = "arm-none-eabi-objdump"
) -> ElfCheckResult:
    """Check a production image; ``result.passed`` is False if anything denied is linked.

    ``objdump``: also disassemble and look for the semihosting trap (None skips it, e.g.
    for the host build, which is not Arm code).
    """
    elf = Path(elf)
    symbols = list_symbols(elf, nm)
    result = ElfCheckResult(elf, symbols)
    if not symbols:
        result.errors.append("no symbol table (stripped?): cannot be checked")
    elif "main" not in symbols:
        result.errors.append("no `main` symbol: not a Peekless image?")
    for name in symbols:
        for category, patterns in DENY_PATTERNS.items():
            for pattern in patterns:
                if re.search(pattern, name, re.IGNORECASE):
                    result.findings.append(Finding(category, name, pattern))
    if objdump is not None:
        text = subprocess.run(
            [objdump, "-d", str(elf)], capture_output=True, text=True, check=True
        ).stdout
        for line in text.splitlines():
            if _SEMIHOST_TRAP.search(line):
                result.findings.append(
                    Finding("semihosting-write", line.strip(), _SEMIHOST_TRAP.pattern)
                )
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("elf", nargs="+", type=Path)
    parser.add_argument("--nm", default="arm-none-eabi-nm")
    parser.add_argument("--objdump", default="arm-none-eabi-objdump")
    args = parser.parse_args(argv)
    ok = True
    for elf in args.elf:
        result = check_production_elf(elf, args.nm, args.objdump)
        print(result.summary())
        ok = ok and result.passed
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
