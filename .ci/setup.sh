#!/usr/bin/env bash
# Sets up everything Duetto needs on a fresh machine: system packages and a local virtual
# environment with the package installed in editable mode. Idempotent; `make setup` runs it.
#
#   VENV     where the virtual environment goes (default .venv)
#   PYTHON   the interpreter that makes it (default python3)
set -euo pipefail
VENV=${VENV:-.venv}
PYTHON=${PYTHON:-python3}
CPU_TORCH=torch==2.13.0          # the CPU build of this kind of machine (a local wheel)
CPU_TORCHAUDIO=torchaudio==2.11.0  # the only torchaudio that installs beside it

# 1. System packages: espeak-ng voices the synthetic speech scenes; Debian's chromium runs the gallery page's browser
#    test (tests/joint/test_gallery_browser.py, skipped with its reason where chromium cannot be installed).
SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
if ! command -v espeak-ng >/dev/null || ! command -v chromium >/dev/null; then
  $SUDO apt-get update -qq
fi
if ! command -v espeak-ng >/dev/null; then
  $SUDO apt-get install -y -qq espeak-ng >/dev/null
fi
if ! command -v chromium >/dev/null; then
  $SUDO apt-get install -y -qq chromium >/dev/null 2>&1 || \
    echo "duetto setup: no chromium here; the gallery's browser test will be skipped" >&2
fi

# 2. The venv. A torch that is already installed (a CUDA build on a GPU machine) is kept as it
#    is: the venv sees the system site-packages, and a constraints file stops pip replacing it.
if [ ! -x "$VENV/bin/python" ]; then
  if "$PYTHON" -c "import torch" 2>/dev/null; then
    "$PYTHON" -m venv --system-site-packages "$VENV"
  else
    "$PYTHON" -m venv "$VENV"
  fi
fi
PY="$VENV/bin/python"
PIP=("$PY" -m pip install --quiet --disable-pip-version-check)
if ! "$PY" -c "import torch" 2>/dev/null; then
  # Pinned: any other torch request pulls several GB of CUDA packages on a CPU machine.
  "${PIP[@]}" "$CPU_TORCH"
fi
CONSTRAINTS="$VENV/constraints.txt"
"$PY" -c "import torch; print('torch==' + torch.__version__)" > "$CONSTRAINTS"
if ! "$PY" -c "import torchaudio" 2>/dev/null; then
  "${PIP[@]}" -c "$CONSTRAINTS" "$CPU_TORCHAUDIO"
fi
"${PIP[@]}" -c "$CONSTRAINTS" -e ".[test]"
# The voice metric (duetto.audio.speaker) reads resemblyzer's shipped speaker-encoder weights; its code (which needs
# webrtcvad, librosa and a scipy module recent scipy removed) is never imported, so none of its dependencies.
"$PY" -c "import importlib.util as u; assert u.find_spec('resemblyzer')" 2>/dev/null || \
  "${PIP[@]}" --no-deps resemblyzer==0.1.4

# The sync checker's face models: mediapipe 0.10.21 is the last wheel that ships BlazeFace and the 468-point face mesh
# (tflite, run offline). It declares numpy<2 and jax, neither of which those models need: --no-deps, plus what it
# imports. Where no such wheel exists (another platform or Python), duetto-sync falls back to OpenCV's Haar cascade.
if ! "$PY" -c "import importlib.util as u; assert u.find_spec('mediapipe')" 2>/dev/null; then
  if "${PIP[@]}" --no-deps mediapipe==0.10.21; then
    "${PIP[@]}" -c "$CONSTRAINTS" flatbuffers attrs absl-py
  else
    echo "duetto setup: mediapipe 0.10.21 unavailable here; duetto-sync will read faces with the Haar cascade" >&2
  fi
fi

# 3. torchaudio's compiled extension is built against CUDA and fails to load on a CPU-only
#    torch. Its pure-Python parts (transforms, functional, resample) work once the shared
#    libraries are gone, so remove them -- only where torch has no CUDA, never on a GPU build.
"$PY" - <<'PY'
import glob, os, torch
if torch.version.cuda is None:
    import importlib.util
    spec = importlib.util.find_spec("torchaudio")
    if spec and spec.submodule_search_locations:
        for so in glob.glob(os.path.join(list(spec.submodule_search_locations)[0], "lib", "*.so")):
            os.remove(so)
PY
"$PY" -c "import torch, torchaudio, av, duetto.data; print(f'duetto setup ok: torch {torch.__version__} (cuda {torch.version.cuda}), torchaudio {torchaudio.__version__}, av {av.__version__}')"
