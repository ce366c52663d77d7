"""`duetto-train joint` on a packed data file (`pack.py`), on a machine without PyAV, espeak-ng or the MiniLM
package: the latent loader, the caption encoder and the phonemiser are replaced by the pack's contents; the
model, the task and the trainer are the project's own.

    python recipes/gpu/train.py PACK.pt[.xz] JOINT-ARGS...      (as duetto-train joint, without --data)
"""
import io
import json
import lzma
import sys
import types

try:
    import av  # noqa: F401
except ImportError:
    sys.modules["av"] = types.ModuleType("av")     # media I/O is imported by duetto.data but not used here
import torch
from latent_codec import decode_video


def load_pack(path: str):
    raw = io.BytesIO(lzma.open(path).read()) if path.endswith(".xz") else path
    pack = torch.load(raw, weights_only=True)
    video = decode_video(pack["video_delta"], pack["video_scale"])
    clips = pack["clips"]
    for i, c in enumerate(clips):
        c["video"], c["audio"] = video[i].clone(), c["audio"].float()
        if torch.is_tensor(c.get("music")):
            c["music"] = c["music"].float()
    return clips, pack["captions"], pack["phonemes"]


class PackedCaptions:
    """The text encoder protocol over the pack's caption embeddings (all-MiniLM-L6-v2 token states)."""
    dim, name = 384, "all-MiniLM-L6-v2"

    def __init__(self, table):
        self.table = table

    def __call__(self, captions):
        rows = [self.table[c].float() for c in captions]
        n = max(len(r) for r in rows)
        t, m = torch.zeros(len(rows), n, self.dim), torch.zeros(len(rows), n, dtype=torch.bool)
        for i, r in enumerate(rows):
            t[i, : len(r)], m[i, : len(r)] = r, True
        return t, m


def main(argv):
    clips, captions, phon = load_pack(argv[0])
    import duetto.data.latents as latents
    import duetto.joint.conditioning as conditioning
    import duetto.joint.text as text
    latents.load_latents = lambda shards, **kw: clips
    text.load_text_encoder = lambda name="minilm", device="cpu": PackedCaptions(captions)
    conditioning.phonemize = lambda words, voice="en-us": phon[json.dumps([words, voice])]
    from duetto.train.cli import main as cli
    return cli(["joint", "--data", "packed"] + argv[1:])


if __name__ == "__main__":
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    sys.exit(main(sys.argv[1:]))
