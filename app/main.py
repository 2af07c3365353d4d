"""`keyraft`: the server entry point, taking etcd's flags (and KEYRAFT_* or ETCD_* variables)."""

from __future__ import annotations

import asyncio
import contextlib
import faulthandler
import logging
import os
import socket
import ssl
import sys
import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import click

from keyraft.app.config import KEYRAFT_VERSION, ConfigError, ServerConfig, check_url, validate
from keyraft.app.config_file import ConfigFileError, flags_from_file
from keyraft.app.durations import GoDuration
from keyraft.app.environment import accept_etcd_variables, report_etcd_variables
from keyraft.app.etcd_flags import etcd_only_flags, pop_etcd_only_flags
from keyraft.app.logs import LEVELS as LOG_LEVELS
from keyraft.app.logs import LogConfigError
from keyraft.app.logs import configure as configure_logs
from keyraft.app.scheduling import POLICIES, apply_cpu_scheduling

if TYPE_CHECKING:  # uvicorn loads only when serving: --help and --version stay quick
    import uvicorn

    from keyraft.app.asgi import KeyraftFront
    from keyraft.app.connections import ClientLimits
    from keyraft.app.server.etcdserver import EtcdServer

EXIT_POLL_S = 0.1  # uvicorn checks its own exit flag as often
# How long a stopping member lets unary requests in flight finish (a lock wait may not).
GRACEFUL_SHUTDOWN_S = 3.0
SHUTDOWN_LIMIT_S = 10.0  # after which a stopping member exits at once


def _urls(value: str) -> list[str]:
    return [item.strip() for item in value.split(",") if item.strip()]


