"""The Kubernetes manifest's command line is one keyraft accepts, for every member."""

from __future__ import annotations

import shlex
from pathlib import Path

import yaml

from keyraft.app.config import validate
from keyraft.app.main import config_from_flags, main

MANIFEST = Path(__file__).resolve().parents[2] / "deploy" / "k8s" / "keyraft.yaml"


def test_statefulset_members_form_one_valid_cluster() -> None:
    documents = list(yaml.safe_load_all(MANIFEST.read_text()))
    statefulset = next(d for d in documents if d["kind"] == "StatefulSet")
    container = statefulset["spec"]["template"]["spec"]["containers"][0]
    script = container["args"][0]
    cluster_ids = set()
    for index in range(statefulset["spec"]["replicas"]):
        rendered = script.replace("$POD_NAMESPACE", "default").replace(
            "$POD_NAME", f"keyraft-{index}"
        )
        arguments = shlex.split(rendered)[2:]  # drop "exec keyraft"
        context = main.make_context("keyraft", arguments)
        config = config_from_flags(context.params)
        validate(config)
        assert len(config.cluster_members()) == 3
        cluster_ids.add(config.initial_cluster)
    assert len(cluster_ids) == 1
    peer_service = next(
        d for d in documents if d["kind"] == "Service" and d["spec"].get("clusterIP") == "None"
    )
    assert statefulset["spec"]["serviceName"] == peer_service["metadata"]["name"]
