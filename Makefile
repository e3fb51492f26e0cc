# The two commands of the README's quick start; each sets up what it needs.
PY := .venv/bin/python

.PHONY: train test setup reproduce
train:                 ## seed 000's recipe: VGG-11/4, 96 px, SGD lr 0.05, batch 128, 5 epochs
	scripts/setup.sh
	$(PY) -m vgg_gluon.train --ratio 4 --resize 96

test:                  ## the test suite (a few minutes on 2 cores)
	scripts/setup.sh test
	$(PY) -m pytest -q

reproduce:             ## execute the notebooks in place; the full seed-000 run (>1 h on 2 CPU cores)
	scripts/setup.sh test
	PY=$(PY) scripts/reproduce.sh
