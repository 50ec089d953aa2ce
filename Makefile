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
	$(PY) -m pip install -q -e ".[test,nucdata,jets,dask,accel]"
	touch $@

setup: $(VENV)/.installed

# the whole chain on the embedded default (the KamNet paper's benchmark, klz400-fast: 10C vs 0nbb):
# simulate, reconstruct (on the fly), train the cpu_wide KamNet (the cpu map, twice the cpu preset's widths)
# for 10 epochs (training batches in random rotations of the detector: the events' physics has no direction;
# gradient norm clipped at 1, which lets it take lr 6e-3; ~6.5 min; docs/results.md "A wider
# KamNet"), evaluate on
# independent events, validate the klz800 simulation, and write out/demo/report/README.md
DEMO := out/demo
demo: setup
	rm -rf $(DEMO)
	mkdir -p $(DEMO)
	$(SCINTNET) simulate --preset klz400-fast --source Xe136_0vbb --events 8000 --seed 1 --workers 2 --no-deposits --out $(DEMO)/train_xe0vbb.h5
	$(SCINTNET) simulate --preset klz400-fast --source C10 --events 12000 --seed 2 --workers 2 --no-deposits --out $(DEMO)/train_c10.h5
	$(SCINTNET) simulate --preset klz400-fast --source Xe136_0vbb --events 3000 --seed 3 --workers 2 --no-deposits --out $(DEMO)/test_xe0vbb.h5
	$(SCINTNET) simulate --preset klz400-fast --source C10 --events 4000 --seed 4 --workers 2 --no-deposits --out $(DEMO)/test_c10.h5
	$(SCINTNET) info $(DEMO)/train_xe0vbb.h5
	mkdir -p $(DEMO)/report
	$(SCINTNET) validate-sim --preset klz800 --workers 2 --plots $(DEMO)/report/validation --json > $(DEMO)/report/validate-sim.json
	$(SCINTNET) train --model kamnet --preset cpu_wide --signal $(DEMO)/train_xe0vbb.h5 --background $(DEMO)/train_c10.h5 --out $(DEMO)/kamnet --epochs 10 --batch-size 64 --lr 6e-3 --grad-clip 1.0 --augment-rotations
	$(SCINTNET) evaluate $(DEMO)/kamnet --data $(DEMO)/test_xe0vbb.h5 --data $(DEMO)/test_c10.h5 --out $(DEMO)/report/eval
	$(SCINTNET) report $(DEMO)/kamnet --eval $(DEMO)/report/eval --validation $(DEMO)/report/validate-sim.json --out $(DEMO)/report --html
	@echo "report: $(DEMO)/report/README.md and $(DEMO)/report/index.html (self-contained, with event displays)"

test: setup
	$(PY) -m pytest -q

bench: setup
	$(PY) benchmarks/bench_sim.py

clean:
	rm -rf out .pytest_cache
