# Fresh machine: `make demo` or `make test`. Both create .venv and install what they need.
# torch==2.13.0 is installed first: on this machine it is a CPU build on local disk, and
# installing it before anything that depends on torch stops pip pulling a multi-GB CUDA build.

VENV   ?= .venv
PYTHON ?= python3
PY     := $(VENV)/bin/python
DEPS   := $(VENV)/.deps-installed
PYTEST_ARGS ?=

.PHONY: demo test lint bench clean-venv help box-tools

# What the cloud box (tests/cloudbox) runs inside its VMs and around them: sshd, rsync for
# `ray up`'s file mounts, nft for its firewall, ip for its namespaces. Installed only as root
# and only when one is missing; without them the box's tests skip and say why.
BOX_TOOLS := /usr/sbin/sshd /usr/bin/rsync /usr/sbin/nft /usr/bin/ssh-keygen
BOX_PACKAGES := openssh-server openssh-client rsync nftables iproute2

help:
	@echo "make demo   - set up, then run the RL job on a local autoscaling Ray cluster"
	@echo "make test   - set up, then run the test suite"
	@echo "make lint   - ruff (format and lint) and mypy: strict on provisioner/ and rlcloud_contract/, checked on runtime/"
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

box-tools:
	@if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  for f in $(BOX_TOOLS); do [ -e $$f ] || missing=1; done; \
	  if [ -n "$$missing" ]; then \
	    echo "installing the cloud box's tools: $(BOX_PACKAGES)"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(BOX_PACKAGES) >/dev/null \
	      || echo "could not install them; the cloud box's tests will skip"; \
	  fi; \
	fi

test: $(DEPS) box-tools
	$(PY) -m pytest -q $(PYTEST_ARGS)

# Zero findings or it fails. mypy is strict on the control plane; the runtime (torch and Ray
# APIs with loose stubs) gets its function bodies checked, untyped ones included.
lint: $(DEPS)
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy --strict provisioner rlcloud_contract
	$(VENV)/bin/mypy --check-untyped-defs runtime

bench: $(DEPS)
	$(PY) benchmarks/run.py

clean-venv:
	rm -rf $(VENV)
