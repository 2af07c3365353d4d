"""TLS on the client and peer ports, with etcd's flags (issue #13): https with and
without client certificates, plain http refused cleanly on an https port, a cluster over
peer TLS that no sender without a peer certificate can reach (issue #12's last hole),
--auto-tls, keyraftctl's TLS flags, and --cors as etcd 3.4.23 answers it.

Certificates are made at test time (trustme): one CA for the cluster, another CA whose
certificates must be refused. Three processes groups start per module: one secure member
(https with --client-cert-auth next to http), a 3-member peer-TLS cluster, a 3-member
--auto-tls/--peer-auto-tls cluster.
"""

from __future__ import annotations

import base64
import random
import re
import socket
import ssl
import stat
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import trustme
from click.testing import CliRunner
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from keyraft.app.connections import refusal
from keyraft.app.main import main as keyraft_main
from keyraft.app.server.tls import GO_CIPHER_SUITES, TLSInfo, openssl_ciphers, server_context
from tests.cluster.conftest import b64, get_value, leader_of, status, wait_for
from tests.ctl.support import ctl_command, keyraftctl, spawn, stop
from tests.support import hostile_peer
from tests.support.servers import (
    Member,
    Schemes,
    etcd_available,
    etcd_member,
    free_port,
    keyraft_cluster,
    keyraft_member,
    started,
)

CORS_ORIGIN = "http://a.example:8080"  # etcd 3.4 takes --cors origins only with a port
HOSTS = "127.0.0.1,localhost"


@dataclass(frozen=True)
class Pki:
    """The cluster's CA and certificates, and a stranger's, as files and as contexts."""

    ca: trustme.CA
    member: trustme.LeafCert  # 127.0.0.1: every member's server and client certificate
    client: trustme.LeafCert
    stranger: trustme.LeafCert  # from another CA
    directory: Path

    def path(self, name: str) -> str:
        return str(self.directory / name)

    def context(self, cert: trustme.LeafCert | None = None) -> ssl.SSLContext:
        """A client context trusting the cluster's CA, showing `cert` if given."""
        context = ssl.create_default_context()
        self.ca.configure_trust(context)
        if cert is not None:
            cert.configure_cert(context)
        return context


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    directory = tmp_path_factory.mktemp("pki")
    ca = trustme.CA()
    pki = Pki(
        ca,
        ca.issue_cert("127.0.0.1", "localhost"),
        ca.issue_cert("client@example"),
        trustme.CA().issue_cert("127.0.0.1"),
        directory,
    )
    ca.cert_pem.write_to_path(pki.path("ca.pem"))
    for name, leaf in (("member", pki.member), ("client", pki.client), ("stranger", pki.stranger)):
        leaf.cert_chain_pems[0].write_to_path(pki.path(f"{name}.pem"))
        leaf.private_key_pem.write_to_path(pki.path(f"{name}-key.pem"))
    return pki


@pytest.fixture(scope="module")
def secure(pki: Pki, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Member]:
    """One member: https with --client-cert-auth, and http on a second client URL."""
    flags = (
        "--cert-file", pki.path("member.pem"), "--key-file", pki.path("member-key.pem"),
        "--trusted-ca-file", pki.path("ca.pem"), "--client-cert-auth",
        "--cors", CORS_ORIGIN, "--host-whitelist", HOSTS,
    )  # fmt: skip
    member = keyraft_member(
        tmp_path_factory.mktemp("secure"),
        extra=flags,
        schemes=Schemes(client="https", client_tls=pki.context(pki.client)),
    )
    http_url = f"http://127.0.0.1:{free_port()}"
    flag = member.command.index("--listen-client-urls") + 1
    member.command[flag] += "," + http_url
    with started([member]):
        yield member


def http_twin(member: Member) -> Member:
    """The same member reached through its second (http) client URL."""
    urls = member.command[member.command.index("--listen-client-urls") + 1]
    twin = Member(member.name, member.kind, member.command, member.data_dir, "", member.log_path)
    twin.client_url = urls.split(",")[1]
    return twin


@pytest.fixture(scope="module")
def peer_tls_cluster(pki: Pki, tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[Member]]:
    """Three members over peer TLS with --peer-client-cert-auth; https client URLs
    without client certificates (server authentication only)."""
    flags = (
        "--cert-file", pki.path("member.pem"), "--key-file", pki.path("member-key.pem"),
        "--peer-cert-file", pki.path("member.pem"), "--peer-key-file", pki.path("member-key.pem"),
        "--peer-trusted-ca-file", pki.path("ca.pem"), "--peer-client-cert-auth",
        "--snapshot-count", "20",  # a member 10 entries behind gets a snapshot
        "--experimental-corrupt-check-time", "200ms",  # hashkv asked over peer TLS
    )  # fmt: skip
    members = keyraft_cluster(
        tmp_path_factory.mktemp("peer-tls"),
        3,
        flags,
        schemes=Schemes("https", "https", pki.context()),
    )
    with started(members):
        yield members


