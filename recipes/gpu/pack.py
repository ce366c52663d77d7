"""Pack latent shards for a GPU machine that lacks PyAV, espeak-ng and the MiniLM package and takes a small
upload: one file (lzma) holding every clip's latents and conditions, each caption's token embeddings and every
phonemisation training asks for. Video latents go 8-bit as frame differences (`latent_codec.py`; rms error 0.009 against
latents of rms 1.18): the 1,320 shipped-recipe clips (174 MiB) pack
into 40.6 MiB. `train.py` reverses all of it.

    python recipes/gpu/pack.py OUT.pt.xz LATENT_SHARDS...
"""
import io
import json
import lzma
import sys

import torch
from latent_codec import decode_video, encode_video

import duetto.joint.conditioning as C
from duetto.data.latents import load_latents
from duetto.joint.text import load_text_encoder
from duetto.train.joint_task import _phonemes


def main(out: str, shards: list[str]):
    clips = load_latents(shards)
    enc = load_text_encoder("minilm")
    caps = sorted({c["caption"] for c in clips})
    captions = {}
    for i in range(0, len(caps), 64):
        t, m = enc(caps[i:i + 64])
        for j, c in enumerate(caps[i:i + 64]):
            captions[c] = t[j, : int(m[j].sum())].to(torch.float16).clone()
    phon, real = {}, C.phonemize            # record what training phonemises (whole transcripts and timed words)

    def record(text, voice="en-us"):
        key = json.dumps([text, voice])
        if key not in phon:
            phon[key] = real(text, voice)
        return phon[key]
    C.phonemize = record
    for c in clips:
        _phonemes(c["meta"]), C.timed_word_ids(c["meta"])
    C.phonemize = real
    video = torch.stack([c["video"].float() for c in clips])                 # [N, C, L, h, w]
    delta, scale = encode_video(video)
    err = (decode_video(delta, scale) - video).pow(2).mean().sqrt()
    rest = []
    for c in clips:
        r = {k: v for k, v in c.items() if k != "video"}
        r["audio"] = c["audio"].to(torch.float16)
        if torch.is_tensor(r.get("music")):
            r["music"] = r["music"].to(torch.float16)
        rest.append(r)
    buf = io.BytesIO()
    torch.save({"video_delta": delta, "video_scale": scale, "clips": rest,
                "captions": captions, "phonemes": phon}, buf)
    blob = lzma.compress(buf.getvalue(), preset=9 | lzma.PRESET_EXTREME)
    with open(out, "wb") as f:
        f.write(blob)
    print(f"{len(clips)} clips, {len(caps)} captions, {len(phon)} phonemisations; video quantisation rms error "
          f"{err:.4f} (latent rms {video.pow(2).mean().sqrt():.3f}); {len(buf.getvalue()) / 2**20:.1f} MiB -> "
          f"{len(blob) / 2**20:.1f} MiB")


if __name__ == "__main__":
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2:])
