# Two commands do all the set-up (see README.md):
#   make lab      create .venv on first use, register its Jupyter kernel, open JupyterLab on notebooks/
#   make test     the same .venv plus the test tools (pytest, ruff, playwright, ...), then the whole test suite
# and, for courses:
#   make student  the notebooks without their solution cells, in _build/student/
#   make book     execute every notebook and write a static HTML copy to _build/book/
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
# torch is pinned to the version the project is tested with. pip's default index (PyPI) serves the
# Linux build with CUDA (its GPU libraries are several GB). For the CPU-only build (about 200 MB) name
# PyTorch's CPU wheel index:  make lab TORCH_INDEX=https://download.pytorch.org/whl/cpu
# (macOS and Windows wheels on PyPI are CPU-only already.)
TORCH_VERSION = 2.13.0
TORCH_INDEX  ?=
# the kernel name the notebooks ask for (scripts/nbtools.py KERNEL), registered inside .venv
KERNEL  = python3
# JupyterLab refuses to start as root (containers, cloud VMs) unless told --allow-root
ALLOW_ROOT = $(if $(filter 0,$(shell id -u)),--allow-root,)

.PHONY: lab test book student bench clean-venv

# The stamps are rebuilt whenever the declared requirements change.
$(VENV)/.installed: pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "csrnet-lite needs Python 3.11 or newer; run: make PYTHON=python3.11 ...")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade pip
	# torch first and pinned exactly, so that the project's own range (pyproject.toml) keeps this build
	$(BIN)/python -m pip install torch==$(TORCH_VERSION) $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX),)
	# the package with JupyterLab (extras: lab = JupyterLab, test = the test tools, browser = playwright)
	$(BIN)/python -m pip install -e ".[lab]"
	touch $@

# The test tools, only for `make test` (a student's `make lab` leaves them out).
$(VENV)/.installed-test: $(VENV)/.installed
	$(BIN)/python -m pip install -e ".[lab,test,browser]"
	touch $@

lab: $(VENV)/.installed
	$(BIN)/python -m ipykernel install --sys-prefix --name $(KERNEL) --display-name "Python 3 (ipykernel)"
	$(BIN)/jupyter lab $(ALLOW_ROOT) notebooks/

test: $(VENV)/.installed-test
	$(BIN)/python -m pytest

book: $(VENV)/.installed
	$(BIN)/python -m csrnet_lite book --out _build/book

student: $(VENV)/.installed
	$(BIN)/python scripts/nbtools.py student _build/student

bench: $(VENV)/.installed
	for f in bench/*.py; do $(BIN)/python $$f || exit 1; done

clean-venv:
	rm -rf $(VENV)
