"""`duetto-data`: make synthetic shards, ingest real footage, inspect shards, check their sync, encode latent caches."""
from __future__ import annotations

import contextlib
import json
import math
import multiprocessing
import os
import sys
from pathlib import Path

from tqdm import tqdm

from . import console
from .errors import DuettoError
from .lock import FolderLock
from .ingest import IngestConfig, ingest
from .inspect import check_shard, inspect_shard
from .latent_format import LATENT_DTYPES
from .media import AUDIO_CODECS, SHARD_AUDIO
from .shards import ShardWriter, expand_shards
from .synth import FAMILIES, SynthConfig, render_sample

PROG = "duetto-data"
EPILOG = """exit codes: 0 ok, 1 problems found (inspect, check), 2 bad input

examples:
  duetto-data synth --family impacts --n 100 --seconds 4 --out shards/impacts
  duetto-data ingest ~/footage --out shards/real --size 128
  duetto-data inspect shards/impacts/*.tar
  duetto-data check shards/impacts
  duetto-data encode shards/impacts --video-vae runs/video/model --audio-vae runs/audio/model --out latents/impacts"""


def _positive(kind, zero_ok: bool = False):
    """An argparse type: a finite number above 0 (or at least 0)."""
    def conv(s):
        v = kind(s)
        if not ((v >= 0 if zero_ok else v > 0) and math.isfinite(v)):
            raise ValueError
        return v
    conv.__name__ = f"{'non-negative' if zero_ok else 'positive'} {kind.__name__}"
    return conv


MAX_CLIPS = 1_000_000    # one synth run; more is a mistake (a few days of work on this machine)
SHARD_AUDIO_CODECS = sorted(AUDIO_CODECS.keys() - {"pcm_f32le"})   # what an mp4 shard can carry


