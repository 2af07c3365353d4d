"""HTTP client for etcd's JSON gateway, with etcdctl's endpoint failover.

Unary calls go to the endpoint that last answered; when it cannot be reached (or answers
Unavailable) the next endpoint is tried, so `--endpoints a,b,c` keeps working while one
member is down. A request that was sent but timed out is NOT retried elsewhere: it may have
been applied, and retrying a put or txn would apply it twice.
"""

from __future__ import annotations

import base64
import ssl
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import httpx
import orjson

from keyraft.ctl.errors import (
    EXIT_BAD_ARGS,
    AuthenticationFailed,
    CommandTimeout,
    CtlError,
    EndpointsUnreachable,
    ServerError,
)

GRPC_UNAVAILABLE = 14
AUTH_NOT_ENABLED = "etcdserver: authentication is not enabled"
INVALID_TOKEN = "etcdserver: invalid auth token"


@dataclass(frozen=True, slots=True)
class ClientConfig:
    """Connection settings taken from the global flags."""

    endpoints: tuple[str, ...] = ("127.0.0.1:2379",)
    dial_timeout: float = 2.0
    command_timeout: float = 5.0
    cacert: str | None = None
    cert: str | None = None
    key: str | None = None
    insecure_skip_tls_verify: bool = False
    insecure_transport: bool = True
    user: str | None = None
    password: str | None = None

    @property
    def urls(self) -> list[str]:
        """Endpoints as URLs; a bare `host:port` gets https when TLS files are given or
        --insecure-transport=false (etcdctl's rule; --insecure-skip-tls-verify alone
        does not turn TLS on)."""
        secure = self.cacert or self.cert or self.key or not self.insecure_transport
        scheme = "https" if secure else "http"
        return [
            endpoint.rstrip("/") if "://" in endpoint else f"{scheme}://{endpoint}"
            for endpoint in self.endpoints
        ]


def b64(data: bytes | str) -> str:
    raw = data.encode() if isinstance(data, str) else data
    return base64.b64encode(raw).decode()


def unb64(text: str | None) -> bytes:
    return base64.b64decode(text) if text else b""


class _LazyTLS(httpx.BaseTransport):
    """An HTTPS transport whose TLS context is built on its first request."""

    def __init__(self, build: Callable[[], ssl.SSLContext]) -> None:
        self._build = build
        self._inner: httpx.HTTPTransport | None = None

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if self._inner is None:
            self._inner = httpx.HTTPTransport(verify=self._build())
        return self._inner.handle_request(request)

    def close(self) -> None:
        if self._inner is not None:
            self._inner.close()


