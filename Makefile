# Two commands matter: `make up` runs the platform, `make test` checks it.
# State for `make up` lives in DOCKYARD_ROOT (default /var/lib/dockyard); tests use temp roots.

PYTHON ?= python3
VENV_PYTHON := .venv/bin/python
FAST := not privileged and not e2e and not browser and not slow

.PHONY: setup up test lint fast

setup:
	$(PYTHON) scripts/setup.py

up: setup
	$(VENV_PYTHON) -m dockyard.launcher

# Lint problems do not stop the tests from running: one run reports both.
test:
	$(PYTHON) scripts/setup.py --for-tests
	@lint=0; $(MAKE) --no-print-directory lint || lint=$$?; \
	$(VENV_PYTHON) -m pytest || exit $$?; \
	if [ $$lint -ne 0 ]; then echo "make test: tests passed but lint failed (see above)"; fi; \
	exit $$lint

lint:
	@status=0; \
	echo "==> ruff check ."; .venv/bin/ruff check . || status=1; \
	echo "==> ruff format --check ."; .venv/bin/ruff format --check . || status=1; \
	exit $$status

fast:
	$(PYTHON) scripts/setup.py --only venv
	$(VENV_PYTHON) -m pytest -m "$(FAST)"
