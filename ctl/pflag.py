"""etcdctl's command-line habits (pflag's and cobra's) on top of click: the boolean
syntax (`--prefix=true`, `-i=false`; click alone only knows `--flag` and `--no-flag`),
int flags parsed and refused as pflag does, and unknown commands answered as cobra does."""

from __future__ import annotations

import click

from keyraft.ctl.gofmt import flag_error, parse_int

# strconv.ParseBool's words, exactly (it takes "True", not "tRUE")
GO_BOOLS = {
    **dict.fromkeys(("1", "t", "T", "true", "TRUE", "True"), True),
    **dict.fromkeys(("0", "f", "F", "false", "FALSE", "False"), False),
}


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
        if option is None:
            rewritten.append(argument)
        elif value not in GO_BOOLS:
            cause = f'strconv.ParseBool: parsing "{value}": invalid syntax'
            raise click.BadParameter(flag_error(flag_name(option), value, cause), param=option)
        elif GO_BOOLS[value]:
            rewritten.append(name)
        elif option.secondary_opts:
            rewritten.append(option.secondary_opts[0])
    return rewritten


def flag_name(option: click.Parameter) -> str:
    """How pflag names a flag in its errors: `--rev`, or `-i, --interactive`."""
    longs = [name for name in option.opts if name.startswith("--")]
    shorts = [name for name in option.opts if not name.startswith("--")]
    return f"{shorts[0]}, {longs[0]}" if shorts and longs else option.opts[0]


class GoInt(click.ParamType):
    """An int flag parsed as pflag parses one, refused with its words."""

    name = "int"

    def convert(
        self, value: object, param: click.Parameter | None, ctx: click.Context | None
    ) -> int:
        if isinstance(value, int):
            return value
        try:
            return parse_int(str(value), base=0)
        except ValueError as problem:
            message = (
                str(problem) if param is None else flag_error(flag_name(param), str(value), problem)
            )
            raise click.BadParameter(message, ctx, param) from None


GO_INT = GoInt()


class UnknownCommand(Exception):
    """cobra's answer to an unknown command at the top: exit 1."""

    def __init__(self, name: str, program: str) -> None:
        super().__init__(f'unknown command "{name}" for "{program}"')
        self.program = program


class EtcdctlGroup(click.Group):
    """A command group answering an unknown subcommand as etcdctl's cobra does: the top
    level refuses it (`unknown command "x" for "etcdctl"`, exit 1), a group below prints
    its help and exits 0."""

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        name = args[0]
        if (
            not ctx.resilient_parsing
            and not name.startswith("-")
            and self.get_command(ctx, name) is None
        ):
            if ctx.parent is None:
                raise UnknownCommand(name, ctx.command_path)
            click.echo(ctx.get_help())
            ctx.exit(0)
        return super().resolve_command(ctx, args)
