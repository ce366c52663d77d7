"""Per-sample rows for `duetto-data inspect` (headers and metadata) and `duetto-data check` (events)."""
from __future__ import annotations

from .errors import DuettoError
from .events import check_events
from .media import probe, read_clip
from .schema import parse_meta
from .shards import BadSample, iter_shard


def inspect_shard(path) -> list[dict]:
    """One row per sample: what its JSON and its media headers say, and every problem found."""
    rows = []
    for item in iter_shard(path):
        if isinstance(item, BadSample):
            rows.append({"shard": item.shard, "key": item.key, "problems": f"{item.reason}: {item.detail}"})
            continue
        row, problems = {"shard": item.shard, "key": item.key, "members": ",".join(sorted(item.files))}, []
        meta = None
        try:
            meta = parse_meta(item.files["json"], f"{item.key}.json")
            row["caption"] = meta["caption"]
        except DuettoError as e:
            problems.append(str(e))
        try:
            pr = probe(item.files["mp4"], f"{item.key}.mp4")
            row.update(duration=round(pr.duration, 3), fps=round(pr.fps, 3), size=f"{pr.width}x{pr.height}",
                       audio=f"{pr.sample_rate}Hz/{pr.channels}ch", codecs=f"{pr.video_codec}+{pr.audio_codec}")
            if meta is not None:
                if abs(pr.fps - meta["fps"]) > 0.01:
                    problems.append(f"fps {pr.fps:.3f} != json {meta['fps']}")
                if pr.sample_rate != meta["sample_rate"]:
                    problems.append(f"sample rate {pr.sample_rate} != json {meta['sample_rate']}")
                if abs(pr.duration - meta["duration"]) > 1.0 / max(pr.fps, 1.0):
                    problems.append(f"duration {pr.duration:.3f} s != json {meta['duration']:.3f} s")
        except DuettoError as e:
            problems.append(str(e))
        row["problems"] = "; ".join(problems)
        rows.append(row)
    return rows


def check_shard(path) -> list[dict]:
    """One row per sample with events: do independent detectors find them where the JSON says?"""
    rows = []
    for item in iter_shard(path):
        if isinstance(item, BadSample):
            rows.append({"key": item.key, "ok": False, "problems": f"{item.reason}: {item.detail}"})
            continue
        try:
            meta = parse_meta(item.files["json"], f"{item.key}.json")
            clip = read_clip(item.files["mp4"], name=f"{item.key}.mp4")
        except DuettoError as e:
            rows.append({"key": item.key, "ok": False, "problems": str(e)})
            continue
        if not meta.get("events"):
            rows.append({"key": item.key, "family": meta.get("family", "-"), "events": 0, "ok": None,
                         "problems": "no ground-truth events"})
            continue
        r = check_events(clip.video, clip.audio, clip.fps, clip.sample_rate, meta)
        rows.append({"key": item.key, "family": meta.get("family", "-"), **r,
                     "problems": "" if r["ok"] else "events missed"})
    return rows
