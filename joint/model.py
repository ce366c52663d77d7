"""The dual-stream diffusion transformer: video and audio latents in, a flow-matching velocity for each out
(its head predicts the velocity or, with ``predicts="data"``, the clean latents it is computed from).

    v_video, v_audio = model(video [B, Cv, T, h, w], audio [B, Ca, L], t_video [B], t_audio [B],
                             video_times [T] or [B, T], audio_times [L] or [B, L], text [B, Lt, text_dim],
                             text_mask [B, Lt], speech=[B, Ls] phoneme ids (0 pads), voice=[B, voice_dim],
                             music=[B, L, music_dim], speech_track=[B, L] phoneme ids on the audio clock,
                             cross_keep=[B] bool, video_known=[B, T] bool, audio_known=[B, L] bool)

Every condition is optional and droppable (``None``) for guidance. The caption and the phonemes are tokens
both streams attend to (the phonemes carry their order as sinusoids; the model learns where they fall in
time); the voice joins the audio stream's conditioning vector and the music features are added to the audio
tokens at their own times, both through zero-initialised projections, so a model starts as if they were absent.
With ``speech_track`` (config), the phonemes are also given on the audio latents' clock (which one sounds at each
latent, 0 between words; `joint.conditioning.phoneme_track`): their embeddings, averaged over an audio patch, are
added to the audio tokens through another zero-initialised projection, so the sound knows when each one falls.

With ``known_prefix`` (config), latents may be marked known: ``video_known`` per video latent frame, ``audio_known``
per audio latent (an extension's history, given clean while the rest is noisy at the clip's flow time). A learned
vector per stream (zero at first) is added to the tokens of known latents, so the model can tell "given, copy and
continue" from "noisy, denoise"; training gives a share of clips their first part this way
(`joint.flow.FlowConfig.prefix`).

``sequence`` (a `joint.sequence.SequenceParallel`) runs the pass with this rank's time span of each stream's
tokens (every rank passes the same inputs and gets the same whole output).

``cross_keep`` says per clip whether the streams meet in the cross-modal blocks (``None``: all do). A clip with
``False`` is denoised as two separate streams: the pass that cross-modal guidance (`joint.sampling.guided`)
and cross-modal dropout in training (`joint.flow.FlowConfig.cross_dropout`) need.

Times are seconds from the VAEs' ``timestamps`` (float64; the model never turns an index into seconds itself), so a
clip cut at any start time, at any latent rate, lines up across the streams. Each modality has its own flow
time, so one model denoises both, or one given the other.
"""
from __future__ import annotations

import math

import torch
from einops import rearrange, repeat
from torch import nn

from duetto.data.autoencoder import Pretrained
from duetto.data.errors import DuettoError

from .attention import time_band
from .blocks import CrossModalBlock, FinalLayer, FlowTimeEmbedding, StreamBlock, zero_linear
from .config import MIN_FLOW_TIME, JointConfig
from .rope import rope_angles


