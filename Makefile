# The course's two commands: `make lab` (set up, then open JupyterLab) and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# Tests run two workers with one thread each (two torch threads per worker on 2 cores thrash), and
# use their own cache, so a smoke-size zoo never mixes with the course's real one.
TEST_CACHE ?= $(CURDIR)/.cache/test

.PHONY: setup zoo lab test test-unit results benchmark clean

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $@

setup: $(VENV)/.installed

# The course's "pretrained" bases ship with the package (minivlm/zoo_weights/): `make lab` trains
# nothing. `make zoo` retrains them from their recipes (hours on 2 CPU cores: the manifest records
# each base's time; `MINIVLM_DEVICE=cuda make zoo` trains on a GPU; resumable: rerun it after an
# interruption), rewrites the shipped files and measures them into the manifest.
zoo: setup
	$(PY) -m minivlm.zoo --ship
	$(PY) benchmarks/zoo.py --write

lab: setup
	$(PY) -m minivlm.zoo
	$(VENV)/bin/jupyter lab notebooks/

test: setup
	OMP_NUM_THREADS=1 MINIVLM_FAST=1 MINIVLM_STRICT_CHECKS=1 MINIVLM_CACHE=$(TEST_CACHE) HF_HUB_OFFLINE=1 \
		$(PY) -m pytest -q -n 2 tests --nbmake notebooks solutions --nbmake-timeout=600

test-unit: setup
	OMP_NUM_THREADS=1 MINIVLM_FAST=1 MINIVLM_STRICT_CHECKS=1 MINIVLM_CACHE=$(TEST_CACHE) HF_HUB_OFFLINE=1 $(PY) -m pytest -q tests

# Every notebook (solved) in full mode: each writes results/NN.json; then the README's table is rebuilt.
results: setup
	HF_HUB_OFFLINE=1 $(PY) -m pytest -q -p no:cacheprovider --nbmake solutions --nbmake-timeout=1800
	$(PY) tools/results_tables.py

benchmark: setup
	$(PY) benchmarks/foundation.py
	$(PY) benchmarks/zoo.py

clean:
	rm -rf .cache $(VENV)
