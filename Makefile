# keyraft: `make run` starts a single member, `make test` runs the suite.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
SEEDS ?= 10000
NAME ?= default

DURATION ?= 300
NODES ?= 3
SEED ?= 1
FAULTS ?=

.PHONY: chaos run test test-long install test-deps etcd chromium lint format openapi simulate bench bench-cluster bench-perf bench-ab bench-instructions bench-lease bench-watch bench-raft soak cluster clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(VENV)/bin/keyraft --name $(NAME) --data-dir ./$(NAME).keyraft \
		--listen-client-urls http://127.0.0.1:2379 --advertise-client-urls http://127.0.0.1:2379

# Real etcd 3.4 from Debian is the reference the compatibility tests compare against;
# Debian's Chromium runs the browser (EventSource) test.
etcd:
	@command -v etcd >/dev/null && command -v etcdctl >/dev/null || \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq etcd-server etcd-client)

chromium:
	@command -v chromium >/dev/null || \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium)

test-deps: $(STAMP) etcd chromium

test: test-deps
	$(VENV)/bin/ruff check app raft storage ctl tests bench deploy
	$(VENV)/bin/ruff format --check app raft storage ctl tests bench deploy
	$(PY) -m pytest -q --durations=15 -n 3 --dist loadfile -m "not long and not solo" tests
	$(PY) -m pytest -q --durations=5 -m "solo and not long" tests

# The scaled-up runs (longer chaos, more restarts, more watchers) that `make test` leaves out.
test-long: test-deps
	$(PY) -m pytest -q --durations=15 -m long tests

lint: $(STAMP)
	$(VENV)/bin/ruff check app raft storage ctl tests bench

format: $(STAMP)
	$(VENV)/bin/ruff format app raft storage ctl tests bench
	$(VENV)/bin/ruff check --fix app raft storage ctl tests bench

openapi: $(STAMP)
	$(PY) -m keyraft.app.openapi_export openapi/openapi.json

# A local 3-member cluster (etcd's Procfile ports); Ctrl-C stops all three.
cluster: $(STAMP)
	$(PY) deploy/local_cluster.py --size 3

# A longer fault-injection run with the linearizability checker (the default test run has
# a 60 s one): make chaos SEED=7 DURATION=600 NODES=5 [FAULTS=membership,kill,partition]
chaos: $(STAMP) etcd
	$(PY) -m tests.chaos.run --seed $(SEED) --duration $(DURATION) --nodes $(NODES) \
		$(if $(FAULTS),--faults $(FAULTS))

simulate: $(STAMP)
	$(PY) -m tests.raft.simulate --seeds $(SEEDS)

bench: $(STAMP) etcd
	@command -v wrk >/dev/null || (apt-get update -qq && apt-get install -y -qq wrk)
	$(PY) -m bench.kv_bench $(if $(AUTH),--auth)

bench-cluster: $(STAMP) etcd
	@command -v wrk >/dev/null || (apt-get update -qq && apt-get install -y -qq wrk)
	$(PY) -m bench.cluster_bench

# keyraft vs etcd for issue #18: workloads interleaved per round, scale tables, memory,
# watch; ends with a markdown table. ~15+ minutes: make bench-perf ARGS="--only mix --rounds 1"
bench-perf: $(STAMP) etcd
	@command -v wrk >/dev/null || (apt-get update -qq && apt-get install -y -qq wrk)
	$(PY) -m bench.perf $(ARGS)

# Instructions per request of each member under valgrind's callgrind: a cost figure far
# steadier than time on this VM, for A/B-ing a change (ARGS="--members 3").
# One change against its baseline, both clusters up, loads alternated:
# make bench-ab ARGS="put-all --a-rev HEAD~1"   (or --a-flags/--b-flags)
bench-ab: $(STAMP)
	@command -v wrk >/dev/null || (apt-get update -qq && apt-get install -y -qq wrk)
	$(PY) -m bench.ab $(ARGS)

bench-instructions: $(STAMP)
	@command -v valgrind >/dev/null || (apt-get update -qq && apt-get install -y -qq valgrind)
	$(PY) -m bench.instructions $(ARGS)

bench-watch: $(STAMP) etcd
	$(PY) -m bench.watch_bench

bench-lease: $(STAMP) etcd
	$(PY) -m bench.lease_bench

bench-raft: $(STAMP)
	$(PY) -m bench.raft_bench

# Disk and memory under a sustained put load over 1,000 keys with periodic compaction,
# on a 3-member cluster: a table over time and a verdict (did they plateau?). Ten minutes
# by default: make soak DURATION=300 NODES=1
soak: DURATION = 600
soak: $(STAMP)
	@command -v wrk >/dev/null || (apt-get update -qq && apt-get install -y -qq wrk)
	$(PY) -m bench.soak --duration $(DURATION) --size $(NODES)

clean:
	rm -rf $(VENV) *.keyraft .pytest_cache .hypothesis
