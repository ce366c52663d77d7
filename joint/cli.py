"""`duetto generate`: a video clip and its soundtrack from a caption, together and in sync.

    duetto generate "a glass ball drops onto a wooden floor" -o ball.mp4
    duetto generate "a drummer plays a slow beat" --seconds 4 --seed 7 -n 4 -o drums.mp4
    duetto generate "the sound of this" --video given.mp4 -o with_sound.mp4
    duetto generate "a man in a blue shirt talks" --speech "hello there" --voice me.wav -o hello.mp4
    duetto generate "a piano plays" --music reference.wav -o piano.mp4
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

from duetto.data import console
from duetto.data.errors import DuettoError
from duetto.joint.conditioning import quoted_words
from duetto.joint.config import HISTORY_ANCHOR_S, HISTORY_METHODS, anchor_seconds

PROG = "duetto"
SHIPPED = Path(__file__).resolve().parents[1] / "samples"
BASE_BUNDLE = SHIPPED / "duetto-tiny"               # the first shipped model: the base the two below are deltas on
TEACHER_BUNDLE = SHIPPED / "duetto-tiny-v2"         # duetto-tiny fine-tuned: stops talking after the words, extends
                                                    # as trained; the student's teacher (samples/README.md)
DEFAULT_BUNDLE = SHIPPED / "duetto-tiny-student"    # v2 distilled: 2 model passes a clip instead of 57, 2.3 s end to end
LONG_BUNDLE = TEACHER_BUNDLE    # the default beyond one window (duetto extend, generate --seconds past the window):
                                # the student, window by window, spoke for 5.9x the words' length (the teacher 1.4x)


def audio_vae_path(given: Path) -> Path:
    """``--audio-vae``: an audio VAE folder, or the name of a shipped one (``vae-audio-tiny-pitch``)."""
    if not given.exists() and len(given.parts) == 1 and (SHIPPED / given.name / "config.json").is_file():
        return SHIPPED / given.name
    if not given.is_dir():
        raise DuettoError(f"{given}: no such audio VAE folder")
    return given


def bundle_path(given: Path | None, long: bool = False) -> Path:
    """``--checkpoint``: a bundle folder, or the name of a shipped one (``duetto-tiny``); None: the default,
    `DEFAULT_BUNDLE`, or `LONG_BUNDLE` for a clip made window by window (``long``)."""
    if given is None:
        bundle = LONG_BUNDLE if long else DEFAULT_BUNDLE
    elif not given.exists() and len(given.parts) == 1 and (SHIPPED / given.name / "generation.json").is_file():
        bundle = SHIPPED / given.name
    else:
        bundle = given
    if not bundle.is_dir():
        shipped = sorted(p.name for p in SHIPPED.glob("*") if (p / "generation.json").is_file())
        raise DuettoError(f"{bundle}: no such model bundle (shipped: {', '.join(shipped) or 'none'})")
    return bundle


def default_window(bundle: Path = DEFAULT_BUNDLE) -> float:
    """The clip length (seconds) a bundle makes in one window, from its ``generation.json``."""
    from duetto.joint.pipeline import read_generation
    return float(read_generation(bundle).seconds)


def build_parser():
    p = console.parser(PROG, __doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="cmd", metavar="COMMAND")
    g = sub.add_parser("generate", help="generate a clip (picture and sound) from a caption",
                       description="Generate a video clip and its soundtrack from a caption; with --video or --audio "
                                   "keep that stream and generate the other to match it.")
    g.add_argument("prompt", help="the caption: what is seen and heard")
    g.add_argument("-o", "--out", required=True, type=Path, help="output .mp4 (with -n N: OUT-0.mp4 ... OUT-(N-1).mp4)")
    g.add_argument("--seconds", type=float, default=None, help="clip length (default: the model's, 4 s for tiny)")
    g.add_argument("--seed", type=int, default=0, help="random seed; the same seed gives the same clip (default 0)")
    g.add_argument("--steps", type=int, default=None, help="sampling steps (default: the model's)")
    g.add_argument("-n", type=int, default=1, help="number of clips (default 1)")
    g.add_argument("--checkpoint", type=Path, default=None,
                   help=f"model bundle folder, or a shipped model's name (default: {DEFAULT_BUNDLE.name}; "
                        f"{LONG_BUNDLE.name} for --seconds beyond its window)")
    g.add_argument("--video", type=Path, default=None, help="keep this picture and generate its sound")
    g.add_argument("--audio", type=Path, default=None, help="keep this sound and generate its picture")
    g.add_argument("--speech", default=None, help="words for the person in the clip to say (phonemes by espeak-ng; "
                                                  "default: the words the caption quotes in double quotes, if any)")
    g.add_argument("--language", default="en-us", help="espeak-ng language of --speech (default en-us)")
    g.add_argument("--voice", type=Path, default=None,
                   help="voice reference: an audio or video file whose speaker the generated voice follows")
    g.add_argument("--music", type=Path, default=None,
                   help="music reference: an audio or video file whose beats, onsets and harmony the sound follows")
    add_sampling_arguments(g)
    from duetto.joint.device import add_device_arguments
    add_device_arguments(g)
    g.add_argument("--parallel", default="auto", choices=("auto", "guidance", "prompts", "sequence"),
                   help="under torchrun with several processes: run a guided step's passes on different ranks "
                        "(guidance), split the -n clips across ranks (prompts), or split each pass's tokens by time "
                        "across ranks (sequence: long clips); auto: prompts when -n is at least "
                        "the process count (see duetto/joint/parallel.py; e.g. torchrun --nproc_per_node 3 -m "
                        "duetto.joint.cli generate ...)")
    g.add_argument("--rewrite-model", type=Path, default=None,
                   help="with --rewrite: a local language model folder writes the caption (see duetto rewrite --model)")
    g.add_argument("--rewrite", action="store_true",
                   help="turn the prompt into a caption in the style the model was trained on first (printed, and "
                        "written beside each clip as OUT.json; see duetto rewrite)")
    g.add_argument("--history", type=float, default=2.0,
                   help="clips longer than the model's window are made window by window, each keeping this many "
                        "seconds of the clip so far (default 2; see duetto extend); --parallel sequence makes them "
                        "as one window split across ranks instead")
    g.add_argument("--history-method", choices=HISTORY_METHODS, default="auto",
                   help="auto (default): a model trained with known latents is told which latents are the history "
                        "and sees them clean; replace: the history is put back at every step, noised to the step's "
                        "flow time (on duetto-tiny-v2: more of the picture's events sound, long speech babbles)")
    g.add_argument("--anchor", type=float, default=None, metavar="SECONDS",
                   help="clips longer than the window: seconds of the clip's first picture every window keeps in its "
                        f"history, in place of the oldest (default {HISTORY_ANCHOR_S:g}, at most 40 %% of --history; 0: "
                        "none): what holds the picture to how it began")
    g.add_argument("--overwrite", action="store_true", help="replace output files that exist (default: refuse)")
    g.add_argument("--quiet", action="store_true", help="no progress bar")
    x = sub.add_parser("extend", help="continue a clip, picture and sound together, to a longer one",
                       description="Continue a clip window by window (each window keeps the last --history seconds of "
                                   "the clip so far and generates the rest), so it lasts --seconds in all; the clip's "
                                   "own frames and sound are kept as they are.")
    x.add_argument("clip", type=Path, help="the clip to continue (read at the model's frame rate, size and sample rate)")
    x.add_argument("--seconds", type=float, required=True, help="length of the result in seconds (more than the clip's)")
    x.add_argument("-o", "--out", required=True, type=Path, help="output .mp4")
    x.add_argument("--prompt", default=None,
                   help="the caption for what follows (default: the clip's CLIP.json or CLIP.txt caption sidecar)")
    x.add_argument("--history", type=float, default=2.0, help="seconds of the clip so far each window keeps (default 2)")
    x.add_argument("--history-method", choices=HISTORY_METHODS, default="auto",
                   help="how each window is given its history (default auto; see duetto generate --help)")
    x.add_argument("--anchor", type=float, default=None, metavar="SECONDS",
                   help=f"seconds of the clip's first picture every window keeps (default {HISTORY_ANCHOR_S:g}, at most "
                        "40 %% of --history; see duetto generate --help)")
    x.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    x.add_argument("--steps", type=int, default=None, help="sampling steps a window (default: the model's)")
    x.add_argument("--checkpoint", type=Path, default=None,
                   help=f"model bundle folder, or a shipped model's name (default: {LONG_BUNDLE.name})")
    x.add_argument("--speech", default=None, help="words to say, planned over the whole result")
    x.add_argument("--language", default="en-us", help="espeak-ng language of --speech (default en-us)")
    add_device_arguments(x)
    x.add_argument("--overwrite", action="store_true", help="replace the output if it exists (default: refuse)")
    x.add_argument("--quiet", action="store_true", help="no progress bar")
    rw = sub.add_parser("rewrite", help="turn a short request into a caption the model knows how to make",
                        description="Retrieve the training-style caption nearest to the request (MiniLM) and put "
                                    "into it what the request names that the model knows (a colour, an instrument, "
                                    "a shape, quoted words to say); print it, and what could not be kept.")
    rw.add_argument("request", help="what you want, in plain words")
    rw.add_argument("--json", action="store_true", help="print the rewrite as JSON")
    rw.add_argument("--model", type=Path, default=None,
                    help="a local instruction-tuned language model folder (transformers format, safetensors) to write "
                         "the caption; its answer is grounded in the training captions (default: the embedded "
                         "retrieval rewriter)")
    gl = sub.add_parser("gallery", help="generate a few clips, check their sync and lay them out as a web page",
                        description="Generate clips from prompts the model was not trained on (one per family, a "
                                    "speech prompt saying its words, a music prompt following a reference), check "
                                    "each with duetto-sync, and write OUT/index.html (playable clips, prompts, "
                                    "settings, verdicts, plots) and OUT/gallery.json.",
                        epilog="example:\n  duetto gallery --out demo-out/gallery && xdg-open demo-out/gallery/index.html",
                        formatter_class=argparse.RawDescriptionHelpFormatter)
    gl.add_argument("--out", required=True, type=Path, help="folder to write (refused if it holds a gallery)")
    gl.add_argument("--checkpoint", type=Path, default=None,
                    help=f"model bundle folder, or a shipped model's name (default: {DEFAULT_BUNDLE.name})")
    gl.add_argument("--per-family", type=int, default=1, help="clips per family, 1-10 (default 1)")
    gl.add_argument("--seed", type=int, default=0, help="first sampling seed (default 0)")
    gl.add_argument("--quiet", action="store_true", help="no progress bar")
    return console.examples(p, {
        'generate': 'duetto generate "a red ball bounces on a wooden floor" --seed 7 -o ball.mp4',
        'rewrite': 'duetto rewrite "a green xylophone playing a happy song"',
        'extend': 'duetto extend ball.mp4 --seconds 32 --prompt "a red ball bounces on a wooden floor" -o ball-32s.mp4',
    })


def cmd_rewrite(a) -> int:
    import dataclasses
    import json
    from duetto.joint.rewrite import rewrite
    r = rewrite(a.request, a.model)
    if a.json:
        print(json.dumps(dataclasses.asdict(r)))
    else:
        print(r.caption)
        print(_rewrite_note(r), file=sys.stderr)
    return console.EXIT_OK


def _rewrite_note(r) -> str:
    kept = ", ".join(r.kept) or "nothing it names"
    lost = f"; could not keep: {', '.join(r.dropped)} (not in anything the model was trained on)" if r.dropped else ""
    by = {"lm": " by the language model", "lm+embedded": " by the language model, grounded in the training captions"}
    return f"{PROG}: rewritten{by.get(r.by, '')} as a {r.family} scene, keeping {kept}{lost}"


def cmd_gallery(a) -> int:
    from duetto.data.lock import FolderLock
    from duetto.joint.gallery import make_gallery
    if not 1 <= a.per_family <= 10 or not 0 <= a.seed <= MAX_SEED - 100:
        raise DuettoError(f"--per-family must be 1-10, --seed 0-{MAX_SEED - 100}")
    bundle = bundle_path(a.checkpoint)
    if a.out.exists() and not a.out.is_dir():
        raise DuettoError(f"{a.out}: exists and is not a directory")
    if (a.out / "index.html").exists():
        raise DuettoError(f"{a.out}: already holds a gallery; give another --out or remove it")
    with FolderLock(a.out, "duetto gallery"):
        print(make_gallery(a.out, bundle, n_per_family=a.per_family, seed=a.seed, progress=not a.quiet))
    return console.EXIT_OK


def add_sampling_arguments(p) -> None:
    """The sampler settings a bundle stores (``generation.json``), overridable per run; `sampling_settings`
    collects them for `Pipeline.with_sampling`."""
    p.add_argument("--sampler", choices=("euler", "heun"), default=None,
                   help="ODE sampler (default: the model's; heun costs two model passes a step)")
    p.add_argument("--video-scale", type=float, default=None,
                   help="classifier-free guidance scale of the picture (default: the model's; 1 = no guidance)")
    p.add_argument("--audio-scale", type=float, default=None,
                   help="classifier-free guidance scale of the sound (default: the model's; 1 = no guidance)")
    p.add_argument("--shift", type=float, default=None,
                   help="schedule shift toward the noisy end, > 0 (default: the model's)")
    p.add_argument("--video-sync-scale", type=float, default=None,
                   help="cross-modal guidance of the picture, >= 0: how much further to follow the sound's timing "
                        "(default: the model's; 0 = off; any other value costs one more model pass per "
                        "evaluation, 2 a Heun step)")
    p.add_argument("--audio-sync-scale", type=float, default=None,
                   help="cross-modal guidance of the sound, >= 0: how much further to follow the picture's timing "
                        "(default: the model's; 0 = off)")
    p.add_argument("--guidance-max-t", type=float, default=None,
                   help="guide (both kinds) only at flow times <= this, in (0, 1]; the noisier steps take one model "
                        "pass (default: the model's; 1 = every step)")
    p.add_argument("--audio-vae", type=Path, default=None, metavar="DIR",
                   help="decode the sound with this audio VAE (a folder or a shipped name) instead of the bundle's; it "
                        "must share the bundle's latents (vae-audio-tiny-pitch: the same encoder, a decoder that "
                        "keeps more of a voice's pitch)")


def load_for_sampling(bundle, a, device, dtype, text_encoder=None):
    """The `Pipeline` of ``bundle`` with this run's sampling settings (`add_sampling_arguments`: the sampler's, and
    ``--audio-vae``), on ``device`` in ``dtype``."""
    from duetto.joint.pipeline import Pipeline
    pipe = Pipeline.load(bundle, text_encoder).with_sampling(**sampling_settings(a))
    if a.audio_vae is not None:
        pipe = pipe.with_audio_vae(audio_vae_path(a.audio_vae))
    return pipe.to(device, dtype)


def sampling_settings(a) -> dict:
    return {"steps": a.steps, "sampler": a.sampler, "video_scale": a.video_scale, "audio_scale": a.audio_scale,
            "shift": a.shift, "video_sync_scale": a.video_sync_scale, "audio_sync_scale": a.audio_sync_scale,
            "guidance_max_t": a.guidance_max_t}


def cmd_generate(a) -> int:
    if not a.prompt.strip():
        raise DuettoError("the prompt is empty: describe what is seen and heard")
    if a.speech is not None and not a.speech.strip():
        raise DuettoError("--speech is empty: give the words to say")
    from duetto.joint.pipeline import MAX_SECONDS, MAX_STEPS
    if not 1 <= a.n <= MAX_CLIPS or (a.steps is not None and not 1 <= a.steps <= MAX_STEPS) or \
            (a.seconds is not None and not 0 < a.seconds <= MAX_SECONDS):
        raise DuettoError(f"-n must be 1-{MAX_CLIPS}, --steps 1-{MAX_STEPS}, --seconds in (0, {MAX_SECONDS:g}]")
    if not 0 <= a.seed <= MAX_SEED - a.n:
        raise DuettoError(f"--seed must be in 0-{MAX_SEED - a.n} (each clip takes seed + i)")
    if not 0 < a.history < MAX_SECONDS:
        raise DuettoError("--history must be above 0 (and below the model's window)")
    anchor_seconds(a.anchor, a.history)               # a bad --anchor before anything loads
    if a.video is not None and a.audio is not None:
        raise DuettoError("give --video or --audio, not both")
    if a.out.suffix.lower() != ".mp4":
        raise DuettoError(f"{a.out}: the output must be an .mp4")
    _check_writable(a.out)
    outs = _outputs(a.out, a.n)
    taken = [str(o) for o in outs if o.exists()]
    if taken and not a.overwrite:
        raise DuettoError(f"{taken[0]} exists{f' (and {len(taken) - 1} more)' if len(taken) > 1 else ''}; "
                          "pass --overwrite to replace, or another -o")
    for option, path in (("--video", a.video), ("--audio", a.audio)):
        if path is not None:
            _check_length(option, path, a.seconds, MAX_SECONDS)
    window = default_window() if a.checkpoint is None and a.seconds is not None else None
    long = window is not None and a.video is None and a.audio is None and a.seconds > window + 1e-9
    bundle = bundle_path(a.checkpoint, long=long)
    if long and not a.quiet:
        print(f"{PROG}: {a.seconds:g} s is longer than one window of {DEFAULT_BUNDLE.name} "
              f"({window:g} s): made window by window by {bundle.name}", file=sys.stderr)
    a.rewritten = None
    if a.rewrite_model is not None and not a.rewrite:
        raise DuettoError("--rewrite-model goes with --rewrite")
    if a.rewrite:
        from duetto.joint.rewrite import rewrite
        a.rewritten = rewrite(a.prompt, a.rewrite_model)
        print(f"{PROG}: caption: {a.rewritten.caption}\n{_rewrite_note(a.rewritten)}", file=sys.stderr)
        a.prompt, a.speech = a.rewritten.caption, a.speech or a.rewritten.speech
    quoted = quoted_words(a.prompt) if a.speech is None else None
    if quoted:           # the caption's quoted words are the words to say, as in training (told none, it babbles)
        a.speech = quoted
        if not a.quiet:
            print(f"{PROG}: speaking the caption's quoted words: {a.speech!r} (--speech to say others)",
                  file=sys.stderr)
    from duetto.joint import parallel
    from duetto.joint.device import from_arguments
    device, dtype = from_arguments(a)                  # before anything loads
    rank, world, device = parallel.start(device)
    try:
        return _generate(a, bundle, device, dtype, rank, world)
    finally:
        parallel.stop()


MAX_CLIPS = 1000
MAX_SEED = console.MAX_SEED


def cmd_extend(a) -> int:
    from duetto.joint.extend import MAX_SECONDS
    from duetto.joint.pipeline import MAX_STEPS
    if not 0 < a.seconds <= MAX_SECONDS or (a.steps is not None and not 1 <= a.steps <= MAX_STEPS) \
            or not 0 <= a.seed <= MAX_SEED or not 0 < a.history < MAX_SECONDS:
        raise DuettoError(f"--seconds must be in (0, {MAX_SECONDS:g}], --steps 1-{MAX_STEPS}, --seed 0-{MAX_SEED}, "
                          "--history above 0")
    anchor_seconds(a.anchor, a.history)               # a bad --anchor before anything loads
    if a.speech is not None and not a.speech.strip():
        raise DuettoError("--speech is empty: give the words to say")
    if a.out.suffix.lower() != ".mp4":
        raise DuettoError(f"{a.out}: the output must be an .mp4")
    _check_writable(a.out)
    if a.out.exists() and not a.overwrite:
        raise DuettoError(f"{a.out} exists; pass --overwrite to replace, or another -o")
    from duetto.data.ingest import read_sidecar
    from duetto.data.media import file_problem
    problem = file_problem(a.clip)
    if problem:
        raise DuettoError(f"{a.clip}: {problem}")
    _check_length("the clip", a.clip, None, MAX_SECONDS)
    from duetto.data import probe
    have = probe(a.clip).duration or 0.0
    if a.seconds <= have:
        raise DuettoError(f"{a.clip} already lasts {have:.2f} s; ask for more --seconds than that")
    prompt = a.prompt if a.prompt is not None else read_sidecar(a.clip).get("caption")
    if not prompt or not prompt.strip():
        raise DuettoError(f"{a.clip}: no caption sidecar ({a.clip.stem}.json or .txt); give --prompt")
    bundle = bundle_path(a.checkpoint, long=True)
    from tqdm import tqdm

    from duetto.data.media import read_clip, write_clip
    from duetto.joint.device import from_arguments
    from duetto.joint.extend import extend, plan, windows
    from duetto.joint.pipeline import Pipeline
    device, dtype = from_arguments(a)
    pipe = Pipeline.load(bundle).to(device, dtype)
    p = plan(pipe, a.history)
    start = read_clip(a.clip, fps=pipe.video_vae.config.fps, size=pipe.config.size,
                      sample_rate=pipe.audio_vae.sample_rate, channels=pipe.audio_vae.channels)
    total = len(windows(a.seconds, p, start.duration)) * (a.steps or pipe.config.steps)
    with tqdm(total=total, desc="extending", unit="step", disable=a.quiet) as bar:
        clip = extend(pipe, prompt, seconds=a.seconds, start=start, history=a.history, seed=a.seed, steps=a.steps,
                      speech=a.speech, speech_voice=a.language, callback=lambda i, n: bar.update(1),
                      method=a.history_method, anchor=a.anchor)
    write_clip(a.out, clip)                            # atomic
    print(a.out)
    return console.EXIT_OK


def _outputs(out: Path, n: int) -> list[Path]:
    """``OUT`` for one clip, ``OUT-0 ... OUT-(n-1)`` (same suffix) for several."""
    return [out] if n == 1 else [out.with_name(f"{out.stem}-{i}{out.suffix}") for i in range(n)]


def _check_writable(out: Path) -> None:
    """Before any work: the output is not a folder, and its nearest existing folder takes files (folders missing
    below it are made when the clip is written)."""
    if out.is_dir():
        raise DuettoError(f"{out}: is a directory; give an .mp4 file name")
    parent = out.absolute().parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        raise DuettoError(f"{parent}: is a file, so {out} cannot be written")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise DuettoError(f"{parent}: not writable")
    try:                                    # root passes os.access where nothing can be written (/proc): try it
        with tempfile.TemporaryFile(dir=parent, prefix=".duetto-probe-"):
            pass
    except OSError as e:
        raise DuettoError(f"{parent}: cannot write a file there ({e.strerror or e})") from None


def _check_length(option: str, path: Path, seconds: float | None, limit: float) -> None:
    """A given stream sets the clip's length: refuse one longer than the model makes (unless --seconds cuts it)."""
    from duetto.data import probe
    from duetto.data.media import file_problem
    problem = file_problem(path)
    if problem:
        raise DuettoError(f"{option} {path}: {problem}")
    length = probe(path).duration or 0.0
    if seconds is None and length > limit:
        raise DuettoError(f"{option} {path} lasts {length:.0f} s; at most {limit:g} s (or pass --seconds S to use "
                          "its first S seconds)")


