# The kit's commands. `make lab` and `make test` are all a fresh machine needs (Python 3.10-3.13).
# On Windows, without make, README.md lists the same steps as plain commands.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: setup lab test serve classroom bench notebooks check-notebooks slides help

help:
	@echo "make lab    set up, then open JupyterLab on the lessons"
	@echo "make test   set up, then run every test (notebooks and browser tests included)"
	@echo "make serve  run the chat server alone on http://127.0.0.1:8000/chat (SERVE_ARGS=...)"
	@echo "make classroom  run the chat for a whole class on this network (CLASSROOM_ARGS=...)"
	@echo "make bench  run the fan-out and memory benchmark (BENCH_ARGS=...)"
	@echo "make notebooks        rebuild notebooks/ and solutions/ from labsrc/lessons/"
	@echo "make check-notebooks  fail if the committed notebooks differ from their sources"
	@echo "make slides           build the deck into slides/build/ and refresh the guide's timetables"

# One virtual environment with the pinned packages and the kit's own package, reinstalled
# only when requirements.txt or pyproject.toml change. Python 3.10 gets ipykernel 7.3, which runs
# widget callbacks on a thread of their own when JupyterLab sends widget messages over a kernel
# subshell: there JupyterLab is told not to, so callbacks run on the loop as elective E4 teaches.
$(STAMP): requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt -e .
	$(BIN)/jupyter labextension disable --level=sys_prefix "@jupyterlab/apputils-extension:announcements" >/dev/null 2>&1
	if $(BIN)/python -c 'import sys; sys.exit(sys.version_info >= (3, 11))'; then \
	  mkdir -p $(VENV)/share/jupyter/lab/settings && \
	  echo '{"@jupyterlab/apputils-extension:kernels-settings": {"commsOverSubshells": "disabled"}}' \
	    > $(VENV)/share/jupyter/lab/settings/overrides.json; fi
	touch $(STAMP)

setup: $(STAMP)

# Jupyter refuses to run as root unless told to (containers and some lab machines run as root).
ALLOW_ROOT := $(if $(filter 0,$(shell id -u 2>/dev/null)),--allow-root,)

lab: setup
	cd notebooks && ../$(BIN)/jupyter lab $(ALLOW_ROOT) 00_setup.ipynb

test: setup
	$(BIN)/python -m pytest

serve: setup
	$(BIN)/python -m wslab serve $(SERVE_ARGS)

# The chat for a whole class: every network, a join token kept across restarts, a live view.
classroom: setup
	$(BIN)/python -m wslab serve --classroom $(CLASSROOM_ARGS)

bench: setup
	$(BIN)/python -m wslab.bench $(BENCH_ARGS)
	$(BIN)/python -m wslab.bench.cross_worker

notebooks: setup
	$(BIN)/python labsrc/build_notebooks.py

check-notebooks: setup
	$(BIN)/python labsrc/build_notebooks.py --check

slides: setup
	$(BIN)/python slides/build.py