def build_parser():
    p = console.parser(PROG, "Clips and shards for Duetto: synthetic synced scenes, ingest of real "
                             "footage, inspection, sync checks and latent caches.", EPILOG)
    sub = p.add_subparsers(dest="cmd", required=True, metavar="COMMAND")

    s = sub.add_parser("synth", help="write shards of synthetic synced scenes",
                       description="Render synthetic scenes (deterministic by seed) into webdataset shards "
                                   "of KEY.mp4 (H.264 + AAC) + KEY.json (caption, ground-truth event times).")
    s.add_argument("--family", choices=[*FAMILIES, "all"], default="all",
                   help="scene family; 'all' cycles through them (default: all)")
    s.add_argument("--n", type=console.int_in(1, MAX_CLIPS, "a clip count"), default=16,
                   help=f"number of clips, 1-{MAX_CLIPS} (default: 16)")
    s.add_argument("--seconds", type=_positive(float), default=4.0, help="clip length in seconds (default: 4)")
    s.add_argument("--fps", type=_positive(float), default=25.0, help="frame rate (default: 25)")
    s.add_argument("--size", type=_positive(int), default=64, help="square frame size in pixels, even (default: 64)")
    s.add_argument("--sample-rate", type=_positive(int), default=16000, help="audio sample rate in Hz (default: 16000)")
    s.add_argument("--seed", type=console.int_in(0, console.MAX_SEED - MAX_CLIPS, "a seed"), default=0,
                   help="seed of the first clip; clip i uses seed+i (default: 0)")
    s.add_argument("--shard-size", type=_positive(int), default=100, help="clips per shard (default: 100)")
    s.add_argument("--jobs", type=_positive(int), default=min(4, os.cpu_count() or 1),
                   help="worker processes rendering clips; output is the same for any value (default: %(default)s)")
    s.add_argument("--audio-codec", choices=SHARD_AUDIO_CODECS, default=SHARD_AUDIO,
                   help="audio codec inside each mp4: flac keeps onsets sample-exact, aac plays everywhere "
                        "but smears transients by up to ~10 ms (default: %(default)s)")
    s.add_argument("--out", required=True, help="output directory for the .tar shards")
    s.add_argument("--overwrite", action="store_true", help="replace shards already in --out")
    s.add_argument("--quiet", action="store_true", help="no progress bar")

    g = sub.add_parser("ingest", help="turn a folder of real clips into shards",
                       description="Read every video in SRC (recursively), caption it from NAME.txt or NAME.json "
                                   "(a \"caption\" field; other fields are kept), resample, cut into segments "
                                   "and write shards. Unusable clips are skipped with a reason.")
    g.add_argument("src", help="folder of clips")
    g.add_argument("--out", required=True, help="output directory for the .tar shards")
    g.add_argument("--fps", type=_positive(float), default=25.0, help="output frame rate (default: 25)")
    g.add_argument("--size", type=_positive(int), default=256,
                   help="square output size in pixels; the picture is scaled and centre-cropped (default: 256)")
    g.add_argument("--sample-rate", type=_positive(int), default=16000, help="output sample rate (default: 16000)")
    g.add_argument("--channels", type=int, choices=[1, 2], default=1, help="output audio channels (default: 1)")
    g.add_argument("--segment", type=_positive(float, zero_ok=True), default=10.0, help="cut into pieces of this many seconds; 0 keeps "
                                                              "clips whole (default: 10)")
    g.add_argument("--min-seconds", type=_positive(float), default=1.0, help="drop clips/pieces shorter than "
                                                                            "this (default: 1)")
    g.add_argument("--allow-uncaptioned", action="store_true", help="ingest clips with no sidecar, caption ''")
    g.add_argument("--audio-codec", choices=SHARD_AUDIO_CODECS, default=SHARD_AUDIO,
                   help="audio codec inside each mp4 (default: %(default)s)")
    g.add_argument("--json", action="store_true", help="print the report as JSON")
    g.add_argument("--quiet", action="store_true", help="no progress bar")

    i = sub.add_parser("inspect", help="print a table of the samples in shards",
                       description="Print keys, durations, fps, sizes, audio rates, captions and problems "
                                   "(unreadable members, bad JSON, metadata that disagrees with the media).")
    i.add_argument("shards", nargs="+", help="shard files, directories or globs")
    i.add_argument("--json", action="store_true", help="print rows as JSON lines")

    c = sub.add_parser("check", help="check that synthetic clips are in sync with their ground truth",
                       description="Decode every sample, run independent detectors (audio onsets; per-frame "
                                   "visual change) and compare them with the event times in its JSON: audio "
                                   "within 10 ms, picture on the exact frame.")
    c.add_argument("shards", nargs="+", help="shard files, directories or globs")
    c.add_argument("--json", action="store_true", help="print rows as JSON lines")

    e = sub.add_parser("encode", help="encode clip shards into latent shards with a video and an audio VAE",
                       description="Decode every clip at the video VAE's frame rate (square --size pixels) and the "
                                   "audio VAE's sample rate and channels, trim the video to 1 + k*n frames (k: the "
                                   "VAE's temporal factor) and the audio to the same span, encode both (posterior "
                                   "means, chunk by chunk) and write webdataset shards of KEY.video.npy [C,L,h,w], "
                                   "KEY.audio.npy [C,L], KEY.video_times.npy and KEY.audio_times.npy (seconds, the "
                                   "centre of each latent) and KEY.json (the source metadata, what was encoded, "
                                   "and each VAE's config and weights hash). Unusable clips are skipped with a reason.")
    e.add_argument("shards", nargs="+", help="clip shard files, directories or globs")
    e.add_argument("--video-vae", required=True, help="video VAE folder (config.json + model.safetensors)")
    e.add_argument("--audio-vae", required=True, help="audio VAE folder (config.json + model.safetensors)")
    e.add_argument("--out", required=True, help="output directory for the latent .tar shards")
    e.add_argument("--size", type=_positive(int), default=None,
                   help="square frame side in pixels, a multiple of 8 (default: the video VAE config's size, else 64)")
    e.add_argument("--dtype", choices=list(LATENT_DTYPES), default="float32",
                   help="how latents are stored; float16 halves the bytes (default: %(default)s)")
    e.add_argument("--chunk-seconds", type=_positive(float), default=4.0,
                   help="encode this many seconds of a clip at a time: bounds memory on long clips, same "
                        "latents (default: %(default)s)")
    e.add_argument("--shard-size", type=_positive(int), default=500, help="clips per latent shard (default: 500)")
    e.add_argument("--device", default="cpu", help="torch device for the VAEs, e.g. cuda (default: cpu)")
    e.add_argument("--overwrite", action="store_true", help="replace shards already in --out")
    e.add_argument("--json", action="store_true", help="print the report as JSON")
    e.add_argument("--quiet", action="store_true", help="no progress bar")
    return console.examples(p, {
        'synth': 'duetto-data synth --family impacts --n 8 --seconds 4 --out shards/impacts',
        'ingest': 'duetto-data ingest my-footage/ --out shards/real --fps 25 --size 64 --segment 4',
        'inspect': 'duetto-data inspect shards/impacts/*.tar',
        'check': 'duetto-data check shards/impacts/*.tar',
        'encode': 'duetto-data encode shards/ --video-vae samples/vae-video-tiny --audio-vae samples/vae-audio-tiny --out latents/',
    })


