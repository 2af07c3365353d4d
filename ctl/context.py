"""Global flags (etcdctl's persistent flags) and the per-invocation state built from them.

etcdctl accepts its global flags before or after the command (`etcdctl get k -w json`),
so every command carries them too; a flag given on the command line wins over the same
flag given before the command, which wins over the environment, which wins over defaults.
Environment: KEYRAFTCTL_<FLAG> first, then etcdctl's ETCDCTL_<FLAG>.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import click
from click.core import ParameterSource

from keyraft.app.durations import parse_duration
from keyraft.ctl.client import ClientConfig, GatewayClient
from keyraft.ctl.errors import BadArguments, CtlError, UnsupportedFormat
from keyraft.ctl.gofmt import flag_error
from keyraft.ctl.output import FORMATS, Printer, make_printer
from keyraft.ctl.prompt import ask_password


def _env(name: str) -> list[str]:
    suffix = name.upper().replace("-", "_")
    return [f"KEYRAFTCTL_{suffix}", f"ETCDCTL_{suffix}"]


def _duration(values: dict[str, Any], name: str) -> float:
    try:
        return parse_duration(values[name])
    except ValueError as problem:  # pflag refuses it while parsing: ExitError
        raise CtlError(flag_error("--" + name.replace("_", "-"), values[name], problem)) from None


GLOBAL_OPTIONS: list[tuple[tuple[str, ...], dict[str, Any]]] = [
    (("--endpoints",), {"default": "127.0.0.1:2379", "help": "Comma-separated gateway endpoints; the next is tried when one is down."}),
    (("--dial-timeout",), {"default": "2s", "help": "Timeout for connecting to an endpoint (Go duration)."}),
    (("--command-timeout",), {"default": "5s", "help": "Timeout for a short command, excluding the dial."}),
    (("-w", "--write-out"), {"default": "simple", "help": f"Output format: {', '.join(FORMATS[:-1])}."}),
    (("--hex",), {"is_flag": True, "default": False, "help": "Print keys and values as hex escapes."}),
    (("--cacert",), {"default": None, "help": "Verify TLS servers with this CA bundle."}),
    (("--cert",), {"default": None, "help": "Identify this client with this TLS certificate."}),
    (("--key",), {"default": None, "help": "TLS key of --cert."}),
    # Plain flags (etcdctl's pflag booleans never take the next word as a value); `=false`
    # becomes the `--no-` form (ctl/pflag.py).
    (("--insecure-transport/--no-insecure-transport",), {"is_flag": True, "default": True, "help": "Disable transport security for endpoints without a scheme, unless TLS files are given."}),
    (("--insecure-skip-tls-verify",), {"is_flag": True, "default": False, "help": "Skip server certificate verification (testing only)."}),
    (("--keepalive-time",), {"default": "2s", "help": "Accepted as etcdctl's (HTTP connections are kept alive by the client)."}),
    (("--keepalive-timeout",), {"default": "6s", "help": "Accepted as etcdctl's (HTTP connections are kept alive by the client)."}),
    (("--debug",), {"is_flag": True, "default": False, "help": "Print the settings in use and each HTTP request to stderr."}),
    (("-d", "--discovery-srv"), {"default": "", "help": "Domain name to query for SRV records (not supported: give --endpoints)."}),
    (("--discovery-srv-name",), {"default": "", "help": "Service name to query with --discovery-srv (not supported)."}),
    (("--insecure-discovery/--no-insecure-discovery",), {"is_flag": True, "default": True, "help": "Accept SRV records that describe insecure endpoints (not supported)."}),
    (("--user",), {"default": None, "help": "username[:password] for authentication (prompt if password is not supplied)."}),
    (("--password",), {"default": None, "help": "Password for authentication (--user then holds no password)."}),
]  # fmt: skip


@dataclass
class State:
    """Everything a command needs: the merged global settings, a client, a printer."""

    values: dict[str, Any] = field(default_factory=dict)
    _client: GatewayClient | None = None

    def config(self) -> ClientConfig:
        self._refuse_unsupported()
        if self.values.get("debug"):
            self._debug()
        endpoints = tuple(
            item.strip() for item in str(self.values["endpoints"]).split(",") if item.strip()
        )
        user, password = self.values.get("user"), self.values.get("password")
        if user and not password:  # etcdctl: `--user name:password`, else a prompt
            if ":" in user:
                user, password = user.split(":", 1)
            else:
                password = ask_password("Password: ")
        return ClientConfig(
            endpoints=endpoints,
            dial_timeout=_duration(self.values, "dial_timeout"),
            command_timeout=_duration(self.values, "command_timeout"),
            cacert=self.values.get("cacert"),
            cert=self.values.get("cert"),
            key=self.values.get("key"),
            insecure_skip_tls_verify=bool(self.values.get("insecure_skip_tls_verify")),
            insecure_transport=bool(self.values.get("insecure_transport", True)),
            user=user,
            password=password,
        )

    def _refuse_unsupported(self) -> None:
        """What etcdctl does and keyraftctl cannot, refused before anything is sent."""
        if self.values.get("discovery_srv"):
            raise CtlError(
                "--discovery-srv: DNS SRV discovery is not supported by keyraftctl; "
                "give the members with --endpoints"
            )
        self._check_output()
        if self.values.get("write_out") == "protobuf":
            raise UnsupportedFormat(
                "protobuf not supported as output format (keyraftctl speaks etcd's JSON "
                "gateway; -w json prints the same messages)"
            )

    def _debug(self) -> None:
        """etcdctl's --debug: every global setting as ETCDCTL_* lines, then (here) each
        HTTP request and its answer's status, on stderr."""
        for name in sorted(self.values):
            value = self.values[name]
            if name == "endpoints":
                value = "[" + " ".join(str(value).split(",")) + "]"
            elif isinstance(value, bool):
                value = str(value).lower()
            elif name == "password" and value:
                value = "***"  # etcdctl prints it; a debug log is no place for a password
            shown = "" if value is None else value
            print(f"ETCDCTL_{name.upper()}={shown}", file=sys.stderr)
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(levelname)s: %(message)s"))
        for name in ("httpx", "httpcore"):
            logger = logging.getLogger(name)
            logger.setLevel(logging.DEBUG if name == "httpx" else logging.INFO)
            logger.addHandler(handler)

    @property
    def client(self) -> GatewayClient:
        if self._client is None:
            self._client = GatewayClient(self.config())
        return self._client

    def _check_output(self) -> None:
        if self.values["write_out"] not in FORMATS:  # etcdctl checks it as it dials
            raise UnsupportedFormat("unsupported output format")

    def printer(self, value_only: bool = False) -> Printer:
        self._check_output()
        return make_printer(self.values["write_out"], bool(self.values["hex"]), value_only)

    @property
    def output(self) -> str:
        return str(self.values["write_out"])

    def close(self) -> None:
        if self._client is not None:
            self._client.close()


