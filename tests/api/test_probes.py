"""/livez and /readyz as etcd 3.5.12+ answers them (etcd 3.4 has neither: 404)."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import httpx

from tests.support.servers import ROOT, keyraft_cluster, keyraft_member


def get(url: str) -> httpx.Response:
    return httpx.get(url, timeout=5)


def test_a_member_with_a_leader_is_live_and_ready(tmp_path: Path) -> None:
    member = keyraft_member(tmp_path).start()
    try:
        url = member.client_url
        assert (get(url + "/livez").status_code, get(url + "/livez").text) == (200, "ok\n")
        assert get(url + "/readyz").text == "ok\n"
        assert get(url + "/readyz?verbose").text == (
            "[+]data_corruption ok\n[+]serializable_read ok\n[+]linearizable_read ok\nok\n"
        )
        excluded = get(url + "/readyz?verbose&exclude=linearizable_read").text
        assert "linearizable" not in excluded and excluded.endswith("ok\n")
        assert get(url + "/livez/serializable_read?verbose").text == "[+]serializable_read ok\nok\n"
        assert get(url + "/readyz/nothing").status_code == 404
        assert get(url + "/livez").headers["content-type"].startswith("text/plain")
    finally:
        member.stop()


def test_a_member_without_quorum_is_live_but_not_ready(tmp_path: Path) -> None:
    lonely = keyraft_cluster(tmp_path, 3)[0]  # its two peers never start
    log = open(lonely.log_path, "ab")  # noqa: SIM115 - the child owns it
    lonely.process = subprocess.Popen(
        lonely.command, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT
    )
    log.close()
    try:
        deadline, live = time.monotonic() + 20, None
        while live is None and time.monotonic() < deadline:
            try:
                live = get(lonely.client_url + "/livez")
            except httpx.HTTPError:
                time.sleep(0.05)
        assert live is not None
        assert (live.status_code, live.text) == (200, "ok\n")
        ready = get(lonely.client_url + "/readyz")
        assert ready.status_code == 503
        assert "[-]linearizable_read failed: etcdserver: no leader" in ready.text
        assert "[+]serializable_read ok" in ready.text
    finally:
        lonely.stop()
