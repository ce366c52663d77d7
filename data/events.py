"""Independent event detectors: audio onsets and per-frame visual change.

They look only at pixels and samples, never at a sample's metadata, so comparing what they find with
the ground-truth event times in the JSON checks that a clip is in sync (`duetto-data check`).
"""
from __future__ import annotations

import numpy as np

from . import timebase
from .clip import luma


def _band_levels(x: np.ndarray, sample_rate: int, hop: int, n_bands: int = 6) -> np.ndarray:
    """Energy in dB of ``n_bands`` log-spaced bands (zero-phase, smooth FFT masks), per ``hop`` block:
    ``[n_bands, n_blocks]``."""
    pad = sample_rate // 10          # zero padding: the FFT filter must not wrap the end onto the start
    spec = np.fft.rfft(np.concatenate([x, np.zeros(pad)]))
    f = np.fft.rfftfreq(len(x) + pad, 1 / sample_rate)
    centres = np.geomspace(700, 0.4 * sample_rate, n_bands)  # low bands smear time
    logf = np.log2(np.maximum(f, 1.0))
    n = len(x) // hop
    out = np.empty((n_bands, n))
    for b, fc in enumerate(centres):
        mask = np.exp(-0.5 * ((logf - np.log2(fc)) / 0.35) ** 2)   # ~0.8 octave wide
        y = np.fft.irfft(spec * mask, len(x) + pad)[: len(x)]
        out[b] = 10 * np.log10((y[: n * hop].reshape(n, hop) ** 2).mean(axis=1) + 1e-12)
    return out


