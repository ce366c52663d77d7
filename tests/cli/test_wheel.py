"""The package mapping works outside editable mode: build a wheel, install it into a fresh venv,
run every console script's --help there and check that `duetto` is imported from the wheel."""
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
AREAS = ["data", "audio", "video", "align", "joint", "train"]


@pytest.mark.slow
def test_wheel_installs_and_every_script_runs(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    for f in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / f, src / f)
    for area in AREAS:
        shutil.copytree(ROOT / area, src / area, ignore=shutil.ignore_patterns("__pycache__"))
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                    "-w", str(tmp_path / "dist"), str(src)], check=True, capture_output=True)
    wheel = next((tmp_path / "dist").glob("duetto-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    for area in AREAS:
        assert f"duetto/{area}/__init__.py" in names
    assert "duetto/data/synth/impacts.py" in names and not any(n.startswith(("data/", "tests/")) for n in names)

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    py = venv / "bin" / "python"
    subprocess.run([str(py), "-m", "pip", "install", "-q", "--no-deps", "--no-index", str(wheel)],
                   check=True, capture_output=True)
    # dependencies (torch, av, ...) come from this environment's site-packages, not its editable duetto
    site = subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          check=True, capture_output=True, text=True).stdout.strip()
    deps = [p for p in sys.path if p.endswith("site-packages")]
    Path(site, "zz_deps.pth").write_text("\n".join(deps) + "\n")

    where = subprocess.run([str(py), "-c", "import duetto.data, duetto.joint; print(duetto.data.__file__)"],
                           check=True, capture_output=True, text=True, cwd=tmp_path).stdout.strip()
    assert where.startswith(site), where
    for script in ("duetto", "duetto-data", "duetto-train", "duetto-sync"):
        r = subprocess.run([str(venv / "bin" / script), "--help"], capture_output=True, text=True, cwd=tmp_path)
        assert r.returncode == 0 and "usage:" in r.stdout, (script, r.stderr[-2000:])
