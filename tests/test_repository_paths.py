"""Tests, scripts, benchmarks, CI and the README reach nothing outside the repository:
a clone with nothing beside it collects and runs every test and every README example."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCANNED = ("tests", "scripts", "benchmarks", ".ci", "README.md")
TEXT_SUFFIXES = {".py", ".sh", ".md", ".toml", ".cfg", ".ini", ".txt", ".yml", ".yaml", ""}

# Places beside or above a clone: a shared folder next to it, another checkout, a home.
OUTSIDE = re.compile(
    r"\.\./+shared"
    r"|(?<![\w.-])shared/data\b"
    r"|(?<![\w.~$}-])/(?:work|home|root|mnt|srv|Users)/"
)
# Path(__file__).resolve().parents[N] / Path(__file__).parent.parent ...
PARENTS = re.compile(r"Path\(__file__\)(?:\.resolve\(\))?\.parents\[(\d+)\]")
PARENT_CHAIN = re.compile(r"Path\(__file__\)(?:\.resolve\(\))?((?:\.parent)+)")
DOTDOT_LITERAL = re.compile(r"""["']\.\.(?:/[^"']*)?["']""")
# cd "$(dirname "${BASH_SOURCE[0]}")/../.."
SCRIPT_UP = re.compile(r"""dirname "\$\{BASH_SOURCE\[0\]\}"\)((?:/\.\.)+)""")
# A data set named in a command or a test: it must be in the repository.
DATA_REF = re.compile(r"tests/data/([\w.-]+)")


def scanned_files() -> list[Path]:
    files: list[Path] = []
    for name in SCANNED:
        path = ROOT / name
        if path.is_file():
            files.append(path)
            continue
        for found in sorted(path.rglob("*")):
            if not found.is_file() or found.suffix not in TEXT_SUFFIXES:
                continue
            relative = found.relative_to(ROOT)
            if "__pycache__" in relative.parts or found == Path(__file__).resolve():
                continue  # (this file's examples of what the scan finds are on purpose)
            # The data sets themselves are texts of their genre; their READMEs are read.
            if relative.parts[:2] == ("tests", "data") and found.suffix != ".md":
                continue
            files.append(found)
    return files


def problems_in(path: Path, text: str) -> list[str]:
    """Every reference in one file's text that reaches outside the repository."""
    relative = path.relative_to(ROOT)
    depth = len(relative.parts) - 1  # folders between the repository root and the file
    found: list[str] = []
    for number, line in enumerate(text.splitlines(), start=1):
        where = f"{relative}:{number}"
        for match in OUTSIDE.finditer(line):
            found.append(f"{where}: {match.group(0)!r} is outside the repository")
        for match in PARENTS.finditer(line):
            if int(match.group(1)) > depth:  # parents[depth] is the root
                found.append(f"{where}: parents[{match.group(1)}] climbs above the root")
        for match in PARENT_CHAIN.finditer(line):
            # .parent is the file's own folder; each further one climbs a level.
            if match.group(1).count(".parent") - 1 > depth:
                found.append(f"{where}: {match.group(0)} climbs above the root")
        if path.suffix == ".py":
            for match in DOTDOT_LITERAL.finditer(line):
                found.append(f"{where}: {match.group(0)} walks out of the file's folder")
        for match in SCRIPT_UP.finditer(line):
            if match.group(1).count("..") > depth:
                found.append(f"{where}: {match.group(0)} climbs above the root")
        for match in DATA_REF.finditer(line):
            if not (ROOT / "tests" / "data" / match.group(1)).exists():
                found.append(f"{where}: tests/data/{match.group(1)} is not in the repository")
    return found


def test_nothing_reaches_outside_the_repository():
    files = scanned_files()
    assert any(p.name == "test_uscc.py" for p in files) and ROOT / "README.md" in files
    problems = [problem for path in files
                for problem in problems_in(path, path.read_text(encoding="utf-8"))]
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("line", [
    'TABLE = Path(__file__).resolve().parents[3] / "shared" / "data" / "uscc.tsv"',
    "TABLE = ROOT / '..' / 'shared' / 'uscc.tsv'",
    "    bounty match eval ../shared/data/csl-relbench",
    "    /work/venv/bin/python benchmarks/digest_bench.py",
    "    bounty match eval tests/data/no-such-set",
    'HERE = Path(__file__).parent.parent.parent.parent',
])
def test_the_scan_finds_a_reference_outside(line):
    assert problems_in(ROOT / "tests" / "accounts" / "test_example.py", line)


@pytest.mark.parametrize("line", [
    'TABLE = Path(__file__).resolve().parents[1] / "data" / "uscc.tsv"',
    "    bounty match eval tests/data/csl-relbench --baseline",
    'CHROMIUM = os.environ.get("BOUNTY_CHROMIUM", "/usr/bin/chromium")',
    "Document vectors are cached in `~/.cache/bounty/`",
])
def test_the_scan_leaves_references_inside_alone(line):
    assert not problems_in(ROOT / "tests" / "accounts" / "test_example.py", line)