def _check_out(out: Path, overwrite: bool):
    """``--out`` must be a directory (or nothing yet) without shards, unless they are to be replaced."""
    if out.exists() and not out.is_dir():
        raise DuettoError(f"{out}: exists and is not a directory")
    if out.is_dir() and any(out.glob("*.tar")) and not overwrite:
        raise DuettoError(f"{out}: already holds shards (pass --overwrite to replace them)")


@contextlib.contextmanager
def _owned(out: Path, overwrite: bool, what: str):
    """``--out`` checked, then locked for this command (`duetto.data.lock`: a second writer is refused, naming this
    one), then checked again: another run may have written shards there between the two."""
    _check_out(out, overwrite)
    with FolderLock(out, what):
        _check_out(out, overwrite)
        yield


def cmd_synth(a) -> int:
    cfg = SynthConfig(seconds=a.seconds, fps=a.fps, size=a.size, sample_rate=a.sample_rate)
    try:
        cfg.check()
    except ValueError as e:
        raise DuettoError(str(e)) from None
    with _owned(Path(a.out), a.overwrite, "duetto-data synth"):
        return _synth(a, cfg)


def _synth(a, cfg: SynthConfig) -> int:
    out = Path(a.out)
    if a.overwrite:
        for old in out.glob("*.tar"):
            old.unlink()
    families = list(FAMILIES) if a.family == "all" else [a.family]
    prefix = a.family if a.family != "all" else "synth"
    jobs = [(families[i % len(families)], a.seed + i, cfg, a.audio_codec) for i in range(a.n)]
    pool = multiprocessing.get_context("spawn").Pool(a.jobs) if a.jobs > 1 and a.n > 1 else None
    try:
        results = pool.imap(_render_sample, jobs) if pool else map(_render_sample, jobs)
        with ShardWriter(out, prefix=prefix, max_count=a.shard_size) as writer:
            for key, files in tqdm(results, total=a.n, desc=f"synth {a.family}", unit="clip", disable=a.quiet):
                writer.write(key, files)
    finally:
        if pool:
            pool.terminate()
    print(f"wrote {a.n} clips to {len(writer.paths)} shard(s) in {out}")
    return console.EXIT_OK


def _render_sample(job) -> tuple[str, dict[str, bytes]]:
    """`render_sample` with one picklable argument (runs in a worker process)."""
    return render_sample(*job)


def _report(rep, as_json: bool, summary: str):
    """What ingest and encode print: JSON of written/skipped/shards, or the skipped table and a summary."""
    if as_json:
        print(json.dumps({"written": rep.written, "skipped": rep.skipped, "shards": rep.shards}, indent=1))
        return
    if rep.skipped:
        print(console.table(rep.skipped, ["source", "reason"], {"reason": 100}))
    print(summary)