def _generate(a, bundle, device, dtype, rank: int, world: int) -> int:
    from tqdm import tqdm

    from duetto.data.media import read_clip, write_clip
    from duetto.joint import parallel
    mode = parallel.choose(a.parallel, a.n, world)
    pipe = load_for_sampling(bundle, a, device, dtype)
    if world > 1 and mode == "guidance":
        pipe.passes = parallel.across_ranks()
    if world > 1 and mode == "sequence":
        from duetto.joint.sequence import SequenceParallel
        pipe.sequence = SequenceParallel()
    video = audio = None
    given = dict(fps=pipe.video_vae.config.fps, size=pipe.config.size, sample_rate=pipe.audio_vae.sample_rate,
                 channels=pipe.audio_vae.channels, duration=a.seconds)       # --seconds: only that much is decoded
    if a.video is not None:
        video = read_clip(a.video, **given).video
    if a.audio is not None:
        audio = read_clip(a.audio, **given).audio
    from duetto.joint.conditioning import read_reference
    voice = None if a.voice is None else read_reference(a.voice, pipe.audio_vae.sample_rate)
    music = None if a.music is None else read_reference(a.music, pipe.audio_vae.sample_rate)
    seconds = a.seconds
    if seconds is None and (video is not None or audio is not None):
        seconds = (len(video) / pipe.video_vae.config.fps) if video is not None else audio.shape[1] / pipe.audio_vae.sample_rate
    outs = _outputs(a.out, a.n)
    mine = parallel.my_clips(a.n, rank, world) if mode == "prompts" else list(range(a.n))
    if not mine:
        return console.EXIT_OK
    long = seconds is not None and seconds > pipe.config.seconds + 1e-9 and video is None and audio is None
    if long and mode != "sequence":       # beyond the model's window: window by window (sequence parallel: one window)
        from duetto.joint.extend import extend, plan, windows
        per_clip = len(windows(seconds, plan(pipe, a.history))) * (a.steps or pipe.config.steps)
        with tqdm(total=per_clip * len(mine), desc="sampling", unit="step", disable=a.quiet or rank > 0) as bar:
            clips = [extend(pipe, a.prompt, seconds=seconds, history=a.history, seed=a.seed + i, steps=a.steps,
                            speech=a.speech, speech_voice=a.language, voice=voice, music=music,
                            callback=lambda i, total: bar.update(1), method=a.history_method, anchor=a.anchor)
                      for i in mine]
    else:
        with tqdm(total=a.steps or pipe.config.steps, desc="sampling", unit="step", disable=a.quiet or rank > 0) as bar:
            clips = pipe.generate(a.prompt, seconds=seconds, seeds=[a.seed + i for i in mine], steps=a.steps,
                                  video=video, audio=audio, speech=a.speech, speech_voice=a.language, voice=voice,
                                  music=music, callback=lambda i, total: bar.update(1))
    if mode in ("guidance", "sequence") and rank > 0:  # every rank holds the same clips; the first writes them
        return console.EXIT_OK
    for i, clip in zip(mine, clips):
        write_clip(outs[i], clip)                  # atomic: a failure leaves no partial file
        if a.rewritten is not None:                # the caption it was made from, as duetto-data ingest reads it
            import json
            from duetto.data.media import atomic_write
            side = {"caption": a.prompt, "request": a.rewritten.request, "seed": a.seed + i, "speech": a.speech,
                    "kept": a.rewritten.kept, "dropped": a.rewritten.dropped}
            atomic_write(outs[i].with_suffix(".json"), (json.dumps(side, indent=1) + "\n").encode())
        print(outs[i])
    return console.EXIT_OK


def _main(argv=None) -> int:
    p = build_parser()
    a = p.parse_args(argv)
    if a.cmd is None:
        p.print_help()
        return console.EXIT_BAD_INPUT
    return {"gallery": cmd_gallery, "rewrite": cmd_rewrite, "extend": cmd_extend}.get(a.cmd, cmd_generate)(a)


def main(argv=None) -> int:
    return console.run(PROG, _main, argv)


if __name__ == "__main__":
    sys.exit(main())
