"""`member list|add|remove|update|promote` and `move-leader`, printing what etcdctl 3.4
prints (`member add` also prints the environment the new member starts with)."""

from __future__ import annotations

import click

from keyraft.ctl.context import IGNORES_ARGUMENTS, global_options, state
from keyraft.ctl.errors import BadArguments, CtlError
from keyraft.ctl.gofmt import parse_int
from keyraft.ctl.output.base import number
from keyraft.ctl.pflag import EtcdctlGroup

URL_SCHEMES = ("http", "https", "unix", "unixs")


@click.group("member", cls=EtcdctlGroup)
def member() -> None:
    """Membership related commands."""


@member.command("list", context_settings=IGNORES_ARGUMENTS)
@global_options()
def member_list() -> None:
    """List the cluster's members."""
    context = state()
    context.printer().member_list(context.client.call("/v3/cluster/member/list", {}))


def _member_id(args: tuple[str, ...]) -> int:
    if not args:
        raise BadArguments("member ID is not provided")
    return _hex(args[0], "bad member ID arg ({}), expecting ID in Hex")


def _hex(text: str, template: str = "{}") -> int:
    """A hex ID as etcdctl parses it (strconv.ParseUint(text, 16, 64))."""
    try:
        return parse_int(text, 16, unsigned=True)
    except ValueError as problem:
        raise BadArguments(template.format(problem)) from None


def _check_urls(urls: list[str]) -> None:
    """etcdctl checks peer URLs before asking (types.NewURLs)."""
    from urllib.parse import urlsplit

    for url in urls:
        url = url.strip()
        parts = urlsplit(url)
        if parts.scheme not in URL_SCHEMES:
            raise CtlError(f"URL scheme must be http, https, unix, or unixs: {url}")
        try:
            port = parts.port
        except ValueError:
            port = None
        if port is None or not parts.hostname:
            raise CtlError(f'URL address does not have the form "host:port": {url}')
        if parts.path:
            raise CtlError(f"URL must not contain a path: {url}")


@member.command("add")
@click.argument("args", nargs=-1)
@click.option("--peer-urls", default="", help="comma separated peer URLs for the new member.")
@click.option("--learner", is_flag=True, help="indicates if the new member is raft learner")
@global_options()
def member_add(args: tuple[str, ...], peer_urls: str, learner: bool) -> None:
    """Add a member into the cluster."""
    if len(args) != 1:
        raise BadArguments("member name not provided")
    name = args[0]
    if not peer_urls:
        raise BadArguments("member peer urls not provided")
    urls = peer_urls.split(",")
    _check_urls(urls)
    context = state()
    client = context.client
    response = client.call("/v3/cluster/member/add", {"peerURLs": urls, "isLearner": learner})
    printer = context.printer()
    printer.member_add(response)
    if printer.name != "simple":
        return
    new_id = number(response["member"]["ID"])
    members = client.call("/v3/cluster/member/list", {}).get("members", [])
    initial = ",".join(
        f"{name if number(m['ID']) == new_id else m.get('name', '')}={url}"
        for m in members
        for url in m.get("peerURLs", [])
    )
    click.echo("")
    click.echo(f"ETCD_NAME={_quote(name)}")
    click.echo(f"ETCD_INITIAL_CLUSTER={_quote(initial)}")
    click.echo(f"ETCD_INITIAL_ADVERTISE_PEER_URLS={_quote(','.join(urls))}")
    click.echo('ETCD_INITIAL_CLUSTER_STATE="existing"')


def _quote(text: str) -> str:
    """Go's %q for the printable ASCII etcdctl meets here."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


@member.command("remove")
@click.argument("args", nargs=-1)
@global_options()
def member_remove(args: tuple[str, ...]) -> None:
    """Remove a member from the cluster."""
    member_id = _member_id(args)
    context = state()
    response = context.client.call("/v3/cluster/member/remove", {"ID": member_id})
    context.printer().member_changed("removed from", member_id, response)


@member.command("update")
@click.argument("args", nargs=-1)
@click.option("--peer-urls", default="", help="comma separated peer URLs for the updated member.")
@global_options()
def member_update(args: tuple[str, ...], peer_urls: str) -> None:
    """Update a member's peer URLs."""
    if not args:
        raise BadArguments("member ID is not provided")
    if not peer_urls:
        raise BadArguments("member peer urls not provided")
    member_id = _member_id(args)
    context = state()
    body = {"ID": member_id, "peerURLs": peer_urls.split(",")}
    response = context.client.call("/v3/cluster/member/update", body)
    context.printer().member_changed("updated in", member_id, response)


@member.command("promote")
@click.argument("args", nargs=-1)
@global_options()
def member_promote(args: tuple[str, ...]) -> None:
    """Promote a learner to a voting member."""
    member_id = _member_id(args)
    context = state()
    response = context.client.call("/v3/cluster/member/promote", {"ID": member_id})
    context.printer().member_changed("promoted in", member_id, response)


@click.command("move-leader")
@click.argument("args", nargs=-1)
@global_options()
def move_leader(args: tuple[str, ...]) -> None:
    """Transfer leadership to another member (asks the leader among the endpoints)."""
    if len(args) != 1:
        raise BadArguments("move-leader command needs 1 argument")
    target = _hex(args[0])
    client = state().client
    for endpoint in client.endpoints:
        status = client.call_at(endpoint, "/v3/maintenance/status", {})
        leader = number(status.get("leader", 0))
        if number(status.get("header", {}).get("member_id", 0)) == leader:
            break
    else:
        endpoints = " ".join(client.endpoints)
        raise BadArguments(f"no leader endpoint given at [{endpoints}]")
    response = client.call_at(endpoint, "/v3/maintenance/transfer-leadership", {"targetID": target})
    state().printer().move_leader(leader, target, response)
