"""Each run's EMA weights (its model/, or the newest checkpoint's ema/ when the run was stopped) as float16,
lzma-compressed and split in two files (each well under 16 MiB for the tiny preset), plus one tar of the runs'
run.json, log.jsonl, model config and stderr (/tmp/RUN.log).  `unpack.sh` reverses it.

    python recipes/gpu/collect.py OUT RUN...
"""
import lzma
import sys
import tarfile
from pathlib import Path

from safetensors.torch import load_file, save


def main(out: Path, runs: list[Path]):
    out.mkdir(parents=True, exist_ok=True)
    with tarfile.open(out / "runs.tar", "w") as tar:
        for r in runs:
            src = r / "model"
            if not (src / "model.safetensors").is_file():
                src = sorted((r / "checkpoints").glob("step-*"))[-1] / "ema"
                print(f"{r}: no finished model, using {src}")
            weights = load_file(str(src / "model.safetensors"))
            blob = lzma.compress(save({k: v.half() if v.is_floating_point() else v for k, v in weights.items()}),
                                 preset=0)
            half = (len(blob) + 1) // 2
            (out / f"{r.name}.xz.0").write_bytes(blob[:half])
            (out / f"{r.name}.xz.1").write_bytes(blob[half:])
            for name in ("run.json", "log.jsonl"):
                if (r / name).is_file():
                    tar.add(r / name, f"{r.name}/{name}")
            tar.add(src / "config.json", f"{r.name}/model/config.json")
            if Path(f"/tmp/{r.name}.log").is_file():
                tar.add(f"/tmp/{r.name}.log", f"{r.name}/stderr.log")
            print(f"{r.name}: {len(blob) / 2**20:.1f} MiB compressed")


if __name__ == "__main__":
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    main(Path(sys.argv[1]), [Path(r) for r in sys.argv[2:]])
