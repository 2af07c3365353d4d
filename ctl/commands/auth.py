"""`user`, `role` and `auth`: authentication and role-based access, as etcdctl 3.4 (plus
`auth status` from 3.5). Argument checks and their messages are etcdctl's."""

from __future__ import annotations

import click

from keyraft.app.keys import prefix_end
from keyraft.ctl.client import b64
from keyraft.ctl.context import global_options, state, usage
from keyraft.ctl.errors import BadArguments, CtlError, ServerError
from keyraft.ctl.output.base import PERMISSION_TYPES, write
from keyraft.ctl.output.simple import key_range_text
from keyraft.ctl.pflag import EtcdctlGroup
from keyraft.ctl.prompt import ask_password, read_word
from keyraft.ctl.requests import to_bytes

ROOT_ROLE_MISSING = "etcdserver: root user does not have root role"

_INTERACTIVE = click.option(
    "--interactive/--no-interactive",
    default=True,
    help="Ask on the terminal; --interactive=false reads the password from stdin.",
)


def _exactly(arguments: tuple[str, ...], count: int, message: str) -> tuple[str, ...]:
    if len(arguments) != count:
        raise usage(message)
    return arguments


def _change(path: str, body: dict, message: str | bytes) -> None:
    """Send one user/role change and print etcdctl's answer to it."""
    context = state()
    response = context.client.call(path, body)
    context.printer().auth_change(
        message.encode() if isinstance(message, str) else message, response
    )


def _new_password(name: str, interactive: bool) -> str:
    """etcdctl's readPasswordInteractive (asked twice), or one word of stdin."""
    if not interactive:
        return read_word()
    password = ask_password(f"Password of {name}: ")
    if not password:
        raise BadArguments("empty password")
    if ask_password(f"Type password of {name} again for confirmation: ") != password:
        raise BadArguments("given passwords are different")
    return password


@click.group("user", cls=EtcdctlGroup)
def user() -> None:
    """User related commands."""


@user.command("add")
@click.argument("arguments", nargs=-1, metavar="NAME[:PASSWORD]")
@_INTERACTIVE
@click.option("--new-user-password", default="", help="Supply the password on the command line.")
@click.option("--no-password", is_flag=True, help="A user without password (CN based auth only).")
@global_options()
def user_add(
    arguments: tuple[str, ...], interactive: bool, new_user_password: str, no_password: bool
) -> None:
    """Add a user (its password is asked for unless given)."""
    (name,) = _exactly(arguments, 1, "user add command requires user name as its argument")
    body: dict = {"name": name}
    if no_password:
        body["options"] = {"no_password": True}
    elif new_user_password:
        body["password"] = new_user_password
    elif ":" in name:
        name, body["password"] = name.split(":", 1)
        if not name:
            raise usage("empty user name is not allowed")
        body["name"] = name
    else:
        body["password"] = _new_password(name, interactive)
    _change("/v3/auth/user/add", body, f"User {name} created")


@user.command("delete")
@click.argument("arguments", nargs=-1, metavar="NAME")
@global_options()
def user_delete(arguments: tuple[str, ...]) -> None:
    """Delete a user."""
    (name,) = _exactly(arguments, 1, "user delete command requires user name as its argument")
    _change("/v3/auth/user/delete", {"name": name}, f"User {name} deleted")


@user.command("get")
@click.argument("arguments", nargs=-1, metavar="NAME")
@click.option("--detail", is_flag=True, help="Show the permissions of the user's roles.")
@global_options()
def user_get(arguments: tuple[str, ...], detail: bool) -> None:
    """Show a user's roles."""
    (name,) = _exactly(arguments, 1, "user get command requires user name as its argument")
    context = state()
    response = context.client.call("/v3/auth/user/get", {"name": name})
    if not detail:
        context.printer().user_get(name, response)
        return
    write(f"User: {name}")
    for role in response.get("roles", []):
        write("")
        context.printer().role_get(role, context.client.call("/v3/auth/role/get", {"role": role}))


