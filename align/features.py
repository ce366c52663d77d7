"""Sync features on one clock: audio and picture signals sampled at ``RATE`` Hz, with their times.

Audio runs at 16 kHz mono. A feature made from the difference between video frames k-1 and k is
placed at ``k / fps``: by the project's time base an event at t is shown on frame ``round(t * fps)``,
so what first shows on frame k happened, on average, at frame k's timestamp.
"""
from __future__ import annotations

import numpy as np
import scipy.fft as sfft
from einops import reduce

RATE = 100          # feature samples per second (10 ms)
AUDIO_RATE = 16000
HOP = AUDIO_RATE // RATE


def _blocks_db(x: np.ndarray) -> np.ndarray:
    n = len(x) // HOP
    return 10 * np.log10((x[: n * HOP].reshape(n, HOP) ** 2).mean(axis=1) + 1e-10)


def _bands(x: np.ndarray, bands: list[tuple[float, float]]) -> list[np.ndarray]:
    """Zero-phase band-passes by FFT mask with smooth (1/4 octave) edges, one transform for all bands;
    zero-padded to a fast FFT length (which also keeps the end from wrapping into the start)."""
    n = sfft.next_fast_len(len(x) + AUDIO_RATE // 10, real=True)
    spec = sfft.rfft(x, n)
    f = sfft.rfftfreq(n, 1 / AUDIO_RATE)
    ramp = lambda f0, s: 1 / (1 + np.exp(-(np.log2(np.maximum(f, 1)) - np.log2(f0)) / s))  # noqa: E731
    return [sfft.irfft(spec * ramp(lo, 0.1) * (1 - ramp(hi, 0.1)), n)[: len(x)] for lo, hi in bands]


ONSET_BANDS = 16   # log-spaced bands from 100 to 7,500 Hz (a quarter of an octave and more each)


def audio_onset_strength(audio: np.ndarray) -> np.ndarray:
    """How much the sound's energy rises, per 10 ms block ``[n]`` (block i covers [i, i+1) x 10 ms):
    positive rises of `ONSET_BANDS` band levels over the previous 30 ms, summed.

    Why 16 bands and not 4: in a busy mix (a drum kit with ringing cymbals) a hit rises in a few bands
    while others fall or ring on; wide bands average the two and the hit drowns. With 16 the real drum
    clip's confidence rose from 3.5 (no-signal) to 6.3 at the same offset, unrelated (swapped) sound was
    judged no-signal in 93.0 % of pairs (was 91.2 %), and synthetic known shifts stayed within a frame
    (bench/sync.py)."""
    edges = np.geomspace(100, 7500, ONSET_BANDS + 1)
    levels = np.stack([_blocks_db(b) for b in _bands(audio, list(zip(edges[:-1], edges[1:])))])
    floor = levels.max(axis=1, keepdims=True) - 50
    levels = np.maximum(levels, floor)
    past = np.maximum.reduce([np.pad(levels, ((0, 0), (k, 0)), mode="edge")[:, :-k] for k in (1, 2, 3)])
    return np.maximum(levels - past, 0).sum(axis=0)


def speech_level(audio: np.ndarray) -> np.ndarray:
    """Speech-band (300-3400 Hz) loudness in dB per 10 ms block ``[n]`` (block centres), floored at -60 dBFS
    and 50 dB under the loudest block."""
    level = np.maximum(_blocks_db(_bands(audio, [(300, 3400)])[0]), -60)
    return np.maximum(level, level.max() - 50)


def speech_loudness_change(audio: np.ndarray) -> np.ndarray:
    """|change| of `speech_level` between consecutive 10 ms blocks ``[n]``, placed at the block boundary
    (index i = boundary between blocks i-1 and i)."""
    level = speech_level(audio)
    return np.abs(np.diff(level, prepend=level[:1]))


def mouth_darkness(y: np.ndarray, box) -> np.ndarray:
    """How dark the mouth box (y0, y1, x0, x1) of luma ``[T, H, W]`` is, per frame ``[T]`` (frame k at
    ``k / fps``): an open mouth shows the dark cavity, so this follows the lips' aperture, which follows the
    loudness of the speech (the syllable rhythm of both is the same)."""
    y0, y1, x0, x1 = box
    return -y[:, y0:y1, x0:x1].mean(axis=(1, 2), dtype=np.float64)


def band_pass(x: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """Zero-phase (forward and backward) 2nd-order Butterworth band-pass of a ``RATE`` Hz feature, NaN kept
    where it was: keeps the syllable rhythm, drops slow drifts (head motion, lighting, phrase loudness)
    without moving anything in time."""
    import scipy.signal as ss
    nan = np.isnan(x)
    if nan.all():
        return x
    b, a = ss.butter(2, [lo, hi], btype="band", fs=RATE)
    i = np.arange(len(x))                 # gaps take the nearest valid value: no step at their edges to ring
    out = ss.filtfilt(b, a, np.interp(i, i[~nan], x[~nan]))
    out[nan] = np.nan
    return out


def sounding_span(audio: np.ndarray, floor_db: float = -70.0, below_peak_db: float = 60.0) -> tuple[int, int]:
    """First and one-past-last 10 ms block ``[start, stop)`` in which ``audio`` sounds: louder than
    ``floor_db`` dBFS and than ``below_peak_db`` under its loudest block. Silence before and after it is
    no evidence either way: it is what a shifted or trimmed track is padded with (`shift_audio`, `fix`),
    and comparing it with the picture would favour lags by how much padding they overlap."""
    level = _blocks_db(audio)
    loud = np.flatnonzero(level > max(floor_db, level.max(initial=-100.0) - below_peak_db))
    return (int(loud[0]), int(loud[-1]) + 1) if len(loud) else (0, 0)


def audio_times(n: int, kind: str) -> np.ndarray:
    """Seconds of each feature sample: block centres for onsets, block boundaries for changes."""
    i = np.arange(n)
    return (i + 0.5) / RATE if kind == "onset" else i / RATE


def frame_change(y: np.ndarray, box=None) -> np.ndarray:
    """Mean |change| of luma ``[T, H, W]`` between consecutive frames, optionally inside ``box``
    (y0, y1, x0, x1): ``[T - 1]``; sample k-1 (frames k-1 -> k) sits at ``k / fps``."""
    if box is not None:
        y0, y1, x0, x1 = box
        y = y[:, y0:y1, x0:x1]
    return np.abs(np.diff(y, axis=0)).mean(axis=(1, 2))


STILL = 0.5   # mean |change| of luma (0-255) under which a picture, or a region of it, has not moved


def frame_motion(y: np.ndarray, tiles: int = 8, chunk: int = 64) -> tuple[np.ndarray, float]:
    """`frame_change` of luma ``[T, H, W]`` (``[T - 1]``) and, from the same differences, the largest mean
    |change| inside any of ``tiles`` x ``tiles`` regions: a picture is static only when no region moves. The
    mean over the whole frame called a speaker in a wide shot static (a 240-pixel picture inset in a 1280x720
    frame: every real clip so placed). The differences go through one float32 buffer of ``chunk`` frames (in
    place: 17x faster at 720p's analysis size than temporaries and strided reductions), summed in float64."""
    t, h, w = y.shape
    a, b = min(tiles, h), min(tiles, w)
    ha, wb = h // a, w // b
    change, peak = np.empty(max(t - 1, 0)), 0.0
    buf = np.empty((min(chunk, max(t - 1, 1)), h, w), np.float32)
    for s in range(0, t - 1, chunk):
        n = min(chunk, t - 1 - s)
        d = buf[:n]
        np.subtract(y[s + 1: s + 1 + n], y[s: s + n], out=d, dtype=np.float32)
        np.abs(d, out=d)
        rows = d[:, : ha * a].reshape(n, a, ha, w).sum(axis=2, dtype=np.float64)       # [n, a, W]
        change[s: s + n] = (rows.sum(axis=(1, 2)) + d[:, ha * a:].sum(axis=(1, 2), dtype=np.float64)) / (h * w)
        part = rows[:, :, : wb * b].reshape(n, a, b, wb).sum(axis=3)                    # [n, a, b]
        peak = max(peak, float(part.max()) / (ha * wb))
    return change, peak


REPEAT_RATIO = 0.1   # a change this small against the motion around it is a repeated frame...
REPEAT_SHARE = 0.04  # ...when such frames come this often
REPEAT_CADENCE = 0.75  # and this share of them come at their mean spacing (+-1 frame): a conversion, not pauses


def repeated_frames(change: np.ndarray) -> np.ndarray:
    """Frames ``[T]`` (bool) that repeat the frame before them, from `frame_change` ``[T - 1]``: a frame-rate
    conversion that duplicates frames (25 fps shown at 30 or 50, film at 30 fps) puts a still frame into
    moving footage every few frames, and each reads as motion that stops, then starts again.

    A repeat is a run of one to three frames (15 fps shown at 50) whose change is under `REPEAT_RATIO` of the
    changes into the frame before the run and out of it (a fading flash slows gradually: not a repeat). They
    count only as a conversion's cadence: at least `REPEAT_SHARE` of the frames, `REPEAT_CADENCE` of the
    spacings between runs within a frame of their mean (every 6th frame for 25 fps shown at 30), and either
    the runs or the moving stretches between them a single frame. Pauses in the action come at no such
    rhythm: without these tests synthetic speech (faces rest a few frames between words) lost 17 % of its
    known shifts, and metronomic music (notes flash between still frames) read 13-19 ms early."""
    into = np.concatenate([[np.inf], change])               # into[k]: change into frame k
    t = len(into)
    rep = np.zeros(t, bool)
    k = 1
    while k < t - 1:
        for j in range(k + 1, min(k + 4, t)):               # a still run k..j-1, the shortest first
            edge = min(into[k - 1], into[j])                # the changes into the run and out of it
            if edge > STILL and into[k:j].max() < REPEAT_RATIO * edge:
                rep[k:j] = True
                k = j
                break
        else:
            k += 1
    starts = np.flatnonzero(rep[1:] & ~rep[:-1]) + 1
    ends = np.flatnonzero(rep[:-1] & ~rep[1:]) + 1
    if len(starts) < 6 or rep.mean() < REPEAT_SHARE:      # (no run touches the first or last frame)
        return np.zeros(t, bool)
    gaps = np.diff(starts)
    regular = np.mean(np.abs(gaps - gaps.mean()) <= 1) >= REPEAT_CADENCE   # 25 fps at 30: every 5th or 7th
    # a source shown slower than 2x repeats single frames; faster, each source frame moves once and then
    # repeats: either way one of the two is a single frame (a beat's flashes between stills are neither)
    single = max(np.mean(ends - starts == 1), np.mean(starts[1:] - ends[:-1] == 1)) >= REPEAT_CADENCE
    return rep if regular and single else np.zeros(t, bool)


SPIKE_WEIGHT = 0.25  # how much a change that the next frame undoes counts in `motion_ends` (a flash, a tap)


def motion_ends(y: np.ndarray, chunk: int = 64) -> np.ndarray:
    """How much motion ends at each frame, luma ``[T, H, W]`` -> ``[T - 2]``: sample j is frame k = j + 1.

    Per pixel, with D0, D1, D2 the changes into frames k-1, k and k+1 and s = sign(D1):

    - the part of |D1| that ends here: not carried on out of the frame (``max(D2 s, 0)``) and not a return
      (``max(-D0 s, 0)``: a change that undoes the one before it, like a flash fading or a rebound leaving
      the floor, ends nothing new), averaged over the frame and times the share by which the motion slows,
      ``(mean|D1| - mean|D2|) / mean|D1|`` clipped to [0, 1];
    - plus ``SPIKE_WEIGHT`` times the part of |D1| that starts from rest (more than |D0|) and that the next
      frame undoes (``min(|D1|, max(-D2 s, 0))``): a flash or a tap, on its own frame.

    Why: an impact sounds when the motion that leads to it ends. A body that stops (a knife on a board:
    D2 = 0) or bounces back (a ball: D2 ~ -e D1) scores on the frame of the contact; motion that goes on
    (a pan, a fall) gives D2 ~ D1 and scores little; a free turn at the top of a swing keeps its speed on
    both sides and is not counted as a contact. Motion energy itself peaks before the contact (the
    approach) and after it (the lift or rebound), so correlating sound with it locks onto either side.
    A flash is the other kind of event: the picture changes on the frame of the note and changes back
    on the next. Its own frame keeps its speed on both sides (no slowing) and its fade looks like motion
    that stops, so without the return and spike terms a one-frame flash read one frame late (+40 ms at
    25 fps; synthetic music at 15 fps was found within a frame for 82 % of known shifts, 100 % with them).
    By the time base (an event at t shows on frame round(t * fps)) sample j sits at ``(j + 1) / fps``."""
    return motion_ends_regions(y, (1,), chunk)[0]


def motion_ends_regions(y: np.ndarray, grids=(1,), chunk: int = 64) -> np.ndarray:
    """`motion_ends` inside each region of a ``g`` x ``g`` grid for every ``g`` in ``grids``, from one pass over the
    frames: ``[sum(g * g), T - 2]``, the grids in order, each grid's regions in reading order (``g = 1``: the
    whole frame). The slowing factor is each region's own: a drum that stops while the camera pans on is a motion
    that ends in its region, though not in the whole frame."""
    t, h, w = y.shape
    gs = [max(1, min(g, h, w)) for g in grids]

    def per_region(x):      # [n, H, W] -> [n, sum(g * g)]: means over every grid's regions
        return np.concatenate([reduce(x[:, : h // g * g, : w // g * g], "n (a h) (b w) -> n (a b)", "mean", a=g, b=g)
                               for g in gs], axis=1)
    r = sum(g * g for g in gs)
    if t < 3:
        return np.zeros((r, 0))
    ends = np.empty((t - 2, r))
    spikes = np.empty((t - 2, r))
    speed = np.empty((t - 1, r))
    for s in range(0, t - 2, chunk):                 # chunks bound the float temporaries at 720p
        lo = max(s - 1, 0)
        d = np.diff(y[lo: s + chunk + 2], axis=0)
        if s == 0:                                   # no change into frame 0
            d = np.concatenate([np.zeros_like(d[:1]), d])
        m = min(chunk, len(d) - 2)
        d0, d1, d2 = d[:m], d[1: m + 1], d[2: m + 2]
        sign, a1 = np.sign(d1), np.abs(d1)
        speed[s: s + m] = per_region(a1)
        carried, returned = np.maximum(d2 * sign, 0), np.maximum(-d0 * sign, 0)
        ends[s: s + m] = per_region(np.maximum(a1 - carried - returned, 0))
        undone = np.minimum(a1, np.maximum(-d2 * sign, 0))
        spikes[s: s + m] = per_region(np.minimum(undone, np.maximum(a1 - np.abs(d0), 0)))
    speed[t - 2] = per_region(np.abs(y[t - 1: t].astype(np.float32) - y[t - 2: t - 1]))
    slowing = np.clip((speed[:-1] - speed[1:]) / np.maximum(speed[:-1], 1e-6), 0, 1)
    return (ends * slowing + SPIKE_WEIGHT * spikes).T


def blur(y: np.ndarray, share: float) -> np.ndarray:
    """Luma ``[T, H, W]`` blurred in space (not time) by a Gaussian of ``share`` of the shorter side. `motion_ends`
    asks, per pixel, whether the change into a frame goes on out of it, which only means something where an
    object's positions in consecutive frames overlap; a fast object at a low frame rate jumps clear of itself
    (a ball at 15 fps), and then every frame looks like an end, most of all the slowing ones after a bounce.
    Blurring spreads each object over more than a frame's travel. The result keeps every ``floor(sigma)``-th
    pixel each way: a blurred picture holds nothing finer, and the features after it cost that much less."""
    import cv2
    s = share * min(y.shape[1:])
    if s <= 0:
        return y
    k = 2 * int(np.ceil(2 * s)) + 1                     # the kernel reaches two sigmas each way
    y = np.asarray(y, dtype=np.float32)
    step = max(1, int(s))
    return np.stack([cv2.GaussianBlur(f, (k, k), s, borderType=cv2.BORDER_REFLECT)[::step, ::step] for f in y])


def clip_outliers(x: np.ndarray, q: float = 99.0, keep: float = 0.5) -> np.ndarray:
    """Cap a feature at its ``q``-th percentile so that one burst (a click at the start, a cut)
    cannot dominate a correlation, but never below ``keep`` times its largest value.

    Why the floor: in a clip with one event (a clapperboard, a single drop) that event is the top 1 %, and the
    plain cap flattened it to the height of its own aftermath (a fading flash, a ring, the settling that
    follows), so the peak of the correlation slid onto the aftermath: in-sync single drops read +77 and
    +89 ms (tests/align/test_measure.py, the single-drop test). Capped at half its height the event still
    stands above what follows it.
    Where the 99th percentile is at least half the largest value, as in clips with many events, nothing changes."""
    hi = np.nanpercentile(x, q)
    if not np.isfinite(hi):
        return x
    return np.minimum(x, max(hi, keep * np.nanmax(x)))


def on_grid(values: np.ndarray, times: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """Linear interpolation onto ``grid`` (seconds); NaN outside the sampled span."""
    out = np.interp(grid, times, values)
    out[(grid < times[0]) | (grid > times[-1])] = np.nan
    return out


def smooth(x: np.ndarray, seconds: float) -> np.ndarray:
    """Centred moving average (no delay) over ``seconds``."""
    n = max(1, int(round(seconds * RATE)))
    if n == 1:
        return x
    return np.convolve(x, np.ones(n) / n, mode="same")
