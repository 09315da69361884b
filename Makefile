# The two set-up commands of the README. Both create .venv when it is missing.
#
# `make demo` and `make test` install the versions the suite last passed with
# (constraints.txt: every package pinned). `make test-latest` installs, in .venv-latest, the
# newest versions pyproject.toml's bounds allow, runs the suite on them, and says which ones
# it ran; `make lock` then records them in constraints.txt. CI runs the latter pair with
# `SPIKEBITS_LATEST=1 .ci/run`.
PYTHON      ?= $(shell command -v python3.11 || command -v python3)
VENV        ?= .venv
CONSTRAINTS ?= constraints.txt
BIN         := $(VENV)/bin
STAMP       := $(VENV)/.spikebits-installed
EXTRAS      := test,dashboard,neurobench,nir
# Pinned by the constraints file, or (CONSTRAINTS empty) the newest versions allowed.
PINS        := $(if $(CONSTRAINTS),-c $(CONSTRAINTS),--upgrade --upgrade-strategy eager)
PIP         := $(BIN)/python -m pip install --quiet --disable-pip-version-check $(PINS)

.PHONY: demo test install test-latest lock clean-venv

install: $(STAMP)

# neurobench goes in with --no-deps: it requires torchaudio, which would replace the pinned
# torch; its real needs come with the neurobench extra.
$(STAMP): pyproject.toml $(CONSTRAINTS)
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP) -e '.[$(EXTRAS)]'
	$(PIP) --no-deps 'neurobench==2.3.0'
	@touch $(STAMP)

demo: $(STAMP)
	$(BIN)/spikebits search

test: $(STAMP)
	$(BIN)/python -m pytest -q

# The newest allowed versions, installed afresh each time (a break shows the day it ships).
test-latest:
	rm -f .venv-latest/.spikebits-installed
	$(MAKE) --no-print-directory install VENV=.venv-latest CONSTRAINTS=
	.venv-latest/bin/python -m pip freeze --exclude-editable --disable-pip-version-check \
		| grep -iE '^(torch|optuna|optuna-dashboard|ray|numpy|scipy|snntorch|neurobench|nir|nirtorch|tonic|plotly)=='
	.venv-latest/bin/python -m pytest -q

# Record what .venv-latest holds (after a green `make test-latest`) as the tested versions.
lock:
	{ echo "# The versions the suite passed with (make test-latest, then make lock); make demo and make test install these."; \
	  .venv-latest/bin/python -m pip freeze --exclude-editable --disable-pip-version-check; } > $(CONSTRAINTS).tmp
	mv $(CONSTRAINTS).tmp $(CONSTRAINTS)

clean-venv:
	rm -rf $(VENV) .venv-latest
