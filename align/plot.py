"""A PNG a person can read: the two signals, the correlation over lags, the offset and the verdict."""
from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from duetto.data.media import atomic_write

from .measure import SyncReport


def plot_report(r: SyncReport, path) -> Path:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(9, 5.5))
    c = r.curve
    if c:
        audio, picture = np.atleast_2d(c["audio"]), np.atleast_2d(c["picture"])
        t = np.arange(audio.shape[1]) / c["rate"]
        norm = lambda x: (np.asarray(x) - np.mean(x)) / (np.std(x) + 1e-9)  # noqa: E731
        for k, (a, v, (a_name, v_name)) in enumerate(zip(audio, picture, c["cues"])):   # one pair of rows per cue
            ax1.plot(t, norm(a) - 9 * k, lw=0.8, label="audio " + a_name)
            ax1.plot(t, norm(v) - 9 * k - 4, lw=0.8, label="picture " + v_name)
        ax1.set_xlabel("seconds")
        ax1.set_yticks([])
        ax1.legend(loc="upper right", fontsize=8)
        ax2.plot(c["lags_ms"], c["corr"], color="k", lw=1)
        if r.offset_ms is not None:
            ax2.axvline(r.offset_ms, color="tab:red", lw=1, label=f"offset {r.offset_ms:+.0f} ms")
        lead, lag = _band(r.tolerance)
        if lead is not None:
            ax2.axvspan(-lag, lead, color="tab:green", alpha=0.12, label="tolerance")
        ax2.set_xlabel("offset, ms (positive: sound ahead of picture)")
        ax2.set_ylabel("correlation")
        ax2.legend(loc="upper right", fontsize=8)
    colour = {"pass": "tab:green", "fail": "tab:red"}.get(r.verdict, "tab:orange")
    how = r.method + (f", face by {r.face}" if r.face else "")
    fig.suptitle(f"{Path(r.source).name}: {r.verdict.upper()}  {r.reason}  (confidence {r.confidence:.2f}, {how})",
                 color=colour, fontsize=10)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    plt.close(fig)
    atomic_write(Path(path), buf.getvalue())
    return Path(path)


def _band(tol: str):
    import re
    m = re.search(r"\+([\d.]+)/-([\d.]+) ms", tol)
    return (float(m.group(1)), float(m.group(2))) if m else (None, None)