# ---- flags refused before anything starts ------------------------------------------------


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (
            ["--listen-client-urls", "https://127.0.0.1:1", "--advertise-client-urls", "https://127.0.0.1:1"],
            "TLS key/cert (--cert-file, --key-file) must be provided for client url "
            "https://127.0.0.1:1 with HTTPS scheme",
        ),
        (
            ["--listen-peer-urls", "https://127.0.0.1:2", "--initial-advertise-peer-urls", "https://127.0.0.1:2"],
            "cannot listen on TLS for 127.0.0.1:2: KeyFile and CertFile are not presented",
        ),
        (["--cipher-suites", "TLS_RSA_WITH_AES_128_GCM_SHA256,FOO"], 'unexpected TLS cipher suite "FOO"'),
        (["--tls-min-version", "TLS1.1"], 'unexpected TLS version "TLS1.1"'),
        (["--cipher-suites", "TLS_RSA_WITH_RC4_128_SHA"], "offers none of TLS_RSA_WITH_RC4_128_SHA"),
        (["--cors", "a.example"], '--cors: "a.example" is not an origin'),
    ],
    ids=["https-client-no-cert", "https-peer-no-cert", "cipher", "tls-version", "rc4", "cors"],
)  # fmt: skip
def test_a_tls_setting_etcd_refuses_is_refused_with_etcds_words(
    flags: list[str], message: str, tmp_path: Path
) -> None:
    result = CliRunner().invoke(keyraft_main, ["--data-dir", str(tmp_path / "d"), *flags])
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert not (tmp_path / "d").exists()


def test_unreadable_certificate_files_stop_the_member_with_a_clear_message(
    pki: Pki, tmp_path: Path
) -> None:
    flags = ("--cert-file", str(tmp_path / "missing.pem"), "--key-file", pki.path("member-key.pem"))
    member = keyraft_member(tmp_path, extra=flags, schemes=Schemes(client="https"))
    try:
        with pytest.raises(RuntimeError, match="exited early") as failure:
            member.start()
    finally:
        member.stop()
    assert f"refusing to start: open {tmp_path / 'missing.pem'}: no such file" in str(failure.value)


def test_the_connection_cap_refusal_carries_cors_headers_only_for_every_origin() -> None:
    assert b"access-control-allow-origin: *" in refusal()
    assert b"access-control-" not in refusal(cors=False)


def test_cipher_suites_take_gos_names_and_restrict_tls12(pki: Pki) -> None:
    assert openssl_ciphers(("TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", "TLS_AES_128_GCM_SHA256")) == (
        "ECDHE-RSA-AES128-GCM-SHA256"
    )
    assert GO_CIPHER_SUITES["TLS_RSA_WITH_AES_128_GCM_SHA256"] == "AES128-GCM-SHA256"
    info = TLSInfo(
        pki.path("member.pem"),
        pki.path("member-key.pem"),
        cipher_suites=("TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",),
    )
    tls12 = {c["name"] for c in server_context(info).get_ciphers() if c["protocol"] == "TLSv1.2"}
    assert tls12 == {"ECDHE-ECDSA-AES256-GCM-SHA384"}
    tls13_only = TLSInfo(info.cert_file, info.key_file, min_version="TLS1.3")
    assert server_context(tls13_only).minimum_version == ssl.TLSVersion.TLSv1_3


# ---- one secure member -------------------------------------------------------------------


def test_https_answers_a_client_whose_certificate_the_ca_signed(secure: Member) -> None:
    put = secure.post("/v3/kv/put", {"key": b64("tls/k"), "value": b64("v")})
    assert put.status_code == 200, put.text
    assert secure.client_url.startswith("https://")
    assert get_value(secure, "tls/k") == "v"
    # the same member on its http URL, served by the same front
    assert get_value(http_twin(secure), "tls/k") == "v"


def test_client_cert_auth_refuses_no_certificate_and_another_cas(secure: Member, pki: Pki) -> None:
    for context in (pki.context(), pki.context(pki.stranger)):
        with pytest.raises(httpx.TransportError):
            httpx.post(secure.client_url + "/v3/kv/range", json={"key": b64("k")}, verify=context)
    assert secure.post("/v3/kv/range", {"key": b64("k")}).status_code == 200


