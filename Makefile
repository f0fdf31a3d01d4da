# Two commands for a fresh clone: `make run` and `make test`. Both create .venv once and reuse it.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip --disable-pip-version-check
STAMP  := $(VENV)/.installed
# The CPU build keeps set-up fast; on a machine with an NVIDIA GPU use `make run TORCH=torch`
# (or any CUDA build) and `--device auto` will pick the GPU.
TORCH  ?= torch==2.13.0

.PHONY: run test lint bench sysdeps dist bundle doctor clean

# pip is not quiet on purpose: a first set-up downloads a few hundred MB, and a person watching should see
# what is coming and how far it is (a progress bar on a terminal, one line per package in a CI log).
$(STAMP): pyproject.toml
	@echo; echo "==> [1/3] creating the virtual environment $(VENV) with $(PYTHON)"
	$(PYTHON) -m venv $(VENV)
	@echo; echo "==> [2/3] installing PyTorch ($(TORCH)): the CPU build is a ~200 MB download"
	$(PIP) install --progress-bar on "$(TORCH)"
	@echo; echo "==> [3/3] installing latentlab and its dependencies (PySide6, numpy, scikit-learn, ... and the test tools)"
	$(PIP) install --progress-bar on -e ".[dev]"
	@touch $(STAMP)
	@echo; echo "==> environment ready: $(VENV)"

# disent, an independent implementation of the classic metrics, for tests/core/test_metrics_vs_disent.py.
# --no-deps because its declared requirements pull a CUDA torch, torchvision and lightning, none of which its
# metric modules use (tests/core/disent_shim.py says how they are imported); tqdm, their one other import,
# comes with the dev extra.
# disentanglement-lib, the reference implementation, for tests/core/test_metrics_vs_dlib.py, --no-deps as well
# (it requires TensorFlow; its BetaVAE and FactorVAE modules need numpy, scikit-learn, gin, absl and six,
# tests/core/dlib_shim.py says how they are imported).
DISENT := $(VENV)/.disent-0.8.0-dlib-1.5
$(DISENT): $(STAMP)
	@echo; echo "==> installing disent 0.8.0 and disentanglement_lib 1.5 (the metric cross-checks; their own dependencies left out)"
	$(PIP) install --no-deps "disent==0.8.0" "disentanglement-lib==1.5"
	@touch $(DISENT)

# Qt needs a few shared libraries that minimal Debian images lack; install them only when missing.
sysdeps:
	@sh packaging/ensure-sysdeps.sh

run: $(STAMP)
	@sh packaging/ensure-sysdeps.sh gui
	@echo; echo "==> starting latentlab (a splash shows while PyTorch and the demo models load)"
	$(VENV)/bin/latentlab gui

# lint runs first: ruff, mypy, the import contracts (seconds when nothing changed; about a minute cold).
test: $(STAMP) $(DISENT) sysdeps lint
	@echo; echo "==> running the test suite headless (a few minutes; tests/install builds and installs the wheel)"
	QT_QPA_PLATFORM=offscreen $(PY) -m pytest -q -p no:cacheprovider

doctor: $(STAMP)
	$(VENV)/bin/latentlab doctor

# The quality gates: ruff; mypy on latentlab.core and latentlab.app ([tool.mypy]); the import contracts
# ([tool.importlinter]: core imports neither app nor ui nor Qt, app no Qt, ui no commands).
lint: $(STAMP)
	@echo; echo "==> quality gates: ruff, mypy (core and app), import contracts"
	$(VENV)/bin/ruff check latentlab tests benchmarks packaging/*.py
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

bench: $(STAMP) sysdeps
	QT_QPA_PLATFORM=offscreen $(PY) benchmarks/preview_latency.py
	$(PY) benchmarks/metrics_speed.py
	$(PY) benchmarks/export_speed.py

# The wheel and sdist, into dist/ (the build tools come with the dev extra, so nothing is downloaded).
dist: $(STAMP)
	@echo; echo "==> building the sdist and the wheel into dist/"
	$(PY) -m build --no-isolation --outdir dist .

# A one-folder desktop bundle (PyInstaller) in dist/latentlab, smoke-tested; packaging/README.md.
BUNDLE_TOOLS := $(VENV)/.bundle-tools
$(BUNDLE_TOOLS): $(STAMP)
	@echo; echo "==> installing PyInstaller (the bundle extra)"
	$(PIP) install --progress-bar on -e ".[dev,bundle]"
	@touch $(BUNDLE_TOOLS)

bundle: $(BUNDLE_TOOLS) sysdeps
	@echo; echo "==> building dist/latentlab with PyInstaller (several minutes: torch and Qt are large)"
	$(PY) -m PyInstaller --noconfirm --log-level WARN --distpath dist --workpath build/pyinstaller packaging/latentlab.spec
	@echo; echo "==> smoke test: the bundle opens a demo model offscreen and renders a frame"
	QT_QPA_PLATFORM=offscreen $(PY) packaging/smoke_test.py dist/latentlab

clean:
	rm -rf $(VENV) build dist *.egg-info
