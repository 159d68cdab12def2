"""Asking the person at the terminal: passwords, codes, confirmations.

A secret is typed with the echo off; when stdin is not a terminal (a pipe, a script)
each answer is the next line of stdin instead, so ``printf 'old\\nnew\\n' | cloudos
user passwd`` works. An empty answer is an error naming what was missing.
"""

from __future__ import annotations

import sys
from typing import Annotated

import click
import typer

from cloudos.errors import CloudOSError, InvalidInput


def ask(prompt: str, *, missing: str, secret: bool = False, confirm: bool = False) -> str:
    """An answer typed at the terminal (without echo when ``secret``, twice when ``confirm``),
    else the next line of stdin.

    ``missing`` is the error when the answer is empty (``--basic-auth ann: no password given``).
    """
    if sys.stdin.isatty():
        try:
            answer: str = typer.prompt(
                prompt, hide_input=secret, confirmation_prompt=confirm, err=True
            )
        except click.exceptions.Abort as err:
            raise CloudOSError("interrupted") from err
    else:
        answer = sys.stdin.readline().rstrip("\r\n")
    if not answer.strip():
        raise InvalidInput(f"{missing} (type it, or pipe it in)")
    return answer


def read_secret(prompt: str, *, missing: str, confirm: bool = False) -> str:
    """A password or other secret: typed without echo, else the next line of stdin."""
    return ask(prompt, missing=missing, secret=True, confirm=confirm)


CodeOption = Annotated[
    str | None,
    typer.Option(
        "--code",
        help="A code of the authenticator app, or a recovery code (asked for when needed).",
        show_default=False,
    ),
]


def ask_code() -> str:
    """A current code of the authenticator app (or a recovery code), from the terminal."""
    return ask("two-factor code (or a recovery code)", missing="two-factor code: none given")


def confirm_or_stop(question: str, *, refusal: str) -> None:
    """Ask a yes/no question on stderr; raise ``refusal`` unless the answer is yes."""
    try:
        confirmed = typer.confirm(question, err=True)
    except click.exceptions.Abort:
        confirmed = False
    if not confirmed:
        raise CloudOSError(refusal)


__all__ = ["CodeOption", "ask", "ask_code", "confirm_or_stop", "read_secret"]
