"""The errors `keyraftctl` reports, each carrying the exit code etcdctl would use.

`main` turns every one of them into a one-line `Error: ...` message, so a person never
sees a Python traceback.
"""

from __future__ import annotations

EXIT_ERROR = 1  # also what pflag and cobra exit with: an unknown flag or command, a bad value
EXIT_BAD_CONNECTION = 2  # etcdctl's ExitBadConnection (the client could not be set up)
EXIT_INVALID_INPUT = 3  # etcdctl's ExitInvalidInput (bad txn text)
EXIT_BAD_FEATURE = 4  # etcdctl's ExitBadFeature (`-w table` where it has no table)
EXIT_BAD_ARGS = 128  # etcdctl's ExitBadArgs: a wrong number of arguments, one it cannot parse
EXIT_INTERRUPTED = 5


class CtlError(Exception):
    """Something went wrong that the user should read about."""

    exit_code = EXIT_ERROR


class InvalidInput(CtlError):
    """Text read from stdin (txn, watch -i) does not parse."""

    exit_code = EXIT_INVALID_INPUT


class ServerError(CtlError):
    """The server answered with an etcd error (`etcdserver: ...`)."""

    def __init__(self, message: str, code: int = 0, http_status: int = 0) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.http_status = http_status


class BadArguments(CtlError):
    """etcdctl's ExitBadArgs: the arguments a command got are not what it takes."""

    exit_code = EXIT_BAD_ARGS


class UnsupportedFormat(CtlError):
    """The output format has nothing for this command (etcdctl: `table not supported ...`)."""

    exit_code = EXIT_BAD_FEATURE


class BadFeature(CtlError):
    """A flag value etcdctl rejects with ExitBadFeature (`unknown consistency flag`)."""

    exit_code = EXIT_BAD_FEATURE


class AuthenticationFailed(ServerError):
    """`--user` was refused; etcdctl fails while dialing, so with ExitBadConnection."""

    exit_code = EXIT_BAD_CONNECTION


class EndpointsUnreachable(CtlError):
    """No endpoint answered; says which ones were tried and why each failed."""

    def __init__(self, attempts: list[tuple[str, str]]) -> None:
        self.attempts = attempts
        tried = "; ".join(f"{endpoint}: {reason}" for endpoint, reason in attempts)
        super().__init__(f"no endpoint could be reached (tried {tried})")


class CommandTimeout(CtlError):
    """The request was sent but no answer came within --command-timeout."""
