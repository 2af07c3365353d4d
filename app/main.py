"""`keyraft`: the server entry point, taking etcd's flags (and KEYRAFT_* variables)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import sys
from typing import TYPE_CHECKING

import click

from keyraft.app.config import KEYRAFT_VERSION, ConfigError, ServerConfig, check_url, validate
from keyraft.app.logs import LEVELS as LOG_LEVELS
from keyraft.app.logs import LogConfigError
from keyraft.app.logs import configure as configure_logs

if TYPE_CHECKING:  # uvicorn loads only when serving: --help and --version stay quick
    import uvicorn

    from keyraft.app.asgi import KeyraftFront
    from keyraft.app.connections import ClientLimits


def _urls(value: str) -> list[str]:
    return [item.strip() for item in value.split(",") if item.strip()]


@click.command(
    context_settings={"auto_envvar_prefix": "KEYRAFT", "help_option_names": ["-h", "--help"]}
)
@click.option(
    "--name", default="default", show_default=True, help="Human-readable name for this member."
)
@click.option(
    "--data-dir", default="", help="Path to the data directory [default: <name>.keyraft]."
)
@click.option(
    "--listen-client-urls",
    default="http://localhost:2379",
    show_default=True,
    help="URLs to listen on for client traffic (comma-separated).",
)
@click.option(
    "--advertise-client-urls",
    default="http://localhost:2379",
    show_default=True,
    help="This member's client URLs to advertise to the cluster.",
)
@click.option(
    "--listen-peer-urls",
    default="http://localhost:2380",
    show_default=True,
    help="URLs to listen on for peer traffic.",
)
@click.option(
    "--initial-advertise-peer-urls",
    default="http://localhost:2380",
    show_default=True,
    help="This member's peer URLs to advertise to the cluster.",
)
@click.option(
    "--initial-cluster",
    default="",
    help="Initial cluster configuration for bootstrapping (name=url,...) [default: <name>=<initial-advertise-peer-urls>].",
)
@click.option(
    "--initial-cluster-token",
    default="etcd-cluster",
    show_default=True,
    help="Initial cluster token, for unique cluster and member IDs.",
)
@click.option(
    "--initial-cluster-state",
    default="new",
    show_default=True,
    type=click.Choice(["new", "existing"]),
    help="Initial cluster state.",
)
@click.option(
    "--max-request-bytes",
    default=1572864,
    show_default=True,
    type=click.IntRange(min=1),
    help="Maximum client request size in bytes the server will accept.",
)
@click.option(
    "--quota-backend-bytes",
    default=0,
    show_default=True,
    type=click.IntRange(min=0),
    help="Raise an alarm when the backend exceeds this size (0 = 2 GiB).",
)
@click.option(
    "--max-txn-ops",
    default=128,
    show_default=True,
    type=click.IntRange(min=1),
    help="Maximum number of operations permitted in a transaction.",
)
@click.option(
    "--heartbeat-interval",
    default=100,
    show_default=True,
    type=click.IntRange(min=1),
    help="Time (in milliseconds) of a heartbeat interval.",
)
@click.option(
    "--election-timeout",
    default=1000,
    show_default=True,
    type=click.IntRange(min=1),
    help="Time (in milliseconds) for an election to timeout.",
)
@click.option(
    "--listen-metrics-urls",
    default="",
    help="URLs to serve /metrics and /health on as well (comma-separated).",
)
@click.option(
    "--auto-compaction-mode",
    default="periodic",
    show_default=True,
    help="Interpret --auto-compaction-retention as 'periodic' (a duration) or 'revision'.",
)
@click.option(
    "--auto-compaction-retention",
    default="0",
    show_default=True,
    help="History to keep: hours or a duration like 30m (periodic), revisions (revision); "
    "0 = no auto-compaction.",
)
@click.option(
    "--snapshot-count",
    default=100000,
    show_default=True,
    type=click.IntRange(min=1),
    help="Committed transactions that trigger a snapshot to disk.",
)
@click.option(
    "--auth-token",
    default="simple",
    show_default=True,
    help="Token type and options: 'simple', or "
    "'jwt,pub-key=PATH,priv-key=PATH,sign-method=RS256,ttl=5m'.",
)
@click.option(
    "--auth-token-ttl",
    default=300,
    show_default=True,
    type=click.IntRange(min=1),
    help="Seconds a simple auth token lives unused.",
)
@click.option(
    "--bcrypt-cost",
    default=10,
    show_default=True,
    type=click.IntRange(min=4, max=31),
    help="Cost of the bcrypt hash of auth passwords (4-31).",
)
@click.option(
    "--log-level",
    default="info",
    show_default=True,
    type=click.Choice(list(LOG_LEVELS)),
    help="Log level.",
)
@click.option(
    "--logger",
    default="capnslog",
    show_default=True,
    help="'zap' for structured (JSON) logging, or 'capnslog' (text).",
)
@click.option(
    "--log-outputs",
    default="default",
    show_default=True,
    help="Where logs go: 'default' or 'stderr', 'stdout', or file paths (comma-separated).",
)
@click.option(
    "--log-format",
    default="",
    help="'json' or 'text' [default: json with --logger zap, else text].",
)
@click.version_option(
    KEYRAFT_VERSION, "--version", prog_name="keyraft", message="keyraft %(version)s (etcd API 3.4)"
)
def main(**flags: object) -> None:
    """keyraft: an etcd v3 compatible, strongly consistent key-value store."""
    config = config_from_flags(flags)
    try:
        validate(config)
    except ConfigError as error:
        raise click.UsageError(str(error)) from None
    try:
        configure_logs(config.logger, config.log_outputs, config.log_format, config.log_level)
    except LogConfigError as error:
        raise click.UsageError(str(error)) from None
    try:
        sockets = [_bind("--listen-client-urls", url) for url in config.listen_client_urls]
        peer_sockets = [_bind("--listen-peer-urls", url) for url in config.listen_peer_urls]
        metrics_sockets = [
            _bind("--listen-metrics-urls", url) for url in config.listen_metrics_urls
        ]
    except OSError as error:
        click.echo(f"keyraft: cannot listen: {error}", err=True)
        sys.exit(1)
    try:
        import uvloop

        uvloop.run(_serve(config, sockets, peer_sockets, metrics_sockets))
    except ImportError:  # uvloop is optional: plain asyncio serves too, slower
        asyncio.run(_serve(config, sockets, peer_sockets, metrics_sockets))


_URL_FLAGS = (
    "listen_client_urls",
    "advertise_client_urls",
    "listen_peer_urls",
    "initial_advertise_peer_urls",
    "listen_metrics_urls",
)
_RENAMED = {
    "heartbeat_interval": "heartbeat_interval_ms",
    "election_timeout": "election_timeout_ms",
}


def config_from_flags(flags: dict) -> ServerConfig:
    """The configuration a command line (or KEYRAFT_* environment) asks for."""
    values = {_RENAMED.get(name, name): value for name, value in flags.items()}
    for name in _URL_FLAGS:
        values[name] = _urls(str(values[name]))
    return ServerConfig(**values)


def _bind(flag: str, url: str) -> socket.socket:
    host, port = check_url(flag, url)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    listener = socket.socket(family, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listener.bind((host, port))
    except OSError as error:
        listener.close()
        raise OSError(f"{url}: {error.strerror}") from None
    listener.listen(2048)
    listener.set_inheritable(True)
    return listener


class _SideServer:
    """Another uvicorn server (the peer port, the metrics port) in the same loop, without
    its own signal handling (the client server's shutdown stops it)."""

    def __init__(self, app, sockets: list[socket.socket]) -> None:
        import uvicorn

        class Server(uvicorn.Server):
            @contextlib.contextmanager
            def capture_signals(self):
                yield

        self.server = Server(
            uvicorn.Config(
                app,
                lifespan="off",
                log_config=None,
                log_level=logging.WARNING,
                access_log=False,
                server_header=False,
                timeout_keep_alive=30,
            )
        )
        self.sockets = sockets

    async def serve(self) -> None:
        await self.server.serve(sockets=self.sockets)


def client_server_config(
    front: KeyraftFront, config: ServerConfig, limits: ClientLimits
) -> uvicorn.Config:
    """uvicorn's configuration for the client listener, with keyraft's client limits."""
    import uvicorn

    from keyraft.app.connections import guarded_protocol

    front.body_timeout_s = limits.body_timeout_s
    return uvicorn.Config(
        front,
        lifespan="on",
        log_config=None,
        log_level=logging.WARNING if config.log_level != "debug" else logging.DEBUG,
        access_log=config.log_level == "debug",
        server_header=False,
        date_header=True,
        proxy_headers=False,  # no proxy in front by default: do not trust X-Forwarded-*
        timeout_keep_alive=limits.idle_timeout_s,
        loop="uvloop",
        http=guarded_protocol(limits),
    )


async def _serve(
    config: ServerConfig,
    sockets: list[socket.socket],
    peer_sockets: list[socket.socket],
    metrics_sockets: list[socket.socket],
) -> None:
    import uvicorn

    from keyraft.app.connections import ClientLimits
    from keyraft.app.factory import create_app
    from keyraft.app.server.state_machine import DataDirMismatch

    try:
        front, _server = create_app(config)
    except DataDirMismatch as error:
        logging.getLogger("keyraft").error("refusing to start: %s", error)
        sys.exit(1)
    except Exception as error:  # e.g. the data dir is locked by another process
        logging.getLogger("keyraft").error("cannot open data dir %s: %s", config.data_dir, error)
        sys.exit(1)
    server = uvicorn.Server(client_server_config(front, config, ClientLimits()))
    logging.getLogger("keyraft").info(
        "serving client requests on %s (data dir %s)",
        ", ".join(config.listen_client_urls),
        config.data_dir,
    )
    listeners = [_SideServer(_server.peer_receiver, peer_sockets)]
    if metrics_sockets:
        from keyraft.app.metrics import metrics_app

        listeners.append(_SideServer(metrics_app(_server), metrics_sockets))
    tasks = [asyncio.create_task(listener.serve()) for listener in listeners]
    try:
        await server.serve(sockets=sockets)
    finally:
        for listener in listeners:
            listener.server.should_exit = True
        await asyncio.gather(*tasks)


if __name__ == "__main__":
    main()
