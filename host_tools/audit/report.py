"""Results of the privacy audit: one :class:`CheckResult` per check, gathered in an
:class:`AuditReport` that prints a human summary and serialises to JSON (JUnit XML is in
:mod:`host_tools.junit`)."""

from __future__ import annotations

from dataclasses import dataclass, field

MAX_FINDINGS = 20

PASS, FAIL, SKIP = "PASS", "FAIL", "SKIP"


@dataclass
class CheckResult:
    """Outcome of one check.

    ``findings`` holds at most MAX_FINDINGS lines, each naming where the problem is (a
    capture byte offset, a frame, a RAM address); ``findings_total`` counts all of them.
    A ``skipped`` check could not run (no RAM access, no production ELF...): it neither
    passes nor fails, and ``detail`` says why.
    """

    name: str
    passed: bool
    detail: str
    findings: list[str] = field(default_factory=list)
    findings_total: int = 0
    skipped: bool = False
    seconds: float = 0.0

    @property
    def status(self) -> str:
        return SKIP if self.skipped else PASS if self.passed else FAIL

    def to_json(self) -> dict:
        return {
            "name": self.name,
            "status": self.status,
            "passed": self.passed,
            "skipped": self.skipped,
            "detail": self.detail,
            "findings": list(self.findings),
            "findings_total": max(self.findings_total, len(self.findings)),
            "seconds": round(self.seconds, 4),
        }


def skipped(name: str, why: str) -> CheckResult:
    """A check that could not run; ``why`` says what was missing."""
    return CheckResult(name, True, why, skipped=True)


@dataclass
class AuditReport:
    """Every check's result. ``passed`` is True when no check failed (skipped checks do
    not fail the audit, but :attr:`complete` is False and the summary lists them).
    ``meta`` holds run information (target, manifest, throughput...) for the JSON."""

    passed: bool
    checks: list[CheckResult]
    capture_bytes: int = 0
    frames: int = 0
    window: int = 8
    meta: dict = field(default_factory=dict)
    # What leaked, once a check has failed (never part of the verdict).
    diagnostics: list[CheckResult] = field(default_factory=list)
    # Run A's bytes per UART, where a device audit has them (not in the JSON: the report
    # names no frame and carries no frame data).
    outputs: list[bytes] = field(default_factory=list, repr=False)

    @classmethod
    def of(cls, checks: list[CheckResult], **kwargs) -> AuditReport:
        return cls(passed=all(c.passed or c.skipped for c in checks), checks=checks, **kwargs)

    @property
    def complete(self) -> bool:
        return not any(c.skipped for c in self.checks)

    @property
    def failed(self) -> list[str]:
        return [c.name for c in self.checks if c.status == FAIL]

    def check(self, name: str) -> CheckResult:
        for c in self.checks:
            if c.name == name:
                return c
        raise KeyError(name)

    def to_json(self) -> dict:
        return {
            "passed": self.passed,
            "complete": self.complete,
            "failed": self.failed,
            "capture_bytes": self.capture_bytes,
            "frames": self.frames,
            "window": self.window,
            "checks": [c.to_json() for c in self.checks],
            **({"statement": self.meta["statement"]} if self.meta.get("statement") else {}),
            **(
                {"diagnostics": [d.to_json() for d in self.diagnostics]} if self.diagnostics else {}
            ),
            **({"meta": self.meta} if self.meta else {}),
        }

    def summary(self, findings: bool = False) -> str:
        """One line per check, PASS/FAIL/SKIP; with ``findings=True`` the findings of
        failed checks follow their line, indented."""
        verdict = "PASS" if self.passed else "FAIL"
        ran = [c for c in self.checks if not c.skipped]
        failed = sum(not c.passed for c in ran)
        head = (
            f"privacy audit {verdict}: {len(ran) - failed}/{len(ran)} checks passed "
            f"({self.capture_bytes} capture bytes, {self.frames} frames)"
        )
        n_skip = len(self.checks) - len(ran)
        if n_skip:
            head += f"; {n_skip} skipped, so the audit is incomplete"
        lines = [head]
        if self.meta.get("statement"):
            lines.append(self.meta["statement"])
        for c in self.checks:
            lines.append(f"{c.status} {c.name}: {c.detail}")
            if findings and c.status == FAIL:
                lines.extend(f"    {f}" for f in c.findings)
                more = c.findings_total - len(c.findings)
                if more > 0:
                    lines.append(f"    ... and {more} more")
        found = [d for d in self.diagnostics if d.status == FAIL]
        if findings and found:
            lines.append("what leaked (diagnostics):")
            for d in found:
                lines.append(f"  {d.name}: {d.detail}")
                lines.extend(f"    {f}" for f in d.findings[:6])
        for key in ("report_json", "report_junit"):
            if self.meta.get(key):
                lines.append(f"full report: {self.meta[key]}")
        return "\n".join(lines)


def audit_cli_exit_code(report: AuditReport, strict: bool = False) -> int:
    """0 when no check failed, 1 when one did; with ``strict`` a skipped check gives 3."""
    if not report.passed:
        return 1
    if strict and not report.complete:
        return 3
    return 0


class Findings:
    """Collects finding lines, keeping the first ``limit`` and counting all."""

    def __init__(self, limit: int = MAX_FINDINGS) -> None:
        self.limit = limit
        self.items: list[str] = []
        self.total = 0

    def add(self, message: str) -> None:
        self.total += 1
        if len(self.items) < self.limit:
            self.items.append(message)

    def __bool__(self) -> bool:
        return self.total > 0

    def result(self, name: str, passed: bool, detail: str) -> CheckResult:
        if self.total > len(self.items):
            detail += f" [{self.total} findings, first {len(self.items)} listed]"
        return CheckResult(name, passed, detail, list(self.items), self.total)
