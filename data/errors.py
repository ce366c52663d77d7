"""Errors a user can act on. Console scripts print them as one line and exit with code 2."""
from __future__ import annotations


class DuettoError(Exception):
    """A problem with the user's input (file, option, config): reported in one line, exit code 2."""


class MediaError(DuettoError):
    """A media file that cannot be read or written: `path: problem`."""

    def __init__(self, path, problem: str):
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


class SchemaError(DuettoError):
    """Sample metadata (JSON) that is unreadable or lacks required fields."""