def test_plain_http_to_the_https_port_is_closed_at_once_and_the_member_serves_on(
    secure: Member,
) -> None:
    host, port = secure.client_url.removeprefix("https://").split(":")
    request = b"POST /v3/kv/range HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}"
    started = time.monotonic()
    with socket.create_connection((host, int(port)), timeout=5) as connection:
        connection.sendall(request)
        try:
            answer = connection.recv(4096)
        except ConnectionResetError:
            answer = b""
    assert answer == b""  # as etcd: closed without a word, no HTTP answer
    assert time.monotonic() - started < 3
    with pytest.raises(httpx.TransportError):
        httpx.post(f"http://{host}:{port}/v3/kv/range", json={}, timeout=5)
    assert secure.post("/v3/kv/range", {"key": b64("k")}).status_code == 200


def test_keyraftctl_speaks_tls_with_etcdctls_flags(secure: Member, pki: Pki) -> None:
    tls = ("--cacert", pki.path("ca.pem"), "--cert", pki.path("client.pem"))
    tls += ("--key", pki.path("client-key.pem"))
    put = keyraftctl(secure.client_url, *tls, "put", "ctl/k", "v1")
    assert (put.code, put.text) == (0, "OK\n"), put.error
    bare = secure.client_url.removeprefix("https://")  # TLS files given: https implied
    got = keyraftctl(bare, *tls, "get", "ctl/k", "--print-value-only")
    assert (got.code, got.text) == (0, "v1\n"), got.error
    unverified = keyraftctl(secure.client_url, *tls[2:], "get", "ctl/k")
    assert unverified.code != 0
    assert "CERTIFICATE_VERIFY_FAILED" in unverified.error


def _cors_headers(url: str, method: str, origin: str | None, verify: object = True) -> dict:
    headers = {"Origin": origin} if origin else {}
    body = b'{"key":"YQ=="}' if method == "POST" else None
    response = httpx.request(
        method, url + "/v3/kv/range", headers=headers, content=body, verify=verify
    )
    assert response.status_code == 200
    return {k: v for k, v in response.headers.items() if k.startswith("access-control-")}


@pytest.fixture(scope="module")
def etcd_cors(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Member]:
    """Real etcd with the secure member's --cors and --host-whitelist."""
    if not etcd_available():
        pytest.skip("real etcd is required")
    etcd = etcd_member(tmp_path_factory.mktemp("etcd-cors"))
    etcd.command += ["--cors", CORS_ORIGIN, "--host-whitelist", HOSTS]
    with started([etcd]):
        yield etcd


def test_cors_answers_as_etcd_does(secure: Member, pki: Pki, etcd_cors: Member) -> None:
    """Under --cors, the listed origin is echoed with the two other CORS headers; any
    other origin, or none, gets no CORS header at all; on OPTIONS as on POST."""
    twin = http_twin(secure)
    for method in ("OPTIONS", "POST"):
        for origin in (CORS_ORIGIN, "http://b.example:8080", None):
            expected = _cors_headers(etcd_cors.client_url, method, origin)
            assert _cors_headers(twin.client_url, method, origin) == expected
            verify = pki.context(pki.client)
            assert _cors_headers(secure.client_url, method, origin, verify) == expected
    assert _cors_headers(etcd_cors.client_url, "POST", CORS_ORIGIN) == {
        "access-control-allow-headers": "accept, content-type, authorization",
        "access-control-allow-methods": "POST, GET, OPTIONS, PUT, DELETE",
        "access-control-allow-origin": CORS_ORIGIN,
    }


def test_host_whitelist_refuses_other_hosts_on_http_as_etcd_does(
    secure: Member, pki: Pki, etcd_cors: Member
) -> None:
    """A Host outside --host-whitelist gets etcd's 421 on plain http (before CORS);
    https requests pass whatever their Host."""
    twin = http_twin(secure)
    for host in ("evil.example:2379", "[::1]:2379", "LOCALHOST"):
        for method in ("OPTIONS", "POST"):
            headers = {"Host": host, "Origin": CORS_ORIGIN}
            ours = httpx.request(method, twin.client_url + "/health", headers=headers)
            theirs = httpx.request(method, etcd_cors.client_url + "/health", headers=headers)
            assert ours.status_code == theirs.status_code == 421
            assert ours.content == theirs.content
            assert ours.headers["content-type"] == theirs.headers["content-type"]
            assert not any(name.startswith("access-control-") for name in ours.headers)
    verify = pki.context(pki.client)
    answer = httpx.get(secure.client_url + "/health", headers={"Host": "evil"}, verify=verify)
    assert answer.status_code == 200
    assert httpx.get(twin.client_url + "/health").status_code == 200