@user.command("list")
@click.argument("arguments", nargs=-1, metavar="")
@global_options()
def user_list(arguments: tuple[str, ...]) -> None:
    """List all users."""
    _exactly(arguments, 0, "user list command requires no arguments")
    context = state()
    context.printer().user_list(context.client.call("/v3/auth/user/list", {}))


@user.command("passwd")
@click.argument("arguments", nargs=-1, metavar="NAME")
@_INTERACTIVE
@global_options()
def user_passwd(arguments: tuple[str, ...], interactive: bool) -> None:
    """Change a user's password."""
    (name,) = _exactly(arguments, 1, "user passwd command requires user name as its argument")
    body = {"name": name, "password": _new_password(name, interactive)}
    _change("/v3/auth/user/changepw", body, "Password updated")


@user.command("grant-role")
@click.argument("arguments", nargs=-1, metavar="NAME ROLE")
@global_options()
def user_grant_role(arguments: tuple[str, ...]) -> None:
    """Grant a role to a user."""
    name, role = _exactly(
        arguments, 2, "user grant command requires user name and role name as its argument"
    )
    body = {"user": name, "role": role}
    _change("/v3/auth/user/grant", body, f"Role {role} is granted to user {name}")


@user.command("revoke-role")
@click.argument("arguments", nargs=-1, metavar="NAME ROLE")
@global_options()
def user_revoke_role(arguments: tuple[str, ...]) -> None:
    """Revoke a role from a user."""
    name, role = _exactly(
        arguments, 2, "user revoke-role requires user name and role name as its argument"
    )
    body = {"name": name, "role": role}
    _change("/v3/auth/user/revoke", body, f"Role {role} is revoked from user {name}")


@click.group("role", cls=EtcdctlGroup)
def role() -> None:
    """Role related commands."""


@role.command("add")
@click.argument("arguments", nargs=-1, metavar="ROLE")
@global_options()
def role_add(arguments: tuple[str, ...]) -> None:
    """Add a role."""
    (name,) = _exactly(arguments, 1, "role add command requires role name as its argument")
    _change("/v3/auth/role/add", {"name": name}, f"Role {name} created")


@role.command("delete")
@click.argument("arguments", nargs=-1, metavar="ROLE")
@global_options()
def role_delete(arguments: tuple[str, ...]) -> None:
    """Delete a role."""
    (name,) = _exactly(arguments, 1, "role delete command requires role name as its argument")
    _change("/v3/auth/role/delete", {"role": name}, f"Role {name} deleted")


@role.command("get")
@click.argument("arguments", nargs=-1, metavar="ROLE")
@global_options()
def role_get(arguments: tuple[str, ...]) -> None:
    """Show a role's permissions."""
    (name,) = _exactly(arguments, 1, "role get command requires role name as its argument")
    context = state()
    context.printer().role_get(name, context.client.call("/v3/auth/role/get", {"role": name}))


@role.command("list")
@click.argument("arguments", nargs=-1, metavar="")
@global_options()
def role_list(arguments: tuple[str, ...]) -> None:
    """List all roles."""
    _exactly(arguments, 0, "role list command requires no arguments")
    context = state()
    context.printer().role_list(context.client.call("/v3/auth/role/list", {}))


def _permission_range(
    arguments: tuple[str, ...], prefix: bool, from_key: bool
) -> tuple[bytes, bytes]:
    """etcdctl's permRange: key and range end of a permission (an empty key: all keys)."""
    key = to_bytes(arguments[0])
    if not key:
        if prefix and from_key:
            raise usage("--from-key and --prefix flags are mutually exclusive")
        return b"\x00", b"\x00" if prefix or from_key else b""
    if len(arguments) == 1:
        if prefix and from_key:
            raise usage("--from-key and --prefix flags are mutually exclusive")
        return key, prefix_end(key) if prefix else b"\x00" if from_key else b""
    if prefix or from_key:
        raise usage(f"unexpected endkey argument with --{'prefix' if prefix else 'from-key'} flag")
    return key, to_bytes(arguments[1])


