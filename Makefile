# Two commands for a fresh clone: `make run` and `make test`. Both create .venv once and reuse it.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
# The CPU build keeps set-up fast; on a machine with an NVIDIA GPU use `make run TORCH=torch`
# (or any CUDA build) and `--device auto` will pick the GPU.
TORCH  ?= torch==2.13.0

.PHONY: run test lint bench sysdeps clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check "$(TORCH)"
	$(PY) -m pip install -q --disable-pip-version-check -e ".[dev]"
	@touch $(STAMP)

# disent, an independent implementation of the classic metrics, for tests/core/test_metrics_vs_disent.py.
# --no-deps because its declared requirements pull a CUDA torch, torchvision and lightning, none of which its
# metric modules use (tests/core/disent_shim.py says how they are imported); tqdm, their one other import,
# comes with the dev extra.
# disentanglement-lib, the reference implementation, for tests/core/test_metrics_vs_dlib.py, --no-deps as well
# (it requires TensorFlow; its BetaVAE and FactorVAE modules need numpy, scikit-learn, gin, absl and six,
# tests/core/dlib_shim.py says how they are imported).
DISENT := $(VENV)/.disent-0.8.0-dlib-1.5
$(DISENT): $(STAMP)
	$(PY) -m pip install -q --disable-pip-version-check --no-deps "disent==0.8.0" "disentanglement-lib==1.5"
	@touch $(DISENT)

# Qt needs a few shared libraries that minimal Debian images lack; install them only when missing.
sysdeps:
	@sh packaging/ensure-sysdeps.sh

run: $(STAMP)
	@sh packaging/ensure-sysdeps.sh gui
	$(VENV)/bin/latentlab gui

test: $(STAMP) $(DISENT) sysdeps
	QT_QPA_PLATFORM=offscreen $(PY) -m pytest -q -p no:cacheprovider

lint: $(STAMP)
	$(VENV)/bin/ruff check latentlab tests benchmarks

bench: $(STAMP) sysdeps
	QT_QPA_PLATFORM=offscreen $(PY) benchmarks/preview_latency.py
	$(PY) benchmarks/metrics_speed.py
	$(PY) benchmarks/export_speed.py

clean:
	rm -rf $(VENV) build dist *.egg-info
