# Two commands matter: `make up` runs the platform, `make test` checks it.
# State for `make up` lives in DOCKYARD_ROOT (default /var/lib/dockyard); tests use temp roots.

PYTHON ?= python3
VENV_PYTHON := .venv/bin/python
FAST := not privileged and not e2e and not browser and not slow

.PHONY: setup up node test lint fast

setup:
	$(PYTHON) scripts/setup.py

up: setup
	$(VENV_PYTHON) -m dockyard.launcher

# Another host joins a control plane (DOCKYARD_CLUSTER=1 make up) with the line that
# `manage.py join_token` prints; run again without TOKEN, it comes back as the same node.
node:
	$(PYTHON) scripts/setup.py --only packages,venv
	$(VENV_PYTHON) -m dockyard.node --join "$(JOIN)" $(if $(TOKEN),--token "$(TOKEN)") $(ARGS)

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
