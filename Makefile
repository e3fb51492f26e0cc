# The two commands of the README's quick start; each sets up what it needs.
# PYTHON=/path/to/python3.X make train: that Python, in its own environment .venv-X.Y;
# without PYTHON, .venv (scripts/setup.sh picks python3, or a supported python3.X).
VENV := $(if $(PYTHON),$(shell PYTHON='$(PYTHON)' scripts/setup.sh --venv-dir 2>/dev/null),.venv)
PY := $(VENV)/bin/python

.PHONY: train test setup reproduce demo
train:                 ## seed 000's recipe: VGG-11/4, 96 px, SGD lr 0.05, batch 128, 5 epochs
	scripts/setup.sh
	$(PY) -m vgg_gluon.train --ratio 4 --resize 96

# what `make test` sets up: the test extras, Horovod and the browser tests' Gradio,
# Playwright and chromium (TEST_SETUP=test: without them, their tests are then skipped;
# .ci/run does that on all but one Python)
TEST_SETUP ?= test,horovod,browser

test:                  ## the whole test suite: about 8 minutes of tests on 2 cores after the set-up (463.81 s, CI of 2026-12-04: benchmarks/results/2026-12-04_ci_times.txt)
	scripts/setup.sh $(TEST_SETUP)
	$(PY) -m pytest -q

# reproduce.sh checks OUT before it sets up (scripts/setup.sh test), so a refusal costs nothing;
# its notebooks run in the Jupyter kernel setup.sh registers: vgg-gluon, vgg-gluon-X.Y for PYTHON=
KERNEL := vgg-gluon$(if $(PYTHON),$(patsubst .venv%,%,$(VENV)))
reproduce:             ## notebooks 01, 04, 02 executed in place, the full seed-000 run (12 to 66 min on 2 CPU cores) into OUT (default results/seed000-<UTC date>; a non-empty OUT is refused unless FORCE=1)
	@PYTHON='$(PYTHON)' PY='$(PY)' KERNEL='$(KERNEL)' OUT='$(OUT)' FORCE='$(FORCE)' scripts/reproduce.sh

demo:                  ## the Inside VGG page with the shipped fast model, on http://127.0.0.1:7860/
	scripts/setup.sh demo
	$(PY) -m vgg_gluon.demo
