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
from keyraft.ctl.errors import EXIT_ERROR, EXIT_INTERRUPTED, CtlError
from keyraft.ctl.pflag import go_bool_args


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
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
    except click.ClickException as problem:
        problem.show()
        sys.exit(problem.exit_code)
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


if __name__ == "__main__":
    main()
