# explainendo: two commands matter. `make demo` builds .venv/ and runs the demo; `make test` runs the tests.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
STAMP := $(VENV)/.installed
# ultralytics writes settings and fetches a font unless told not to; keep it offline and private.
export YOLO_OFFLINE := 1
export YOLO_CONFIG_DIR := $(CURDIR)/$(VENV)/ultralytics-config
export YOLO_VERBOSE := False
export HF_HUB_OFFLINE := 1
export MPLBACKEND := Agg
# progress bars only where a person watches (the demo); the test log stays plain
test: export EXPLAINENDO_PROGRESS := 0

.PHONY: demo test install bench api clean-venv

install: $(STAMP)

$(STAMP): pyproject.toml Makefile constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	# every version pinned (constraints.txt, from pip freeze of a working install): CI, developers and users
	# get the same packages, so a figure measured here is measured with the same code on a fresh clone.
	# torch/torchvision first, at the versions that lie on this machine kind's disk (no multi-GB download).
	$(PIP) install -q -c constraints.txt torch==2.14.1 torchvision==0.29.1
	$(PIP) install -q -c constraints.txt -e '.[test,onnx,ray]'
	$(PY) -c "import cv2; cv2.HOGDescriptor; import torch, ultralytics, shap, xgboost, onnx, onnxruntime, fastapi, playwright, ray"
	mkdir -p $(YOLO_CONFIG_DIR)/Ultralytics
	cp -n $$($(PY) -c "import matplotlib, os; print(os.path.join(matplotlib.get_data_path(), 'fonts/ttf/DejaVuSans.ttf'))") $(YOLO_CONFIG_DIR)/Ultralytics/Arial.ttf
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/explainendo demo --out demo_output

test: $(STAMP)
	$(PY) -m pytest -q -n 2 --durations=15 tests

bench: $(STAMP)
	for b in benchmarks/*.py; do echo "== $$b"; $(PY) $$b --quick || exit 1; done

api: $(STAMP)
	$(PY) docs/build_api.py docs/api

clean-venv:
	rm -rf $(VENV)
