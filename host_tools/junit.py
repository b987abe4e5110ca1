"""JUnit XML for an audit report: one test case per check, so CI systems show each
check's pass, failure (with its findings) or skip."""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from pathlib import Path

from .audit.report import FAIL, SKIP, AuditReport


def junit_xml(report: AuditReport, suite: str = "peekless.privacy_audit") -> str:
    """The report as a JUnit XML document (a ``testsuites`` root with one suite)."""
    checks = report.checks
    failures = sum(c.status == FAIL for c in checks)
    skips = sum(c.status == SKIP for c in checks)
    total_s = sum(c.seconds for c in checks)
    root = ET.Element(
        "testsuites",
        name="peekless",
        tests=str(len(checks)),
        failures=str(failures),
        errors="0",
        skipped=str(skips),
        time=f"{total_s:.3f}",
    )
    ts = ET.SubElement(
        root,
        "testsuite",
        name=suite,
        tests=str(len(checks)),
        failures=str(failures),
        errors="0",
        skipped=str(skips),
        time=f"{total_s:.3f}",
    )
    props = ET.SubElement(ts, "properties")
    for key in ("capture_bytes", "frames", "window"):
        ET.SubElement(props, "property", name=key, value=str(getattr(report, key)))
    for key, value in sorted(report.meta.items()):
        if isinstance(value, (str, int, float, bool)):
            ET.SubElement(props, "property", name=key, value=str(value))
    for c in checks:
        case = ET.SubElement(ts, "testcase", classname=suite, name=c.name, time=f"{c.seconds:.3f}")
        if c.status == FAIL:
            fail = ET.SubElement(case, "failure", message=c.detail, type="PrivacyLeak")
            lines = list(c.findings)
            more = c.findings_total - len(c.findings)
            if more > 0:
                lines.append(f"... and {more} more")
            fail.text = "\n".join(lines)
        elif c.status == SKIP:
            ET.SubElement(case, "skipped", message=c.detail)
        else:
            ET.SubElement(case, "system-out").text = c.detail
    ET.indent(root)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="unicode")


def write_junit(
    report: AuditReport, path: str | os.PathLike[str], suite: str = "peekless.privacy_audit"
) -> Path:
    """Write :func:`junit_xml` to ``path``; returns the path."""
    path = Path(path)
    path.write_text(junit_xml(report, suite) + "\n")
    return path