def audio_onsets(audio: np.ndarray, sample_rate: int, min_gap: float = 0.08, rise_db: float = 15.0,
                 floor_db: float = -45.0, quiet_before: float = 0.0, peak_ms: int = 6) -> np.ndarray:
    """Onset times in seconds: 1 ms blocks where the energy of six bands (0.7 kHz to 0.4 x rate)
    rises over the loudest of each band's preceding 30 ms by ``rise_db`` in total.

    audio: ``[C, N]`` or ``[N]``. A contact, a struck note or a word after a pause is broadband, so it
    rises in bands where an earlier sound that is still ringing is quiet (a super-flux-like onset
    function). Bands quieter than their own peak plus ``floor_db`` do not count. With ``quiet_before``
    (seconds), only onsets after that long a pause count (30 dB under the clip's peak): word onsets
    rather than syllables. An onset is the strongest rise within ``peak_ms`` of the first block that
    crosses the threshold (0: the crossing itself); a few ms absorb codec pre-echo, more would be late
    on soft word onsets.
    Resolution: 1 ms.
    """
    x = np.asarray(audio, np.float64)
    x = x.mean(axis=0) if x.ndim == 2 else x
    hop = max(1, sample_rate // 1000)
    level = _band_levels(x, sample_rate, hop)
    n = level.shape[1]
    past = np.full_like(level, -120.0)
    for k in range(1, 31):   # running max over the previous 30 blocks
        past[:, k:] = np.maximum(past[:, k:], level[:, :-k])
    loud = level >= level.max(axis=1, keepdims=True) + floor_db
    score = (np.maximum(level - past, 0.0) * loud).sum(axis=0)
    rising = score >= rise_db
    rising[:31] = False      # the first 30 ms have no full past to rise from
    rising[-10:] = False     # nor can the last 10 ms (the clip's cut-off edge) be judged
    if quiet_before > 0:
        m = len(x) // hop
        broad = 10 * np.log10((x[: m * hop].reshape(m, hop) ** 2).mean(axis=1) + 1e-12)[:n]
        quiet = broad < broad.max() - 30
        q = int(round(quiet_before * 1000))
        run = np.convolve(quiet.astype(float), np.ones(q), "full")[:n]   # quiet blocks in (i-q, i]
        rising[q:] &= run[q - 1:-1] >= q                               # all q blocks before i quiet
        rising[:q] = False
    out, last = [], -1e9
    for i in np.flatnonzero(rising):
        if (i * hop / sample_rate) - last >= min_gap:
            j = i + int(np.argmax(score[i: i + peak_ms])) if peak_ms > 0 else i
            last = j * hop / sample_rate
            out.append(last)
    return np.asarray(out)




def visual_change(video: np.ndarray, mode: str = "brighten") -> np.ndarray:
    """Per-frame change ``[T]`` (frame 0 is 0): mean luma increase (``brighten``) or mean |change| (``any``)."""
    y = luma(video)
    d = np.diff(y, axis=0)
    if mode == "brighten":
        c = np.maximum(d, 0).mean(axis=(1, 2))
    elif mode == "any":
        c = np.abs(d).mean(axis=(1, 2))
    else:
        raise ValueError(f"unknown mode {mode!r}")
    return np.concatenate([[0.0], c])


def visual_events(video: np.ndarray, mode: str = "flash", min_gap_frames: int = 2) -> np.ndarray:
    """Frame indices of visual events.

    ``flash``: local peaks of brightening (a contact flash, a struck key or drum head lighting up) that
    stand out from the clip's typical change. ``onset``: frames where a still picture starts to move
    (a mouth opening after a pause: two unchanged frames, then a change).
    """
    if mode == "flash":
        c = visual_change(video, "brighten")
        thr = max(4 * np.median(c[1:]) if len(c) > 1 else 0.0, 0.2 * c.max(), 0.3)
        peaks = [k for k in range(1, len(c)) if c[k] >= thr and c[k] >= c[k - 1]
                 and (k + 1 >= len(c) or c[k] > c[k + 1])]
    elif mode == "onset":
        c = visual_change(video, "any")
        still = max(0.02 * c.max(), 0.1)   # grey levels: what lossy coding leaves on a still picture
        peaks = [k for k in range(2, len(c)) if c[k] > 4 * still and max(c[k - 2], c[k - 1]) <= still]
    else:
        raise ValueError(f"unknown mode {mode!r}")
    out: list[int] = []
    for k in peaks:
        if not out or k - out[-1] >= min_gap_frames:
            out.append(k)
    return np.asarray(out, dtype=np.int64)


def match(found: np.ndarray, truth: np.ndarray, tol: float) -> tuple[np.ndarray, int]:
    """For each true event the error to the nearest detection (NaN if none within ``tol``), and the
    number of detections left unmatched."""
    found = np.asarray(found, np.float64)
    errs = np.full(len(truth), np.nan)
    used = set()
    for i, t in enumerate(truth):
        if len(found) == 0:
            break
        j = int(np.argmin(np.abs(found - t)))
        if abs(found[j] - t) <= tol and j not in used:
            errs[i] = found[j] - t
            used.add(j)
    return errs, len(found) - len(used)


VISUAL_MODE = {"impacts": "flash", "music": "flash", "speech": "onset"}
QUIET_BEFORE = {"speech": 0.06}   # word onsets follow a pause; syllable onsets inside words do not


def check_events(video, audio, fps: float, sample_rate: int, meta: dict,
                 audio_tol: float = 0.010) -> dict:
    """Compare detected events with the metadata's ground truth: audio within ``audio_tol`` seconds,
    video on the exact frame. Returns counts and the worst audio error in milliseconds."""
    truth = np.asarray([e["time"] for e in meta.get("events", [])], np.float64)
    frames = timebase.frame_of(truth, fps) if len(truth) else np.zeros(0, np.int64)
    a_err, a_extra = match(audio_onsets(audio, sample_rate, quiet_before=QUIET_BEFORE.get(meta.get("family"), 0.0)),
                         truth, audio_tol)
    v_found = visual_events(video, VISUAL_MODE.get(meta.get("family"), "flash"))
    v_err, v_extra = match(v_found.astype(np.float64), frames.astype(np.float64), 0.0)
    ok_a = ~np.isnan(a_err)
    return {"events": len(truth), "audio_found": int(ok_a.sum()), "audio_extra": a_extra,
            "audio_max_err_ms": float(np.nanmax(np.abs(a_err)) * 1000) if ok_a.any() else None,
            "video_found": int((~np.isnan(v_err)).sum()), "video_extra": v_extra,
            "ok": bool(ok_a.all() and (~np.isnan(v_err)).all())}
