"""One exit-code contract for every command: 2 for bad input or environment, 4 for a bug, never a traceback."""
import subprocess
import sys
from pathlib import Path

import pytest

from duetto.data import console, write_clip
from duetto.data.errors import DuettoError
from duetto.data.testsignals import click_flash_clip

BIN = Path(sys.executable).parent


def test_run_maps_errors_to_codes_and_one_line(capsys, monkeypatch):
    monkeypatch.delenv("DUETTO_DEBUG", raising=False)

    def boom(exc):
        def main(argv=None):
            raise exc
        return main
    assert console.run("p", boom(DuettoError("bad"))) == 2
    assert console.run("p", boom(IsADirectoryError(21, "Is a directory", "out.mp4"))) == 2
    assert console.run("p", boom(ZeroDivisionError("division by zero"))) == 4
    err = capsys.readouterr().err.splitlines()
    assert err == ["p: error: bad", "p: error: Is a directory: out.mp4",
                   "p: internal error: ZeroDivisionError: division by zero (a bug; DUETTO_DEBUG=1 shows where)"]
    monkeypatch.setenv("DUETTO_DEBUG", "1")
    with pytest.raises(ZeroDivisionError):
        console.run("p", boom(ZeroDivisionError("division by zero")))


def test_an_output_that_is_a_directory_is_bad_input_not_a_traceback(tmp_path):
    clip = write_clip(tmp_path / "c.mp4", click_flash_clip(frames=50)[0])
    (tmp_path / "out.mp4").mkdir()
    r = subprocess.run([str(BIN / "duetto-sync"), "fix", str(clip), "-o", str(tmp_path / "out.mp4"), "--offset", "40"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr


def test_two_synth_runs_into_one_folder_the_second_is_refused(tmp_path):
    """While one `duetto-data synth` writes a folder, a second into it is refused (one line, exit 2, naming the
    first) and the first's shards are whole; afterwards the folder is free (but holds shards: --overwrite)."""
    from duetto.data.lock import FolderLock
    out = tmp_path / "out"
    with FolderLock(out, "duetto-data synth"):                    # as a running synth holds it
        r = subprocess.run([str(BIN / "duetto-data"), "synth", "--family", "impacts", "--n", "2", "--seconds", "1",
                            "--out", str(out)], capture_output=True, text=True, timeout=120)
        assert r.returncode == 2 and "in use by another duetto-data synth (pid" in r.stderr, r.stderr
        assert not list(out.glob("*.tar"))
    r = subprocess.run([str(BIN / "duetto-data"), "synth", "--family", "impacts", "--n", "2", "--seconds", "1",
                        "--out", str(out)], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and len(list(out.glob("*.tar"))) == 1, r.stderr


def test_tables_round_numbers_for_people():
    t = console.table([{"err_ms": 1.3079999999998648, "n": 3, "big": 12345678.9}], ["err_ms", "n", "big"])
    assert t.splitlines()[2].split() == ["1.308", "3", "1.235e+07"]


def test_a_process_may_take_its_own_folder_lock_again(tmp_path):
    """A command that holds its run folder (distil: rollouts, then training) may enter the trainer, which takes the
    same lock: nested in one process it is counted, and only the outermost release lets other processes in."""
    import sys as _sys
    from duetto.data.lock import FolderLock
    probe = [_sys.executable, "-c", "import sys; from duetto.data.lock import FolderLock; "
             "FolderLock(sys.argv[1]).acquire()", str(tmp_path / "run")]
    with FolderLock(tmp_path / "run", "distillation"):
        with FolderLock(tmp_path / "run", "training"):
            pass
        r = subprocess.run(probe, capture_output=True, text=True, timeout=60)
        assert r.returncode != 0 and "in use by another distillation" in r.stderr   # still held by the outer
    assert subprocess.run(probe, capture_output=True, text=True, timeout=60).returncode == 0


def _stop_when(cmd, marker: str, sig, timeout=120):
    """Run ``cmd``, send ``sig`` once ``marker`` shows on its stderr; (exit code, stderr)."""
    import os
    import signal
    import threading
    import time
    p = subprocess.Popen(cmd, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True,
                         env={**os.environ, "OMP_NUM_THREADS": "1"},       # a background shell ignores SIGINT in
                         preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))   # its jobs: not here
    seen, err = threading.Event(), []

    def read():
        for chunk in iter(lambda: p.stderr.read(1), ""):
            err.append(chunk)
            if marker in "".join(err[-200:]):
                seen.set()
    threading.Thread(target=read, daemon=True).start()
    assert seen.wait(timeout), "".join(err)
    time.sleep(0.3)
    p.send_signal(sig)
    code = p.wait(timeout=60)
    time.sleep(0.2)
    assert code != -signal.SIGTERM, "SIGTERM ended the process on the spot (no cleanup)"
    return code, "".join(err)


@pytest.mark.parametrize("sig,code,word", [("SIGINT", 130, "interrupted"), ("SIGTERM", 143, "terminated")])
def test_a_signal_mid_generation_leaves_no_file(tmp_path, sig, code, word):
    """Ctrl-C or SIGTERM while `duetto generate` samples: its own exit code and line, nothing written, no temp file."""
    import signal
    out = tmp_path / "out"
    out.mkdir()
    got, err = _stop_when([str(BIN / "duetto"), "generate", "a ball drops", "-o", str(out / "x.mp4"), "-n", "2",
                           "--steps", "1000"], "sampling:", getattr(signal, sig))
    assert got == code and err.strip().splitlines()[-1] == f"duetto: {word}", err[-500:]
    assert "Traceback" not in err and list(out.iterdir()) == []


def test_sigterm_mid_synth_leaves_only_whole_shards(tmp_path):
    import signal

    from duetto.data.shards import iter_shard
    out = tmp_path / "out"
    got, err = _stop_when([str(BIN / "duetto-data"), "synth", "--family", "impacts", "--n", "400", "--seconds", "1",
                           "--shard-size", "4", "--out", str(out)], "clip", signal.SIGTERM)
    assert got == 143 and "Traceback" not in err, err[-500:]
    files = sorted(p.name for p in out.iterdir())
    assert all(f.endswith(".tar") for f in files if not f.startswith(".duetto-lock")), files
    for f in out.glob("*.tar"):                                   # every shard there is whole
        assert all(type(s).__name__ == "Sample" for s in iter_shard(f)), f
