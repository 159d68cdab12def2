"""``cloudos template ...``: validate, render, import and describe templates.

The commands are thin: they parse flags, call :mod:`cloudos.templates`, and print.
Stack YAML goes to stdout alone (so it can be piped to ``docker stack deploy``);
explanations and confirmations go to stderr. Errors are raised as the project's own
errors and turned into one line and exit code 1 by :func:`cloudos.cli.main`.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Annotated

import typer

from cloudos.cli._output import err_console
from cloudos.errors import EnvironmentProblem, InvalidInput
from cloudos.templates import (
    AttachedModifier,
    Modifier,
    RenderContext,
    Template,
    builtin_modifiers,
    check_with_docker,
    load_document,
    load_modifier,
    load_template,
    render,
    validate_template,
)

app = typer.Typer(help="Work with app templates and modifiers.", no_args_is_help=True)

DockerFlag = Annotated[
    bool, typer.Option("--docker", help="Also check the stack with `docker stack config`.")
]


def docker_stack_config(stack_yaml: str) -> tuple[int, str]:
    """Run ``docker stack config -c -`` on stack YAML text: (exit code, output)."""
    try:
        done = subprocess.run(
            ["docker", "stack", "config", "-c", "-"],
            input=stack_yaml,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as err:
        raise EnvironmentProblem(f"cannot run `docker stack config`: {err}") from err
    return done.returncode, done.stderr or done.stdout


@app.command()
def validate(
    path: Annotated[Path, typer.Argument(help="A template or modifier file.")],
    docker: DockerFlag = False,
) -> None:
    """Check a template (or modifier) file; a template must render with sample values."""
    document = load_document(path)
    if isinstance(document, Template):
        result = validate_template(document, library=builtin_modifiers())
        if docker:
            check_with_docker(result.yaml, run=docker_stack_config)
        kind = "template"
    else:
        kind = "modifier"
    err_console.print(f"valid {kind}: {document.id} {document.version}", highlight=False)


@app.command("render")
def render_command(
    path: Annotated[Path, typer.Argument(help="The template file.")],
    set_: Annotated[
        list[str] | None,
        typer.Option(
            "--set",
            metavar="KEY=VALUE",
            help="A parameter value; MODIFIER_ID:KEY=VALUE sets a modifier's parameter.",
        ),
    ] = None,
    modifier: Annotated[
        list[str] | None,
        typer.Option("--modifier", metavar="PATH|ID", help="Attach a modifier (file or id)."),
    ] = None,
    sample: Annotated[
        bool, typer.Option("--sample", help="Fill required values that have none.")
    ] = False,
    explain: Annotated[
        bool, typer.Option("--explain", help="List what changed which path (on stderr).")
    ] = False,
    app_name: Annotated[str, typer.Option("--app", help="The app's name.")] = "app",
    space: Annotated[str, typer.Option("--space", help="The space's name.")] = "default",
    domain: Annotated[
        str, typer.Option("--domain", help="The space's domain.")
    ] = "apps.example.com",
    docker: DockerFlag = False,
) -> None:
    """Print the stack YAML of one installation of a template."""
    template = load_template(path)
    library = builtin_modifiers()
    values, modifier_values = _parse_sets(set_ or [])
    attached = []
    for ref in modifier or []:
        found = _find_modifier(ref, library)
        attached.append(AttachedModifier(found, modifier_values.pop(found.id, {})))
    for modifier_id, given in modifier_values.items():
        if modifier_id not in {use.id for use in template.modifiers}:
            raise InvalidInput(f"--set {modifier_id}:...: that modifier is not attached")
        attached.append(AttachedModifier(library[modifier_id], given))
    context = RenderContext(app_name=app_name, space_name=space, space_domain=domain)
    result = render(
        template,
        context=context,
        values=values,
        modifiers=attached,
        library=library,
        sample=sample,
    )
    if docker:
        check_with_docker(result.yaml, run=docker_stack_config)
    sys.stdout.write(result.yaml)
    sys.stdout.flush()
    if explain:
        for line in result.explain() or ["no modifier or override changed the stack"]:
            err_console.print(line, highlight=False, soft_wrap=True)


@app.command()
def schema(
    modifier: Annotated[
        bool, typer.Option("--modifier", help="The modifier format instead of templates.")
    ] = False,
) -> None:
    """Print the JSON Schema of the template (or modifier) format."""
    model = Modifier if modifier else Template
    print(json.dumps(model.model_json_schema(), indent=2, sort_keys=True))


def _parse_sets(items: list[str]) -> tuple[dict[str, str], dict[str, dict[str, str]]]:
    values: dict[str, str] = {}
    per_modifier: dict[str, dict[str, str]] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise InvalidInput(f"--set {item!r}: expected KEY=VALUE")
        owner, colon, name = key.rpartition(":")
        if colon:
            per_modifier.setdefault(owner, {})[name] = value
        else:
            values[key] = value
    return values, per_modifier


def _find_modifier(ref: str, library: dict[str, Modifier]) -> Modifier:
    if ref in library:
        return library[ref]
    if not Path(ref).exists():
        known = ", ".join(sorted(library))
        raise InvalidInput(f"--modifier {ref!r}: no such file or built-in modifier ({known})")
    return load_modifier(ref)


__all__ = ["app", "docker_stack_config"]
