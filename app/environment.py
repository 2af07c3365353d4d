"""etcd's ETCD_* environment variables, beside keyraft's own KEYRAFT_* ones.

Every flag can be given as KEYRAFT_<FLAG> or, as etcd reads them, ETCD_<FLAG> (Helm charts
and manifests written for etcd set exactly those). A flag on the command line wins over
both, KEYRAFT_* over ETCD_*. etcd logs each ETCD_* variable it uses, warns about ones it
does not know, and refuses to start when one conflicts with a command-line flag; keyraft
logs the same lines but only warns on the conflict (the flag wins), so an environment
written for etcd never stops it from starting.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

import click
from click.core import ParameterSource

PREFIXES = ("KEYRAFT_", "ETCD_")
log = logging.getLogger("keyraft.flags")


def accept_etcd_variables(command: click.Command) -> None:
    """Let every option of `command` be read from KEYRAFT_<NAME>, else ETCD_<NAME>."""
    for param in command.params:
        if isinstance(param, click.Option) and param.name and not param.envvar:
            name = param.name.upper()
            param.envvar = [prefix + name for prefix in PREFIXES]


def report_etcd_variables(context: click.Context, environ: Mapping[str, str]) -> None:
    """Log what became of each ETCD_* variable, in etcd's words."""
    options = {
        param.name.upper(): param
        for param in context.command.params
        if isinstance(param, click.Option) and param.name
    }
    for variable in sorted(environ):
        if not variable.startswith("ETCD_"):
            continue
        name = variable[len("ETCD_") :]
        value = environ[variable]
        if name not in options:
            log.warning("unrecognized environment variable %s=%s", variable, value)
        elif context.get_parameter_source(name.lower()) == ParameterSource.COMMANDLINE:
            log.warning(
                'conflicting environment variable "%s" is shadowed by corresponding '
                "command-line flag (the flag is used)",
                variable,
            )
        elif f"KEYRAFT_{name}" in environ:
            log.info("environment variable %s is shadowed by KEYRAFT_%s", variable, name)
        else:
            log.info("recognized and used environment variable %s=%s", variable, value)
