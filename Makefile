# One command per job. The first use creates .venv and installs the pinned environment.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PROFILE ?= cpu
STAMP := $(VENV)/.installed

.PHONY: setup test test-fast book smoke reproduce student bench lint clean

setup: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet -c constraints.txt -e ".[book,dev]"
	touch $(STAMP)

## Unit tests, the smoke profile end to end and the browser check of the built book.
test: setup
	$(PY) -m pytest

## Unit tests only (a few minutes).
test-fast: setup
	$(PY) -m pytest -m "not slow and not browser"

## The book of the default (cpu) profile from the committed run records.
book: setup
	$(PY) -m hybridlib.pipeline --profile $(PROFILE)

## Every chapter on tiny data: proves the notebooks run end to end.
smoke: setup
	$(PY) -m hybridlib.pipeline --profile smoke

## Retrain every run of the profile, then build its book.
reproduce: setup
	$(PY) -m hybridlib.pipeline --profile $(PROFILE) --force

## Student editions of every chapter in student/.
student: setup
	$(PY) -m hybridlib.coursework student --out student

## Speed of the layers against the bare FFT floor; writes results/bench/.
bench: setup
	$(PY) -m hybridlib.bench layers

lint: setup
	$(PY) -m ruff check hybridlib tests notebooks

clean:
	rm -rf _build book/chapters student .pytest_cache .ruff_cache .hypothesis
