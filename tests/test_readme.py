"""The README's examples work: its Python block runs, and every `duetto*` command line in its shell blocks parses
with the options it shows (the commands' own parsers; nothing is run, the files they name need not exist)."""
import os
import re
import shlex
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
BLOCKS = re.findall(r"```(\w+)\n(.*?)```", README, re.S)
PARSERS = {"duetto": "duetto.joint.cli", "duetto-data": "duetto.data.cli", "duetto-sync": "duetto.align.cli",
           "duetto-train": "duetto.train.cli"}


def command_lines():
    for lang, body in BLOCKS:
        if lang != "bash":
            continue
        text = re.sub(r"\\\n\s*", " ", body)                     # join continued lines
        for line in text.splitlines():
            words = shlex.split(line, comments=True)
            if words and words[0] in PARSERS:
                yield words


@pytest.mark.parametrize("words", list(command_lines()), ids=lambda w: " ".join(w)[:70])
def test_every_command_line_parses(words):
    import importlib
    module = importlib.import_module(PARSERS[words[0]])
    module.build_parser().parse_args(words[1:])


def test_the_python_example_runs(tmp_path, monkeypatch):
    code = [body for lang, body in BLOCKS if lang == "python" and "runs in tests/test_readme.py" in body]
    assert len(code) == 1
    monkeypatch.chdir(tmp_path)
    os.symlink(ROOT / "samples", tmp_path / "samples")
    exec(compile(code[0], "README.md", "exec"), {})
    assert (tmp_path / "scene.mp4").stat().st_size > 1000 and (tmp_path / "made.mp4").stat().st_size > 1000
