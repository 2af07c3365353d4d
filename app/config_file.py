"""etcd's YAML configuration file (`--config-file`): the same keys as the flags.

As etcd 3.4 does, a configuration file replaces the command line and the environment
entirely: every setting it does not name takes its default. TLS settings sit in two
sections, `client-transport-security` and `peer-transport-security` (`cert-file`,
`key-file`, `trusted-ca-file`, `client-cert-auth`, `auto-tls`, ...), the peer ones mapping
to the `--peer-*` flags. etcd ignores keys it does not know; keyraft does too, and names
them in a warning (etcd's own keys keyraft has no use for, e.g. `enable-v2`, end up
there).
"""

from __future__ import annotations

import logging

import click
import yaml

log = logging.getLogger("keyraft.flags")

_SECTIONS = {"client-transport-security": "", "peer-transport-security": "peer-"}


class ConfigFileError(Exception):
    pass


def _entries(document: dict) -> dict[str, object]:
    """The file's settings by flag name (dashes), sections flattened."""
    entries: dict[str, object] = {}
    for key, value in document.items():
        prefix = _SECTIONS.get(str(key))
        if prefix is None:
            entries[str(key)] = value
        elif isinstance(value, dict):
            for name, item in value.items():
                entries[prefix + str(name)] = item
        elif value is not None:
            raise ConfigFileError(f"{key}: must be a mapping")
    return entries


def flags_from_file(path: str, context: click.Context) -> dict[str, object]:
    """Every option's value from the file at `path`, or its default."""
    try:
        with open(path, encoding="utf-8") as file:
            document = yaml.safe_load(file) or {}
    except OSError as error:
        raise ConfigFileError(f"cannot read {path}: {error.strerror}") from None
    except yaml.YAMLError as error:
        raise ConfigFileError(f"{path}: not valid YAML: {error}") from None
    if not isinstance(document, dict):
        raise ConfigFileError(f"{path}: expected a mapping of settings")
    entries = _entries(document)
    options = {
        param.name.replace("_", "-"): param
        for param in context.command.params
        if isinstance(param, click.Option) and param.name and param.expose_value
    }
    unknown = sorted(set(entries) - set(options))
    if unknown:
        log.warning("ignored configuration file keys: %s", ", ".join(unknown))
    flags: dict[str, object] = {}
    for name, param in options.items():
        if name in entries and entries[name] is not None:
            value = entries[name]
            if isinstance(value, list):  # e.g. cipher-suites, as a YAML list
                value = ",".join(str(item) for item in value)
            try:
                flags[param.name] = param.type_cast_value(context, value)  # type: ignore[index]
            except click.BadParameter as error:
                raise ConfigFileError(f"{path}: {name}: {error.format_message()}") from None
        else:
            flags[param.name] = param.get_default(context)  # type: ignore[index]
    return flags
