"""deploy/k8s and deploy/Dockerfile: valid for Kubernetes, and consistent with keyraft.

Kubernetes' own schemas (kubernetes-validate ships them; no cluster needed) check every
document; the tests below check what a schema cannot: probes hit served paths, the
entrypoint exists and its flags use the declared ports, labels and names line up.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from urllib.parse import urlsplit

import kubernetes_validate
import pytest
import yaml

from keyraft.app.config import validate
from keyraft.app.k8s.cli import main as entrypoint
from keyraft.app.k8s.plan import Disk, View, decide_start
from keyraft.app.k8s.pod import pod_from_env
from keyraft.app.main import config_from_flags, main

ROOT = Path(__file__).resolve().parents[2]
MANIFESTS = sorted((ROOT / "deploy" / "k8s").glob("*.yaml"))
DOCUMENTS = [document for path in MANIFESTS for document in yaml.safe_load_all(path.read_text())]
KUBERNETES = "1.32.0"  # a version whose schemas kubernetes-validate ships offline


def kind(name: str) -> list[dict]:
    return [d for d in DOCUMENTS if d["kind"] == name]


STATEFULSET = kind("StatefulSet")[0]
POD = STATEFULSET["spec"]["template"]["spec"]
CONTAINER = POD["containers"][0]
PORTS = {p["name"]: p["containerPort"] for p in CONTAINER["ports"]}
LABELS = STATEFULSET["spec"]["template"]["metadata"]["labels"]


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda d: d["kind"])
def test_every_document_passes_kubernetes_schemas(document: dict) -> None:
    kubernetes_validate.validate(document, KUBERNETES, strict=True)


def test_the_validator_rejects_a_misspelt_field() -> None:
    broken = json.loads(json.dumps(STATEFULSET))
    broken["spec"]["replica"] = 3
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES, strict=True)


def test_everything_lives_in_its_own_namespace() -> None:
    (namespace,) = kind("Namespace")
    others = [d for d in DOCUMENTS if d["kind"] != "Namespace"]
    assert {d["metadata"]["namespace"] for d in others} == {namespace["metadata"]["name"]}


def test_the_image_is_pinned_to_the_project_version() -> None:
    version = (ROOT / "pyproject.toml").read_text().split('version = "')[1].split('"')[0]
    assert CONTAINER["image"] == f"keyraft:{version}"
    assert CONTAINER["imagePullPolicy"] == "IfNotPresent"
    assert f"-t keyraft:{version}" in (ROOT / "deploy" / "Dockerfile").read_text()


def test_entrypoint_and_pre_stop_commands_exist() -> None:
    for command, verb in (
        (CONTAINER["command"], "start"),
        (CONTAINER["lifecycle"]["preStop"]["exec"]["command"], "pre-stop"),
    ):
        assert command[:3] == ["python", "-m", "keyraft.app.k8s"] and command[3] == verb
        assert importlib.util.find_spec("keyraft.app.k8s.__main__") is not None
        assert verb in entrypoint.commands


def test_probes_hit_served_paths_on_the_client_port() -> None:
    served = json.loads((ROOT / "openapi" / "openapi.json").read_text())["paths"]
    probes = {
        name: CONTAINER[name]["httpGet"]
        for name in ("startupProbe", "livenessProbe", "readinessProbe")
    }
    assert probes["livenessProbe"]["path"] == "/livez"
    assert probes["readinessProbe"]["path"] == "/readyz"
    for probe in probes.values():
        assert probe["path"] in served and probe["port"] == "client"


def pod_env(ordinal: int) -> dict[str, str]:
    env = {e["name"]: e["value"] for e in CONTAINER["env"] if "value" in e}
    return {
        **env,
        "HOSTNAME": f"{STATEFULSET['metadata']['name']}-{ordinal}",
        "POD_NAMESPACE": "keyraft",
    }


def test_the_entrypoint_flags_use_the_declared_ports_names_and_volume() -> None:
    """A fresh cluster: each initial pod's flags parse in keyraft and form one cluster."""
    clusters = set()
    mount = {m["name"]: m["mountPath"] for m in CONTAINER["volumeMounts"]}["data"]
    for ordinal in range(STATEFULSET["spec"]["replicas"]):
        pod = pod_from_env(pod_env(ordinal))
        assert pod.service == STATEFULSET["spec"]["serviceName"] and str(pod.volume) == mount
        plan = decide_start(pod, Disk(), View())
        assert plan.action == "bootstrap"
        config = config_from_flags(main.make_context("keyraft", list(plan.flags)).params)
        validate(config)
        assert {urlsplit(u).port for u in config.listen_client_urls} == {PORTS["client"]}
        assert {urlsplit(u).port for u in config.listen_peer_urls} == {PORTS["peer"]}
        assert all(".keyraft-peer.keyraft.svc:" in u for u in config.initial_advertise_peer_urls)
        clusters.add(config.initial_cluster)
        assert len(config.cluster_members()) == int(pod_env(0)["KEYRAFT_K8S_INITIAL_SIZE"])
    assert len(clusters) == 1