@dataclass
class GatewayClient:
    """Talks to one cluster through any of its endpoints."""

    config: ClientConfig
    _current: int = 0
    _tokens: dict[str, str] = field(default_factory=dict)
    _http: httpx.Client | None = None

    @property
    def http(self) -> httpx.Client:
        if self._http is None:
            config = self.config
            if config.cacert or config.cert or any(u.startswith("https:") for u in self.endpoints):
                self._http = httpx.Client(verify=self._tls(), trust_env=False)
            else:
                # Loading the system's CAs takes ~0.1 s, a third of a short command: only
                # an https URL met later (a member's, with --cluster) pays for it.
                self._http = httpx.Client(
                    transport=_LazyTLS(self._tls),
                    mounts={"http://": httpx.HTTPTransport(verify=False)},
                    trust_env=False,
                )
        return self._http

    def _tls(self) -> ssl.SSLContext:
        """etcdctl's TLS: servers verified with --cacert (else the system's CAs) unless
        --insecure-skip-tls-verify; --cert/--key shown to servers that ask. (httpx 0.28
        drops `cert=` when `verify` is a path, so the context is built here.)"""
        config = self.config
        try:
            if config.insecure_skip_tls_verify:
                context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
                context.check_hostname = False
                context.verify_mode = ssl.CERT_NONE
            else:
                context = ssl.create_default_context(cafile=config.cacert)
            if config.cert:
                context.load_cert_chain(config.cert, config.key)
        except OSError as problem:  # etcdctl: "open <file>: no such file or directory"
            reason = problem.strerror or str(problem)
            raise TLSFilesUnreadable(
                f"open {problem.filename or config.cacert}: {reason.lower()}"
            ) from None
        return context

    def close(self) -> None:
        if self._http is not None:
            self._http.close()
            self._http = None

    @property
    def endpoints(self) -> list[str]:
        return self.config.urls

    def _timeout(self, read: float | None) -> httpx.Timeout:
        return httpx.Timeout(
            self.config.command_timeout, connect=self.config.dial_timeout, read=read
        )

    def _rotation(self) -> list[str]:
        urls = self.endpoints
        return urls[self._current :] + urls[: self._current]

    def _remember(self, endpoint: str) -> None:
        self._current = self.endpoints.index(endpoint)

    def skip_current(self) -> None:
        """Move on from the endpoint in use (its stream broke): the next attempt goes elsewhere."""
        self._current = (self._current + 1) % len(self.endpoints)

    def call(self, path: str, body: dict | None = None, waits: bool = False) -> dict:
        """POST `body` to `path` on the first endpoint that answers; `waits`: the answer
        may take any time (lock, campaign), so --command-timeout does not apply.

        A token the server no longer knows (simple tokens expire) is renewed once, as
        clientv3 does.
        """
        try:
            return self._call(path, body, waits)
        except ServerError as problem:
            if problem.message != INVALID_TOKEN or not self._tokens:
                raise
            self._tokens.clear()
            return self._call(path, body, waits)

    def _call(self, path: str, body: dict | None, waits: bool) -> dict:
        attempts: list[tuple[str, str]] = []
        for endpoint in self._rotation():
            try:
                answer = self.call_at(endpoint, path, body, waits)
            except _Unreachable as problem:
                attempts.append((endpoint, str(problem)))
                continue
            self._remember(endpoint)
            return answer
        raise EndpointsUnreachable(attempts)

    def call_at(
        self, endpoint: str, path: str, body: dict | None = None, waits: bool = False
    ) -> dict:
        """POST to one endpoint; raises `_Unreachable` when it could not be reached."""
        try:
            response = self.http.post(
                endpoint + path,
                content=orjson.dumps(body or {}),
                headers=self._headers(endpoint),
                timeout=self._timeout(None if waits else self.config.command_timeout),
            )
        except httpx.TimeoutException as problem:
            if isinstance(problem, httpx.ConnectTimeout | httpx.PoolTimeout):
                raise _Unreachable(f"no connection within {self.config.dial_timeout:g}s") from None
            raise CommandTimeout(
                f"{endpoint} did not answer within --command-timeout "
                f"({self.config.command_timeout:g}s)"
            ) from None
        except httpx.HTTPError as problem:
            raise _Unreachable(_describe(problem)) from None
        return _decode(response)

    def get_at(self, endpoint: str, path: str) -> dict:
        """GET a plain JSON document (`/version`, `/health`) from one endpoint."""
        try:
            response = self.http.get(
                endpoint + path, timeout=self._timeout(self.config.command_timeout)
            )
        except httpx.HTTPError as problem:
            raise _Unreachable(_describe(problem)) from None
        return _decode(response)

    def get(self, path: str) -> dict:
        attempts: list[tuple[str, str]] = []
        for endpoint in self._rotation():
            try:
                answer = self.get_at(endpoint, path)
            except _Unreachable as problem:
                attempts.append((endpoint, str(problem)))
                continue
            self._remember(endpoint)
            return answer
        raise EndpointsUnreachable(attempts)

    @contextmanager
    def stream(self, path: str, body: dict) -> Iterator[tuple[str, Iterator[dict]]]:
        """Open a gateway stream (watch, keepalive) on the first endpoint that accepts it.

        Yields the endpoint used and an iterator of the `result` objects; a broken
        connection surfaces as `StreamBroken` so the caller can resume elsewhere.
        """
        attempts: list[tuple[str, str]] = []
        for endpoint in self._rotation():
            try:
                request = self.http.build_request(
                    "POST",
                    endpoint + path,
                    content=orjson.dumps(body),
                    headers=self._headers(endpoint),
                    timeout=self._timeout(None),
                )
                response = self.http.send(request, stream=True)
            except (httpx.HTTPError, _Unreachable) as problem:
                attempts.append((endpoint, _describe(problem)))
                continue
            try:
                if response.status_code != 200:
                    response.read()
                    _decode(response)
                self._remember(endpoint)
                yield endpoint, _messages(response)
            finally:
                response.close()
            return
        raise EndpointsUnreachable(attempts)

    def _headers(self, endpoint: str) -> dict[str, str]:
        headers = {"Content-Type": "application/json"}
        token = self._token(endpoint)
        if token:
            headers["Authorization"] = token
        return headers

    def _token(self, endpoint: str) -> str:
        """Authenticate once per endpoint: simple tokens are only valid on their member.

        As clientv3: only with both a user and a password, and a server without auth
        enabled is used without a token. A refusal fails the command with exit code 2.
        """
        if not (self.config.user and self.config.password):
            return ""
        if endpoint not in self._tokens:
            try:
                response = self.http.post(
                    endpoint + "/v3/auth/authenticate",
                    content=orjson.dumps(
                        {"name": self.config.user, "password": self.config.password or ""}
                    ),
                    timeout=self._timeout(self.config.command_timeout),
                )
            except httpx.HTTPError as problem:
                raise _Unreachable(_describe(problem)) from None
            try:
                self._tokens[endpoint] = _decode(response).get("token", "")
            except ServerError as problem:
                if problem.message != AUTH_NOT_ENABLED:
                    raise AuthenticationFailed(
                        problem.message, problem.code, problem.http_status
                    ) from None
                self._tokens[endpoint] = ""
        return self._tokens[endpoint]


