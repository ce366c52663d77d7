"""The per-sample JSON metadata: required fields, validation and a safe parser."""
from __future__ import annotations

import json
import math
from typing import Any

from .errors import SchemaError

REQUIRED = {"caption": str, "fps": (int, float), "sample_rate": int, "duration": (int, float)}
MAX_JSON_BYTES = 1 << 20


def parse_meta(raw: bytes | str, name: str = "<json>") -> dict[str, Any]:
    """Parse and validate sample metadata; `SchemaError` names the file and what is wrong."""
    return validate_meta(load_json(raw, name), name)


def load_json(raw: bytes | str, name: str = "<json>") -> Any:
    """Untrusted JSON: size-capped, UTF-8, no crash on absurd nesting or numbers (`SchemaError`)."""
    if isinstance(raw, bytes):
        if len(raw) > MAX_JSON_BYTES:
            raise SchemaError(f"{name}: JSON larger than {MAX_JSON_BYTES >> 10} KiB")
        try:
            raw = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise SchemaError(f"{name}: JSON is not UTF-8") from None
    try:
        return json.loads(raw)
    except json.JSONDecodeError as e:
        raise SchemaError(f"{name}: invalid JSON ({e.msg} at line {e.lineno})") from None
    except RecursionError:
        raise SchemaError(f"{name}: JSON nested too deeply") from None
    except (ValueError, OverflowError) as e:   # e.g. an integer with thousands of digits
        raise SchemaError(f"{name}: unreadable JSON ({str(e)[:80]})") from None


def _finite(v) -> bool:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return False
    try:
        return math.isfinite(float(v))
    except OverflowError:
        return False


def validate_meta(meta: Any, name: str = "<json>") -> dict[str, Any]:
    if not isinstance(meta, dict):
        raise SchemaError(f"{name}: metadata must be a JSON object, got {type(meta).__name__}")
    missing = [k for k in REQUIRED if k not in meta]
    if missing:
        raise SchemaError(f"{name}: missing field(s) {', '.join(missing)}")
    for k, typ in REQUIRED.items():
        v = meta[k]
        if not isinstance(v, typ) or isinstance(v, bool) or (typ is not str and not _finite(v)):
            raise SchemaError(f"{name}: field {k} has the wrong type or is not finite ({type(v).__name__})")
    if not (0 < meta["fps"] <= 1000 and 0 < meta["sample_rate"] <= 384_000 and 0 < meta["duration"] < 86_400):
        raise SchemaError(f"{name}: fps, sample_rate or duration out of range")
    events = meta.get("events", [])
    if not isinstance(events, list):
        raise SchemaError(f"{name}: events must be a list")
    for ev in events:
        if not isinstance(ev, dict) or not _finite(ev.get("time")) or abs(ev["time"]) > 86_400:
            raise SchemaError(f"{name}: every event needs a finite numeric time")
    return meta


def dump_meta(meta: dict[str, Any]) -> bytes:
    validate_meta(meta)
    return json.dumps(meta, ensure_ascii=False, sort_keys=True, allow_nan=False).encode("utf-8")
