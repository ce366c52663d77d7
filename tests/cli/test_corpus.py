"""The bad-input corpus: every command over hostile files, tars, bundles, options and output paths, in process.

Each case must end with its documented exit code (2: bad input or environment), an error line naming the problem as
the last line on stderr, no traceback, no internal error (exit 4), within its time limit, and nothing written where
an output was asked for. `test_corpus_counts` prints the number of cases per command (the closing note quotes it).
The fixtures are made here, small, and never committed.
"""
from __future__ import annotations

import io
import json
import signal
import tarfile
from collections import Counter
from pathlib import Path

import pytest

from bad_inputs import make_bad_files, make_odd_files
from duetto.data import write_clip
from duetto.data.testsignals import click_flash_clip

LIMIT_S = 60          # no case may take longer (a hang or unbounded work fails it)


@pytest.fixture(scope="module")
def fx(tmp_path_factory):
    d = tmp_path_factory.mktemp("corpus")
    bad = make_bad_files(d / "media")
    f = {k: v[0] for k, v in bad.items()}
    f["good"] = write_clip(d / "good.mp4", click_flash_clip(frames=50)[0])
    (d / "notatar.tar").write_text("plain text, not a tar\n")
    with tarfile.open(d / "escape.tar", "w") as t:              # a member that climbs out of any folder
        data = b"{}"
        info = tarfile.TarInfo("../../escape.json")
        info.size = len(data)
        t.addfile(info, io.BytesIO(data))
    with tarfile.open(d / "hugejson.tar", "w") as t:            # a sample whose JSON is 3 MB of one string
        for name, data in (("k.mp4", f["good"].read_bytes()), ("k.json", json.dumps({"caption": "x" * 3_000_000}).encode())):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
    (d / "empty.tar").write_bytes(b"")
    (d / "adir").mkdir()
    (d / "afile").write_text("x")
    (d / "bundle-empty").mkdir()
    (d / "prompts-empty.txt").write_text("\n# nothing\n")
    f.update({k: d / v for k, v in (("notatar", "notatar.tar"), ("escape", "escape.tar"), ("hugejson", "hugejson.tar"),
                                     ("emptytar", "empty.tar"), ("adir", "adir"), ("afile", "afile"),
                                     ("bundle_empty", "bundle-empty"), ("prompts_empty", "prompts-empty.txt"))})
    bad_bundle = d / "bundle-garbage"                           # a bundle folder whose files are not what they say
    import shutil
    from duetto.joint.cli import BASE_BUNDLE as TEACHER_BUNDLE
    shutil.copytree(TEACHER_BUNDLE, bad_bundle, ignore=shutil.ignore_patterns("*.safetensors"))
    for sub in ("joint", "video_vae", "audio_vae"):
        if (bad_bundle / sub).is_dir():
            (bad_bundle / sub / "model.safetensors").write_bytes(b"\x00" * 64 + b"not safetensors")
    f["bundle_garbage"] = bad_bundle
    (d / "list.json").write_text("[1, 2, 3]")
    f["listjson"] = d / "list.json"
    f.update(make_odd_files(d / "odd", f["good"]))
    import shutil as _sh
    from duetto.joint.cli import BASE_BUNDLE as _T
    for name, gen in (("bundle_deep_json", "[" * 100_000 + "]" * 100_000),
                      ("bundle_nan_steps", json.dumps({**json.loads((_T / "generation.json").read_text()), "steps": float("nan")})),
                      ("bundle_huge_size", json.dumps({**json.loads((_T / "generation.json").read_text()), "size": 1 << 20}))):
        b = d / name
        _sh.copytree(_T, b, ignore=_sh.ignore_patterns("*.safetensors"))
        (b / "generation.json").write_text(gen)
        f[name] = b
    for name, base in (("delta_escape", "../../etc"), ("delta_no_base", "no-such-bundle")):   # delta bundles (joint.delta)
        b = d / name
        (b / "delta").mkdir(parents=True)
        (b / "generation.json").write_text((_T / "generation.json").read_text())
        (b / "delta" / "config.json").write_text(json.dumps({"base": base, "base_sha256": "0" * 64, "rank": 8}))
        f[name] = b
    f["out"] = d / "out"                                        # never created by a failing case
    return f


