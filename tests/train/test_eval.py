"""`duetto-train eval`: event timing on the time base (one frame of tolerance, no more), the Fréchet
distance, prompt files, and the command on a micro bundle, with its one-line errors."""
import json

import numpy as np
import pytest

from duetto.align.shift import shift_audio
from duetto.data.synth import SynthConfig, render
from duetto.train.cli import main
from duetto.train.evaluate import event_timing, flicker, frechet, read_prompts


def test_event_timing_counts_onsets_within_one_frame_of_visual_events():
    clip = render("impacts", 1, SynthConfig(seconds=4))
    ok = event_timing(clip, "impacts")
    assert ok["visual_events"] >= 3 and ok["audio_onsets"] >= 3
    assert ok["events_with_onsets"] == ok["visual_events"] and ok["onsets_on_events"] == ok["audio_onsets"]
    for ms in (-100, 100):                 # 2.5 frames off: every pair is out of tolerance
        off = event_timing(shift_audio(clip, ms), "impacts")
        assert off["events_with_onsets"] == 0 and off["onsets_on_events"] == 0
    half = event_timing(shift_audio(clip, 20), "impacts")      # half a frame off: still within one frame
    assert half["events_with_onsets"] == half["visual_events"]


def test_summary_counts_sync_over_clips_with_events_and_over_all():
    from duetto.train.evaluate import summarise
    row = dict(audio_onsets=2, onsets_on_events=0, events_with_onsets=0)
    rows = [dict(row, family="music", visual_events=2, in_sync_1_frame=True, sync_verdict="pass",
                 onsets_on_events=1, events_with_onsets=1),
            dict(row, family="music", visual_events=0, in_sync_1_frame=False, sync_verdict="no-signal"),
            dict(row, family="speech", visual_events=0, in_sync_1_frame=True, sync_verdict="pass", sync_method="speech"),
            dict(row, family="speech", visual_events=0, in_sync_1_frame=False, sync_verdict="fail", sync_method="speech"),
            dict(row, family="speech", visual_events=0, in_sync_1_frame=False, sync_verdict="no-signal",
                 sync_method="events")]
    s = {r["family"]: r for r in summarise(rows)}
    assert (s["music"]["with_events"], s["music"]["sync_within_1_frame"], s["music"]["sync_all_clips"]) == (1, 1.0, 0.5)
    assert (s["speech"]["sync_within_1_frame"], s["speech"]["sync_all_clips"], s["speech"]["no_signal"]) == (None, 0.333, 0.333)
    assert (s["all"]["sync_within_1_frame"], s["all"]["sync_all_clips"], s["all"]["no_signal"]) == (1.0, 0.4, 0.4)
    assert s["all"]["event_precision"] == 1 / 10 and s["all"]["event_recall"] == 0.5
    # the lip timing apart from whether a face was drawn: the clip without a face is left out
    assert (s["speech"]["with_face"], s["speech"]["sync_with_face"]) == (2, 0.5)
    assert (s["music"]["with_face"], s["music"]["sync_with_face"]) == (0, None)


def test_frechet_distance_of_gaussians():
    rng = np.random.default_rng(0)
    a = rng.standard_normal((4000, 3))
    assert frechet(a, a) == pytest.approx(0, abs=1e-6)
    assert frechet(a, a + np.array([2.0, 0, 0])) == pytest.approx(4.0, rel=1e-6)
    assert frechet(a, 3 * a) == pytest.approx(3 * (3 - 1) ** 2 * float(np.var(a, 0, ddof=1).mean()), rel=1e-2)


def test_flicker_is_the_typical_pixels_change_not_the_moving_objects():
    rng = np.random.default_rng(0)
    still = np.full((10, 32, 32, 3), 90, np.uint8)
    moving = still.copy()
    for k in range(10):                              # a bright square that travels 3 px a frame: 6 % of the pixels
        moving[k, 10:18, 3 * k: 3 * k + 8] = 250
    assert flicker(still) == 0.0 and flicker(moving) == 0.0
    shimmer = np.clip(still + rng.integers(-6, 7, still.shape), 0, 255).astype(np.uint8)   # speckle redrawn each frame
    assert 2.0 < flicker(shimmer) < 6.0
    assert flicker(still[:1]) == 0.0


def test_summary_reports_flicker_beside_the_reference():
    from duetto.train.evaluate import summarise
    row = dict(audio_onsets=0, onsets_on_events=0, events_with_onsets=0, visual_events=0, in_sync_1_frame=False,
               sync_verdict="no-signal")
    rows = [dict(row, family="music", flicker=1.0), dict(row, family="music", flicker=3.0),
            dict(row, family="speech", flicker=0.5)]
    s = {r["family"]: r for r in summarise(rows, reference_flicker={"music": [0.2, 0.4], "speech": [0.0]})}
    assert (s["music"]["flicker"], s["music"]["reference_flicker"]) == (2.0, 0.3)
    assert (s["all"]["flicker"], s["all"]["reference_flicker"]) == (1.5, 0.2)


