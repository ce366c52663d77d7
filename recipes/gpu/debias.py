"""Remove the initial weights' share from an EMA that started at the initialisation and ran N updates at decay d:
EMA_N = (1-d) sum_k d^(N-k) theta_k + d^N theta_0, so the average of the trained weights alone is
(EMA_N - d^N theta_0) / (1 - d^N). theta_0 is rebuilt from the run's seed (torch.manual_seed(seed); JointDiT(cfg),
as duetto-train joint does).  usage: python recipes/gpu/debias.py RUN...   (rewrites RUN/model/model.safetensors, keeps the raw
one as RUN/model/ema-raw.safetensors)"""
import json, sys
from pathlib import Path
import torch
from safetensors.torch import load_file, save_file
from duetto.joint.model import JointDiT
for run in map(Path, sys.argv[1:]):
    info = json.loads((run / "run.json").read_text())
    cfg_json = json.loads((run / "model" / "config.json").read_text())
    steps, decay, seed = info["train"]["steps"], info["train"]["ema_decay"], info["train"]["seed"]
    raw = run / "model" / "ema-raw.safetensors"
    if not raw.is_file():
        (run / "model" / "model.safetensors").rename(raw)
    ema = load_file(str(raw))
    from duetto.joint.config import JointConfig
    cfg = JointConfig(**cfg_json["config"])
    torch.manual_seed(seed)
    init = JointDiT(cfg)
    params = dict(init.named_parameters())
    w = decay ** steps
    out = {}
    for k, v in ema.items():
        if k in params and v.is_floating_point():
            out[k] = ((v.float() - w * params[k].detach().float()) / (1 - w)).contiguous()
        else:
            out[k] = v
    save_file(out, str(run / "model" / "model.safetensors"))
    print(run, f"steps {steps} decay {decay} seed {seed}: initial weights' share {w:.4f} removed")
