"""The install wizard's form, generated from a template's parameters (pure).

Each parameter becomes one field whose input fits its type (a number for ``int`` and
``port``, a checkbox for ``bool``, a list for ``enum``, a password box for secrets,
a text area for ``text`` and ``map``), prefilled with the default. What the browser
sends back is checked with the same :func:`cloudos.templates.values.resolve` the
install runs, so the message shown next to a field is the one the install would
give. An empty field means "no value": the default applies, or a password is
generated.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from cloudos.apps import APP_NAME
from cloudos.templates import Template
from cloudos.templates.values import resolve

APP_FIELD = "app_name"
SPACE_FIELD = "space"
PARAM_PREFIX = "p_"  # keeps parameter names apart from the wizard's own fields
GENERATED = frozenset({"password", "secret"})


@dataclass(frozen=True)
class Field:
    """One input of the wizard."""

    name: str  # the parameter
    input_name: str  # the form field
    label: str
    kind: str  # the parameter's type
    value: str  # what the input shows
    help: str | None
    required: bool
    choices: tuple[str, ...] = ()
    minimum: int | None = None
    maximum: int | None = None
    group: str | None = None
    generated: bool = False  # empty means a generated password


def text_of(text: str | Mapping[str, str] | None, language: str = "en") -> str | None:
    """A template text in ``language`` (templates may give one text per language)."""
    if text is None or isinstance(text, str):
        return text
    return text.get(language) or next(iter(text.values()), None)


def fields(template: Template, sent: Mapping[str, str] | None = None) -> list[Field]:
    """The wizard's fields, showing what was ``sent`` (by form field) or the defaults."""
    out = []
    for name, param in template.parameters.items():
        input_name = PARAM_PREFIX + name
        if sent is not None and input_name in sent:
            value = sent[input_name]
        elif param.type in GENERATED:
            value = ""  # a default secret is never shown in the page
        else:
            value = _shown(param.default)
        out.append(
            Field(
                name=name,
                input_name=input_name,
                label=param.label or name.replace("_", " ").capitalize(),
                kind=param.type,
                value=value,
                help=text_of(param.description),
                required=param.required and param.default is None,
                choices=tuple(str(choice) for choice in param.choices or ()),
                minimum=param.min,
                maximum=param.max,
                group=param.group,
                generated=param.type in GENERATED
                and (param.generate is not None or not param.required),
            )
        )
    return sorted(out, key=lambda field: (field.group is not None, field.group or ""))


def _shown(default: object) -> str:
    if default is None:
        return ""
    if isinstance(default, bool):
        return "true" if default else "false"
    if isinstance(default, dict):
        return "\n".join(f"{key}={value}" for key, value in default.items())
    return str(default)


def current_form(template: Template, values: Mapping[str, object]) -> dict[str, str]:
    """An app's parameter ``values`` as the form sends them; secrets stay out (blank)."""
    return {
        PARAM_PREFIX + name: _shown(values[name])
        for name, param in template.parameters.items()
        if name in values and param.type not in GENERATED
    }


def given_values(template: Template, sent: Mapping[str, str]) -> dict[str, str]:
    """The parameter values the form sends: empty fields are left out (default applies)."""
    values = {}
    for name in template.parameters:
        raw = sent.get(PARAM_PREFIX + name, "")
        if raw.strip():
            values[name] = raw
    return values


def problems(template: Template, sent: Mapping[str, str]) -> dict[str, str]:
    """A message per form field that is wrong (the app's name and every parameter)."""
    found: dict[str, str] = {}
    name = sent.get(APP_FIELD, "")
    if not APP_NAME.fullmatch(name):
        found[APP_FIELD] = (
            "use 1-24 lower-case letters, digits and '-', starting with a letter"
            if name
            else "give the app a name"
        )
    if not sent.get(SPACE_FIELD):
        found[SPACE_FIELD] = "choose a space"
    _values, bad = resolve(template.parameters, given_values(template, sent))
    for parameter, message in bad.items():
        found[PARAM_PREFIX + parameter] = message
    return found


__all__ = [
    "APP_FIELD",
    "PARAM_PREFIX",
    "SPACE_FIELD",
    "Field",
    "current_form",
    "fields",
    "given_values",
    "problems",
    "text_of",
]
