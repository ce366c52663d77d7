"""Every console script, run as a user would: help, version, happy paths, bad input (exit 2, one line)."""
import io
import json
import os
import shlex
import signal
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pytest

from bad_inputs import make_bad_files
from duetto.data.testsignals import click_flash_clip
from duetto.data import write_clip
from duetto.data.shards import iter_shard

BIN = Path(sys.executable).parent
SCRIPTS = ["duetto", "duetto-data", "duetto-train", "duetto-sync"]


def run(*args, check=None):
    r = subprocess.run([str(BIN / args[0]), *map(str, args[1:])], capture_output=True, text=True, timeout=300)
    if check is not None:
        assert r.returncode == check, (args, r.returncode, r.stdout[-2000:], r.stderr[-2000:])
    return r


def one_line_error(r, *phrases):
    lines = [ln for ln in r.stderr.strip().splitlines() if "error" in ln]
    assert r.returncode == 2 and len(lines) == 1, r.stderr
    assert "Traceback" not in r.stderr
    for p in phrases:
        assert p in lines[0], lines[0]


@pytest.mark.parametrize("script", SCRIPTS)
def test_help_and_version(script):
    assert "usage" in run(script, "--help", check=0).stdout
    assert run(script, "--version", check=0).stdout.startswith(f"{script} ")


def test_distil_without_its_inputs_is_a_one_line_usage_error():
    one_line_error(run("duetto-train", "distil"), "required: --data, --out")


def test_an_unknown_command_is_a_one_line_usage_error():
    one_line_error(run("duetto", "frobnicate"), "invalid choice")


@pytest.mark.parametrize("module", ["duetto.data.cli", "duetto.align.cli", "duetto.train.cli", "duetto.joint.cli"])
def test_every_subcommand_option_has_help(module):
    import argparse
    import importlib
    parser = importlib.import_module(module).build_parser()
    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)][0]
    for name, sp in subs.choices.items():
        for action in sp._actions:
            assert action.help and action.help.strip(), (module, name, action.dest)
        text = sp.format_help()
        assert "example:" in text, (module, name)                       # every --help ends with an example...
        line = text.split("example:", 1)[1].strip().splitlines()[0].split(" && ")[0]
        parser.parse_args(shlex.split(line)[1:])                         # ...that parses
    out = run("duetto-data", "ingest", "--help", check=0).stdout   # and the text reaches the user
    assert "--segment" in out and "--allow-uncaptioned" in out


def test_synth_inspect_check(tmp_path):
    out = tmp_path / "sh"
    r = run("duetto-data", "synth", "--n", 3, "--seconds", 2, "--size", 32, "--shard-size", 2, "--out", out,
            "--quiet", check=0)
    assert "wrote 3 clips to 2 shard(s)" in r.stdout
    assert sorted(p.name for p in out.iterdir()) == ["synth-000000.tar", "synth-000001.tar"]
    r = run("duetto-data", "inspect", out, check=0)
    assert "impacts-0000000" in r.stdout and "speech-0000001" in r.stdout and "3 sample(s), 0 with problems" in r.stdout
    r = run("duetto-data", "check", out / "*.tar", check=0)
    assert "3 clip(s) checked: 3 in sync, 0 not" in r.stdout
    one_line_error(run("duetto-data", "synth", "--n", 1, "--out", out), "already holds shards")
    run("duetto-data", "synth", "--n", 1, "--seconds", 2, "--size", 32, "--out", out, "--overwrite", "--quiet",
        check=0)
    assert sorted(p.name for p in out.iterdir()) == ["synth-000000.tar"]


def test_synth_shards_are_byte_identical_for_any_number_of_jobs(tmp_path):
    for jobs in (1, 2):
        run("duetto-data", "synth", "--n", 4, "--seconds", 1.5, "--size", 32, "--jobs", jobs,
            "--out", tmp_path / f"j{jobs}", "--quiet", check=0)
    assert (tmp_path / "j1" / "synth-000000.tar").read_bytes() == (tmp_path / "j2" / "synth-000000.tar").read_bytes()


def test_synth_rejects_bad_options(tmp_path):
    one_line_error(run("duetto-data", "synth", "--size", 33, "--out", tmp_path / "x"), "even size")
    r = run("duetto-data", "synth", "--n", 0, "--out", tmp_path / "x")
    assert r.returncode == 2 and "a clip count from 1 to" in r.stderr
    for opt, bad in (("--fps", "nan"), ("--seconds", "inf"), ("--fps", "0.1")):
        r = run("duetto-data", "synth", opt, bad, "--out", tmp_path / "x")
        assert r.returncode == 2 and "Traceback" not in r.stderr, (opt, bad, r.stderr)
    r = run("duetto-data", "synth", "--family", "fireworks", "--out", tmp_path / "x")
    assert r.returncode == 2 and "invalid choice" in r.stderr
    assert not (tmp_path / "x").exists() or not any((tmp_path / "x").iterdir())


def test_inspect_reports_problems_and_bad_input(tmp_path):
    bad = tmp_path / "bad.tar"
    with tarfile.open(bad, "w") as t:
        for name, data in [("a.json", b'{"fps": 25}'), ("a.mp4", b"junk"), ("b.json", b"{}")]:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
    r = run("duetto-data", "inspect", bad, check=1)
    assert "missing_member" in r.stdout and "2 sample(s), 2 with problems" in r.stdout
    rows = [json.loads(ln) for ln in run("duetto-data", "inspect", "--json", bad, check=1).stdout.splitlines()]
    assert "missing field(s) caption" in rows[0]["problems"] and "not a readable media file" in rows[0]["problems"]
    one_line_error(run("duetto-data", "inspect", tmp_path / "nope.tar"), "nope.tar", "no such shard")
    notar = tmp_path / "x.tar"
    notar.write_bytes(b"hello" * 300)
    r = run("duetto-data", "check", notar, check=1)
    assert "corrupt_tar" in r.stdout


