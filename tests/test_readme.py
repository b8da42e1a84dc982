"""The README cannot drift from the code: its Python snippets run and its commands exist.

Every ```python block of README.md runs in a fresh interpreter (a fresh namespace and a fresh
obskit), from the repository root. A block preceded by ``<!-- not-run: reason -->`` (for
snippets that need AWS, a server that never returns, or a placeholder) is only compiled. In
```bash/```sh/```console blocks, every ``make`` target must exist in the Makefile and every
``obskit ...`` command must be one the CLI knows. The extractor is proven on a README of this
file's own, so the checks mean something while README.md is still being written.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from obskit.cli import build_parser

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"

_FENCE = re.compile(r"^(?P<indent> {0,3})(?P<fence>`{3,}|~{3,})\s*(?P<lang>[\w+-]*)[^\n]*$")
_NOT_RUN = re.compile(r"^\s*<!--\s*not-run:\s*(?P<reason>.+?)\s*-->\s*$")
_TARGET = re.compile(r"^(?P<names>[A-Za-z0-9_.-]+(?:\s+[A-Za-z0-9_.-]+)*)\s*:(?![=:])", re.MULTILINE)
SHELL_LANGS = frozenset({"bash", "sh", "shell", "console", "shell-session"})


@dataclass(frozen=True)
class Block:
    """One fenced code block: its language, its text, the line it starts on, why it must not run."""

    lang: str
    code: str
    line: int
    not_run: str | None = None


def extract_blocks(markdown: str) -> list[Block]:
    """Every fenced code block, in order, with the ``not-run`` reason of the comment just above it."""
    blocks: list[Block] = []
    lines = markdown.splitlines()
    i = 0
    while i < len(lines):
        opening = _FENCE.match(lines[i])
        if opening is None:
            i += 1
            continue
        fence = opening.group("fence")
        start = i
        body: list[str] = []
        i += 1
        while i < len(lines) and not lines[i].strip().startswith(fence):
            body.append(lines[i][len(opening.group("indent")):])
            i += 1
        previous = next((lines[j] for j in range(start - 1, -1, -1) if lines[j].strip()), "")
        reason = _NOT_RUN.match(previous)
        blocks.append(Block(opening.group("lang").lower(), "\n".join(body) + "\n", start + 1,
                            reason.group("reason") if reason else None))
        i += 1
    return blocks


def run_python(block: Block, cwd: Path = ROOT) -> str | None:
    """Run (or, for ``not-run``, compile) a block; ``None`` when it worked, else what went wrong."""
    try:
        compile(block.code, f"README.md:{block.line}", "exec")
    except SyntaxError as exc:
        return f"does not compile: {exc}"
    if block.not_run:
        return None
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OBSKIT_", "AWS_", "POWERTOOLS_", "OTEL_"))}
    env.pop("LAMBDA_TASK_ROOT", None)
    try:
        done = subprocess.run([sys.executable, "-c", block.code], cwd=cwd, env=env, capture_output=True,
                              text=True, timeout=60, check=False)
    except subprocess.TimeoutExpired:
        return "did not end within 60 s (mark it <!-- not-run: reason --> if it serves forever)"
    if done.returncode != 0:
        return f"exit status {done.returncode}:\n{done.stderr[-2000:]}"
    return None


def make_targets(makefile: Path = ROOT / "Makefile") -> set[str]:
    """The explicit targets a Makefile defines (not variables, not pattern rules)."""
    text = makefile.read_text(encoding="utf-8")
    return {name for m in _TARGET.finditer(text) for name in m.group("names").split() if "%" not in name}


def _commands(code: str) -> list[list[str]]:
    """Each simple command of a shell block, as words (prompts, comments and env assignments dropped)."""
    out: list[list[str]] = []
    for raw in code.replace("\\\n", " ").splitlines():
        line = raw.strip()
        if line.startswith(("$ ", "% ")):
            line = line[2:]
        elif raw.startswith(("$", "%")):
            line = line[1:].strip()
        if not line or line.startswith("#"):
            continue
        for part in re.split(r"&&|\|\||[;|]", line):
            try:
                words = shlex.split(part, comments=True)
            except ValueError:
                words = part.split()
            while words and re.match(r"^[A-Za-z_][A-Za-z0-9_]*=", words[0]):
                words = words[1:]
            if words:
                out.append(words)
    return out


def check_commands(code: str, targets: set[str]) -> list[str]:
    """What a shell block names that does not exist: ``make`` targets and ``obskit`` subcommands."""
    import argparse

    problems: list[str] = []
    for words in _commands(code):
        program = Path(words[0]).name
        if program == "make":
            for word in words[1:]:
                if not word.startswith("-") and "=" not in word and word not in targets:
                    problems.append(f"make {word}: no such target in the Makefile")
        elif program == "obskit" or words[:3] in (["python", "-m", "obskit"], ["python3", "-m", "obskit"]):
            args = words[1:] if program == "obskit" else words[3:]
            parser = build_parser()
            for word in args:
                subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
                if not subs or word.startswith("-"):
                    break
                if word not in subs[0].choices:
                    problems.append(f"{' '.join(words)}: {word!r} is not an obskit command "
                                    f"(known: {', '.join(sorted(subs[0].choices))})")
                    break
                parser = subs[0].choices[word]
    return problems


# --- README.md, whatever it holds today ---------------------------------------------------------
def _readme_blocks() -> list[Block]:
    return extract_blocks(README.read_text(encoding="utf-8")) if README.exists() else []


def test_readme_python_snippets_run() -> None:
    """Every python block of README.md runs to exit status 0 (not-run blocks compile)."""
    failures = [f"README.md:{b.line}: {err}" for b in _readme_blocks() if b.lang in ("python", "py")
                for err in [run_python(b)] if err]
    assert not failures, "\n\n".join(failures)


def test_readme_commands_exist() -> None:
    """Every make target and obskit command in README.md's shell blocks exists."""
    targets = make_targets()
    problems = [f"README.md:{b.line}: {p}" for b in _readme_blocks() if b.lang in SHELL_LANGS
                for p in check_commands(b.code, targets)]
    assert not problems, "\n".join(problems)