def _bool_flag(name: str, help: str) -> Callable[[Callable], Callable]:
    """A Go-style boolean flag: `--auto-tls`, `--auto-tls=true` and `--auto-tls=false`."""
    return click.option(
        name, type=click.BOOL, is_flag=False, flag_value=True, default=False, help=help
    )


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--name", default="default", show_default=True, help="Human-readable name for this member."
)
@click.option(
    "--data-dir", default="", help="Path to the data directory [default: <name>.keyraft]."
)
@click.option(
    "--wal-dir",
    default="",
    help="Path to a dedicated WAL directory [default: <data-dir>/member/wal].",
)
@_bool_flag(
    "--force-new-cluster",
    "Force to create a new one member cluster: restart a surviving member alone, keeping "
    "its data (disaster recovery).",
)
@_bool_flag(
    "--enable-pprof",
    "Serve runtime diagnostics under /debug/pprof/ on the client URLs (task stacks, "
    "tracemalloc heap, CPU profile).",
)
@click.option(
    "--cpu-scheduling",
    default="batch",
    show_default=True,
    type=click.Choice(POLICIES),
    help="Linux scheduling policy of the member's threads: 'batch' (SCHED_BATCH: a woken "
    "thread does not preempt a running one; fewer context switches under load) or 'normal'.",
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
    "--strict-reconfig-check",
    type=click.BOOL,
    is_flag=False,
    flag_value=True,
    default=True,
    show_default=True,
    help="Reject reconfiguration requests that would cause quorum loss.",
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
@_bool_flag("--client-cert-auth", "Enable client cert authentication.")
@_bool_flag("--auto-tls", "Client TLS using generated certificates.")
@click.option("--cert-file", default="", help="Path to the client server TLS cert file.")
@click.option("--key-file", default="", help="Path to the client server TLS key file.")
@click.option(
    "--trusted-ca-file",
    default="",
    help="Path to the client server TLS trusted CA cert file (client certificates are then required, as in etcd).",
)
@_bool_flag("--peer-client-cert-auth", "Enable peer client cert authentication.")
@_bool_flag(
    "--peer-auto-tls",
    "Peer TLS using self-generated certificates if --peer-key-file and --peer-cert-file are not provided.",
)
@click.option("--peer-cert-file", default="", help="Path to the peer server TLS cert file.")
@click.option("--peer-key-file", default="", help="Path to the peer server TLS key file.")
@click.option(
    "--peer-trusted-ca-file", default="", help="Path to the peer server TLS trusted CA file."
)
@click.option(
    "--cipher-suites",
    default="",
    help="Comma-separated list of supported TLS 1.2 cipher suites (Go's names) between client/server and peers (empty: OpenSSL's defaults).",
)
@click.option(
    "--tls-min-version",
    default="TLS1.2",
    show_default=True,
    help="Minimum TLS version supported: TLS1.2 or TLS1.3.",
)
@click.option(
    "--self-signed-cert-validity",
    default=1,
    show_default=True,
    type=int,
    help="Validity (years) of the certificates --auto-tls and --peer-auto-tls generate.",
)
@click.option(
    "--cors",
    default="*",
    show_default=True,
    help="Comma-separated whitelist of origins for CORS, or cross-origin resource sharing, (empty or * means allow all).",
)
@click.option(
    "--host-whitelist",
    default="*",
    show_default=True,
    help="Acceptable hostnames from HTTP client requests, if server is not secure (empty or * means allow all).",
)
@click.option(
    "--experimental-watch-progress-notify-interval",
    default="10m",
    type=GoDuration(),
    show_default=True,
    help="Duration of periodic watch progress notifications (a Go duration).",
)
@click.option(
    "--experimental-initial-corrupt-check",
    is_flag=False,
    flag_value="true",
    type=click.BOOL,
    default=False,
    help="Enable to check data corruption before serving any client/peer traffic.",
)
@click.option(
    "--experimental-corrupt-check-time",
    default="0s",
    type=GoDuration(),
    show_default=True,
    help="Duration of time between cluster corruption check passes (a Go duration; 0 turns it off).",
)
@click.option(
    "--debug",
    is_flag=False,
    flag_value="true",
    type=click.BOOL,
    default=False,
    help="Enable debug-level logging (as --log-level debug).",
)
@click.option(
    "--config-file",
    default="",
    help="Path to etcd's YAML configuration file; when given, other flags and environment "
    "variables are ignored (as etcd).",
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
@etcd_only_flags
def main(**flags: object) -> None:
    """keyraft: an etcd v3 compatible, strongly consistent key-value store."""
    config_file = str(flags.get("config_file") or "")
    if config_file:
        try:
            flags = flags_from_file(config_file, click.get_current_context())
        except ConfigFileError as error:
            raise click.UsageError(f"--config-file: {error}") from None
    ignored = pop_etcd_only_flags(dict(flags))  # refused ones stop here; warnings logged below
    config = config_from_flags(flags)
    try:
        validate(config)
    except ConfigError as error:
        raise click.UsageError(str(error)) from None
    try:
        configure_logs(config.logger, config.log_outputs, config.log_format, config.log_level)
    except LogConfigError as error:
        raise click.UsageError(str(error)) from None
    if config.enable_pprof:  # from the start, so that the heap profile sees start-up too
        from keyraft.app.profiling import start_tracing

        start_tracing()
    for warning in ignored:
        logging.getLogger("keyraft.flags").warning(warning)
    not_set = apply_cpu_scheduling(config.cpu_scheduling)  # before any thread starts
    if not_set is not None:
        logging.getLogger("keyraft.flags").warning("--cpu-scheduling: %s", not_set)
    logging.getLogger("keyraft.flags").debug("settings in use: %s", config)
    if config_file:
        logging.getLogger("keyraft.flags").info(
            'Loading server configuration from "%s". Other configuration command line flags '
            "and environment variables will be ignored if provided.",
            config_file,
        )
    else:
        report_etcd_variables(click.get_current_context(), os.environ)
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


accept_etcd_variables(main)

_URL_FLAGS = (
    "listen_client_urls",
    "advertise_client_urls",
    "listen_peer_urls",
    "initial_advertise_peer_urls",
    "listen_metrics_urls",
)
_LIST_FLAGS = ("cipher_suites", "cors", "host_whitelist")
_RENAMED = {
    "experimental_watch_progress_notify_interval": "watch_progress_notify_interval_s",
    "experimental_corrupt_check_time": "corrupt_check_time_s",
    "experimental_initial_corrupt_check": "initial_corrupt_check",
    "heartbeat_interval": "heartbeat_interval_ms",
    "election_timeout": "election_timeout_ms",
}


def config_from_flags(flags: dict) -> ServerConfig:
    """The configuration a command line (or the KEYRAFT_*/ETCD_* environment) asks for."""
    values = {
        _RENAMED.get(name, name): value for name, value in flags.items() if name != "config_file"
    }
    pop_etcd_only_flags(values)
    if values.pop("debug", False):
        values["log_level"] = "debug"
    for name in _URL_FLAGS:
        values[name] = _urls(str(values[name]))
    for name in _LIST_FLAGS:
        values[name] = tuple(_urls(str(values[name])))
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


def _quiet(config: uvicorn.Config) -> uvicorn.Server:
    """A uvicorn server without its own signal handling: the peer listener, and a
    client listener of a second scheme (the main client server's shutdown stops them)."""
    import uvicorn

    class Server(uvicorn.Server):
        @contextlib.contextmanager
        def capture_signals(self):
            yield

    return Server(config)


def _tls(context: ssl.SSLContext | None) -> dict:
    """uvicorn's settings serving `context` (uvicorn builds its own context otherwise)."""
    return {} if context is None else {"ssl_context_factory": lambda _config, _default: context}


def peer_server_config(
    app, context: ssl.SSLContext | None, protocol: type | str = "auto"
) -> uvicorn.Config:
    """A side listener's configuration: the peer port (whose protocol takes Raft
    streams itself: `app.peer_stream`), or (plain) the metrics port."""
    import uvicorn

    return uvicorn.Config(
        app,
        http=protocol,
        lifespan="off",
        log_config=None,
        log_level=logging.WARNING,
        access_log=False,
        server_header=False,
        timeout_keep_alive=30,
        # Another member's Raft stream never ends by itself: a stopping member cuts it.
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S,
        **_tls(context),
    )


def _lean(front: KeyraftFront, config: ServerConfig) -> KeyraftFront | None:
    """The front when its unary RPCs may be answered without ASGI (app.lean): not under
    --cors or --host-whitelist lists (checked per request), nor with debug access logs."""
    plain = front.fast_path and front.cors is None and front.hosts is None
    return front if plain and config.log_level != "debug" else None


def client_server_config(
    front: KeyraftFront,
    config: ServerConfig,
    limits: ClientLimits,
    context: ssl.SSLContext | None = None,
    lifespan: str = "on",
    listeners: Sequence[socket.socket] = (),
) -> uvicorn.Config:
    """uvicorn's configuration for the client listener, with keyraft's client limits;
    `listeners`: the sockets it will serve (its connections help accept bursts)."""
    import uvicorn

    from keyraft.app.asgi import allows_all
    from keyraft.app.connections import guarded_protocol

    front.body_timeout_s = limits.body_timeout_s
    return uvicorn.Config(
        front,
        lifespan=lifespan,
        log_config=None,
        log_level=logging.WARNING if config.log_level != "debug" else logging.DEBUG,
        access_log=config.log_level == "debug",
        server_header=False,
        date_header=True,
        proxy_headers=False,  # no proxy in front by default: do not trust X-Forwarded-*
        timeout_keep_alive=limits.idle_timeout_s,
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S,
        loop="uvloop",
        http=guarded_protocol(limits, allows_all(config.cors), _lean(front, config), listeners),
        **_tls(context),
    )


def _by_scheme(urls: list[str], sockets: list[socket.socket]) -> dict[str, list[socket.socket]]:
    """Listeners grouped by scheme: uvicorn's TLS setting is per server, so a member
    serving http and https URLs (as etcd can) runs one server for each."""
    groups: dict[str, list[socket.socket]] = {}
    for url, listener in zip(urls, sockets, strict=True):
        groups.setdefault(urlsplit(url).scheme, []).append(listener)
    return groups


def _listener_contexts(
    server: EtcdServer, config: ServerConfig
) -> tuple[ssl.SSLContext | None, ssl.SSLContext | None]:
    """The client and peer listeners' TLS contexts (None where no URL is https)."""
    from keyraft.app.server.tls import server_context, uses_https

    client = server_context(server.client_tls) if uses_https(config.listen_client_urls) else None
    peer = server_context(server.peer_tls) if uses_https(config.listen_peer_urls) else None
    return client, peer


async def _end_streams_on_exit(server: uvicorn.Server, member: EtcdServer) -> None:
    """Once uvicorn is asked to stop (a signal, or this member's removal), end the
    member's streams: uvicorn waits for every answer to finish, and a watch never does."""
    while not server.should_exit:
        await asyncio.sleep(EXIT_POLL_S)
    member.closing.set()
    log = logging.getLogger("keyraft")
    log.info("stopping")
    watchdog = threading.Timer(SHUTDOWN_LIMIT_S, _stop_now, (log,))
    watchdog.daemon = True
    watchdog.start()


def _stop_now(log: logging.Logger) -> None:
    """A stop that did not finish in time ends the process where it stands (as a crash
    would: every acknowledged write is already on disk), after logging every thread's
    stack, so that the wait can be found and fixed."""
    log.error(
        "stopping took over %.0f s: exiting now; the threads' stacks follow", SHUTDOWN_LIMIT_S
    )
    faulthandler.dump_traceback(all_threads=True)
    os._exit(1)


async def _serve(
    config: ServerConfig,
    sockets: list[socket.socket],
    peer_sockets: list[socket.socket],
    metrics_sockets: list[socket.socket],
) -> None:
    import uvicorn

    from keyraft.app.collector import settle_after_startup
    from keyraft.app.connections import ClientLimits
    from keyraft.app.factory import create_app
    from keyraft.app.peer_stream import peer_stream_protocol
    from keyraft.app.server.corruption import DataInconsistency
    from keyraft.app.server.peers import JoinError
    from keyraft.app.server.state_machine import DataDirMismatch

    log = logging.getLogger("keyraft")
    try:
        front, _server = create_app(config)
    except (DataDirMismatch, ConfigError) as error:  # ConfigError: unreadable TLS files
        log.error("refusing to start: %s", error)
        sys.exit(1)
    except JoinError as error:
        log.error("cannot join the cluster: %s", error)
        sys.exit(1)
    except Exception as error:  # e.g. the data dir is locked by another process
        log.error("cannot open data dir %s: %s", config.data_dir, error)
        sys.exit(1)
    try:
        await _server.check_initial_hashes()
    except DataInconsistency as error:
        log.error("refusing to start: %s", error)
        _server.close()
        sys.exit(1)
    try:
        client_tls, peer_tls = _listener_contexts(_server, config)
    except ConfigError as error:  # a missing or unreadable cert, key or CA
        log.error("refusing to start: %s", error)
        _server.close()
        sys.exit(1)
    limits = ClientLimits()
    client_groups = _by_scheme(config.listen_client_urls, sockets)
    (main_scheme, main_sockets), *other_clients = client_groups.items()
    context = {"http": None, "https": client_tls}
    server = uvicorn.Server(
        client_server_config(front, config, limits, context[main_scheme], "on", main_sockets)
    )
    companions = [
        (_quiet(client_server_config(front, config, limits, context[scheme], "off", group)), group)
        for scheme, group in other_clients
    ]
    peer_context = {"http": None, "https": peer_tls}
    streams = peer_stream_protocol(_server.peer_receiver.receiver)
    companions += [
        (_quiet(peer_server_config(_server.peer_receiver, peer_context[scheme], streams)), group)
        for scheme, group in _by_scheme(config.listen_peer_urls, peer_sockets).items()
    ]
    if metrics_sockets:
        from keyraft.app.metrics import metrics_app

        companions.append((_quiet(peer_server_config(metrics_app(_server), None)), metrics_sockets))
    frozen = settle_after_startup()
    log.debug("%d objects frozen out of garbage collection", frozen)
    log.info(
        "serving client requests on %s (data dir %s)",
        ", ".join(config.listen_client_urls),
        config.data_dir,
    )
    tasks = [asyncio.create_task(other.serve(sockets=group)) for other, group in companions]
    # A member removed from the cluster stops, as etcd's does.
    _server.on_removed = lambda: setattr(server, "should_exit", True)
    closer = asyncio.create_task(_end_streams_on_exit(server, _server))
    try:
        await server.serve(sockets=main_sockets)
    finally:
        closer.cancel()
        for other, _group in companions:
            other.should_exit = True
        await asyncio.gather(*tasks, return_exceptions=True)
        log.info("stopped")


if __name__ == "__main__":
    main()
