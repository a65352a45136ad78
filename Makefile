# memlab: the two commands a newcomer needs are `make test` and `make report`.
# Each sets up its own virtual environment (.venv) with the exact versions of
# binder/constraints.txt, the same ones CI, Binder and reports use.

PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.memlab-installed
# Exact pins are for Python 3.11 (CI, Binder, reports); other Pythons get the floors of pyproject.
CONSTRAINTS := $(shell $(PY) -c 'import sys; print("-c binder/constraints.txt" if sys.version_info[:2] == (3, 11) else "")')
PYTEST_ARGS ?=
REPORT_ARGS ?=
TEST_ENV := OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 MPLBACKEND=Agg TQDM_DISABLE=1 PYTHONHASHSEED=0

.PHONY: install test test-fast report bench data lab clean atlas

$(STAMP): pyproject.toml binder/constraints.txt
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q $(CONSTRAINTS) -e ".[dev,e2e]"
	touch $(STAMP)

install: $(STAMP)

# The whole suite: unit + claim tests, every notebook executed (nbval), papermill and report
# tests, data checksums, Binder install, browser test (skipped without chromium).
# Two workers, one thread each; --dist loadscope keeps a notebook's cells on one worker.
test: $(STAMP)
	@$(TEST_ENV) $(BIN)/python -m pytest -n 2 --dist loadscope --nbval-lax \
		--nbval-cell-timeout=300 tests notebooks $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "make test: pytest collected no tests: failing" >&2; exit 1; fi; \
	exit $$rc

# Unit and claim tests only (no notebook execution, no installs): seconds to a few minutes.
test-fast: $(STAMP)
	@$(TEST_ENV) $(BIN)/python -m pytest -n 2 -m "not slow and not e2e" tests $(PYTEST_ARGS)

# The reproducible report of every notebook: reports/index.html, summary.json, per-chapter
# executed notebook + HTML + metrics.json. REPORT_ARGS="--profile full --device cuda" on a GPU.
report: $(STAMP)
	$(BIN)/memlab report -o reports $(REPORT_ARGS)

bench: $(STAMP)
	$(BIN)/memlab bench

data: $(STAMP)
	$(BIN)/memlab data regenerate

lab: $(STAMP)
	$(BIN)/jupyter lab notebooks/

clean:
	rm -rf $(VENV) reports .pytest_cache

# The medium memory atlas (chapter 19): every configured sequence memory on MQAR, swept with
# `memlab sweep` (Ray; --address joins a cluster), exported to data/ with its checksum.
atlas: $(STAMP)
	OMP_NUM_THREADS=1 $(BIN)/memlab sweep atlas --profile medium --nice 10 \
		-o build/atlas/atlas_medium.duckdb --export data/atlas_medium.parquet
	$(BIN)/memlab data regenerate
