"""The English messages our code writes for clients, found in the source: what the Chinese
catalogue must cover (used by tests/test_i18n.py)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
#: Calls whose string arguments are messages a client reads.
MESSAGE_CALLS = {"DomainError", "abort", "ValidationError", "problem", "TokenError", "refuse"}
#: Names of dicts and variables that hold field messages or a problem's detail.
MESSAGE_NAMES = {"errors", "detail", "message", "reason", "default_error_messages"}


def _placeholder(node: ast.AST) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    if isinstance(node, ast.Call) and node.args:
        return _placeholder(node.args[0])
    if isinstance(node, ast.Subscript):
        return _placeholder(node.value)
    return "value"


def template(node: ast.AST) -> str | None:
    """The catalogue form of a string or f-string node: ``{name}`` for each value."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        left, right = template(node.left), template(node.right)
        if left is None and right is None:
            return None
        return (left or "{" + _placeholder(node.left) + "}") + (
            right or "{" + _placeholder(node.right) + "}"
        )
    if not isinstance(node, ast.JoinedStr):
        return None
    text, seen = "", {}
    for part in node.values:
        if isinstance(part, ast.Constant):
            text += str(part.value)
        else:
            name = re.sub(r"\W", "", _placeholder(part.value)) or "value"
            seen[name] = seen.get(name, 0) + 1
            text += "{" + (name if seen[name] == 1 else f"{name}{seen[name]}") + "}"
    return text


def _strings(node: ast.AST):
    if isinstance(node, ast.List | ast.Tuple):
        for item in node.elts:
            yield from _strings(item)
    elif isinstance(node, ast.Dict):
        for value in node.values:
            yield from _strings(value)
    elif isinstance(node, ast.ListComp):
        yield from _strings(node.elt)
    elif isinstance(node, ast.IfExp):
        yield from _strings(node.body)
        yield from _strings(node.orelse)
    else:
        text = template(node)
        if text:
            yield text


def _name(node: ast.AST) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    if isinstance(node, ast.Subscript):
        return _name(node.value)
    return None


def _is_field_message_append(node: ast.AST) -> bool:
    """``errors.setdefault(name, []).append("…")``."""
    return (
        isinstance(node, ast.Call)
        and _name(node.func) == "append"
        and isinstance(node.func, ast.Attribute)
        and isinstance(node.func.value, ast.Call)
        and _name(node.func.value.func) == "setdefault"
        and _name(node.func.value.func.value) in MESSAGE_NAMES
    )


def source_messages() -> dict[str, str]:
    """Every message template of ``registry/`` and ``schemas/``, with where it was found."""
    found: dict[str, str] = {}
    files = sorted((ROOT / "registry").rglob("*.py")) + sorted((ROOT / "schemas").glob("*.py"))
    for path in files:
        if path.name == "migrations.py":
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            values: list[ast.AST] = []
            if _is_field_message_append(node):
                values = list(node.args)
            elif isinstance(node, ast.Call) and _name(node.func) in MESSAGE_CALLS:
                values = list(node.args) + [k.value for k in node.keywords if k.arg == "message"]
            elif isinstance(node, ast.Call):
                values = [k.value for k in node.keywords if k.arg == "error"]
            elif isinstance(node, ast.Assign) and any(
                _name(t) in MESSAGE_NAMES for t in node.targets
            ):
                values = [node.value]
            for value in values:
                for text in _strings(value):
                    literal = re.sub(r"\{\w+\}", "", text)
                    if re.search(r"[A-Za-z]{2}", literal) and " " in text.strip():
                        where = f"{path.relative_to(ROOT)}:{node.lineno}"
                        found.setdefault(text, where)
    return found


def code_list_names() -> set[str]:
    """What each ``one_of(codes, what)`` validator calls its codes (``carrier type``): the
    message says ``Not a carrier type: …``, so each needs a catalogue entry too."""
    found = set()
    for path in sorted((ROOT / "schemas").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and _name(node.func) == "one_of" and len(node.args) > 1:
                what = node.args[1]
                if isinstance(what, ast.Constant) and isinstance(what.value, str):
                    found.add(what.value)
    return found
