"""`version` and `completion`."""

from __future__ import annotations

import os

import click
from click.shell_completion import get_completion_class

from keyraft.ctl.context import IGNORES_ARGUMENTS, global_options

API_VERSION = "3.4"


def client_version() -> str:
    from importlib import metadata  # ~15 ms: only `version` pays for it

    try:
        return metadata.version("keyraft")
    except metadata.PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown"


@click.command("version", context_settings=IGNORES_ARGUMENTS)
@global_options()
def version() -> None:
    """Print the keyraftctl version and the etcd API version it speaks."""
    click.echo(f"keyraftctl version: {client_version()}")
    click.echo(f"API version: {API_VERSION}")


@click.command("completion")
@click.argument("shell", type=click.Choice(["bash", "zsh", "fish"]))
def completion(shell: str) -> None:
    """Print a shell completion script: `source <(keyraftctl completion bash)`."""
    root = click.get_current_context().find_root()
    completer = get_completion_class(shell)
    assert completer is not None
    script = completer(root.command, {}, "keyraftctl", "_KEYRAFTCTL_COMPLETE").source()
    click.echo(script)
    os.environ.pop("_KEYRAFTCTL_COMPLETE", None)
