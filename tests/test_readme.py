"""The README tells the truth: its diagram is the code's, its commands exist."""

from __future__ import annotations

import re
from pathlib import Path

from bot.cli import build_parser
from flows.diagram import mermaid

README = (Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8")


def test_the_flow_diagram_in_the_readme_is_generated_from_the_code() -> None:
    embedded = re.search(r"<!-- flow:begin -->\n```mermaid\n(.*?)\n```\n<!-- flow:end -->", README, re.S)
    assert embedded, "the README lost its flow diagram markers"
    assert embedded.group(1).strip() == mermaid().strip(), "run `kollega flow` and paste it into the README"


def test_every_kollega_command_in_the_readme_parses() -> None:
    parser = build_parser()
    joined = README.replace("\\\n", " ")  # shell line continuations
    lines = [line.strip() for line in joined.splitlines() if "bin/kollega " in line]
    assert len(lines) >= 9
    for line in lines:
        command = line.split("bin/kollega ", 1)[1].split("#")[0]
        args = parser.parse_args(command.split())
        assert getattr(args, "func", None), line


def test_the_two_setup_commands_are_make_targets() -> None:
    makefile = (Path(__file__).parent.parent / "Makefile").read_text(encoding="utf-8")
    for target in ("try", "test", "run", "install", "bench"):
        assert re.search(rf"^{target}:", makefile, re.M), target
    ci = (Path(__file__).parent.parent / ".ci" / "run").read_text(encoding="utf-8")
    assert "make test" in ci
