"""Shared fixtures: the real media folder (the click-and-flash signals are in duetto.data.testsignals)."""
from __future__ import annotations

from pathlib import Path

import pytest

MEDIA = Path(__file__).resolve().parents[1].parent / "shared" / "media"


@pytest.fixture
def media():
    if not MEDIA.is_dir():
        pytest.skip(f"real clips folder {MEDIA} is absent")
    return MEDIA
