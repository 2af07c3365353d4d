"""`alarm list|disarm`: the cluster's alarms (disarm clears every one, as clientv3's
AlarmDisarm with an empty member does: list, then deactivate each)."""

from __future__ import annotations

import click

from keyraft.ctl.context import global_options, state
from keyraft.ctl.errors import BadArguments
from keyraft.ctl.pflag import EtcdctlGroup

ALARM = "/v3/maintenance/alarm"


@click.group("alarm", cls=EtcdctlGroup)
def alarm() -> None:
    """Alarm related commands."""


@alarm.command("list")
@click.argument("extra", nargs=-1)
@global_options()
def alarm_list(extra: tuple[str, ...]) -> None:
    """List all alarms."""
    if extra:
        raise BadArguments("alarm list command accepts no arguments")
    context = state()
    context.printer().alarm(context.client.call(ALARM, {"action": "GET"}))


@alarm.command("disarm")
@click.argument("extra", nargs=-1)
@global_options()
def alarm_disarm(extra: tuple[str, ...]) -> None:
    """Disarm all alarms."""
    if extra:
        raise BadArguments("alarm disarm command accepts no arguments")
    context = state()
    client = context.client
    disarmed = []
    for raised in client.call(ALARM, {"action": "GET"}).get("alarms", []):
        answer = client.call(ALARM, {"action": "DEACTIVATE", **raised})
        disarmed.extend(answer.get("alarms", []))
    context.printer().alarm({"alarms": disarmed} if disarmed else {})
