# Two commands on a fresh machine: `make demo` (set up, make synthetic clips and check them, generate a gallery
# with the shipped model and check its sync)
# and `make test` (set up, run the test suite). Both set up first; setup is idempotent.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
BIN := $(VENV)/bin
# librosa/numba (later areas) compile on first use; keep the cache inside the checkout.
export NUMBA_CACHE_DIR ?= $(CURDIR)/.cache/numba
DEMO ?= demo-out

.PHONY: setup demo test bench clean

setup: $(VENV)/.setup-done

$(VENV)/.setup-done: pyproject.toml .ci/setup.sh
	VENV=$(VENV) bash .ci/setup.sh
	touch $@

demo: setup
	rm -rf $(DEMO)
	$(BIN)/duetto-data synth --family impacts --n 8 --seconds 3 --out $(DEMO)/impacts
	$(BIN)/duetto-data synth --family speech --n 8 --seconds 3 --out $(DEMO)/speech
	$(BIN)/duetto-data synth --family music --n 8 --seconds 3 --out $(DEMO)/music
	$(BIN)/duetto-data inspect $(DEMO)/*/*.tar
	$(BIN)/duetto-data check $(DEMO)/*/*.tar
	$(BIN)/duetto gallery --out $(DEMO)/gallery
	$(BIN)/duetto-sync check $(DEMO)/gallery/clips/*.mp4 --junit $(DEMO)/gallery/sync.xml
	@echo "open $(DEMO)/gallery/index.html to watch and listen"

test: setup
	$(PY) -m pytest -q

bench: setup
	$(PY) bench/data.py
	$(PY) bench/timing.py
	$(PY) bench/sync.py
	$(PY) bench/vae.py
	$(PY) bench/generate.py
	$(PY) bench/conditioning.py

clean:
	rm -rf $(VENV) .cache build dist *.egg-info $(DEMO)
