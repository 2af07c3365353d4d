"""Write the OpenAPI document of the app: `python -m keyraft.app.openapi_export openapi/openapi.json`."""

from __future__ import annotations

import json
import sys
import tempfile

from keyraft.app.config import ServerConfig


def document() -> dict:
    from keyraft.app.factory import build_fastapi
    from keyraft.app.server.etcdserver import EtcdServer

    with tempfile.TemporaryDirectory() as directory:
        server = EtcdServer(ServerConfig(name="openapi", data_dir=directory))
        try:
            return build_fastapi(server, manage_server=False).openapi()
        finally:
            server.close()


def render() -> str:
    return json.dumps(document(), indent=2, sort_keys=False) + "\n"


def main() -> None:
    target = sys.argv[1] if len(sys.argv) > 1 else "openapi/openapi.json"
    with open(target, "w") as handle:
        handle.write(render())


if __name__ == "__main__":
    main()
