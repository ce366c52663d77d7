"""duetto.data: the clip type, media I/O on one clock, shards, synthetic scenes, ingest and the loader."""
from .clip import Clip
from .errors import DuettoError, MediaError, SchemaError
from .media import encode_clip, probe, read_clip, write_clip

__all__ = ["Clip", "DuettoError", "MediaError", "SchemaError", "encode_clip", "probe", "read_clip", "write_clip"]
