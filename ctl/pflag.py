"""pflag's boolean syntax (`--prefix=true`, `-i=false`) for every click flag, as etcdctl
accepts it: click alone only knows `--flag` and `--no-flag`."""

from __future__ import annotations

import click

GO_BOOLS = {"1": True, "t": True, "true": True, "0": False, "f": False, "false": False}


def _flags(command: click.Command) -> dict[str, click.Option]:
    return {
        name: option
        for option in command.params
        if isinstance(option, click.Option) and option.is_flag and not option.count
        for name in option.opts
    }


def go_bool_args(root: click.Command, args: list[str]) -> list[str]:
    """Rewrite `NAME=BOOL` for the boolean flags of `root` and the subcommands named in
    `args`: true becomes the flag, false its `--no-` form or nothing."""
    flags = _flags(root)
    command = root
    rewritten: list[str] = []
    for index, argument in enumerate(args):
        if argument == "--":
            return rewritten + args[index:]
        if isinstance(command, click.Group) and argument in command.commands:
            command = command.commands[argument]
            flags = {**flags, **_flags(command)}
        name, equals, value = argument.partition("=")
        option = flags.get(name) if equals else None
        if option is None or value.lower() not in GO_BOOLS:
            rewritten.append(argument)
        elif GO_BOOLS[value.lower()]:
            rewritten.append(name)
        elif option.secondary_opts:
            rewritten.append(option.secondary_opts[0])
    return rewritten
