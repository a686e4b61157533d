# Two commands do all the set-up on a fresh machine:
#   make report   install, then write the report for the bundled sample into report/
#   make test     install with the test extras, then lint and run the test suite
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip install -q -c constraints.txt

$(VENV)/.core: pyproject.toml constraints.txt
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PIP) -e .
	touch $@

$(VENV)/.test: $(VENV)/.core
	$(PIP) -e ".[test]"
	touch $@

.PHONY: test report
test: $(VENV)/.test
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(PY) -m pytest -q

report: $(VENV)/.core
	$(VENV)/bin/oasst-quality report --out report