# etcdctl's commands that never look at their arguments (member list, endpoint ..., lease
# list, version) run whatever follows them
IGNORES_ARGUMENTS = {"allow_extra_args": True}


def usage(message: str) -> BadArguments:
    """etcdctl's ExitBadArgs error with its message: `Error: ...`, exit 128, no usage."""
    return BadArguments(message)


def state() -> State:
    context = click.get_current_context()
    root = context.find_root()
    current = root.ensure_object(State)
    if not getattr(root, "_keyraft_close_registered", False):
        root.call_on_close(current.close)
        root._keyraft_close_registered = True  # type: ignore[attr-defined]
    return current


def _store(top_level: bool) -> Callable[[click.Context, click.Parameter, Any], Any]:
    def store(context: click.Context, parameter: click.Parameter, value: Any) -> Any:
        assert parameter.name is not None
        source = context.get_parameter_source(parameter.name)
        target = context.find_root().ensure_object(State)
        if top_level or source in (ParameterSource.COMMANDLINE, ParameterSource.ENVIRONMENT):
            target.values[parameter.name] = value
        return value

    return store


def global_options(top_level: bool = False) -> Callable[[Callable], Callable]:
    """Attach the global flags; only the top level reads the environment."""

    def decorate(function: Callable) -> Callable:
        for declarations, settings in reversed(GLOBAL_OPTIONS):
            options = dict(settings)
            if top_level:
                options["envvar"] = _env(declarations[-1].lstrip("-"))
                options["show_default"] = "default" in options and options["default"] not in (
                    None,
                    False,
                )
            else:
                options["hidden"] = True
            function = click.option(
                *declarations, expose_value=False, callback=_store(top_level), **options
            )(function)
        return function

    return decorate
