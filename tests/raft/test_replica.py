"""`core.Raft` must keep every member of `replica.Replica`, which `raft.leader` relies on."""

from __future__ import annotations

import inspect

from keyraft.raft.replica import Replica
from tests.raft.harness import make_node


def test_raft_has_everything_the_leader_functions_use() -> None:
    raft = make_node(1, [1, 2, 3]).raft
    attributes = set(inspect.get_annotations(Replica))
    methods = {
        name
        for name, member in vars(Replica).items()
        if inspect.isfunction(member) and not name.startswith("_")
    }
    assert attributes and methods
    missing = sorted(name for name in attributes | methods if not hasattr(raft, name))
    assert missing == []
    for name in methods:
        assert callable(getattr(raft, name))