class JointDiT(Pretrained):
    config_class = JointConfig

    def __init__(self, config: JointConfig):
        super().__init__(config)
        cfg, d = config, config.dim
        self.gradient_checkpointing = False      # recompute each block in the backward pass (training memory)
        self.video_in = nn.Linear(cfg.video_channels * cfg.video_patch ** 2, d)
        self.audio_in = nn.Linear(cfg.audio_channels * cfg.audio_patch, d)
        self.video_time, self.audio_time = FlowTimeEmbedding(d), FlowTimeEmbedding(d)
        self.text_in = nn.Linear(cfg.text_dim, d)
        self.text_pool = nn.Linear(cfg.text_dim, d)
        self.null_text = nn.Parameter(torch.zeros(1, 1, d))          # always attendable: an empty caption is fine
        self.phone_embed = nn.Embedding(cfg.speech_vocab, d, padding_idx=0) if cfg.speech_vocab else None
        # no bias: an all-zero voice or music row (a dropped condition in a batch) adds exactly nothing, as None does
        self.voice_in = zero_linear(cfg.voice_dim, d, bias=False) if cfg.voice_dim else None
        self.music_in = zero_linear(cfg.music_dim, d, bias=False) if cfg.music_dim else None
        self.track_in = zero_linear(d, d, bias=False) if cfg.speech_track else None
        if cfg.known_prefix:                                          # added to the tokens of known latents
            self.known_video, self.known_audio = nn.Parameter(torch.zeros(d)), nn.Parameter(torch.zeros(d))
        self.video_blocks = nn.ModuleList(StreamBlock(cfg) for _ in range(cfg.depth))
        self.audio_blocks = nn.ModuleList(StreamBlock(cfg) for _ in range(cfg.depth))
        self.cross = nn.ModuleDict({str(i): CrossModalBlock(cfg) for i in range(cfg.depth) if cfg.has_cross(i)})
        self.video_out = FinalLayer(d, cfg.video_channels * cfg.video_patch ** 2)
        self.audio_out = FinalLayer(d, cfg.audio_channels * cfg.audio_patch)

    # -- tokens ---------------------------------------------------------------------------------------------
    def video_tokens(self, video: torch.Tensor, times: torch.Tensor):
        """``[B, C, T, h, w]`` -> tokens ``[B, T*(h/p)*(w/p), dim]``, their times ``[B, N]`` (s), rows and cols."""
        p, (b, c, t, h, w) = self.config.video_patch, video.shape
        if c != self.config.video_channels or h % p or w % p:
            raise DuettoError(f"video latents must be [B, {self.config.video_channels}, T, h, w] with h, w "
                              f"multiples of {p}, got {tuple(video.shape)}")
        x = rearrange(video, "b c t (h p1) (w p2) -> b (t h w) (c p1 p2)", p1=p, p2=p)
        gh, gw = h // p, w // p
        tt = repeat(_per_clip(times, b, t), "b t -> b (t h w)", h=gh, w=gw)
        rows = repeat(torch.arange(gh, device=video.device), "h -> b (t h w)", b=b, t=t, w=gw)
        cols = repeat(torch.arange(gw, device=video.device), "w -> b (t h w)", b=b, t=t, h=gh)
        return self.video_in(x), tt, rows, cols

    def audio_tokens(self, audio: torch.Tensor, times: torch.Tensor):
        """``[B, C, L]`` -> tokens ``[B, L/p, dim]`` and their times ``[B, L/p]`` (the mean of each patch's)."""
        p, (b, c, n) = self.config.audio_patch, audio.shape
        if c != self.config.audio_channels or n % p:
            raise DuettoError(f"audio latents must be [B, {self.config.audio_channels}, L] with L a multiple "
                              f"of {p}, got {tuple(audio.shape)}")
        x = rearrange(audio, "b c (l p) -> b l (c p)", p=p)
        tt = rearrange(_per_clip(times, b, n), "b (l p) -> b l p", p=p).mean(-1)
        return self.audio_in(x), tt

    def text_context(self, text: torch.Tensor | None, text_mask: torch.Tensor | None, b: int):
        """Caption tokens ``[B, Lt, text_dim]`` (or ``None``: dropped) -> ``(tokens [B, 1+Lt, dim], mask
        [B, 1, 1, 1+Lt], pooled [B, dim])``; a learned null token leads, so no mask row is empty. A caption whose
        mask is all False and ``None`` give the same pooled vector, ``text_pool(0)``."""
        null = self.null_text.expand(b, -1, -1)
        if text is None:         # as a caption masked out in training (`joint.conditions.drop`): text_pool of zeros
            return null, None, self.text_pool(null.new_zeros(b, self.config.text_dim))
        keep = torch.ones(text.shape[:2], dtype=torch.bool, device=text.device) if text_mask is None else text_mask.bool()
        pooled = (text * keep[..., None]).sum(1) / keep.sum(1, keepdim=True).clamp_min(1)
        tokens = torch.cat([null, self.text_in(text)], dim=1)
        mask = torch.cat([keep.new_ones(b, 1), keep], dim=1)[:, None, None, :]
        return tokens, mask, self.text_pool(pooled)

    def speech_context(self, speech: torch.Tensor, ctx: torch.Tensor, ctx_mask: torch.Tensor | None):
        """Phoneme ids ``[B, Ls]`` (0 pads) appended to the caption tokens, with sinusoids of their order."""
        if self.phone_embed is None:
            raise DuettoError("this model was built without speech conditioning (speech_vocab=0)")
        if speech.ndim != 2 or speech.shape[0] != ctx.shape[0] or int(speech.max()) >= self.config.speech_vocab:
            raise DuettoError(f"speech must be [B, Ls] ids below {self.config.speech_vocab}, got {tuple(speech.shape)}")
        d = self.config.dim
        pos = torch.arange(speech.shape[1], device=speech.device, dtype=torch.float32)[:, None]
        freqs = torch.exp(-math.log(1000.0) * torch.arange(d // 2, device=speech.device) / (d // 2))
        order = torch.cat([(pos * freqs).sin(), (pos * freqs).cos()], dim=-1)
        tokens = self.phone_embed(speech) + order.to(ctx.dtype)
        keep = speech > 0
        mask = ctx_mask if ctx_mask is not None else keep.new_ones(ctx.shape[0], 1, 1, ctx.shape[1])
        return torch.cat([ctx, tokens], dim=1), torch.cat([mask, keep[:, None, None, :]], dim=-1)

    def track_tokens(self, track: torch.Tensor, n_tokens: int) -> torch.Tensor:
        """Phoneme ids on the audio clock ``[B, L]`` (0: none) -> ``[B, L / audio_patch, dim]`` to add to the audio
        tokens (embeddings averaged over each patch, through ``track_in``)."""
        cfg = self.config
        if self.track_in is None:
            raise DuettoError("this model was built without the timed speech track (speech_track=False)")
        if track.ndim != 2 or track.shape[1] != n_tokens * cfg.audio_patch or int(track.max()) >= cfg.speech_vocab:
            raise DuettoError(f"speech_track must be [B, {n_tokens * cfg.audio_patch}] ids below {cfg.speech_vocab}, "
                              f"got {tuple(track.shape)}")
        e = rearrange(self.phone_embed(track.long()), "b (l p) d -> b l p d", p=cfg.audio_patch).mean(2)
        return self.track_in(e)

    def mark_known(self, v, a, video_known, audio_known, frames: int, samples: int):
        """Tokens ``v [B, T*rows*cols, dim]``, ``a [B, L/p, dim]`` with the known vectors added where ``video_known
        [B, T]`` / ``audio_known [B, L]`` are set (an audio token counts the share of its patch that is known)."""
        cfg, b = self.config, v.shape[0]
        if not cfg.known_prefix:
            raise DuettoError("this model was built without known latents (known_prefix=False)")
        if video_known is not None:
            if tuple(video_known.shape) != (b, frames):
                raise DuettoError(f"video_known must be [{b}, {frames}], got {tuple(video_known.shape)}")
            k = repeat(video_known.to(v.dtype), "b t -> b (t n)", n=v.shape[1] // frames)
            v = v + k[..., None] * self.known_video.to(v.dtype)
        if audio_known is not None:
            if tuple(audio_known.shape) != (b, samples):
                raise DuettoError(f"audio_known must be [{b}, {samples}], got {tuple(audio_known.shape)}")
            k = rearrange(audio_known.to(a.dtype), "b (l p) -> b l p", p=cfg.audio_patch).mean(-1)
            a = a + k[..., None] * self.known_audio.to(a.dtype)
        return v, a

    # -- the pass -------------------------------------------------------------------------------------------
    def forward(self, video, audio, t_video, t_audio, video_times, audio_times, text=None, text_mask=None,
                speech=None, voice=None, music=None, speech_track=None, cross_keep=None, sequence=None,
                video_known=None, audio_known=None):
        cfg, b = self.config, video.shape[0]
        _, _, t, h, w = video.shape
        v, v_times, rows, cols = self.video_tokens(video, video_times)
        a, a_times = self.audio_tokens(audio, audio_times)
        if video_known is not None or audio_known is not None:
            v, a = self.mark_known(v, a, video_known, audio_known, t, audio.shape[2])
        ctx, ctx_mask, pooled = self.text_context(text, text_mask, b)
        if speech is not None:
            ctx, ctx_mask = self.speech_context(speech, ctx, ctx_mask)
        cv, ca = self.video_time(t_video) + pooled, self.audio_time(t_audio) + pooled
        if voice is not None:
            if self.voice_in is None or voice.shape != (b, cfg.voice_dim):
                raise DuettoError(f"voice must be [{b}, {cfg.voice_dim}] (this model: voice_dim={cfg.voice_dim})")
            ca = ca + self.voice_in(voice.to(ca.dtype))
        if music is not None:
            if self.music_in is None or music.shape[0] != b or music.shape[-1] != cfg.music_dim:
                raise DuettoError(f"music must be [{b}, L, {cfg.music_dim}] (this model: music_dim={cfg.music_dim})")
            m = rearrange(music.to(a.dtype), "b (l p) f -> b l p f", p=cfg.audio_patch).mean(2)
            if m.shape[1] != a.shape[1]:
                raise DuettoError(f"music features must have one row per audio latent ({a.shape[1] * cfg.audio_patch})")
            a = a + self.music_in(m)
        if speech_track is not None:
            a = a + self.track_tokens(speech_track, a.shape[1])
        if cross_keep is not None:
            cross_keep = torch.as_tensor(cross_keep, dtype=torch.bool, device=v.device)
            if cross_keep.shape != (b,):
                raise DuettoError(f"cross_keep must be [{b}] booleans, got {tuple(cross_keep.shape)}")
        shard, key_ropes = None, None
        if sequence is not None:                  # this rank's span of each stream (joint.sequence)
            from .sequence import Shard
            shard = Shard(sequence, v_times, a_times, (h // cfg.video_patch) * (w // cfg.video_patch),
                          cfg.window if self.cross else None, cfg.heads)
            full_v_times, full_a_times = v_times, a_times
            v, v_times, rows, cols = (x[:, shard.video] for x in (v, v_times, rows, cols))
            a, a_times = a[:, shard.audio], a_times[:, shard.audio]
        v_rope, a_rope = rope_angles(cfg, v_times, rows, cols), rope_angles(cfg, a_times)
        v_rope_t = rope_angles(cfg, v_times)                        # time only, for the cross-modal blocks
        bands = None
        if self.cross and shard is None:
            bands = time_band(v_times, a_times, cfg.window), time_band(a_times, v_times, cfg.window)
        elif self.cross:                          # my queries against my keys and the neighbours' halo
            ka_times = full_a_times[:, shard.key_slice("audio")]
            kv_times = full_v_times[:, shard.key_slice("video")]
            bands = time_band(v_times, ka_times, cfg.window), time_band(a_times, kv_times, cfg.window)
            key_ropes = rope_angles(cfg, ka_times), rope_angles(cfg, kv_times)
        exchange = None if shard is None else shard.sp
        def run(block, *args):
            if self.gradient_checkpointing and torch.is_grad_enabled():
                from torch.utils.checkpoint import checkpoint
                return checkpoint(block, *args, use_reentrant=False)
            return block(*args)
        for i in range(cfg.depth):
            v = run(self.video_blocks[i], v, cv, v_rope, ctx, ctx_mask, exchange)
            a = run(self.audio_blocks[i], a, ca, a_rope, ctx, ctx_mask, exchange)
            if str(i) in self.cross:
                v, a = run(self.cross[str(i)], v, a, cv, ca, v_times, a_times, v_rope_t, a_rope, cross_keep, bands,
                           shard, key_ropes)
        v, a = self.video_out(v, cv), self.audio_out(a, ca)
        if shard is not None:
            v, a = shard.sp.gather(v), shard.sp.gather(a)
        p, pa = cfg.video_patch, cfg.audio_patch
        v = rearrange(v, "b (t h w) (c p1 p2) -> b c t (h p1) (w p2)", t=t, h=h // p, w=w // p, p1=p, p2=p)
        a = rearrange(a, "b l (c p) -> b c (l p)", p=pa)
        if cfg.predicts == "data":                                  # clean latents -> velocity (config.PREDICTS)
            v, a = _velocity(video, v, t_video), _velocity(audio, a, t_audio)
        return v, a


def _velocity(x_t: torch.Tensor, x0: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """``(x_t - x0) / t`` with ``t [B]`` clipped below at `MIN_FLOW_TIME` (a given stream has ``t = 0``)."""
    t = torch.as_tensor(t, device=x_t.device).to(x_t.dtype).clamp_min(MIN_FLOW_TIME)
    return (x_t - x0) / t.view(-1, *([1] * (x_t.ndim - 1)))


def _per_clip(times: torch.Tensor, b: int, n: int) -> torch.Tensor:
    """``[n]`` or ``[B, n]`` seconds -> ``[B, n]``."""
    times = torch.as_tensor(times)
    if times.ndim == 1:
        times = times[None].expand(b, -1)
    if times.shape != (b, n):
        raise DuettoError(f"token times must be [{n}] or [{b}, {n}], got {tuple(times.shape)}")
    return times
