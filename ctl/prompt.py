"""Password prompts as etcdctl asks them (speakeasy): the prompt and a newline after the
answer go to stdout, the answer is not echoed; without a terminal a line of stdin is read."""

from __future__ import annotations

import sys

import click


def ask_password(prompt: str) -> str:
    """Ask for a password with `prompt` (e.g. `Password: `); an empty answer is allowed."""
    if sys.stdin.isatty():
        return click.prompt(
            prompt.rstrip(": "), hide_input=True, default="", show_default=False, prompt_suffix=":"
        )
    click.echo(prompt, nl=False)
    answer = sys.stdin.readline().rstrip("\r\n")
    click.echo()
    return answer


def read_word() -> str:
    """etcdctl's `fmt.Scanf("%s")`: the first word of stdin, or nothing."""
    words = sys.stdin.readline().split()
    return words[0] if words else ""