def _sub(args, fx):
    import re
    return [re.sub(r"\{(\w+)\}", lambda m: str(fx[m.group(1)]), str(a)) for a in args]


PROBLEM = "exit 1"     # for inspect/check, a damaged shard is what they report: exit 1, the problem in their table

# (command, args with {fixture} placeholders, phrase the error must contain (lower case), None, or PROBLEM)
CASES = [
    # duetto-data
    ("duetto-data synth", ["synth", "--n", "0", "--out", "{out}"], "clip count"),
    ("duetto-data synth", ["synth", "--seconds", "nan", "--out", "{out}"], None),
    ("duetto-data synth", ["synth", "--seconds", "1e9", "--out", "{out}"], None),
    ("duetto-data synth", ["synth", "--fps", "0", "--out", "{out}"], None),
    ("duetto-data synth", ["synth", "--size", "33", "--out", "{out}"], "even"),
    ("duetto-data synth", ["synth", "--size", "100000", "--out", "{out}"], None),
    ("duetto-data synth", ["synth", "--sample-rate", "0", "--out", "{out}"], None),
    ("duetto-data synth", ["synth", "--family", "fireworks", "--out", "{out}"], "invalid choice"),
    ("duetto-data synth", ["synth", "--out", "{afile}"], "not a directory"),
    ("duetto-data synth", ["synth", "--seed", "1" + "0" * 30, "--out", "{out}"], "seed"),
    ("duetto-data synth", ["synth", "--seed", "-3", "--out", "{out}"], "seed"),
    ("duetto-data synth", ["synth", "--n", "100000000", "--out", "{out}"], "clip count"),
    ("duetto-data ingest", ["ingest", "{missing}", "--out", "{out}"], None),
    ("duetto-data ingest", ["ingest", "{adir}", "--out", "{afile}"], "not a directory"),
    ("duetto-data ingest", ["ingest", "{adir}", "--out", "{out}", "--fps", "nan"], None),
    ("duetto-data inspect", ["inspect", "{missing}"], None),
    ("duetto-data inspect", ["inspect", "{notatar}"], PROBLEM),      # inspect's job: a corrupt shard is a finding
    ("duetto-data inspect", ["inspect", "{emptytar}"], PROBLEM),
    ("duetto-data inspect", ["inspect", "{escape}"], PROBLEM),
    ("duetto-data inspect", ["inspect", "{hugejson}"], PROBLEM),
    ("duetto-data check", ["check", "{missing}"], None),
    ("duetto-data check", ["check", "{notatar}"], PROBLEM),
    ("duetto-data encode", ["encode", "{escape}", "--video-vae", "{adir}", "--audio-vae", "{adir}", "--out", "{out}"], None),
    ("duetto-data encode", ["encode", "{missing}", "--video-vae", "{adir}", "--audio-vae", "{adir}", "--out", "{out}"], None),
    ("duetto-data encode", ["encode", "{hugejson}", "--video-vae", "{missing}", "--audio-vae", "{adir}", "--out", "{out}"], None),
    # duetto-sync
    *[("duetto-sync check", ["check", "{%s}" % k], None) for k in ("truncated", "no_audio", "no_video", "empty",
                                                                   "not_media", "missing", "adir")],
    ("duetto-sync check", ["check", "{good}", "{truncated}"], "truncated"),
    ("duetto-sync check", ["check", "{good}", "--preset", "loose"], "unknown tolerance"),
    ("duetto-sync check", ["check", "{good}", "--search", "nan"], "--search"),
    ("duetto-sync check", ["check", "{good}", "--search", "-1"], "--search"),
    ("duetto-sync check", ["check", "{good}", "--search", "1e6"], "--search"),
    ("duetto-sync check", ["check", "{good}", "--method", "lips"], "invalid choice"),
    ("duetto-sync check", ["check", "{good}", "--no-signal", "maybe"], "invalid choice"),
    ("duetto-sync fix", ["fix", "{good}", "-o", "{out}/x.mp4", "--offset", "nan"], "--offset"),
    ("duetto-sync fix", ["fix", "{good}", "-o", "{out}/x.mp4", "--offset", "1e9"], "as long as the clip"),
    ("duetto-sync fix", ["fix", "{good}", "-o", "{out}/x.avi", "--offset", "40"], ".mp4"),
    ("duetto-sync fix", ["fix", "{truncated}", "-o", "{out}/x.mp4", "--offset", "40"], None),
    ("duetto-sync fix", ["fix", "{not_media}", "-o", "{out}/x.mp4"], None),
    ("duetto-sync eval", ["eval", "{good}", "--shifts", "a,b"], "--shifts"),
    ("duetto-sync eval", ["eval", "{good}", "--shifts", "0,inf"], "--shifts"),
    ("duetto-sync eval", ["eval", "{empty}"], None),
    ("duetto-sync plot", ["plot", "{missing}", "-o", "{out}/p.png"], None),
    # duetto generate (no model needed: every case is refused before one loads, or by the bundle's check)
    ("duetto generate", ["generate", "  ", "-o", "{out}/x.mp4"], "prompt is empty"),
    ("duetto generate", ["generate", "a ball", "-o", "{out}/x.mp4", "-n", "0"], "-n must be"),
    ("duetto generate", ["generate", "a ball", "-o", "{out}/x.mp4", "--steps", "1000000"], "--steps"),
    ("duetto generate", ["generate", "a ball", "-o", "{out}/x.mp4", "--seconds", "nan"], "--seconds"),
    ("duetto generate", ["generate", "a ball", "-o", "{out}/x.mp4", "--seconds", "1e9"], "--seconds"),
    ("duetto generate", ["generate", "a ball", "-o", "{out}/x.mp4", "--seed", "-5"], "--seed"),
    ("duetto generate", ["generate", "a ball", "-o", "{out}/x.mp4", "--seed", "1" + "0" * 30], "--seed"),
    ("duetto generate", ["generate", "a ball", "-o", "{out}/x.avi"], ".mp4"),
    ("duetto generate", ["generate", "a ball", "-o", "{adir}"], None),
    ("duetto generate", ["generate", "a ball", "-o", "{afile}/x.mp4"], "is a file"),
    ("duetto generate", ["generate", "a ball", "-o", "{out}/x.mp4", "--checkpoint", "{missing}"], "no such model"),
    ("duetto generate", ["generate", "a ball", "-o", "{out}/x.mp4", "--checkpoint", "{bundle_empty}"], None),
    ("duetto generate", ["generate", "a ball", "-o", "{out}/x.mp4", "--checkpoint", "{bundle_garbage}"], None),
    ("duetto generate", ["generate", "a ball", "-o", "{out}/x.mp4", "--voice", "{no_audio}"], None),
    ("duetto generate", ["generate", "a ball", "-o", "{out}/x.mp4", "--music", "{listjson}"], None),
    ("duetto gallery", ["gallery", "--out", "{out}/g", "--checkpoint", "{bundle_garbage}"], None),
    ("duetto gallery", ["gallery", "--out", "{out}/g", "--per-family", "0"], "--per-family"),
    ("duetto gallery", ["gallery", "--out", "{afile}"], "not a directory"),
    ("duetto generate", ["generate", "a ball", "-o", "{out}/x.mp4", "--video", "{good}", "--audio", "{good}"], "not both"),
    ("duetto generate", ["generate", "a ball", "-o", "{out}/x.mp4", "--video", "{missing}"], "no such file"),
    ("duetto generate", ["generate", "a ball", "-o", "{out}/x.mp4", "--audio", "{not_media}"], None),
    ("duetto generate", ["generate", "a ball", "-o", "{out}/x.mp4", "--device", "cuda:7"], None),
    ("duetto generate", ["generate", "a ball", "-o", "{out}/x.mp4", "--dtype", "float16", "--device", "cpu"], None),
    ("duetto generate", ["generate", "a ball", "-o", "{out}/x.mp4", "--sampler", "dpm"], "invalid choice"),
    # duetto-train
    ("duetto-train vae", ["vae", "--modality", "video", "--data", "{missing}", "--out", "{out}/run"], None),
    ("duetto-train vae", ["vae", "--modality", "video", "--data", "{notatar}", "--out", "{out}/run"], None),
    ("duetto-train vae", ["vae", "--modality", "sound", "--data", "{good}", "--out", "{out}/run"], "invalid choice"),
    ("duetto-train joint", ["joint", "--data", "{missing}", "--out", "{out}/run"], None),
    ("duetto-train joint", ["joint", "--data", "{hugejson}", "--out", "{afile}"], None),
    ("duetto-train vae", ["vae", "--modality", "video", "--data", "{good}", "--out", "{out}/run", "--seed", "1" + "0" * 30], "seed"),
    ("duetto-train vae", ["vae", "--modality", "video", "--data", "{good}", "--out", "{out}/run", "--steps", "0"], None),
    ("duetto-train joint", ["joint", "--data", "{notatar}", "--out", "{out}/run"], None),
    ("duetto-train export", ["export", "{missing}", "--out", "{out}/b"], None),
    ("duetto-train export", ["export", "{adir}", "--out", "{out}/b"], None),
    ("duetto-train eval", ["eval", "{missing}", "--prompts", "{prompts_empty}"], None),
    ("duetto-train eval", ["eval", "{bundle_empty}", "--prompts", "{prompts_empty}", "--seconds", "1e9"], "--seconds"),
    ("duetto-train eval", ["eval", "{bundle_empty}", "--prompts", "{prompts_empty}", "--steps", "1e6"], "invalid int"),
    ("duetto-train eval", ["eval", "{bundle_empty}", "--prompts", "{prompts_empty}", "--steps", "100000"], "--steps"),
    ("duetto-train eval", ["eval", "{bundle_empty}", "--prompts", "{prompts_empty}"], None),
    ("duetto-train distil", ["distil", "--teacher", "{missing}", "--data", "{notatar}", "--out", "{out}/run"], None),
    # files that are not files, broken containers (tests/bad_inputs.make_odd_files)
    ("duetto-sync check", ["check", "{fifo}"], "not a regular file"),
    ("duetto-sync check", ["check", "{loop}"], "symbolic links"),
    ("duetto-sync check", ["check", "{dir_mp4}"], "directory"),
    ("duetto-sync check", ["check", "{random}"], "not a readable media file"),
    ("duetto-sync check", ["check", "{cut90}"], "not a readable media file"),
    ("duetto-sync check", ["check", "{wide}"], "8192px limit"),
    ("duetto-sync check", ["check", "{good}", "{fifo}"], "not a regular file"),
    ("duetto-sync fix", ["fix", "{fifo}", "-o", "{out}/x.mp4", "--offset", "40"], None),
    ("duetto-sync plot", ["plot", "{wide}", "-o", "{out}/p.png"], "8192px limit"),
    ("duetto-sync eval", ["eval", "{loop}"], None),
    ("duetto generate", ["generate", "a ball", "-o", "{out}/x.mp4", "--audio", "{fifo}"], "not a regular file"),
    ("duetto generate", ["generate", "a ball", "-o", "{out}/x.mp4", "--video", "{wide}"], "8192px limit"),
    ("duetto generate", ["generate", "a ball", "-o", "{out}/x.mp4", "--video", "{cut90}"], None),
    ("duetto generate", ["generate", "a ball", "-o", "{out}/x.mp4", "--voice", "{loop}"], None),
    ("duetto generate", ["generate", "a ball", "-o", "{out}/x.mp4", "--music", "{random}"], None),
    ("duetto generate", ["generate", "a ball", "-o", "{out}/x.mp4", "--checkpoint", "{bundle_deep_json}"], "nested"),
    ("duetto generate", ["generate", "a ball", "-o", "{out}/x.mp4", "--checkpoint", "{bundle_nan_steps}"], "steps"),
    ("duetto generate", ["generate", "a ball", "-o", "{out}/x.mp4", "--checkpoint", "{bundle_huge_size}"], "size"),
    ("duetto generate", ["generate", "a ball", "-o", "{out}/x.mp4", "--checkpoint", "{delta_escape}"], "must name a bundle"),
    ("duetto generate", ["generate", "a ball", "-o", "{out}/x.mp4", "--checkpoint", "{delta_no_base}"], "base bundle"),
    ("duetto gallery", ["gallery", "--out", "{out}/g", "--checkpoint", "{delta_no_base}"], "base bundle"),
    ("duetto-train eval", ["eval", "{bundle_nan_steps}", "--prompts", "{prompts_empty}"], None),
    ("duetto-train export", ["export", "{adir}", "--delta", "8", "--out", "{out}/b"], None),
    # duetto extend
    ("duetto extend", ["extend", "{missing}", "--seconds", "8", "-o", "{out}/x.mp4", "--prompt", "a ball"], "no such file"),
    ("duetto extend", ["extend", "{fifo}", "--seconds", "8", "-o", "{out}/x.mp4", "--prompt", "a ball"], "not a regular file"),
    ("duetto extend", ["extend", "{not_media}", "--seconds", "8", "-o", "{out}/x.mp4", "--prompt", "a ball"], None),
    ("duetto extend", ["extend", "{good}", "--seconds", "nan", "-o", "{out}/x.mp4", "--prompt", "a ball"], "--seconds"),
    ("duetto extend", ["extend", "{good}", "--seconds", "1e9", "-o", "{out}/x.mp4", "--prompt", "a ball"], "--seconds"),
    ("duetto extend", ["extend", "{good}", "--seconds", "1", "-o", "{out}/x.mp4", "--prompt", "a ball"], "already lasts"),
    ("duetto extend", ["extend", "{good}", "--seconds", "8", "-o", "{out}/x.mp4", "--prompt", "a ball", "--history", "0"], "--history"),
    ("duetto extend", ["extend", "{good}", "--seconds", "8", "-o", "{out}/x.mp4", "--prompt", "a ball", "--history", "9"], "--history"),
    ("duetto extend", ["extend", "{good}", "--seconds", "8", "-o", "{out}/x.mp4"], "give --prompt"),
    ("duetto extend", ["extend", "{good}", "--seconds", "8", "-o", "{out}/x.avi", "--prompt", "a ball"], ".mp4"),
    ("duetto extend", ["extend", "{good}", "--seconds", "8", "-o", "/proc/duetto-x.mp4", "--prompt", "a ball"], None),
    ("duetto extend", ["extend", "{good}", "--seconds", "8", "-o", "{out}/x.mp4", "--prompt", "a ball",
                       "--checkpoint", "{delta_no_base}"], "base bundle"),
    ("duetto generate", ["generate", "a ball", "-o", "{out}/x.mp4", "--seconds", "8", "--history", "-1"], "--history"),
    # outputs nobody may write, even root (/proc): refused before the work, one line
    ("duetto generate", ["generate", "a ball", "-o", "/proc/duetto-x.mp4"], None),
    ("duetto gallery", ["gallery", "--out", "/proc/duetto-g"], None),
    ("duetto-sync fix", ["fix", "{good}", "-o", "/proc/duetto-x.mp4", "--offset", "40"], None),
    ("duetto-sync check", ["check", "{good}", "--junit", "/proc/duetto-x.xml"], None),
    ("duetto-sync check", ["check", "{good}", "--plot", "/proc/duetto-x.png"], None),
    ("duetto-sync plot", ["plot", "{good}", "-o", "/proc/duetto-p.png"], None),
    ("duetto-data synth", ["synth", "--n", "1", "--seconds", "1", "--out", "/proc/duetto-s"], None),
    ("duetto-data ingest", ["ingest", "{adir}", "--out", "/proc/duetto-i"], None),
    ("duetto-train export", ["export", "{adir}", "--out", "/proc/duetto-b"], None),
    ("duetto-train vae", ["vae", "--modality", "video", "--data", "{good}", "--out", "/proc/duetto-r"], None),
    # tar and JSON shapes: inspect and check report each as a problem of that sample (exit 1), never a crash
    *[("duetto-data inspect", ["inspect", "{%s}" % k], PROBLEM) for k in (
        "tar_dup_member", "tar_dup_key", "tar_symlink", "tar_fifo", "tar_deep_json", "tar_nan_json", "tar_bad_utf8",
        "tar_gz", "tar_claims_huge")],
    *[("duetto-data check", ["check", "{%s}" % k], PROBLEM) for k in ("tar_dup_key", "tar_symlink", "tar_claims_huge")],
    ("duetto-data encode", ["encode", "{tar_claims_huge}", "--video-vae", "{adir}", "--audio-vae", "{adir}", "--out", "{out}"], None),
    ("duetto-data ingest", ["ingest", "{fifo}", "--out", "{out}"], "not a directory"),
    ("duetto-train vae", ["vae", "--modality", "video", "--data", "{tar_symlink}", "--out", "{out}/run"], None),
    ("duetto-train joint", ["joint", "--data", "{tar_gz}", "--out", "{out}/run"], None),
]
MAINS = {"duetto-data": "duetto.data.cli", "duetto-sync": "duetto.align.cli", "duetto": "duetto.joint.cli",
         "duetto-train": "duetto.train.cli"}