def test_prompt_files(tmp_path):
    f = tmp_path / "p.jsonl"
    f.write_text('# held-out prompts\n{"prompt": "a ball drops", "family": "impacts", "seed": 7}\n\nsomeone says hi\n')
    p = read_prompts(f)
    assert [(x.text, x.family, x.seed) for x in p] == [("a ball drops", "impacts", 7), ("someone says hi", "all", 1)]
    f.write_text('{"prompt": "a man talks", "family": "speech", "speech": "hello there"}\n')
    assert read_prompts(f)[0].speech == "hello there"
    f.write_text('{"family": "music"}\n')
    with pytest.raises(Exception, match=r"p.jsonl:1: not a prompt line"):
        read_prompts(f)
    f.write_text("\n# nothing\n")
    with pytest.raises(Exception, match="no prompts"):
        read_prompts(f)


def test_prompts_from_held_out_clips_carry_their_words():
    from types import SimpleNamespace

    from duetto.train.evaluate import prompts_from_bank
    metas = [{"caption": "a woman speaks", "family": "speech", "speech": {"transcript": " hi there ", "voice": "de+f3"}},
             {"caption": "a ball drops", "family": "impacts"}, {"caption": "", "family": "music"}]
    bank = SimpleNamespace(keys=["a", "b", "c"], metas=metas, videos=[None] * 3, audios=[None] * 3)
    p = prompts_from_bank(bank)
    assert [(x.key, x.family, x.speech, x.speech_voice) for x in p] == [
        ("a", "speech", "hi there", "de"), ("b", "impacts", None, "en-us")]       # the uncaptioned clip is skipped


@pytest.fixture(scope="module")
def held_out(tmp_path_factory):
    from duetto.data.cli import main as data_main
    out = tmp_path_factory.mktemp("held")
    assert data_main(["synth", "--family", "impacts", "--n", "2", "--seconds", "1.2", "--seed", "1000",
                      "--out", str(out), "--quiet"]) == 0
    return out


