"""`keyraftctl` entry point: the command tree, and errors turned into readable messages."""

from __future__ import annotations

import os
import signal
import sys

import click

from keyraft.ctl.commands.alarm import alarm
from keyraft.ctl.commands.auth import auth, role, user
from keyraft.ctl.commands.defrag import defrag
from keyraft.ctl.commands.elect import elect
from keyraft.ctl.commands.endpoint import endpoint
from keyraft.ctl.commands.kv import compaction, delete, get, put
from keyraft.ctl.commands.lease import lease
from keyraft.ctl.commands.lock import lock
from keyraft.ctl.commands.member import member, move_leader
from keyraft.ctl.commands.mirror import make_mirror
from keyraft.ctl.commands.misc import completion, version
from keyraft.ctl.commands.snapshot import snapshot
from keyraft.ctl.commands.txn import txn
from keyraft.ctl.commands.watch import watch
from keyraft.ctl.context import global_options, state
from keyraft.ctl.errors import EXIT_BAD_ARGS, EXIT_ERROR, EXIT_INTERRUPTED, CtlError
from keyraft.ctl.pflag import EtcdctlGroup, UnknownCommand, go_bool_args


@click.group(cls=EtcdctlGroup, context_settings={"help_option_names": ["-h", "--help"]})
@global_options(top_level=True)
def cli() -> None:
    """A command line client for keyraft (and etcd), in the manner of etcdctl."""
    state()


for command in (
    put,
    get,
    delete,
    txn,
    watch,
    compaction,
    lease,
    lock,
    elect,
    member,
    move_leader,
    make_mirror,
    endpoint,
    alarm,
    defrag,
    snapshot,
    user,
    role,
    auth,
    version,
    completion,
):
    cli.add_command(command)


def main(argv: list[str] | None = None) -> None:
    """Run the CLI; every failure becomes `Error: ...` on stderr and etcdctl's exit code."""
    # A shell without job control starts `keyraftctl lock k &` with SIGINT ignored, and
    # Python then never raises KeyboardInterrupt: a waiting lock ignored Ctrl-C. etcdctl
    # (Go's signal.Notify) takes SIGINT back in that case; so does keyraftctl.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        arguments = go_bool_args(cli, sys.argv[1:] if argv is None else argv)
        code = cli.main(args=arguments, prog_name="keyraftctl", standalone_mode=False)
        if isinstance(code, int):
            sys.exit(code)
    except click.exceptions.Exit as done:
        sys.exit(done.exit_code)
    except UnknownCommand as problem:
        _report(str(problem))
        print(f"Run '{problem.program} --help' for usage.", file=sys.stderr)
        sys.exit(EXIT_ERROR)
    except click.ClickException as problem:
        _report_parse_error(problem)
    except click.exceptions.Abort:
        sys.exit(EXIT_INTERRUPTED)
    except CtlError as problem:
        if str(problem):  # an empty one was already reported, line by line
            _report(str(problem))
        sys.exit(problem.exit_code)
    except KeyboardInterrupt:
        sys.exit(EXIT_INTERRUPTED)
    except BrokenPipeError:
        # The reader went away (`| head`); nothing left worth saying.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(EXIT_ERROR)
    except OSError as problem:
        _report(
            f"{problem.strerror or problem}{f': {problem.filename}' if problem.filename else ''}"
        )
        sys.exit(EXIT_ERROR)
    except Exception as problem:  # noqa: BLE001 - a user never gets a traceback
        if os.environ.get("KEYRAFTCTL_DEBUG"):
            raise
        _report(
            f"unexpected {type(problem).__name__}: {problem} (set KEYRAFTCTL_DEBUG=1 for details)"
        )
        sys.exit(EXIT_ERROR)


def _report(message: str) -> None:
    print(f"Error: {message}", file=sys.stderr, flush=True)


def _report_parse_error(problem: click.ClickException) -> None:
    """What pflag and cobra say of arguments click could not parse, with etcdctl's exit
    code: 1 and the command's usage for a flag (unknown, or a value it cannot take),
    128 for a missing argument (etcdctl checks its arguments itself: ExitBadArgs)."""
    context = getattr(problem, "ctx", None)
    if isinstance(problem, click.NoSuchOption):
        name = problem.option_name
        if name.startswith("--"):
            _report(f"unknown flag: {name}")
        else:
            _report(f"unknown shorthand flag: {name[1:2]!r} in {name}")
    elif isinstance(problem, click.MissingParameter):
        _report(problem.format_message())
        sys.exit(EXIT_BAD_ARGS)
    elif isinstance(problem, click.BadParameter):
        _report(
            problem.message if isinstance(problem.param, click.Option) else problem.format_message()
        )
    else:
        _report(problem.format_message())
    if context is not None:
        print(context.get_help(), file=sys.stderr)
    sys.exit(EXIT_ERROR)


if __name__ == "__main__":
    main()
