"""YAML in: ruamel keeps line/column marks; the result is plain Python data.

ruamel is slow, so it is used only to load files (where marks matter). Everything
after loading works on plain ``dict``/``list``/scalars, and output goes through
PyYAML's C emitter (see ``render``).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq

from cloudos.templates.problems import DocPath, Mark, Problem, SourceMap, TemplateError

MAX_BYTES = 1_000_000
MAX_NODES = 100_000


def parse_yaml(text: str, *, source: str) -> tuple[Any, SourceMap]:
    """Parse one YAML document into plain data and the marks of its nodes."""
    if len(text) > MAX_BYTES:
        raise TemplateError([Problem(f"file is larger than {MAX_BYTES} bytes", source=source)])
    yaml = YAML(typ="rt")
    yaml.allow_duplicate_keys = False
    try:
        raw = yaml.load(text)
    except Exception as err:  # ruamel raises many unrelated types for bad input
        raise TemplateError([_yaml_problem(err, source)]) from err
    source_map = SourceMap(source=source, marks={(): Mark(1, 1)})
    converter = _Converter(source_map)
    data = converter.plain(raw, ())
    return data, source_map


def _yaml_problem(err: Exception, source: str) -> Problem:
    mark = getattr(err, "problem_mark", None) or getattr(err, "context_mark", None)
    problem = getattr(err, "problem", None) or (str(err).splitlines() or [repr(err)])[0]
    message = f"not valid YAML: {problem}"
    if mark is not None:
        return Problem(message, source=source, mark=Mark(mark.line + 1, mark.column + 1))
    return Problem(message, source=source)


class _Converter:
    """Turns ruamel's round-trip objects into plain data, recording marks."""

    def __init__(self, source_map: SourceMap) -> None:
        self.source_map = source_map
        self.nodes = 0

    def _fail(self, message: str, path: DocPath) -> TemplateError:
        mark = self.source_map.find(path)
        return TemplateError([Problem(message, path, self.source_map.source, mark)])

    def plain(self, node: Any, path: DocPath) -> Any:
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise self._fail(f"document has more than {MAX_NODES} nodes", path)
        if isinstance(node, CommentedMap):
            return self._mapping(node, path)
        if isinstance(node, CommentedSeq):
            out_list = []
            for index, item in enumerate(node):
                try:
                    line, col = node.lc.item(index)
                    self.source_map.marks[(*path, index)] = Mark(line + 1, col + 1)
                except (KeyError, TypeError, AttributeError):
                    pass
                out_list.append(self.plain(item, (*path, index)))
            return out_list
        return self._scalar(node, path)

    def _mapping(self, node: CommentedMap, path: DocPath) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in node.items():
            if not isinstance(key, str):
                raise self._fail(f"key {key!r} is not a string (quote it)", path)
            try:
                line, col = node.lc.key(key)
                self.source_map.marks[(*path, key)] = Mark(line + 1, col + 1)
            except (KeyError, TypeError, AttributeError):
                pass
            out[str(key)] = self.plain(value, (*path, key))
        return out

    def _scalar(self, node: Any, path: DocPath) -> Any:
        if node is None or isinstance(node, bool):
            return node
        if isinstance(node, int):
            return int(node)
        if isinstance(node, float):
            return float(node)
        if isinstance(node, str):
            return str(node)
        if isinstance(node, dt.date):
            return node.isoformat()
        raise self._fail(f"unsupported YAML value of type {type(node).__name__}", path)


__all__ = ["parse_yaml"]
