# The kit's commands. `make lab` and `make test` are all a fresh machine needs (Python 3.11-3.14).
# Both run kit.py, which does the same on Windows without make (`py kit.py lab`, `py kit.py test`).

PYTHON ?= python3
KIT    := $(PYTHON) kit.py
BIN    := .venv/bin

.PHONY: setup setup-test lab test test-fast serve classroom bench notebooks check-notebooks slides lock links wheelhouse help

help:
	@echo "make lab    set up, then open JupyterLab on the lessons"
	@echo "make test   set up, then run every test (notebooks and browser tests included)"
	@echo "make test-fast  the unit and room-level tests only: no server, browser, kernel or Redis"
	@echo "make serve  run the chat server alone on http://127.0.0.1:8000/chat (SERVE_ARGS=...)"
	@echo "make classroom  run the chat for a whole class on this network (CLASSROOM_ARGS=...)"
	@echo "make bench  run every benchmark of the README's Benchmark section (BENCH_ARGS=...)"
	@echo "make notebooks        rebuild notebooks/ and solutions/ from labsrc/lessons/"
	@echo "make check-notebooks  fail if the committed notebooks differ from their sources"
	@echo "make slides           build the deck into slides/build/ and refresh the guide's timetables"
	@echo "make wheelhouse       download every wheel students need, for installs with no network"
	@echo "make lock             resolve uv.lock again and regenerate requirements*.txt"
	@echo "make links            the Binder, Codespaces and nbgitpuller links of this checkout (LINKS_ARGS=--hub URL)"

# The environment in .venv: kit.py installs the locked packages once, and again only when the
# lock changes. `setup` is what the notebooks need; the maintainer's targets need the test tools.
setup:
	$(KIT) setup

setup-test:
	$(KIT) setup --for test

lab:
	$(KIT) lab

test:
	$(KIT) test

test-fast:
	$(KIT) test --fast

serve: setup
	$(BIN)/python -m wslab serve $(SERVE_ARGS)

# The chat for a whole class: every network, a join token kept across restarts, a live view.
classroom: setup
	$(BIN)/python -m wslab serve --classroom $(CLASSROOM_ARGS)

bench: setup
	$(BIN)/python -m wslab.bench $(BENCH_ARGS)
	$(BIN)/python -m wslab.bench.cross_worker
	$(BIN)/python -m wslab.bench.stream_path
	$(BIN)/python -m wslab.bench.resume
	$(BIN)/python -m wslab.bench.uvicorn_internals
	$(BIN)/python -m wslab.bench.hostile
	$(BIN)/python -m wslab.bench.join_storm

notebooks: setup-test
	$(BIN)/python labsrc/build_notebooks.py

check-notebooks: setup-test
	$(BIN)/python labsrc/build_notebooks.py --check

slides: setup-test
	$(BIN)/python slides/build.py

lock: setup-test
	$(KIT) lock

links: setup
	$(BIN)/python labsrc/launch_links.py $(LINKS_ARGS)

wheelhouse: setup-test
	$(BIN)/python labsrc/wheelhouse.py $(WHEELHOUSE_ARGS)
