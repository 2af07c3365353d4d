"""`python -m keyraft.app.snapshot_tool status|restore`: snapshot files offline.

They touch a data dir, not a server, so they belong beside the server rather than in
keyraftctl (which speaks HTTP only, and runs this for its `snapshot status|restore`, as
etcd 3.5 moved them from etcdctl to etcdutl). `status` prints JSON for keyraftctl to
format; `restore` takes etcdctl's flags and prints nothing on success.
"""

from __future__ import annotations

import dataclasses
import sys

import click
import orjson

from keyraft.app.server.config import ConfigError, ServerConfig
from keyraft.app.server.snapshot_file import BadSnapshot
from keyraft.app.server.snapshot_restore import RestoreError, restore, snapshot_status


def _fail(message: str) -> None:
    click.echo(f"Error: {message}", err=True)
    sys.exit(1)


@click.group()
def cli() -> None:
    """keyraft snapshot files."""


@cli.command("status")
@click.argument("path")
def status(path: str) -> None:
    try:
        found = snapshot_status(path)
    except BadSnapshot as error:
        _fail(str(error))
    click.echo(orjson.dumps(dataclasses.asdict(found)).decode())


@cli.command("restore")
@click.argument("path")
@click.option("--name", default="default")
@click.option("--data-dir", default="")
@click.option("--wal-dir", default="")
@click.option("--initial-cluster", default="default=http://localhost:2380")
@click.option("--initial-cluster-token", default="etcd-cluster")
@click.option("--initial-advertise-peer-urls", default="http://localhost:2380")
def restore_command(
    path: str,
    name: str,
    data_dir: str,
    wal_dir: str,
    initial_cluster: str,
    initial_cluster_token: str,
    initial_advertise_peer_urls: str,
) -> None:
    try:
        config = ServerConfig(
            name=name,
            data_dir=data_dir,
            wal_dir=wal_dir,
            initial_cluster=initial_cluster,
            initial_cluster_token=initial_cluster_token,
            initial_advertise_peer_urls=[
                url.strip() for url in initial_advertise_peer_urls.split(",") if url.strip()
            ],
        )
        restore(path, config)
    except (BadSnapshot, RestoreError, ConfigError) as error:
        _fail(str(error))


if __name__ == "__main__":
    cli()