# ---- a cluster over peer TLS -------------------------------------------------------------


def test_a_cluster_over_peer_tls_replicates_a_put(peer_tls_cluster: list[Member]) -> None:
    leader = leader_of(peer_tls_cluster)
    answer = leader.post("/v3/kv/put", {"key": b64("peer/k"), "value": b64("v")})
    assert answer.status_code == 200, answer.text
    for member in peer_tls_cluster:
        wait_for(
            lambda member=member: get_value(member, "peer/k", serializable=True) == "v",
            10,
            f"the put on {member.name}",
        )


def test_the_corruption_check_asks_the_peers_over_peer_tls(
    peer_tls_cluster: list[Member],
) -> None:
    leader = leader_of(peer_tls_cluster)
    wait_for(
        lambda: "finished peer corruption check (2 peers checked)" in leader.log_tail(400),
        20,
        "a corruption check answered by both peers",
    )
    assert leader.post("/v3/maintenance/alarm", {"action": "GET"}).json().get("alarms") is None


def test_make_mirror_writes_to_an_https_destination_with_the_dest_tls_flags(
    secure: Member, pki: Pki
) -> None:
    """The source is the member's http URL, the destination its https one (prefixes apart)."""
    source = http_twin(secure)
    assert (
        source.post("/v3/kv/put", {"key": b64("mirror-src/a"), "value": b64("1")}).status_code
        == 200
    )
    tls = ("--dest-cacert", pki.path("ca.pem"), "--dest-cert", pki.path("client.pem"),
           "--dest-key", pki.path("client-key.pem"))  # fmt: skip
    command = [*ctl_command(), "--endpoints", source.client_url, "make-mirror", *tls,
               "--prefix", "mirror-src/", "--dest-prefix", "mirror-dst/", secure.client_url]  # fmt: skip
    process = spawn(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        wait_for(lambda: get_value(source, "mirror-dst/a") == "1", 20, "the mirrored key")
    finally:
        stop(process)
        process.communicate()


def test_no_sender_without_a_peer_certificate_reaches_the_peer_port(
    peer_tls_cluster: list[Member], pki: Pki
) -> None:
    """A PROPOSE under a real member's name is what the receiver's own checks cannot
    refuse: without a certificate from the peer CA (none, another CA's, or plain http)
    it never gets past the handshake, and the cluster serves on in the same term."""
    rng = random.Random(13)
    leader = leader_of(peer_tls_cluster)
    term = status(leader)["raftTerm"]
    for member in peer_tls_cluster:
        target = hostile_peer.target(member)
        for context in (pki.context(), pki.context(pki.stranger), None):
            with pytest.raises(OSError):
                hostile_peer.member_proposal(target, rng, context)
    key = base64.b64encode(hostile_peer.INJECTED_KEY).decode()
    for member in peer_tls_cluster:
        assert "kvs" not in member.post("/v3/kv/range", {"key": key}).json()
        put = member.post("/v3/kv/put", {"key": b64(f"after/{member.name}"), "value": b64("ok")})
        assert put.status_code == 200, put.text
    assert leader_of(peer_tls_cluster) is leader
    assert status(leader)["raftTerm"] == term


def test_a_member_far_behind_gets_a_snapshot_over_peer_tls(
    peer_tls_cluster: list[Member],
) -> None:
    """Snapshots travel on their own https request (httpx), not the stream: once the
    leader's log no longer holds what the lagging member lacks, only a snapshot sent
    over peer TLS can catch it up."""
    leader = leader_of(peer_tls_cluster)
    lagging = next(member for member in peer_tls_cluster if member is not leader)
    behind = int(status(lagging)["raftIndex"])
    lagging.stop()
    for index in range(60):
        put = leader.post("/v3/kv/put", {"key": b64(f"snap/{index}"), "value": b64("v")})
        assert put.status_code == 200, put.text
    compacted = re.findall(r"log compacted to (\d+)", leader.log_tail(200))
    assert compacted and int(compacted[-1]) > behind + 1
    lagging.start()
    wait_for(
        lambda: get_value(lagging, "snap/59", serializable=True) == "v", 30, "catch-up by snapshot"
    )


def test_a_follower_forwards_lease_keepalives_to_an_https_leader(
    peer_tls_cluster: list[Member],
) -> None:
    leader = leader_of(peer_tls_cluster)
    follower = next(member for member in peer_tls_cluster if member is not leader)
    lease = random.getrandbits(40) + 1
    grant = follower.post("/v3/lease/grant", {"ID": lease, "TTL": 30})
    assert grant.status_code == 200, grant.text
    answer = follower.post("/v3/lease/keepalive", {"ID": lease})
    assert answer.status_code == 200, answer.text
    assert int(answer.json()["result"]["TTL"]) == 30
    # The follower's forwarding connection stays pooled and idle: the leader still stops
    # at once (a TLS close waited 30 s for the idle client's close_notify). Last test
    # of the cluster: the leader stays down.
    started = time.monotonic()
    leader.stop()
    assert time.monotonic() - started < 5


# ---- --auto-tls and --peer-auto-tls --------------------------------------------------------


def test_auto_tls_serves_https_and_a_peer_auto_tls_cluster_forms(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    unverified = ssl.create_default_context()
    unverified.check_hostname = False
    unverified.verify_mode = ssl.CERT_NONE
    members = keyraft_cluster(
        tmp_path_factory.mktemp("auto-tls"),
        3,
        ("--auto-tls", "--peer-auto-tls", "--peer-client-cert-auth"),
        schemes=Schemes("https", "https", unverified),
    )
    with started(members):
        leader = leader_of(members)
        assert leader.post("/v3/kv/put", {"key": b64("auto"), "value": b64("v")}).status_code == 200
        for member in members:
            wait_for(
                lambda member=member: get_value(member, "auto", serializable=True) == "v",
                10,
                f"the put on {member.name}",
            )
        with pytest.raises(httpx.TransportError):  # self-signed: a verifying client refuses
            httpx.post(leader.client_url + "/v3/kv/range", json={}, timeout=5)
        bare = leader.client_url.removeprefix("https://")
        insecure = ("--insecure-skip-tls-verify", "get", "auto", "--print-value-only")
        got = keyraftctl(bare, "--insecure-transport=false", *insecure)
        assert (got.code, got.text) == (0, "v\n"), got.error
        assert keyraftctl(bare, *insecure).code != 0  # no TLS file: http, as etcdctl
        for port in ("client", "peer"):
            directory = leader.data_dir / "fixtures" / port
            assert stat.S_IMODE((directory / "key.pem").stat().st_mode) == 0o600
            cert = x509.load_pem_x509_certificate((directory / "cert.pem").read_bytes())
            assert cert.subject.rfc4514_string() == "O=etcd"
            assert isinstance(cert.public_key(), ec.EllipticCurvePublicKey)
            assert cert.public_key().curve.name == "secp521r1"
            names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
            assert [str(ip) for ip in names.value.get_values_for_type(x509.IPAddress)] == [
                "127.0.0.1"
            ]


def test_with_auth_on_a_client_certificate_naming_a_user_is_refused_as_etcd_does(
    secure: Member, pki: Pki
) -> None:
    """etcd 3.4.23 (measured): with --client-cert-auth and auth enabled, its gateway
    answers any /v3/ request whose client certificate has a common name with a plain-text
    400, since it cannot authenticate as that name; a certificate without one, plus a
    token, is served. With auth off, the common name changes nothing."""
    named = pki.ca.issue_cert("root@example", common_name="root")
    as_root = pki.context(named)

    def post(path: str, body: dict, context: ssl.SSLContext, token: str = "") -> httpx.Response:
        headers = {"Authorization": token} if token else {}
        return httpx.post(
            secure.client_url + path, json=body, verify=context, headers=headers, timeout=10
        )

    assert post("/v3/kv/range", {"key": b64("k")}, as_root).status_code == 200
    for path, body in (
        ("/v3/auth/user/add", {"name": "root", "password": "pw"}),
        ("/v3/auth/user/grant", {"user": "root", "role": "root"}),
        ("/v3/auth/enable", {}),
    ):
        assert secure.post(path, body).status_code == 200
    token = secure.post("/v3/auth/authenticate", {"name": "root", "password": "pw"}).json()
    token = token["token"]
    try:
        refused = post("/v3beta/kv/range", {"key": b64("k")}, as_root, token)
        assert refused.status_code == 400
        assert refused.content == (
            b"CommonName of client sending a request against gateway will be ignored and "
            b"not used as expected\n"
        )
        assert refused.headers["content-type"] == "text/plain; charset=utf-8"
        assert post("/health", {}, as_root).status_code != 400  # only the gateway's paths
        served = post("/v3/kv/range", {"key": b64("k")}, pki.context(pki.client), token)
        assert served.status_code == 200, served.text
    finally:
        assert post("/v3/auth/disable", {}, pki.context(pki.client), token).status_code == 200
    assert post("/v3/kv/range", {"key": b64("k")}, as_root).status_code == 200
