"""duetto.align: sync measurement (offset, confidence, drift, verdict), reports, fix and evaluation."""
from .measure import SyncReport, measure_sync
from .tolerance import PRESETS, tolerance

__all__ = ["PRESETS", "SyncReport", "measure_sync", "tolerance"]