class TLSFilesUnreadable(CtlError):
    """--cacert, --cert or --key cannot be read (etcdctl exits with ExitBadArgs)."""

    exit_code = EXIT_BAD_ARGS


class _Unreachable(CtlError):
    """One endpoint could not be reached; the caller tries the next."""


class StreamBroken(CtlError):
    """An open stream ended or failed; the caller may resume on another endpoint."""


def _messages(response: httpx.Response) -> Iterator[dict]:
    try:
        for line in response.iter_lines():
            if not line.strip():
                continue
            message = orjson.loads(line)
            if "error" in message:
                error = message["error"]
                raise ServerError(
                    error.get("message", str(error)),
                    int(error.get("grpc_code", 0) or 0),
                    int(error.get("http_code", 0) or 0),
                )
            yield message.get("result", {})
    except httpx.HTTPError as problem:
        raise StreamBroken(_describe(problem)) from None
    raise StreamBroken("the server closed the stream")


def _decode(response: httpx.Response) -> dict:
    try:
        document = orjson.loads(response.content) if response.content else {}
    except orjson.JSONDecodeError:
        document = None
    if response.status_code == 200 and isinstance(document, dict):
        return document
    if isinstance(document, dict) and ("message" in document or "error" in document):
        message = document.get("message") or document.get("error")
        code = int(document.get("code", 0) or 0)
        if code == GRPC_UNAVAILABLE:
            raise _Unreachable(str(message))
        raise ServerError(str(message), code, response.status_code)
    text = response.text.strip() or response.reason_phrase
    raise ServerError(
        f"unexpected answer from {response.url}: {response.status_code} {text}",
        http_status=response.status_code,
    )


def _describe(problem: Exception) -> str:
    """A short reason such as `connection refused`, without httpx's class names."""
    text = str(problem) or type(problem).__name__
    lowered = text.lower()
    if "connection refused" in lowered or "errno 111" in lowered:
        return "connection refused"
    if isinstance(problem, httpx.TimeoutException):
        return "timed out"
    if "name or service not known" in lowered or "nodename nor servname" in lowered:
        return "unknown host"
    return text
