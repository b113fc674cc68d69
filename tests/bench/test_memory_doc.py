"""The memory figures in the docs come from the measured section of docs/BENCHMARKS.md (``python -m benchmarks --only memory``).

A validator, not a measurement: it reads the generated "Resident memory of each
role" table and checks that it covers every role idle and under load, with and
without the web page, and that the pages citing it quote its figures.
"""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DOCS = REPO / "docs"
ROLES = ("ingest", "classifier", "aggregator")


def memory_table() -> dict[tuple[str, str], dict[str, float]]:
    page = (DOCS / "BENCHMARKS.md").read_text()
    match = re.search(r"<!-- section:memory -->\n(.*?)<!-- /section:memory -->", page, re.S)
    assert match, "docs/BENCHMARKS.md has no generated memory section: run `python -m benchmarks --only memory`"
    section = match.group(1)
    assert "## Resident memory of each role" in section
    rows = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip("|").split("|")]
        if len(cells) == 7 and cells[0] in ROLES:
            rows[(cells[0], cells[1])] = {"idle": float(cells[2]), "peak": float(cells[3])}
    return rows


def cited_mib(text: str, pattern: str) -> float:
    match = re.search(pattern, text)
    assert match, f"no figure matching {pattern!r}"
    return float(match.group(1))


def close(quoted: float, measured: float) -> bool:
    return abs(quoted - measured) <= 0.1 * measured + 5


def test_the_section_covers_every_role_idle_and_under_load_with_and_without_the_web_page() -> None:
    rows = memory_table()
    assert set(rows) == {(role, web) for role in ROLES for web in ("off", "on")}, sorted(rows)
    for key, row in rows.items():
        assert 0 < row["idle"] <= row["peak"], f"{key}: idle {row['idle']} MiB above the peak {row['peak']} MiB"


def test_deploy_and_classifier_pages_quote_the_measured_peaks() -> None:
    rows = memory_table()
    deploy = (DOCS / "deploy.md").read_text()
    for role, label in (("ingest", r"\| ingest \|"), ("classifier", r"\| classifier, CPU \|"), ("aggregator", r"\| aggregator \|")):
        quoted = cited_mib(deploy, label + r"[^\n]*\| ~(\d+) MiB")
        assert close(quoted, rows[(role, "off")]["peak"]), f"deploy.md gives {role} ~{quoted} MiB, measured {rows[(role, 'off')]['peak']}"
    web = cited_mib(deploy, r"\| aggregator \|[^\n]*~(\d+) MiB with the web page")
    assert close(web, rows[("aggregator", "on")]["peak"]), f"deploy.md: aggregator with the web page ~{web} MiB"
    classifier = cited_mib((DOCS / "classifier.md").read_text(), r"CPU classifier process at about (\d+) MiB")
    assert close(classifier, rows[("classifier", "off")]["peak"]), f"classifier.md: {classifier} MiB"


def test_the_readme_quotes_the_measured_peaks() -> None:
    rows = memory_table()
    readme = (REPO / "README.md").read_text()
    for role in ROLES:
        quoted = cited_mib(readme, rf"(\d+) MiB per {role}")
        assert close(quoted, rows[(role, "off")]["peak"]), f"README gives {quoted} MiB per {role}, measured {rows[(role, 'off')]['peak']}"
