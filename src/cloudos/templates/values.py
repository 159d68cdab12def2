"""Parameter values: type checks and coercion, defaults, generated secrets, samples.

Every value is checked against its parameter before anything is generated, and every
error names the parameter. Values may arrive as text (``--set port=8080``, a web
form) or typed (the API, a YAML default); both give the same typed result.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Mapping
from typing import Any

from cloudos.templates._pattern_sample import example_for
from cloudos.templates.model import Parameter

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff\ufeff]")
_INT = re.compile(r"^[+-]?[0-9]{1,18}$")
_DOMAIN = re.compile(
    r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]([a-z0-9-]{0,61}[a-z0-9])?$"
)
_EMAIL = re.compile(r"^[A-Za-z0-9.!#%&'*+/=?^_`{|}~-]{1,64}@(?P<domain>[^@]+)$")
_SIZE = re.compile(r"^[0-9]+(\.[0-9]+)? ?([kKmMgGtTpP])?[iI]?[bB]?$")
_MAP_KEY = re.compile(r"^[^=\s]{1,256}$")
_TRUE = frozenset({"true", "yes", "on", "1"})
_FALSE = frozenset({"false", "no", "off", "0"})
STRING_TYPES = frozenset({"string", "text", "password", "secret", "domain", "email", "size"})


class ValueProblem(ValueError):
    """A value does not fit its parameter; the message says why (not which one)."""


def coerce(param: Parameter, raw: object) -> object:
    """The typed value of ``raw`` for ``param``, or :class:`ValueProblem`."""
    kind = param.type
    if kind in ("int", "port"):
        number = _as_int(raw)
        low = param.min if param.min is not None else (1 if kind == "port" else None)
        high = param.max if param.max is not None else (65535 if kind == "port" else None)
        _check_range(number, low, high, "")
        return number
    if kind == "bool":
        return _as_bool(raw)
    if kind == "map":
        return _as_map(raw)
    if kind == "enum":
        return _as_choice(raw, param.choices or [])
    text = _as_text(raw)
    if kind == "domain":
        text = text.lower()
        if not _DOMAIN.match(text):
            raise ValueProblem(f"{text!r} is not a domain name like app.example.com")
    elif kind == "email":
        match = _EMAIL.match(text)
        if match is None or not _DOMAIN.match(match.group("domain").lower()):
            raise ValueProblem(f"{text!r} is not an e-mail address")
    elif kind == "size":
        if not _SIZE.match(text):
            raise ValueProblem(f"{text!r} is not a size like 512M or 2G")
    elif kind == "string" and ("\n" in text or "\r" in text):
        raise ValueProblem("a string parameter holds one line (use type text for more)")
    _check_range(len(text), param.min, param.max, " characters")
    if param.pattern is not None and re.fullmatch(param.pattern, text) is None:
        raise ValueProblem(f"{text!r} does not match the pattern {param.pattern!r}")
    return text


def _as_text(raw: object) -> str:
    if isinstance(raw, bool) or not isinstance(raw, str | int):
        raise ValueProblem(f"expected text, got {type(raw).__name__}")
    text = str(raw)
    if _CONTROL.search(text):
        raise ValueProblem("contains control characters")
    return text


def _as_int(raw: object) -> int:
    if isinstance(raw, int) and not isinstance(raw, bool):
        return raw
    if isinstance(raw, str) and _INT.match(raw.strip()):
        return int(raw.strip())
    raise ValueProblem(f"{raw!r} is not a whole number")


def _as_bool(raw: object) -> bool:
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, str):
        lowered = raw.strip().lower()
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
    raise ValueProblem(f"{raw!r} is not true or false")


def _as_choice(raw: object, choices: list[str | int]) -> str | int:
    for choice in choices:
        if raw == choice or (isinstance(raw, str) and raw == str(choice)):
            return choice
    raise ValueProblem(f"{raw!r} is not one of {', '.join(str(c) for c in choices)}")


def _as_map(raw: object) -> dict[str, str | int | bool]:
    if isinstance(raw, str):
        lines = raw.splitlines() if "\n" in raw else raw.split(",")
        pairs: dict[str, object] = {}
        for line in lines:
            if not line.strip():
                continue
            key, sep, value = line.partition("=")
            if not sep:
                raise ValueProblem(f"{line!r} is not KEY=VALUE")
            pairs[key.strip()] = value
        raw = pairs
    if not isinstance(raw, dict):
        raise ValueProblem(f"expected a mapping or KEY=VALUE lines, got {type(raw).__name__}")
    out: dict[str, str | int | bool] = {}
    for key, value in raw.items():
        if not isinstance(key, str) or not _MAP_KEY.match(key) or _CONTROL.search(key):
            raise ValueProblem(f"{key!r} is not a valid key")
        if isinstance(value, str) and _CONTROL.search(value):
            raise ValueProblem(f"the value of {key!r} contains control characters")
        if not isinstance(value, str | int | bool):
            raise ValueProblem(f"the value of {key!r} is not text, a number or a boolean")
        out[key] = value
    return out


def _check_range(number: int, low: int | None, high: int | None, unit: str) -> None:
    if low is not None and number < low:
        raise ValueProblem(f"{number}{unit} is less than the minimum {low}{unit}")
    if high is not None and number > high:
        raise ValueProblem(f"{number}{unit} is more than the maximum {high}{unit}")


def generate_secret(param: Parameter) -> str:
    """A fresh random value for a ``password``/``secret`` parameter."""
    spec = param.generate
    length = spec.length if spec else 24
    alphabet = spec.alphabet if spec else "abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"
    return "".join(secrets.choice(alphabet) for _ in range(max(length, param.min or 0)))


def sample_value(name: str, param: Parameter) -> object:
    """A valid, deterministic example value of the parameter's type (for ``--sample``)."""
    kind = param.type
    if kind in ("password", "secret"):
        spec = param.generate
        alphabet = spec.alphabet if spec else "abcdefghijklmnopqrstuvwxyz0123456789"
        length = max(spec.length if spec else 24, param.min or 0)
        digest = hashlib.sha256(f"sample:{name}".encode()).digest() * (length // 32 + 1)
        return _fit_pattern(param, "".join(alphabet[b % len(alphabet)] for b in digest[:length]))
    if kind in ("int", "port"):
        low = param.min if param.min is not None else (8080 if kind == "port" else 1)
        return low if param.max is None else min(low, param.max)
    samples: dict[str, object] = {
        "string": "sample",
        "text": "sample text",
        "bool": False,
        "enum": (param.choices or [""])[0],
        "domain": "sample.example.com",
        "email": "admin@example.com",
        "size": "1G",
        "map": {},
    }
    value = samples[kind]
    if isinstance(value, str) and param.min is not None and len(value) < param.min:
        value = value + "x" * (param.min - len(value))
    return _fit_pattern(param, value)


def _fit_pattern(param: Parameter, value: object) -> object:
    """The sample itself when the parameter's pattern accepts it, else one that does."""
    if param.pattern is None or not isinstance(value, str) or re.fullmatch(param.pattern, value):
        return value
    return example_for(param.pattern) or value


def resolve(
    parameters: Mapping[str, Parameter],
    given: Mapping[str, object],
    *,
    sample: bool = False,
) -> tuple[dict[str, object], dict[str, str]]:
    """Typed values for every parameter, and a problem message per bad parameter.

    Order: the given value, else the default, else a generated secret (passwords and
    secrets that are not required, or have ``generate``), else (with ``sample``) a
    sample value; a required parameter with none of these is a problem.
    Optional parameters with no value become ``""`` (text types) or ``None``.
    """
    values: dict[str, object] = {}
    problems: dict[str, str] = {}
    for name in given:
        if name not in parameters:
            known = ", ".join(sorted(parameters)) or "none"
            problems[name] = f"unknown parameter (known: {known})"
    for name, param in parameters.items():
        raw: Any
        if name in given and given[name] is not None:
            raw = given[name]
        elif param.default is not None:
            raw = param.default
        elif param.generate is not None or (
            param.type in ("password", "secret") and (sample or not param.required)
        ):
            values[name] = sample_value(name, param) if sample else generate_secret(param)
            continue
        elif sample and param.required:
            raw = sample_value(name, param)
        elif param.required:
            problems[name] = "is required and has no value"
            continue
        else:
            values[name] = "" if param.type in STRING_TYPES else None
            continue
        try:
            values[name] = coerce(param, raw)
        except ValueProblem as err:
            problems[name] = str(err)
    return values, problems


__all__ = ["ValueProblem", "coerce", "generate_secret", "resolve", "sample_value"]
