"""Check 7, ``elf_allowlist``: the production image links nothing that could inject
frames, read memory, write flash or talk semihosting. The check itself is the
firmware's (:func:`host_tools.elf_check.check_production_elf`: a symbol deny-list and a
search of the code for the semihosting trap); this adapts its result."""

from __future__ import annotations

from pathlib import Path

from .report import CheckResult, Findings, skipped


def check_elf_allowlist(elf: Path | None) -> CheckResult:
    """Run the firmware's production-ELF check on ``elf``; skipped without one."""
    if elf is None:
        return skipped("elf_allowlist", "no production ELF given (--production-elf)")
    try:
        from ..elf_check import check_production_elf
    except ImportError as e:
        return skipped("elf_allowlist", f"host_tools.elf_check is not available ({e})")
    f = Findings()
    elf = Path(elf)
    if not elf.is_file():
        f.add(f"{elf}: no such file")
        return f.result("elf_allowlist", False, f"{elf}: cannot be checked")
    try:
        result = check_production_elf(elf)
    except (OSError, ValueError) as e:  # binutils missing, unreadable ELF
        f.add(f"{elf}: could not be checked: {e}")
        return f.result("elf_allowlist", False, f"{elf.name}: cannot be checked")
    for error in result.errors:
        f.add(f"{elf.name}: {error}")
    for finding in result.findings:
        f.add(f"{elf.name}: {finding.category}: {finding.what} (matches {finding.pattern!r})")
    detail = (
        f"{elf.name}: {len(result.symbols)} symbols checked against the deny-list "
        f"(injection, debug-read, flash-write, semihosting-write, leak) and the code "
        f"for the semihosting trap"
    )
    return f.result("elf_allowlist", result.passed and not f, detail)
