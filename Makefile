# Two commands matter: `make demo` and `make test`. Both set up .venv first.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup browser postgres demo demo-classify test lint format bench clean

# Idempotent: reinstalls only when pyproject.toml or the lock file changed.
setup: $(STAMP)

$(STAMP): pyproject.toml requirements.lock
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c requirements.lock -e ".[dev]"
	touch $(STAMP)

# The CRNN on synthetic lines, evaluated on fonts never seen in training (test), on the same
# texts and fonts drawn with unseen pens, paper and margins (test_shift) and on real
# handwritten digits (the config's eval.sets): greedy decoding, and a beam search with a
# character 6-gram LM trained on 100,000 training-split texts (texts only: no image is drawn
# for them, and no val or test text is among them).
DEMO_LM := runs/lm/crnn-train-6gram.arpa
demo: setup
	$(BIN)/inkbench data texts configs/ocr/crnn.yaml --split train --n 100000 \
		--out runs/lm/crnn-train.txt
	$(BIN)/inkbench lm train --corpus runs/lm/crnn-train.txt --order 6 --out $(DEMO_LM)
	$(BIN)/inkbench train configs/ocr/crnn.yaml --name demo --eval-split test \
		--decode decoder=beam --decode lm=$(DEMO_LM)

# ResNet-18 on the embedded handwritten characters (62 classes), evaluated on the test fonts,
# which training never sees. torchvision's stem, not the CIFAR one of the config: 16 times
# cheaper at 32 px. Two epochs: 9 min 29 s on a 2-core AVX2 CPU, test top-1 67.4 %
# (docs/classification.md).
demo-classify: setup
	$(BIN)/inkbench train configs/cls/resnet18.yaml model.small_input=false trainer.max_epochs=2 \
		--name demo-classify --eval-split test

# Debian's PostgreSQL, which the sweep test across machines starts on 127.0.0.1 (tests/sweeps/
# test_sweep_postgres.py). Installed when missing and we are root, as in CI; elsewhere that
# test is skipped and says how to get it.
postgres:
	@if ! ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql; \
	fi

# Debian's chromium, which the live page's end-to-end test drives (tests/inspect/
# test_serve_browser.py, through Playwright: never its own browser download). Installed when
# missing and we are root, as in CI; elsewhere that test is skipped and says how to get it.
browser:
	@if [ ! -x /usr/bin/chromium ] && [ "$$(id -u)" = 0 ]; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; \
	fi

test: setup browser postgres
	$(BIN)/ruff check src tests benchmarks scripts
	$(BIN)/ruff format --check src tests benchmarks scripts
	$(BIN)/python -m pytest -n 2 -q

lint: setup
	$(BIN)/ruff check src tests benchmarks scripts
	$(BIN)/ruff format --check src tests benchmarks scripts

format: setup
	$(BIN)/ruff format src tests benchmarks scripts
	$(BIN)/ruff check --fix src tests benchmarks scripts

bench: setup
	$(BIN)/inkbench bench ocr

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
