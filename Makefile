# Fresh machine: `make demo` or `make test`. Both create .venv and install what they need.
# torch==2.13.0 is installed first: on this machine it is a CPU build on local disk, and
# installing it before anything that depends on torch stops pip pulling a multi-GB CUDA build.

VENV   ?= .venv
PYTHON ?= python3
PY     := $(VENV)/bin/python
DEPS   := $(VENV)/.deps-installed
PYTEST_ARGS ?=

.PHONY: demo test bench clean-venv help

help:
	@echo "make demo   - set up, then run the RL job on a local autoscaling Ray cluster"
	@echo "make test   - set up, then run the test suite"
	@echo "make bench  - set up, then run the benchmarks (numbers to stdout and .bench/)"

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

$(DEPS): pyproject.toml | $(PY)
	$(PY) -m pip install --quiet "torch==2.13.0"
	$(PY) -m pip install --quiet -e ".[all]"
	@touch $@

demo: $(DEPS)
	$(PY) examples/demo.py

test: $(DEPS)
	$(PY) -m pytest -q $(PYTEST_ARGS)

bench: $(DEPS)
	$(PY) benchmarks/run.py

clean-venv:
	rm -rf $(VENV)
