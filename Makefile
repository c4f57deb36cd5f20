# The two commands a newcomer runs. Both set up the environment first (idempotent).
.PHONY: demo test setup lint
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
