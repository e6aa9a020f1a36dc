"""The admin's documents, run as an admin would: docs/tutorial.md from top to bottom (every file
it has you write, every command it has you type, every output it shows, word for word), and the
README's example plan against the demo billing service.

The commands run the installed `ivr` in a fresh folder holding a copy of the project's
config.yaml (the demo billing service on), as a terminal in the project folder would.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
TUTORIAL = ROOT / "docs" / "tutorial.md"
README = ROOT / "README.md"
BIN = Path(sys.executable).parent

_FILE = re.compile(r"<!-- file: (?P<path>\S+) -->\n```[a-z]*\n(?P<body>.*?)\n```\n", re.S)
_CONSOLE = re.compile(r"```console\n(?P<body>.*?)\n```\n", re.S)
_CALL_SID = re.compile(r"CA(?:[0-9a-f]{32}|…)")
_MILLISECONDS = re.compile(r"\(\d+ ms\)")


@dataclass
class Step:
    kind: str  # "file" or "command"
    text: str  # the file's path, or the command
    body: list[str] = field(default_factory=list)  # the file's lines, or the output shown


def steps(markdown: str) -> list[Step]:
    """The page's files and commands, in the order a reader meets them."""
    found: list[tuple[int, Step]] = []
    for match in _FILE.finditer(markdown):
        found.append((match.start(), Step("file", match["path"], [match["body"]])))
    for match in _CONSOLE.finditer(markdown):
        offset = match.start()
        for line in match["body"].splitlines():
            if line.startswith("$ "):
                found.append((offset, Step("command", line[2:])))
                offset += 1  # keep the block's commands in order
            else:
                found[-1][1].body.append(line)
    return [step for _, step in sorted(found, key=lambda item: item[0])]


def normal(text: str) -> str:
    """What may differ between runs: a call's id and how many milliseconds a test took."""
    return _MILLISECONDS.sub("(N ms)", _CALL_SID.sub("CA…", text))


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A folder like the project's: its config.yaml (demo billing on), nothing else."""
    shutil.copy(ROOT / "config.yaml", tmp_path / "config.yaml")
    return tmp_path


def run(command: str, cwd: Path) -> str:
    env = {
        "PATH": f"{BIN}{os.pathsep}/usr/bin:/bin",
        "HOME": str(cwd),
        "LANG": "C.UTF-8",
        "PYTHONIOENCODING": "utf-8",
    }
    done = subprocess.run(
        ["bash", "-c", command],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=120,
    )
    return done.stdout


def test_the_tutorial_does_what_it_says_word_for_word(project: Path) -> None:
    page = steps(TUTORIAL.read_text(encoding="utf-8"))
    commands = [s for s in page if s.kind == "command"]
    assert len(commands) >= 8 and any(s.kind == "file" for s in page)
    for step in page:
        if step.kind == "file":
            target = project / step.text
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(step.body[0] + "\n", encoding="utf-8")
            continue
        shown = normal("\n".join(step.body))
        actual = normal(run(step.text, project))
        assert actual.rstrip("\n") == shown, f"$ {step.text}"


def readme_plan() -> str:
    text = README.read_text(encoding="utf-8")
    match = re.search(r"```yaml\n(# yaml-language-server.*?\nplan: balance\n.*?)```", text, re.S)
    assert match, "the README's example plan (plan: balance) is not where it was"
    return match.group(1)


@pytest.mark.parametrize(
    ("caller", "heard"),
    [
        (
            "+447700900123",
            "Hello Sam Taylor. You owe £72.50. Your oldest bill was due Thursday 15 October.",
        ),
        (
            "+447700900456",
            "Hello Alex Morgan. You owe £120. Your oldest bill was due Saturday 28 November.",
        ),
        ("+447700900789", "Hello Jo Patel. You have nothing to pay. Goodbye."),
    ],
)
def test_the_readme_example_plan_speaks_the_demo_accounts(
    project: Path, caller: str, heard: str
) -> None:
    (project / "plans").mkdir()
    (project / "plans" / "balance.yaml").write_text(readme_plan(), encoding="utf-8")
    assert run("ivr validate --strict plans", project).endswith(
        "1 plan(s) valid, 0 refused: 0 error(s), 0 warning(s)\n"
    )
    out = run(f"ivr call +442071230110 --callplans plans --from {caller}", project)
    assert [line.strip() for line in out.splitlines() if "Caller hears" in line] == [
        f'Caller hears: "{heard}"'
    ], out


def test_the_readme_says_what_sam_hears(project: Path) -> None:
    prose = " ".join(README.read_text(encoding="utf-8").split())
    assert (
        'he hears "Hello Sam Taylor. You owe £72.50. Your oldest bill was due Thursday 15 '
        'October."' in prose
    )


def test_an_unknown_caller_of_the_readme_plan_reaches_an_agent(project: Path) -> None:
    (project / "plans").mkdir()
    (project / "plans" / "balance.yaml").write_text(readme_plan(), encoding="utf-8")
    out = run("ivr call +442071230110 --callplans plans --from +447700900999", project)
    assert "Path: lookup (status_404) → agent (next) → goodbye (end)" in out
    assert "Outcome: Delivered" in out
