# The two set-up commands of the README. Both create .venv when it is missing.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.spikebits-installed

.PHONY: demo test install clean-venv

install: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[test,dashboard,neurobench,nir]'
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps 'neurobench==2.3.0'
	@touch $(STAMP)

demo: $(STAMP)
	$(BIN)/spikebits search

test: $(STAMP)
	$(BIN)/python -m pytest -q

clean-venv:
	rm -rf $(VENV)