# --- the checker itself, on a README of our own -------------------------------------------------
FIXTURE = '''# demo

```bash
$ make demo
make test bench-quick
obskit slo explain examples/slo.yaml && obskit --version
```

```python
import obskit
from obskit.testing import capture

with capture() as cap:
    obskit.get_logger("shop").info("hello", order_id=7)
assert cap.logs[0]["order_id"] == 7
```

<!-- not-run: needs AWS credentials -->
```python
import boto3
boto3.client("cloudwatch").describe_alarms()
```

```python
raise SystemExit("this snippet is broken")
```

```console
make deploy
obskit slo explian examples/slo.yaml
```
'''


def test_extractor_finds_blocks_languages_lines_and_not_run_reasons() -> None:
    """The extractor returns each fenced block with its language, start line and not-run reason."""
    blocks = extract_blocks(FIXTURE)
    assert [(b.lang, b.line, b.not_run) for b in blocks] == [
        ("bash", 3, None), ("python", 9, None), ("python", 19, "needs AWS credentials"), ("python", 24, None),
        ("console", 28, None),
    ]
    assert blocks[2].code == 'import boto3\nboto3.client("cloudwatch").describe_alarms()\n'


def test_python_snippets_run_in_a_fresh_interpreter() -> None:
    """A working snippet passes, a not-run one only compiles, a failing one is reported."""
    python = [b for b in extract_blocks(FIXTURE) if b.lang == "python"]
    assert run_python(python[0]) is None
    assert run_python(python[1]) is None  # would fail without AWS: compiled only
    error = run_python(python[2])
    assert error is not None
    assert "this snippet is broken" in error


def test_a_not_run_snippet_must_still_compile() -> None:
    """A not-run block with a syntax error is reported."""
    block = Block("python", "def broken(:\n", 1, "needs AWS")
    error = run_python(block)
    assert error is not None
    assert error.startswith("does not compile")


@pytest.mark.parametrize(
    ("block", "expected"),
    [
        (0, []),
        (4, ["make deploy: no such target in the Makefile",
             "obskit slo explian examples/slo.yaml: 'explian' is not an obskit command "
             "(known: apply, dashboard, explain, generate, report, schema, validate)"]),
    ],
)
def test_shell_blocks_name_only_existing_targets_and_commands(block: int, expected: list[str]) -> None:
    """Known make targets and obskit commands pass; unknown ones are reported by name."""
    code = extract_blocks(FIXTURE)[block].code
    assert check_commands(code, make_targets()) == expected


def test_makefile_targets_are_read() -> None:
    """The Makefile parser finds the targets a newcomer uses and no variable assignments."""
    targets = make_targets()
    assert {"demo", "test", "bench", "bench-quick"} <= targets
    assert not {"PY", "VENV", "BIN"} & targets
