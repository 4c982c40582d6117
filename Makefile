# One command per job. The first use creates .venv and installs the pinned environment.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PROFILE ?= cpu
# PyTorch's build: the CPU wheels by default, a CUDA build with `make setup TORCH=cu128`
# (any tag of https://download.pytorch.org/whl/). Its version is constraints.txt's.
TORCH ?= cpu
TORCH_INDEX := https://download.pytorch.org/whl/$(TORCH)
STAMP := $(VENV)/.installed-$(TORCH)
# Fashion-MNIST, the cpu profile's data (only needed to retrain): installed from Debian's
# package when make runs as root with apt-get; INSTALL_DATA=no skips that.
INSTALL_DATA ?= yes
FASHION_MNIST := /usr/share/datasets/fashion-mnist

.PHONY: setup data mathjax test test-fast book pdf smoke reproduce student instructor bench lint clean

setup: $(STAMP) data

# Where PyTorch's index does not answer (offline, or a local mirror), pip's own indexes
# provide torch; on a CUDA tag the build is asked for by its local version, so that a
# switch replaces the installed build.
$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@if $(PY) -c "import sys, urllib.request as r; r.urlopen(sys.argv[1], timeout=10)" \
	    "$(TORCH_INDEX)/torch/" 2>/dev/null; then \
	  extra="--extra-index-url $(TORCH_INDEX)"; \
	else \
	  echo "note: $(TORCH_INDEX) does not answer; torch comes from pip's own indexes"; \
	  extra=""; \
	fi; \
	if [ "$(TORCH)" != cpu ]; then \
	  torch="torch==$$(sed -n 's/^torch==//p' constraints.txt)+$(TORCH)"; \
	fi; \
	set -x; $(PY) -m pip install --quiet $$extra -c constraints.txt -e ".[book,dev]" $$torch
	rm -f $(VENV)/.installed*
	touch $(STAMP)

data:
	@if [ "$(INSTALL_DATA)" = yes ] && [ ! -d $(FASHION_MNIST) ] \
	    && command -v apt-get >/dev/null; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing Fashion-MNIST (apt-get install dataset-fashion-mnist)"; \
	    export DEBIAN_FRONTEND=noninteractive; \
	    { apt-cache show dataset-fashion-mnist >/dev/null 2>&1 || apt-get update -qq; } \
	      && apt-get install -y -qq dataset-fashion-mnist >/dev/null \
	      || echo "note: could not install dataset-fashion-mnist; it is downloaded when needed"; \
	  else \
	    echo "note: Fashion-MNIST is needed only to retrain (make reproduce): sudo apt-get install dataset-fashion-mnist"; \
	  fi; \
	fi

## Unit tests, the smoke profile end to end and the browser check of the built book.
test: setup mathjax
	$(PY) -m pytest

# MathJax for the browser check, served locally (the book itself loads it from a CDN).
MATHJAX := $(HOME)/.cache/hybridlib/mathjax
mathjax:
	@if [ ! -d $(MATHJAX)/node_modules/mathjax/es5 ]; then \
	  if command -v npm >/dev/null; then \
	    npm install --silent --no-audit --no-fund --prefix $(MATHJAX) mathjax@3; \
	  else \
	    echo "note: the browser check needs MathJax: install npm, then make test again"; \
	  fi; \
	fi

## Unit tests only (a few minutes).
test-fast: setup
	$(PY) -m pytest -m "not slow and not browser"

## The book of the default (cpu) profile from the committed run records.
book: setup mathjax
	$(PY) -m hybridlib.book.pipeline --profile $(PROFILE)

## The whole book as one PDF, _build/html/hybrid-pooling.pdf (make book prints it too).
pdf: book mathjax
	$(PY) -m hybridlib.book.pdf

## Every chapter on tiny data: proves the notebooks run end to end.
smoke: setup
	$(PY) -m hybridlib.book.pipeline --profile smoke

## Retrain every run of the profile, then build its book.
reproduce: setup
	$(PY) -m hybridlib.book.pipeline --profile $(PROFILE) --force

## Student editions of every chapter in student/.
student: setup
	$(PY) -m hybridlib.book.coursework student --out student

## The instructor's edition of every chapter in instructor/: every solution, the model
## answers to the written exercises included (git-ignored: not for students).
instructor: setup
	$(PY) -m hybridlib.book.coursework instructor --out instructor

## Speed of the layers against the bare FFT floor; writes the git-ignored results/bench/local/
## (`python -m hybridlib.bench layers --record` replaces the committed results/bench/ record).
bench: setup
	$(PY) -m hybridlib.bench layers

lint: setup
	$(PY) -m ruff check hybridlib tests notebooks

clean:
	rm -rf _build book/chapters student .pytest_cache .ruff_cache .hypothesis
