"""The plain-text key forms: GET/PUT/DELETE /v3/keys/{key}, beside etcd's surface."""

from __future__ import annotations

import base64

import httpx

from tests.support.servers import Member


def test_put_get_list_delete_as_plain_text(member: Member) -> None:
    with httpx.Client(base_url=member.client_url, timeout=15) as client:
        put = client.put("/v3/keys/app/config/name", content=b"hello world")
        assert put.status_code == 200, put.text
        revision = put.json()["revision"]
        client.put("/v3/keys/app/config/size", content=b"\xff\x00")
        got = client.get("/v3/keys/app/config/name")
        assert got.status_code == 200
        assert got.content == b"hello world"
        assert got.headers["content-type"].startswith("text/plain")
        assert got.headers["x-keyraft-mod-revision"] == str(revision)
        # etcd's own surface sees the same key
        ranged = client.post(
            "/v3/kv/range", json={"key": base64.b64encode(b"app/config/name").decode()}
        )
        assert base64.b64decode(ranged.json()["kvs"][0]["value"]) == b"hello world"

        listing = client.get("/v3/keys/app/config/", params={"prefix": "true"}).json()
        assert listing["count"] == 2
        assert [kv["key"] for kv in listing["kvs"]] == ["app/config/name", "app/config/size"]
        assert listing["kvs"][1]["value_b64"] == base64.b64encode(b"\xff\x00").decode()

        client.put("/v3/keys/app/config/name", content=b"changed")
        old = client.get("/v3/keys/app/config/name", params={"rev": revision})
        assert old.content == b"hello world"

        deleted = client.delete("/v3/keys/app/config/", params={"prefix": "true"}).json()
        assert deleted["deleted"] == 2
        missing = client.get("/v3/keys/app/config/name")
        assert missing.status_code == 404
        assert missing.json()["code"] == 5


def test_lease_and_etcd_shaped_errors(member: Member) -> None:
    with httpx.Client(base_url=member.client_url, timeout=15) as client:
        lease = client.post("/v3/lease/grant", json={"TTL": 60}).json()["ID"]
        put = client.put("/v3/keys/leased", params={"lease": lease}, content=b"v")
        assert put.status_code == 200, put.text
        assert client.get("/v3/keys/leased").headers["x-keyraft-lease"] == lease
        unknown = client.put("/v3/keys/leased", params={"lease": "12345"}, content=b"v")
        assert unknown.status_code == 404
        assert unknown.json()["error"] == "etcdserver: requested lease not found"
        bad = client.get("/v3/keys/leased", params={"rev": "soon"})
        assert bad.status_code == 400 and bad.json()["code"] == 3
        odd = client.put("/v3/keys/line%0Abreak%2Fslash", content=b"x")
        assert odd.status_code == 200, odd.text
        ranged = client.post(
            "/v3/kv/range", json={"key": base64.b64encode(b"line\nbreak/slash").decode()}
        )
        assert ranged.json()["count"] == "1"
        binary = client.put("/v3/keys/bin%FF%00", content=b"y")
        assert binary.status_code == 200, binary.text
        assert client.get("/v3/keys/bin%FF%00").content == b"y"
        listing = client.get("/v3/keys/bin", params={"prefix": "true"}).json()
        assert listing["kvs"][0]["key_b64"] == base64.b64encode(b"bin\xff\x00").decode()
        empty = client.get("/v3/keys/")
        assert empty.status_code == 400
        assert empty.json()["message"] == "etcdserver: key is not provided"


def test_docs_render_from_the_package(member: Member) -> None:
    with httpx.Client(base_url=member.client_url, timeout=15) as client:
        page = client.get("/docs").text
        assert "http://" not in page.replace(member.client_url, "") and "https://" not in page
        for asset in ("/docs/assets/swagger-ui-bundle.js", "/docs/assets/swagger-ui.css"):
            assert asset in page
            answer = client.get(asset)
            assert answer.status_code == 200 and len(answer.content) > 100_000
        assert client.get("/docs/assets/index.html").status_code == 404


def test_fuzzer_findings_stay_fixed(member: Member) -> None:
    with httpx.Client(base_url=member.client_url, timeout=15) as client:
        for verb in ("remove", "update", "promote"):  # ID 0: Raft drops it; etcd finds none
            answer = client.post(f"/v3/cluster/member/{verb}", json={})
            assert answer.status_code == 404, answer.text
            assert answer.json()["message"] == "etcdserver: member not found"
        refused = client.request("TRACE", "/health")
        assert refused.status_code == 405 and refused.headers["allow"] == "GET"
