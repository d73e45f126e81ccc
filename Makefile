# linecheck: two commands a new user needs, `make demo` and `make test`. Both bootstrap .venv.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

# Nothing is ever downloaded at run time: Ultralytics stays offline, its settings stay in the repo.
export YOLO_OFFLINE := 1
export YOLO_CONFIG_DIR := $(CURDIR)/var/ultralytics
export PYTHONDONTWRITEBYTECODE := 1

.PHONY: install models demo test lint typecheck unit clean help

help:
	@echo "make install   create .venv, install linecheck (editable) with test extras, build the models' ONNX graphs"
	@echo "make demo      end-to-end demo: embedded Triton + API on SQLite + simulated lines"
	@echo "make test      lint, type-check and run every test"
	@echo "make clean     remove .venv and generated files under var/"

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV) || python3 -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip setuptools wheel
	$(BIN)/python -m pip install --quiet -e '.[test]'
	@touch $(STAMP)

# models/ commits one format per starter model (weights.pt, float16); the ONNX graphs the servers
# run are exported here (a no-op once they exist).
models: $(STAMP)
	$(BIN)/linecheck models build

install: $(STAMP) models

demo: $(STAMP) models
	$(BIN)/linecheck demo $(DEMO_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check linecheck tests $(wildcard bench)
	$(BIN)/ruff format --check linecheck tests $(wildcard bench)

typecheck: $(STAMP)
	$(BIN)/mypy

# Two pytest-xdist workers, each running whole test files in their order (files share module-scoped servers);
# TEST_WORKERS=0 runs the suite in one process.
TEST_WORKERS ?= 2
test: lint typecheck models
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) var/ultralytics var/tmp var/triton/server var/triton/test-models var/bench
