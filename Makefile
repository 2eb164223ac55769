# The two commands a new machine needs (README "Set up"): `make demo` and `make test`.
# Everything else here is a building block of those two.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test install test-deps lint typecheck pytest bench clean example-mtls

demo: $(STAMP)
	@sync  # flush the install's writes first: their writeback would stall the audit trail's fsyncs
	@$(BIN)/python scripts/settle_disk.py reports  # and wait (<= 30 s) until fsync is quick again
	$(BIN)/slo-harness run scenarios/steady.yaml

# mypy (about a minute of one core from a cold cache) runs beside the pytest passes instead of
# before them, under SCHED_IDLE (`chrt --idle 0`: it gets a core only when nothing else wants it,
# and a waking test thread preempts it at once, where nice 19 still took a slice of a busy core):
# the parallel pass keeps both cores, and the serial pass mostly waits on sockets and timers, so
# mypy's time is spent on cycles pytest leaves idle. Once pytest is done, whatever mypy has left
# runs at normal priority (as root; otherwise it stays idle-class on a machine with nothing else
# to do). Without chrt (util-linux) it runs at nice 19.
IDLE := $(shell chrt --idle 0 true >/dev/null 2>&1 && echo chrt --idle 0 || echo nice -n 19)

test: $(STAMP) test-deps
	$(MAKE) --no-print-directory lint
	@$(IDLE) $(BIN)/mypy > .mypy.log 2>&1 & mypy=$$!; \
	trap 'kill $$mypy 2>/dev/null' INT TERM; \
	rc=0; $(MAKE) --no-print-directory pytest || rc=1; \
	chrt --other -p 0 $$mypy >/dev/null 2>&1 || renice -n 0 -p $$mypy >/dev/null 2>&1 || true; \
	wait $$mypy || rc=1; echo "mypy --strict:"; cat .mypy.log; rm -f .mypy.log; exit $$rc

install: $(STAMP)

# Two distributions, both editable: the harness (.) and the reference service (reference_service/,
# its own pyproject: the harness wheel carries no service). `.[dev]` needs the service; naming it
# on the same line lets pip take it from the checkout instead of an index.
# pip byte-compiles the ~10,000 modules it installs one after the other (about 60 CPU-s, most of
# the install); compileall does the same on every core (-j 0). Compiled here rather than left to
# first import: with PYTHONDONTWRITEBYTECODE set, every test process would compile numpy,
# pandas, matplotlib and Locust again.
$(STAMP): pyproject.toml reference_service/pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet --no-compile -e '.[dev]' -e './reference_service[train]' -c constraints.txt
	$(BIN)/python -m compileall -q -j 0 $(VENV)/lib
	touch $(STAMP)

# redis-server, wrk, nftables and chromium for the tests that need them (root only; the tests
# that need them skip with a stated reason where they are missing).
test-deps:
	scripts/install-test-deps.sh

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports --no-cache  # the layer contract of docs/ARCHITECTURE.md (.importlinter)

typecheck: $(STAMP)
	$(BIN)/mypy

# Two passes: everything that does not measure time on two xdist workers, then the `serial`
# tests (latency, load, detection windows) alone, so no figure shares the cores with a test.
# The project's own modules are compiled first: with PYTHONDONTWRITEBYTECODE set (as on CI),
# every `slo-harness` child, service and worker a test starts would compile them again.
pytest: $(STAMP)
	@$(BIN)/python -m compileall -q -j 0 harness reference_service tests tools scripts benchmarks
	@rc=0; \
	$(BIN)/pytest -q -n 2 -m "not serial" --durations=60 || rc=1; \
	$(BIN)/pytest -q -m serial --durations=60 || rc=1; \
	exit $$rc

# Performance figures quoted in the README (minutes; run on a quiet machine, read the medians).
bench: $(STAMP) test-deps
	$(BIN)/python benchmarks/bench_scoring.py
	$(BIN)/python benchmarks/bench_audit.py
	$(BIN)/python benchmarks/bench_service.py
	$(BIN)/python benchmarks/bench_netpol.py
	-$(BIN)/slo-harness run benchmarks/scenarios/service-1000rps.yaml --no-progress --out reports/bench-1000rps
	$(BIN)/python benchmarks/bench_generator.py
	$(BIN)/python benchmarks/bench_proxy.py

# scenarios/examples/mtls.yaml against the TLS test service (throwaway CA; everything removed after).
example-mtls: $(STAMP)
	PYTHON=$(BIN)/python scripts/example-mtls.sh --no-progress

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis
