"""Secrets masked in the stack document, before it is written as YAML (pure).

What users see of a stack (install previews, revisions, their diffs) is the dump of
a masked copy of the document, never a text replacement in the dumped YAML: YAML
quotes and escapes values (``it's`` -> ``'it''s'``, a tab -> ``"\\t"``) and Compose
doubles ``$``, so a secret's spelling in the text is not the secret.

Every string (mapping keys included) and every number is checked against every
secret of any length. Each stretch covered by an occurrence of a secret, overlapping
ones merged, becomes the mask, so ``mysql://u:PASS@host`` reads
``mysql://u:********@host`` and no part of a secret stays in clear. Should a secret
still appear in the result, as written or with ``$`` doubled as the stack file
spells it (a mask beside ``*``s of the text, ``$`` -> ``$$``), the whole value is the
mask. The only secrets the mask itself holds are made of ``*`` alone.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

MASK = "********"


def mask_document(document: Any, secrets: Collection[str]) -> Any:
    """A copy of ``document`` with every secret value in it replaced by the mask."""
    hidden = sorted({secret for secret in secrets if secret}, key=len, reverse=True)
    if not hidden:
        return document
    return _masked(document, hidden)


def _masked(node: Any, secrets: list[str]) -> Any:
    if isinstance(node, str):
        return _masked_text(node, secrets)
    if isinstance(node, bool) or node is None:
        return node  # true/false/null carry no value a secret could be substituted into
    if isinstance(node, int | float):
        text = str(node)
        return node if _masked_text(text, secrets) == text else MASK
    if isinstance(node, dict):
        out: dict[Any, Any] = {}
        for key, value in node.items():
            shown = _masked(key, secrets)
            while shown in out:  # two keys masked alike: keep both
                shown = f"{shown}*"
            out[shown] = _masked(value, secrets)
        return out
    if isinstance(node, list):
        return [_masked(item, secrets) for item in node]
    return node


def _masked_text(text: str, secrets: list[str]) -> str:
    covered = [False] * len(text)
    for secret in secrets:
        start = text.find(secret)
        while start != -1:
            covered[start : start + len(secret)] = [True] * len(secret)
            start = text.find(secret, start + 1)
    if any(covered):
        pieces: list[str] = []
        for index, char in enumerate(text):
            if not covered[index]:
                pieces.append(char)
            elif index == 0 or not covered[index - 1]:
                pieces.append(MASK)
        text = "".join(pieces)
    if _shows_a_secret(text, secrets):
        return MASK
    return text


def _shows_a_secret(text: str, secrets: list[str]) -> bool:
    escaped = text.replace("$", "$$")  # how the stack file spells it (compose.dump_stack)
    return any(secret in text or secret in escaped for secret in secrets)


__all__ = ["MASK", "mask_document"]
