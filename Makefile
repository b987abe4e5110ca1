# Peekless: `make demo` runs the whole path once; `make test` runs every test.
# `make help` lists the targets.

PY      := .venv/bin/python
PEEKLESS := .venv/bin/peekless
BOARD   ?= an386
MODEL   ?= ../shared/models/mlperf_vww_96_int8.tflite
OUT     ?= build

.DEFAULT_GOAL := help
.PHONY: help setup demo test test-fast firmware bench bench-audit lint clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

setup: ## create .venv, install the package, the cross toolchain and QEMU (idempotent)
	@bash scripts/setup.sh

demo: setup ## train on synthetic scenes, compile, run on emulated Cortex-M4, audit
	$(PEEKLESS) demo

test: setup ## the whole test suite (host C builds and emulator runs included)
	@$(PY) -m pytest -q -p no:cacheprovider; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests"; exit 1; fi; exit $$rc

test-fast: setup ## tests that need no emulator
	@$(PY) -m pytest -q -m "not emulator and not slow"

firmware: setup ## compile MODEL and build the HIL firmware for BOARD into OUT/
	$(PEEKLESS) compile $(MODEL) --out $(OUT)/generated
	$(PEEKLESS) firmware --board $(BOARD) --model-dir $(OUT)/generated --out $(OUT)/firmware-$(BOARD)

bench: setup ## engine benchmarks (instructions, exactness) and measured RAM per model and board
	$(PY) -m compiler.bench --out $(OUT)/bench
	$(PY) scripts/bench_ram.py --out $(OUT)/bench

bench-audit: setup ## privacy audit of a clean build over 1000 canary frames: throughput, false alarms
	$(PY) scripts/bench_audit.py --frames 1000 --out $(OUT)/bench_audit

lint: setup ## ruff lint
	$(PY) -m ruff check peekless training compiler host_tools tests

clean: ## remove build outputs (keeps .venv and runs/)
	rm -rf $(OUT) firmware/build