def cmd_ingest(a) -> int:
    cfg = IngestConfig(fps=a.fps, size=a.size, sample_rate=a.sample_rate, channels=a.channels,
                       segment=a.segment, min_seconds=a.min_seconds, allow_uncaptioned=a.allow_uncaptioned,
                       audio_codec=a.audio_codec)
    if Path(a.out).exists() and not Path(a.out).is_dir():
        raise DuettoError(f"{a.out}: exists and is not a directory")
    with FolderLock(a.out, "duetto-data ingest"):
        rep = ingest(a.src, a.out, cfg, progress=not a.quiet)
    _report(rep, a.json, f"ingested {len({w['source'] for w in rep.written})} clip(s) as {len(rep.written)} "
                         f"piece(s) into {len(rep.shards)} shard(s); skipped {len(rep.skipped)}")
    if not rep.written:
        raise DuettoError(f"{a.src}: no usable clips (all {len(rep.skipped)} skipped)")
    return console.EXIT_OK


def _rows_out(rows, columns, widths, as_json) -> None:
    if as_json:
        for r in rows:
            print(json.dumps(r, ensure_ascii=False))
    else:
        print(console.table(rows, columns, widths))


def cmd_inspect(a) -> int:
    rows = [r for s in expand_shards(a.shards) for r in inspect_shard(s)]
    _rows_out(rows, ["key", "duration", "fps", "size", "audio", "codecs", "caption", "problems"],
              {"caption": 48, "problems": 90}, a.json)
    bad = sum(1 for r in rows if r.get("problems"))
    if not a.json:
        print(f"{len(rows)} sample(s), {bad} with problems")
    return console.EXIT_FAIL if bad else console.EXIT_OK


def cmd_check(a) -> int:
    rows = [r for s in tqdm(expand_shards(a.shards), desc="check", unit="shard", disable=a.json or len(a.shards) < 2)
            for r in check_shard(s)]
    _rows_out(rows, ["key", "family", "events", "audio_found", "audio_max_err_ms", "video_found", "ok", "problems"],
              {"problems": 60}, a.json)
    failed = sum(1 for r in rows if r.get("ok") is False)
    if not a.json:
        checked = sum(1 for r in rows if r.get("ok") is not None)
        print(f"{checked} clip(s) checked: {checked - failed} in sync, {failed} not")
    return console.EXIT_FAIL if failed else console.EXIT_OK


def _load_vae(directory: str, modality: str, option: str, device: str):
    from .encode import load_vae
    try:
        return load_vae(directory, modality, device)
    except DuettoError as e:
        raise DuettoError(f"{option} {' '.join(str(e).split())}") from None


def cmd_encode(a) -> int:
    from .encode import ClipEncoder, EncodeConfig, encode_shards    # torch: only for this command
    out = Path(a.out)
    shards = expand_shards(a.shards)
    if out.is_dir() and any(Path(s).resolve().parent == out.resolve() for s in shards):
        raise DuettoError(f"{out}: holds input shards; write the latents to another directory")
    with _owned(out, a.overwrite, "duetto-data encode"):
        return _encode(a, out, shards)


def _encode(a, out: Path, shards) -> int:
    from .encode import ClipEncoder, EncodeConfig, encode_shards
    cfg = EncodeConfig(size=a.size, dtype=a.dtype, chunk_seconds=a.chunk_seconds, shard_size=a.shard_size,
                       device=a.device)
    encoder = ClipEncoder(_load_vae(a.video_vae, "video", "--video-vae", a.device),
                          _load_vae(a.audio_vae, "audio", "--audio-vae", a.device), cfg)
    if a.overwrite:
        for old in out.glob("*.tar"):
            old.unlink()
    rep = encode_shards(shards, out, encoder, progress=not a.quiet)
    _report(rep, a.json, f"encoded {len(rep.written)} clip(s) into {len(rep.shards)} shard(s) in {out}; "
                         f"skipped {len(rep.skipped)}")
    if not rep.written:
        raise DuettoError(f"no usable clips in {len(shards)} shard(s) (all {len(rep.skipped)} skipped)")
    return console.EXIT_OK


COMMANDS = {"synth": cmd_synth, "ingest": cmd_ingest, "inspect": cmd_inspect, "check": cmd_check,
            "encode": cmd_encode}


def _main(argv=None) -> int:
    a = build_parser().parse_args(argv)
    return COMMANDS[a.cmd](a)


def main(argv=None) -> int:
    return console.run(PROG, _main, argv)


if __name__ == "__main__":
    sys.exit(main())
