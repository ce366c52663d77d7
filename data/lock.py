"""One writer per folder: an exclusive advisory lock (``fcntl.flock``) on ``FOLDER/.lock``.

The kernel drops the lock when the process that holds it ends, however it ends, so a run killed with SIGKILL leaves
no stale lock to clear: the next writer takes it over. The file keeps the holder's pid, host and start time, for the
message that refuses a second writer, and is removed when the holder lets go (a killed holder leaves it behind,
unlocked). A writer that locked a file which was removed meanwhile tries again on the new one.
"""
from __future__ import annotations

import fcntl
import json
import os
import socket
import time
from pathlib import Path

from .errors import DuettoError

LOCK_NAME = ".lock"
_HELD: dict[Path, list] = {}     # folder -> [fd, count]: a process may take its own folder's lock again (nested)


class FolderLock:
    """``with FolderLock(run_dir, "training"):`` -- refused (`DuettoError`, naming the holder) while another
    process holds the folder."""

    def __init__(self, folder, what: str = "process", enabled: bool = True):
        self.folder, self.what, self.fd, self.enabled = Path(folder), what, None, enabled

    def acquire(self) -> "FolderLock":
        """Take the lock (or nothing, when not ``enabled``: the other processes of a job whose first one holds it)."""
        if not self.enabled:
            return self
        self.folder.mkdir(parents=True, exist_ok=True)
        key = self.folder.resolve()
        if key in _HELD:                               # this process holds it already (a command, then its trainer)
            _HELD[key][1] += 1
            self.fd = _HELD[key][0]
            return self
        path = self.folder / LOCK_NAME
        for _ in range(100):
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = _describe(os.read(fd, 4096))
                os.close(fd)
                raise DuettoError(f"{self.folder} is in use by another {holder}; wait for it to finish, or write "
                                  "somewhere else") from None
            try:
                if os.fstat(fd).st_ino == os.stat(path).st_ino:
                    break                               # the file we locked is still the folder's lock
            except FileNotFoundError:
                pass
            os.close(fd)                                # its holder removed it as we opened it: again
        else:
            raise DuettoError(f"{self.folder}: cannot take its lock ({path} keeps changing)")
        _HELD[key] = [fd, 1]
        os.ftruncate(fd, 0)
        os.write(fd, json.dumps({"what": self.what, "pid": os.getpid(), "host": socket.gethostname(),
                                 "since": time.strftime("%Y-%m-%d %H:%M:%S")}).encode())
        self.fd = fd
        return self

    def release(self):
        if self.fd is None:
            return
        key = self.folder.resolve()
        if key in _HELD and _HELD[key][1] > 1:         # an outer holder in this process keeps it
            _HELD[key][1] -= 1
            self.fd = None
            return
        _HELD.pop(key, None)
        if self.fd is not None:
            try:
                os.unlink(self.folder / LOCK_NAME)      # while still held: no one can be holding another copy
            except FileNotFoundError:
                pass
            fcntl.flock(self.fd, fcntl.LOCK_UN)
            os.close(self.fd)
            self.fd = None

    def __enter__(self):
        return self.acquire()

    def __exit__(self, *exc):
        self.release()


def _describe(raw: bytes) -> str:
    try:
        d = json.loads(raw.decode() or "{}")
        return f"{d.get('what', 'process')} (pid {int(d['pid'])} on {str(d.get('host'))[:64]}, since {str(d.get('since'))[:19]})"
    except (ValueError, KeyError, TypeError, UnicodeDecodeError):
        return "process"