def _main(command: str):
    import importlib
    return importlib.import_module(MAINS[command.split()[0]]).main


class _Timeout(Exception):
    pass


def _alarm(*_):
    raise _Timeout()


@pytest.mark.parametrize("command,args,phrase", CASES, ids=[f"{c}:{' '.join(a)[:60]}" for c, a, _ in CASES])
def test_bad_input_is_one_clear_error(fx, capsys, monkeypatch, command, args, phrase):
    monkeypatch.delenv("DUETTO_DEBUG", raising=False)
    old = signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(LIMIT_S)
    try:
        try:
            code = _main(command)(_sub(args, fx))
        except SystemExit as e:                   # argparse's usage errors
            code = e.code
    except _Timeout:
        pytest.fail(f"took over {LIMIT_S} s")
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)
    captured = capsys.readouterr()
    err = captured.err
    lines = [line for line in err.strip().splitlines() if line.strip()]
    assert "Traceback" not in err + captured.out and "internal error" not in err, err
    if phrase == PROBLEM:
        assert code == 1 and "problem" in captured.out.lower(), (code, captured.out, err)
        return
    assert code == 2, (code, err)
    assert lines and "error" in lines[-1].lower(), err
    if phrase:
        assert phrase.lower() in lines[-1].lower(), err
    out = fx["out"]
    assert not out.exists() or not [p for p in out.rglob("*") if p.is_file()], list(out.rglob("*"))


def test_corpus_counts(capsys):
    """The corpus's size per command (printed with -s; the closing note quotes it), and that it spans them all."""
    counts = Counter(c for c, _, _ in CASES)
    with capsys.disabled():
        print("\nbad-input corpus:", ", ".join(f"{c} {n}" for c, n in sorted(counts.items())), f"(total {len(CASES)})")
    assert {c.split()[0] for c in counts} == set(MAINS) and len(CASES) >= 60
