"""Fault injection and linearizability checking against real multi-process clusters.

checker   register-with-CAS linearizability (Wing-Gong/Lowe, memoised, budgeted)
history   the recorded client operations, on one monotonic clock
proxy     a TCP proxy in front of every peer port that can cut chosen member pairs
harness   a keyraft (or real etcd) cluster behind that proxy
membership  add (voter, or learner then promoted), remove, replace members at runtime
workload  sequential clients doing gets, unique puts and CAS on a few hot keys
nemesis   the seeded fault schedule: kill -9, SIGSTOP of the leader, partitions, torn WAL,
          membership changes (asked for by name), resize plans (1 -> 3 -> 5 -> 3)
verify    after healing: convergence, acknowledged writes present, final reads
crash     kill -9 one member 20 times under heavy writes
locking   clients doing fenced read-modify-writes of a counter under one lock
run       the CLI behind `make chaos` (python -m tests.chaos.run --seed S --duration D --nodes N)
"""