def test_ingest_skips_with_reasons(tmp_path):
    src = tmp_path / "src"
    bad = make_bad_files(src / "broken")
    clip, _ = click_flash_clip(frames=75, size=64)
    write_clip(src / "good.mp4", clip)
    (src / "good.txt").write_text("a white flash and a click\n")
    write_clip(src / "meta.mp4", clip)
    (src / "meta.json").write_text('{"caption": "flash", "licence": "CC0"}')
    write_clip(src / "nocaption.mp4", clip)
    silent = click_flash_clip(frames=75)[0]
    silent.audio[:] = 0
    write_clip(src / "silent.mp4", silent)
    (src / "silent.txt").write_text("nothing")
    still = click_flash_clip(frames=75)[0]
    still.video[:] = 30
    write_clip(src / "still.mp4", still)
    (src / "still.txt").write_text("nothing moves")
    for name in ("truncated", "no_audio", "no_video", "empty", "not_media"):
        bad[name][0].with_suffix(".txt").write_text("caption")
    write_clip(src / "binary.mp4", clip)
    (src / "binary.txt").write_bytes(bytes(range(256)) * 4)          # not a caption: skipped, said why
    write_clip(src / "novel.mp4", clip)
    (src / "novel.txt").write_text("word " * 2000)
    r = run("duetto-data", "ingest", src, "--out", tmp_path / "out", "--size", 32, "--segment", 1, "--quiet",
            "--json", check=0)
    rep = json.loads(r.stdout)
    reasons = {s["source"]: s["reason"] for s in rep["skipped"]}
    assert "no caption" in reasons["nocaption.mp4"]
    assert reasons["silent.mp4"] == "silent audio" and reasons["still.mp4"] == "static picture"
    assert "no audio stream" in reasons["broken/noaudio.mp4"] and "no video stream" in reasons["broken/novideo.mp4"]
    assert "empty file" in reasons["broken/empty.mp4"] and "truncated" in reasons["broken/truncated.mp4"]
    assert "not a readable media file" in reasons["broken/text.mp4"]
    assert "not UTF-8" in reasons["binary.mp4"] and "at most 2000" in reasons["novel.mp4"]
    assert sorted(w["key"] for w in rep["written"]) == ["good-000", "good-001", "good-002",
                                                         "meta-000", "meta-001", "meta-002"]
    samples = [s for p in rep["shards"] for s in iter_shard(p)]
    meta = [json.loads(s.files["json"]) for s in samples if s.key == "meta-001"][0]
    assert meta["licence"] == "CC0" and meta["source_start"] == 1.0 and meta["duration"] == 1.0
    one_line_error(run("duetto-data", "ingest", src / "broken", "--out", tmp_path / "o2"), "no usable clips")
    one_line_error(run("duetto-data", "ingest", tmp_path / "nope", "--out", tmp_path / "o3"), "not a directory")
    one_line_error(run("duetto-data", "ingest", src, "--out", tmp_path / "o4", "--size", 33), "bad ingest config")


def test_ingest_real_footage(media, tmp_path):
    r = run("duetto-data", "ingest", media, "--out", tmp_path / "real", "--size", 32, "--segment", 0,
            "--allow-uncaptioned", "--quiet", check=0)
    n = len([f for f in media.iterdir() if f.suffix in (".mp4", ".mkv", ".avi")])
    assert n >= 7 and f"ingested {n} clip(s) as {n} piece(s)" in r.stdout
    r = run("duetto-data", "inspect", tmp_path / "real", check=0)
    assert f"{n} sample(s), 0 with problems" in r.stdout


def test_killed_synth_leaves_only_whole_shards(tmp_path):
    out = tmp_path / "sh"
    p = subprocess.Popen([str(BIN / "duetto-data"), "synth", "--family", "impacts", "--n", "400", "--seconds", "1",
                          "--size", "32", "--shard-size", "3", "--out", str(out), "--quiet"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 60
    while time.time() < deadline and len(list(out.glob("*.tar"))) < 2:
        time.sleep(0.05)
    os.kill(p.pid, signal.SIGKILL)
    p.wait()
    shards = sorted(out.glob("*.tar"))
    assert len(shards) >= 2
    for s in shards:
        items = list(iter_shard(s))
        assert len(items) == 3 and all(type(i).__name__ == "Sample" for i in items), s


def test_ingest_pieces_keep_click_on_flash():
    """Cutting a clip into segments moves both streams by the same whole number of frames."""
    import numpy as np
    from duetto.data.testsignals import click_time, flash_frame
    from duetto.data.ingest import IngestConfig, _pieces
    clip, t = click_flash_clip(fps=25, sr=16000, frames=100, event_frame=37)
    pieces = list(_pieces(clip, IngestConfig(segment=1.0, min_seconds=0.5)))
    assert [p.start for p in pieces] == [0.0, 1.0, 2.0, 3.0] and all(p.n_frames == 25 for p in pieces)
    p = pieces[1]
    assert flash_frame(p.video) == 12 and p.video[12].mean() > 100
    assert abs(click_time(p.audio, 16000) - (t - 1.0)) < 1e-3
    assert np.abs(pieces[0].audio).max() < 1e-6
