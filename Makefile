# infinitevggt_ros developer commands. On a fresh machine: `make demo`, `make test`.
# Setup (scripts/dev_env.sh) is idempotent: it is redone only when its inputs change.

SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON := .venv/bin/python
RUFF := .venv/bin/ruff
LINT_PATHS := .
# Extra pytest arguments, e.g. make test PYTEST_ARGS="test/unit -k memory"
PYTEST_ARGS ?=
# The Jazzy leg of make test (make test-jazzy): the tests that import rclpy or ROS messages,
# run against ROS 2 Jazzy (.venv-jazzy, scripts/jazzy_env.sh). JAZZY=0 skips it in make test.
JAZZY_TESTS := test/ros test/unit/test_convert.py test/unit/test_params.py \
	test/unit/test_session.py test/unit/test_replay.py test/unit/test_decode.py \
	test/unit/test_synthetic.py
JAZZY_PYTEST_ARGS ?=
JAZZY ?= 1
# Extra arguments for the demo module, e.g. make demo DEMO_ARGS="--frames 20"
DEMO_ARGS ?=

.PHONY: help setup build test test-jazzy typecheck format-check demo lint format lock clean distclean

help:
	@echo "make demo      set up (first time) and run the demo (python -m infinitevggt_ros.offline.demo)"
	@echo "make test      set up (first time), build, check formatting and types, run all tests"
	@echo "               on loopback-only DDS, then make test-jazzy (JAZZY=0 skips that)"
	@echo "make test-jazzy  the ROS tests against ROS 2 Jazzy (.venv-jazzy, scripts/jazzy_env.sh)"
	@echo "make typecheck mypy over the package (pyproject.toml [tool.mypy]: strict on the core)"
	@echo "make format-check  ruff format --check (what make test and test_flake8 require)"
	@echo "make setup     create/update .venv and the ROS tools overlay, or the stand-in tf2_msgs"
	@echo "make build     colcon build of this package into .build/ws"
	@echo "make lint      ruff over the code (the same rules test_flake8/test_pep257 use)"
	@echo "make format    ruff format (black-compatible, line length 99)"
	@echo "make lock      rewrite constraints/lock.txt from the current .venv"
	@echo "make clean     remove build outputs (.build, caches); distclean also removes .venv"

setup:
	@scripts/dev_env.sh

build: setup
	@scripts/colcon_build.sh

# Formatting and types first: their failures are quick to read and to fix.
test: build format-check typecheck
	@scripts/loopback_run.sh $(PYTHON) -m pytest $(if $(CI),--durations=15) $(PYTEST_ARGS)
	@$(if $(filter 0,$(JAZZY)),echo "make test: Jazzy leg skipped (JAZZY=0)",$(MAKE) --no-print-directory test-jazzy)

# The same ROS tests against Jazzy, the LTS: an API used here that Jazzy lacks fails them.
test-jazzy:
	@scripts/jazzy_env.sh
	@scripts/jazzy_run.sh .venv-jazzy/bin/python -m pytest $(if $(CI),--durations=10) \
		$(JAZZY_TESTS) $(JAZZY_PYTEST_ARGS)

demo: build
	@scripts/loopback_run.sh $(PYTHON) -m infinitevggt_ros.offline.demo $(DEMO_ARGS)

typecheck: setup
	$(PYTHON) -m mypy

format-check: setup
	$(RUFF) format --check $(LINT_PATHS)

lint: setup
	$(RUFF) check $(LINT_PATHS)

format: setup
	$(RUFF) format $(LINT_PATHS)

lock: setup
	@{ echo "# Pinned versions of the development stack (pip freeze of a working .venv; regenerate with"; \
	   echo "# \`make lock\`). Used as constraints by scripts/dev_env.sh."; \
	   $(PYTHON) -m pip freeze --all --exclude-editable | grep -v '^pip=='; } > constraints/lock.txt.new
	@mv constraints/lock.txt.new constraints/lock.txt
	@echo "constraints/lock.txt: $$(grep -vc '^#' constraints/lock.txt) pinned packages"

clean:
	rm -rf .build build install log .pytest_cache .ruff_cache *.egg-info
	find . \( -path ./.venv -o -path ./.venv-jazzy \) -prune -o -name __pycache__ -type d \
		-prune -exec rm -rf {} +

distclean: clean
	rm -rf .venv .venv-jazzy