def _range_body(key: bytes, end: bytes) -> dict:
    return {"key": b64(key), "range_end": b64(end)} if end else {"key": b64(key)}


_RANGE_FLAGS = (
    click.option("--prefix", is_flag=True, help="The permission covers keys with this prefix."),
    click.option("--from-key", is_flag=True, help="The permission covers keys >= KEY."),
)


def _range_flags(function: click.decorators.FC) -> click.decorators.FC:
    for option in reversed(_RANGE_FLAGS):
        function = option(function)
    return function


@role.command("grant-permission")
@click.argument("arguments", nargs=-1, metavar="ROLE read|write|readwrite KEY [END_KEY]")
@_range_flags
@global_options()
def role_grant_permission(arguments: tuple[str, ...], prefix: bool, from_key: bool) -> None:
    """Grant a key (or range) permission to a role."""
    if len(arguments) < 3:
        raise usage(
            "role grant command requires role name, permission type, and key [endkey] as its "
            "argument"
        )
    kind = arguments[1].upper()
    if kind not in PERMISSION_TYPES:
        raise usage(f"invalid permission type: {arguments[1]}")
    permission = {
        "permType": kind,
        **_range_body(*_permission_range(arguments[2:], prefix, from_key)),
    }
    body = {"name": arguments[0], "perm": permission}
    _change("/v3/auth/role/grant", body, f"Role {arguments[0]} updated")


@role.command("revoke-permission")
@click.argument("arguments", nargs=-1, metavar="ROLE KEY [END_KEY]")
@_range_flags
@global_options()
def role_revoke_permission(arguments: tuple[str, ...], prefix: bool, from_key: bool) -> None:
    """Revoke a key (or range) permission from a role."""
    if len(arguments) < 2:
        raise usage(
            "role revoke-permission command requires role name and key [endkey] as its argument"
        )
    name, typed = arguments[0], to_bytes(arguments[1])
    key, end = _permission_range(arguments[1:], prefix, from_key)
    # etcdctl names the key as typed (an empty key is sent as "\x00")
    what = b"range " + key_range_text(typed, end) if end else b"key " + typed
    message = b"Permission of " + what + f" is revoked from role {name}".encode()
    _change("/v3/auth/role/revoke", {"role": name, **_range_body(key, end)}, message)


@click.group("auth", cls=EtcdctlGroup)
def auth() -> None:
    """Enable or disable authentication."""


@auth.command("enable")
@click.argument("arguments", nargs=-1, metavar="")
@global_options()
def auth_enable(arguments: tuple[str, ...]) -> None:
    """Enable authentication (a root user must exist; it gets the root role if need be)."""
    _exactly(arguments, 0, "auth enable command does not accept any arguments")
    client = state().client
    try:
        client.call("/v3/auth/enable", {})
    except ServerError as problem:
        if problem.message != ROOT_ROLE_MISSING:
            raise
        client.call("/v3/auth/role/add", {"name": "root"})
        client.call("/v3/auth/user/grant", {"user": "root", "role": "root"})
        client.call("/v3/auth/enable", {})
    click.echo("Authentication Enabled")


@auth.command("disable")
@click.argument("arguments", nargs=-1, metavar="")
@global_options()
def auth_disable(arguments: tuple[str, ...]) -> None:
    """Disable authentication."""
    _exactly(arguments, 0, "auth disable command does not accept any arguments")
    state().client.call("/v3/auth/disable", {})
    click.echo("Authentication Disabled")


@auth.command("status")
@click.argument("arguments", nargs=-1, metavar="")
@global_options()
def auth_status(arguments: tuple[str, ...]) -> None:
    """Show whether authentication is enabled, and the auth revision (etcdctl 3.5)."""
    _exactly(arguments, 0, "auth status command does not accept any arguments")
    context = state()
    try:
        response = context.client.call("/v3/auth/status", {})
    except ServerError as problem:
        if problem.http_status != 404:
            raise
        raise CtlError(
            "the server has no auth status (an etcd 3.5 API; etcd 3.4 lacks it)"
        ) from None
    context.printer().auth_status(response)
