"""`duetto gallery`: a page to look at and listen to what a model makes, each clip checked by `duetto-sync`.

Prompts come from the synthetic scene writer at seeds no training set uses (`GALLERY_SEED` on), one family after
another: a speech prompt says its words, one music prompt follows a music reference (the scene writer's own tune
for that seed). Each clip is written as mp4 with its sync plot; ``index.html`` shows them with their prompts,
settings and verdicts, and ``gallery.json`` holds the same for scripts. Everything is written atomically.
"""
from __future__ import annotations

import html
import json
from pathlib import Path

from duetto.data.media import atomic_write, write_clip

GALLERY_SEED = 424242          # far from the seeds of training (0...), held-out (90000...) and dev (95000...) sets
FAMILIES = ("impacts", "music", "speech")


def prompts(n_per_family: int = 1, seed: int = GALLERY_SEED, seconds: float = 4.0) -> list[dict]:
    """``[{family, caption, speech, music}]``: captions (and a speech prompt's words; a music prompt's reference
    sound ``[C, N]`` at 16 kHz) drawn from the scene writer."""
    from duetto.data.synth import SynthConfig, render
    cfg = SynthConfig(seconds=seconds, fps=25, size=64, sample_rate=16000)
    out = []
    for i in range(n_per_family):
        for k, family in enumerate(FAMILIES):
            clip = render(family, seed + 10 * i + k, cfg)
            speech = clip.metadata.get("speech")               # {transcript, words} for a speech scene
            out.append({"family": family, "caption": clip.metadata["caption"],
                        "speech": speech.get("transcript") if isinstance(speech, dict) else None,
                        "music": clip.audio if family == "music" else None, "music_rate": clip.sample_rate})
    return out


def make_gallery(out, bundle, *, n_per_family: int = 1, seed: int = 0, progress: bool = True) -> Path:
    """Generate, check and lay out the gallery in ``out``; returns the page's path."""
    from tqdm import tqdm

    from duetto.align import measure_sync
    from duetto.align.plot import plot_report
    from duetto.data import timebase
    from duetto.joint.pipeline import Pipeline
    out = Path(out)
    pipe = Pipeline.load(bundle)
    items = []
    for i, p in enumerate(tqdm(prompts(n_per_family), desc="gallery", unit="clip", disable=not progress)):
        music = None
        if p["music"] is not None:
            music = timebase.resample(p["music"], p["music_rate"], pipe.audio_vae.sample_rate)
        clip = pipe.generate(p["caption"], seed=seed + i, speech=p["speech"], music=music)[0]
        name = f"{i:02d}-{p['family']}"
        video = write_clip(out / "clips" / f"{name}.mp4", clip)
        rep = measure_sync(video)
        plot_report(rep, out / "plots" / f"{name}.png")
        items.append({"name": name, "family": p["family"], "prompt": p["caption"], "speech": p["speech"],
                      "music_reference": p["music"] is not None, "seed": seed + i,
                      "settings": {k: getattr(pipe.config, k) for k in ("steps", "sampler", "shift", "video_scale",
                                                                         "audio_scale", "video_sync_scale",
                                                                         "audio_sync_scale", "guidance_max_t")},
                      "video": f"clips/{name}.mp4", "plot": f"plots/{name}.png", "verdict": rep.verdict,
                      "offset_ms": rep.offset_ms, "confidence": rep.confidence, "method": rep.method,
                      "reason": rep.reason})
    shipped = Path(__file__).resolve().parents[1] / "samples"
    name = Path(bundle).name if Path(bundle).resolve().parent == shipped else str(bundle)   # no machine's path
    atomic_write(out / "gallery.json", (json.dumps({"bundle": name, "clips": items}, indent=1) + "\n").encode())
    page = out / "index.html"
    atomic_write(page, render_page(items, name).encode())
    return page


def render_page(items: list[dict], bundle: str) -> str:
    e = html.escape
    cards = []
    for it in items:
        words = f'<p class="words">says: &ldquo;{e(it["speech"])}&rdquo;</p>' if it["speech"] else ""
        music = '<p class="words">follows a music reference</p>' if it["music_reference"] else ""
        offset = "-" if it["offset_ms"] is None else f'{it["offset_ms"]:+.0f} ms'
        settings = ", ".join(f"{k} {v}" for k, v in it["settings"].items())
        cards.append(f"""<section class="clip {e(it['verdict'])}">
  <video controls preload="metadata" width="256" height="256"><source src="{e(it['video'])}#t=0.1" type="video/mp4"></video>
  <div class="text">
    <h2>{e(it['family'])} &middot; seed {it['seed']}</h2>
    <p class="prompt">{e(it['prompt'])}</p>{words}{music}
    <p class="verdict">sync: <b>{e(it['verdict'])}</b> ({e(it['method'])}, {offset}, confidence {it['confidence']:.2f})</p>
    <p class="settings">{e(settings)}</p>
    <a href="{e(it['plot'])}"><img src="{e(it['plot'])}" alt="sync analysis of {e(it['name'])}" width="360"></a>
  </div>
</section>""")
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Duetto gallery</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2em auto; max-width: 980px; color: #222; }}
section.clip {{ display: flex; gap: 1.2em; margin: 1.5em 0; padding: 1em; border-radius: 8px; background: #f6f6f6; }}
section.pass {{ border-left: 6px solid #2a2; }} section.fail {{ border-left: 6px solid #c22; }}
section.no-signal {{ border-left: 6px solid #e90; }}
video {{ image-rendering: pixelated; background: #000; }} .prompt {{ font-size: 1.05em; }}
.settings {{ color: #666; font-size: 0.85em; }} h2 {{ margin: 0 0 0.3em; font-size: 1.1em; }}
</style></head>
<body>
<h1>Duetto gallery</h1>
<p>Clips made by <code>{e(bundle)}</code> from prompts it was not trained on (the scene writer's captions at seed
{GALLERY_SEED} and on), picture and sound sampled together, each checked by <code>duetto-sync</code>.
Made by <code>duetto gallery</code>.</p>
{chr(10).join(cards)}
</body></html>
"""