def test_services_select_the_pods_on_the_declared_ports() -> None:
    peer, client = sorted(
        kind("Service"), key=lambda s: s["spec"].get("clusterIP", ""), reverse=True
    )
    assert peer["spec"]["clusterIP"] == "None" and peer["spec"]["publishNotReadyAddresses"]
    assert peer["metadata"]["name"] == STATEFULSET["spec"]["serviceName"]
    for service in (peer, client):
        assert service["spec"]["selector"] == LABELS
        for port in service["spec"]["ports"]:
            assert port["port"] == PORTS[port["targetPort"]]
    assert {p["targetPort"] for p in client["spec"]["ports"]} == {"client"}


def test_network_policy_lets_only_members_reach_the_peer_port() -> None:
    (policy,) = kind("NetworkPolicy")
    assert policy["spec"]["podSelector"]["matchLabels"] == LABELS
    for rule in policy["spec"]["ingress"]:
        ports = {p["port"] for p in rule["ports"]}
        members_only = rule["from"] == [{"podSelector": {"matchLabels": LABELS}}]
        assert PORTS["client"] in ports
        assert PORTS["peer"] not in ports or members_only


def test_disruptions_keep_a_quorum_and_pods_spread() -> None:
    (budget,) = kind("PodDisruptionBudget")
    assert budget["spec"] == {"maxUnavailable": 1, "selector": {"matchLabels": LABELS}}
    anti = POD["affinity"]["podAntiAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    assert anti[0]["topologyKey"] == "kubernetes.io/hostname"
    assert POD["topologySpreadConstraints"][0]["labelSelector"]["matchLabels"] == LABELS


def test_the_container_runs_restricted() -> None:
    context = CONTAINER["securityContext"]
    assert context["runAsNonRoot"] and context["readOnlyRootFilesystem"]
    assert context["allowPrivilegeEscalation"] is False
    assert context["capabilities"] == {"drop": ["ALL"]}
    assert context["seccompProfile"] == {"type": "RuntimeDefault"}
    assert set(CONTAINER["resources"]) == {"requests", "limits"}
    dockerfile = (ROOT / "deploy" / "Dockerfile").read_text()
    uid = POD["securityContext"]["runAsUser"]
    assert f"USER {uid}:" in dockerfile and f"--uid {uid}" in dockerfile


def test_the_statefulset_may_read_its_own_replicas() -> None:
    (role,) = kind("Role")
    (rule,) = role["rules"]
    assert rule["resourceNames"] == [STATEFULSET["metadata"]["name"]] and rule["verbs"] == ["get"]
    (binding,) = kind("RoleBinding")
    assert binding["subjects"][0]["name"] == POD["serviceAccountName"]
    env = {e["name"]: e.get("value") for e in CONTAINER["env"]}
    assert env["KEYRAFT_K8S_REPLICAS_FROM"] == "api"


def test_the_backup_job_saves_snapshots_with_keyraftctl_from_the_client_service() -> None:
    """The CronJob runs keyraftctl's snapshot save against the client Service, from a pod
    the NetworkPolicy lets reach the client port, restricted as the members are."""
    (cron,) = kind("CronJob")
    template = cron["spec"]["jobTemplate"]["spec"]["template"]
    (container,) = template["spec"]["containers"]
    script = container["command"][-1]
    assert "keyraftctl" in script and "snapshot save" in script
    (client_service,) = [s for s in kind("Service") if s["spec"].get("clusterIP") != "None"]
    name, namespace = client_service["metadata"]["name"], client_service["metadata"]["namespace"]
    assert f"http://{name}.{namespace}.svc:2379" in script
    assert template["metadata"]["labels"]["keyraft-client"] == "true"
    assert container["securityContext"] == CONTAINER["securityContext"]
    (claim,) = kind("PersistentVolumeClaim")
    volumes = {v["name"]: v for v in template["spec"]["volumes"]}
    assert volumes["backups"]["persistentVolumeClaim"]["claimName"] == claim["metadata"]["name"]
    assert container["image"] == CONTAINER["image"]
