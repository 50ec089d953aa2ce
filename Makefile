# Two entry points (see README):
#   make demo   set up .venv, simulate the embedded default and validate it
#   make test   set up .venv and run the test suite
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
SCINTNET := $(VENV)/bin/scintnet
# torch is pinned to the CPU wheel 2.13.0: an unpinned torch pulls a multi-GB CUDA build
TORCH_PIN ?= torch==2.13.0

.PHONY: setup demo test bench clean

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q "$(TORCH_PIN)"
	$(PY) -m pip install -q -e ".[test,nucdata]"
	touch $@

setup: $(VENV)/.installed

demo: setup
	$(SCINTNET) simulate --preset klz800 --source Xe136_0vbb --events 5000 --seed 1 --workers 2 --out out/xe0vbb.h5
	$(SCINTNET) simulate --preset klz800 --source C10 --events 5000 --seed 2 --workers 2 --out out/c10.h5
	$(SCINTNET) info out/xe0vbb.h5
	$(SCINTNET) validate-sim --preset klz800 --workers 2 --plots out/validation --json > out/validate-sim.json
	$(SCINTNET) validate-sim --preset klz800 --workers 2 --plots out/validation
	$(SCINTNET) bench sim --preset klz800

test: setup
	$(PY) -m pytest -q

bench: setup
	$(PY) benchmarks/bench_sim.py

clean:
	rm -rf out .pytest_cache
