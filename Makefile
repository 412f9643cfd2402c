# Two commands do all the set-up (see README.md):
#   make lab    create .venv on first use, register the Jupyter kernel, open JupyterLab on notebooks/
#   make test   create .venv on first use, run the whole test suite
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
KERNEL  = csrnet-lite

.PHONY: lab test book bench clean-venv

# The stamp is rebuilt whenever the declared requirements change.
$(VENV)/.installed: pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else "csrnet-lite needs Python 3.10 or newer; run: make PYTHON=python3.11 ...")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade pip
	# torch first and pinned exactly, so that no newer (CUDA) build is pulled in
	$(BIN)/python -m pip install torch==2.13.0
	$(BIN)/python -m pip install -e ".[test]"
	touch $@

lab: $(VENV)/.installed
	$(BIN)/python -m ipykernel install --user --name $(KERNEL) --display-name "Python (csrnet-lite)"
	$(BIN)/jupyter lab notebooks/

test: $(VENV)/.installed
	$(BIN)/python -m pytest

# Execute every notebook (full mode) and write a static HTML copy to _build/book/.
book: $(VENV)/.installed
	$(BIN)/python -m csrnet_lite book --out _build/book

bench: $(VENV)/.installed
	for f in bench/*.py; do $(BIN)/python $$f || exit 1; done

clean-venv:
	rm -rf $(VENV)
