# Waterline: set-up, tests, demo and packaging on Debian (bookworm).
# Every target installs what it needs and is safe to run twice.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
SUDO := $(shell [ "$$(id -u)" -eq 0 ] || echo sudo)
APT_PACKAGES := qgis python3-qgis qgis-providers python3-rasterio python3-fiona \
	python3-shapely python3-scipy python3-skimage python3-venv python3-pip \
	python3-pyproj python3-numba python3-pandas python3-matplotlib python3-pil make zip xvfb
# qgis_process in a throw-away profile, never the user's own
export QT_QPA_PLATFORM := offscreen
export XDG_RUNTIME_DIR := $(CURDIR)/build/xdg
export PYTHONDONTWRITEBYTECODE := 1
PYTEST_ARGS ?=

.PHONY: setup apt venv test test-quick demo bench evaluate screenshots package train-fronts train-water clean

setup: apt venv

apt:
	@if ! dpkg -s $(APT_PACKAGES) >/dev/null 2>&1; then \
		echo "Installing QGIS and the Debian geo stack (apt)"; \
		$(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $(APT_PACKAGES); \
	fi

venv: apt $(VENV)/.installed

$(VENV)/.installed: requirements.txt requirements-dev.txt constraints.txt
	[ -x $(PY) ] || /usr/bin/python3 -m venv --system-site-packages $(VENV)
	$(PY) -m pip install -q -c constraints.txt -r requirements-dev.txt
	touch $@

# Everything (CI runs this).
test: setup
	mkdir -p $(XDG_RUNTIME_DIR) && chmod 700 $(XDG_RUNTIME_DIR)
	$(PY) -m pytest $(PYTEST_ARGS)

# Without the slow tests (HAND, training runs) and those that need the shipped weights/.
test-quick: setup
	mkdir -p $(XDG_RUNTIME_DIR) && chmod 700 $(XDG_RUNTIME_DIR)
	$(PY) -m pytest -m "not slow and not weights" $(PYTEST_ARGS)

demo: setup
	mkdir -p $(XDG_RUNTIME_DIR) && chmod 700 $(XDG_RUNTIME_DIR)
	$(PY) tools/demo.py

bench: setup
	$(PY) tools/bench.py

# The shipped calving-front models on the held-out Landsat and SAR glaciers through qgis_process (needs ../shared/data).
evaluate: setup
	mkdir -p $(XDG_RUNTIME_DIR) && chmod 700 $(XDG_RUNTIME_DIR)
	$(PY) tools/evaluate_held_out.py --source landsat
	$(PY) tools/evaluate_held_out.py --source sar

# The README's screenshots (docs/images/) from the real QGIS desktop under Xvfb (needs ../shared/data).
screenshots: setup
	mkdir -p $(XDG_RUNTIME_DIR) && chmod 700 $(XDG_RUNTIME_DIR)
	$(PY) tools/screenshots.py

package:
	rm -rf build/package dist && mkdir -p build/package/waterline dist
	git ls-files -z | grep -zvE '^(training|tests|tools|\.ci)/|^(Makefile|pytest\.ini|requirements.*|constraints\.txt|\.gitignore)$$' \
		| xargs -0 -I{} cp --parents {} build/package/waterline/
	cd build/package && zip -qr ../../dist/waterline.zip waterline
	@echo "dist/waterline.zip: install it in QGIS with Plugins > Manage and Install Plugins > Install from ZIP"

clean:
	rm -rf build dist .pytest_cache

# Surface-water model on the ETCI 2021 Sentinel-1 tiles (CPU, ~35 min on 2 threads; the shipped run).
WATER_DATA ?= ../shared/data/water-s1-etci2021
train-water: setup
	mkdir -p build/train
	$(PY) -m training water --etci $(WATER_DATA) --channels VV,VH --out weights/water_s1.onnx \
		--report build/train/water_s1.json --minutes 30 --eval-every 150 --small-scenes 0.25 --seed 1 --threads 2 2>&1 | tee build/train/water_s1.log

# Calving-front model: CPU-sized DeepLabV3+ (about 40 min on 2 cores); writes
# weights/calving_front.onnx, weights/calving_front.metrics.json (held-out numbers).
FRONTS_MINUTES ?= 36
train-fronts: venv
	$(PY) -m training fronts --data ../shared/data --out weights/calving_front.onnx \
		--minutes $(FRONTS_MINUTES) --epochs 400 --threads 2