def test_eval_reports_per_family_and_writes_its_clips(micro_bundle, held_out, tmp_path, capsys):
    prompts = tmp_path / "p.jsonl"
    prompts.write_text('{"prompt": "a glass ball drops", "family": "impacts"}\n{"prompt": "a drum", "family": "music"}\n')
    out = tmp_path / "run"
    assert main(["eval", str(micro_bundle), "--prompts", str(prompts), "--clips", str(held_out), "--steps", "1",
                 "--out", str(out), "--json", "--no-progress"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report == json.loads((out / "report.json").read_text())
    assert [r["family"] for r in report["rows"]] == ["impacts", "music"]
    summary = {s["family"]: s for s in report["summary"]}
    assert set(summary) == {"impacts", "music", "all"} and summary["all"]["clips"] == 2
    assert summary["impacts"]["latent_frechet"] is not None and summary["music"]["latent_frechet"] is None
    assert summary["impacts"]["flicker"] == report["rows"][0]["flicker"]          # the clip's own, averaged
    assert summary["impacts"]["reference_flicker"] == 0.0      # synthetic scenes hold still where nothing moves
    assert sorted(p.name for p in (out / "clips").iterdir()) == ["0000-impacts.mp4", "0001-music.mp4"]


def test_video_to_audio_keeps_the_given_picture(micro_bundle, held_out, capsys):
    assert main(["eval", str(micro_bundle), "--clips", str(held_out), "--given", "video", "--steps", "1",
                 "--json", "--no-progress"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert len(report["rows"]) == 2 and report["settings"]["given"] == "video"
    # the picture is the held-out clip's own: its flashes are found as visual events
    assert all(r["visual_events"] >= 1 for r in report["rows"])


def test_family_filter_keeps_each_prompts_seed(micro_bundle, held_out, tmp_path, capsys):
    prompts = tmp_path / "p.jsonl"
    prompts.write_text('{"prompt": "a ball", "family": "impacts", "seed": 3}\n{"prompt": "a drum", "family": "music", '
                       '"seed": 4}\n{"prompt": "a bell", "family": "music", "seed": 5}\n')
    assert main(["eval", str(micro_bundle), "--prompts", str(prompts), "--family", "music", "--n", "1", "--steps", "1",
                 "--json", "--no-progress"]) == 0
    rows = json.loads(capsys.readouterr().out)["rows"]
    assert [(r["prompt"], r["seed"]) for r in rows] == [("a drum", 4)]       # --n counts the kept prompts
    assert main(["eval", str(micro_bundle), "--clips", str(held_out), "--family", "speech", "--no-progress"]) == 2
    assert "no prompts of family speech (there are: impacts)" in capsys.readouterr().err


@pytest.mark.parametrize("args, message", [
    ([], "give --prompts FILE and/or --clips SHARDS"),
    (["--given", "audio", "--prompts", "PROMPTS"], "--given takes its prompts from --clips"),
    (["--given", "audio"], "--given audio needs --clips"),
    (["--prompts", "missing.txt"], "no such prompts file"),
])
def test_bad_requests_exit_2_with_one_line(micro_bundle, tmp_path, capsys, args, message):
    prompts = tmp_path / "p.txt"
    prompts.write_text("a ball\n")
    args = [str(prompts) if x == "PROMPTS" else str(tmp_path / x) if x.endswith(".txt") else x for x in args]
    assert main(["eval", str(micro_bundle), *args]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1
    assert main(["eval", str(tmp_path / "nope"), "--prompts", str(prompts)]) == 2
    assert "no such bundle" in capsys.readouterr().err


def test_n_spreads_over_families_and_keeps_each_prompts_seed():
    from duetto.train.evaluate import Prompt, spread
    fams = ["impacts"] * 4 + ["music"] * 3 + ["speech"] * 2
    prompts = [Prompt(f"{f} {i}", f, i) for i, f in enumerate(fams)]
    picked = spread(prompts, 6)
    assert [p.family for p in picked] == ["impacts", "impacts", "music", "music", "speech", "speech"]
    assert [p.seed for p in picked] == [0, 1, 4, 5, 7, 8]                 # the seeds a full evaluation gives
    assert spread(prompts, 100) == prompts and [p.seed for p in spread(prompts, 3)] == [0, 4, 7]


def test_eval_rewrites_plain_requests_and_says_how_their_captions_read(micro_bundle, tmp_path, capsys):
    prompts = tmp_path / "requests.jsonl"
    prompts.write_text('{"prompt": "a red ball bouncing", "family": "impacts"}\n{"prompt": "drums", "family": "music"}\n')
    base = ["eval", str(micro_bundle), "--prompts", str(prompts), "--steps", "1", "--json", "--no-progress"]
    assert main(base) == 0
    plain = json.loads(capsys.readouterr().out)
    assert [r["caption_family"] for r in plain["rows"]] == [False, False]     # as written: not the captions' style
    assert "request" not in plain["rows"][0] and "rewrite" not in plain["settings"]
    assert main(base + ["--rewrite"]) == 0
    report = json.loads(capsys.readouterr().out)
    rows = report["rows"]
    assert [r["request"] for r in rows] == ["a red ball bouncing", "drums"]
    assert rows[0]["prompt"] != "a red ball bouncing" and "red" in rows[0]["prompt"]     # the colour asked is kept
    assert [r["caption_family"] for r in rows] == [True, True]
    assert {s["family"]: s["caption_family"] for s in report["summary"]}["all"] == 1.0
    assert report["settings"]["rewrite"] == "embedded"
    assert main(base + ["--rewrite-model", str(tmp_path)]) == 2
    assert capsys.readouterr().err.strip().endswith("--rewrite-model goes with --rewrite")
    assert main(["eval", str(micro_bundle), "--clips", str(tmp_path), "--rewrite"]) == 2
    assert "--rewrite rewrites the --prompts FILE" in capsys.readouterr().err
    assert main(base + ["--rewrite", "--rewrite-model", str(tmp_path / "no-model")]) == 2     # before the bundle loads
    assert len(capsys.readouterr().err.strip().splitlines()) == 1


def test_summary_counts_voiced_outputs_apart_from_their_pitch():
    """``f0_found``: the share of clips given a voice whose output has a median F0 at all; ``f0_within_15`` counts
    a clip without one as a miss."""
    from duetto.train.evaluate import summarise
    row = dict(audio_onsets=0, onsets_on_events=0, events_with_onsets=0, visual_events=0, in_sync_1_frame=False,
               sync_verdict="no-signal", family="speech", voice_closer=False)
    rows = [dict(row, f0_ratio=None), dict(row, f0_ratio=1.05), dict(row, f0_ratio=1.5), dict(row, f0_ratio=None)]
    s = {r["family"]: r for r in summarise(rows)}
    assert (s["speech"]["f0_found"], s["speech"]["f0_within_15"]) == (0.5, 0.25)
