# The two commands a newcomer runs. Both set up the environment first (idempotent).
.PHONY: demo test setup lint gpu-wheels
PY := .venv/bin/python

setup:
	@bash scripts/setup_env.sh

## The main job: the closed-loop simulation demo over ROS 2 (see README).
demo: setup
	@$(PY) -m deer_ros.cli demo

## The test suite (slow tests excluded; `make test PYTEST_ARGS="-m slow"` runs them).
test: setup
	@$(PY) -m pytest $(PYTEST_ARGS)

lint: setup
	@$(PY) -m pytest test/test_lint.py

## The cp312 wheels a lent GPU machine lacks, into wheels/cp312, and the offline install checked
## (docs/performance.md, "Running it on a lent GPU").
gpu-wheels: setup
	@PYTHON=$(PY) bash scripts/gpu_wheels.sh download
	@PYTHON=$(PY) bash scripts/gpu_wheels.sh check
