"""The layers hold by imports at the top of each module, where import-linter (scripts/test) sees them.

An import of the hub inside a function hides a dependency from the reader and from the layer check (a stage
reaching up into a use case at l.272 of a 500-line file), so it is allowed only where it is said to be lazy:
a heavy, optional part loaded only when used (the web stack, document readers, the database for `--help`).
"""

from __future__ import annotations

import ast
import io
import re
import tokenize
import tomllib
from pathlib import Path

HUB = Path(__file__).resolve().parent.parent / "hub"


def _comments(source: str) -> dict[int, str]:
    return {token.start[0]: token.string for token in tokenize.generate_tokens(io.StringIO(source).readline)
            if token.type == tokenize.COMMENT}


def _imports_hub(node: ast.AST) -> bool:
    if isinstance(node, ast.ImportFrom):
        return node.level > 0 or (node.module or "").split(".")[0] == "hub"
    return isinstance(node, ast.Import) and any(a.name.split(".")[0] == "hub" for a in node.names)


def function_level_imports(source: str) -> list[int]:
    """Line numbers of imports of the hub inside a function that no `lazy` comment explains."""
    comments = _comments(source)
    found = []
    for function in ast.walk(ast.parse(source)):
        if not isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        for node in ast.walk(function):
            if _imports_hub(node) and not any(
                    "lazy" in comments.get(line, "").lower() for line in range(node.lineno, node.end_lineno + 1)):
                found.append(node.lineno)
    return sorted(set(found))


def test_no_import_of_the_hub_inside_a_function_unless_it_says_why_it_is_lazy():
    offenders = []
    for path in sorted(HUB.rglob("*.py")):
        if "migrations" in path.parts:
            continue
        for line in function_level_imports(path.read_text(encoding="utf-8")):
            offenders.append(f"{path.relative_to(HUB.parent)}:{line}")
    assert not offenders, ("imports of the hub inside functions (move them to the top, or say why they are "
                           "lazy in a comment on the line): " + ", ".join(offenders))


def test_the_check_sees_nested_relative_and_explained_imports():
    source = (
        "import hub.db\n"
        "def f():\n"
        "    from hub import mailings\n"
        "    def g():\n"
        "        import hub.models as m\n"
        "    from . import sibling\n"
        "    import json\n"
        "    from hub.web.server import (  # lazy: the web stack only when the web admin is on\n"
        "        WebServer)\n"
        "async def h():\n"
        "    from hub.outbound import bounces  # the notice is a composed mail\n"
    )
    assert function_level_imports(source) == [3, 5, 6, 11]


def test_every_module_of_the_hub_has_its_place_in_the_layers():
    """import-linter checks only the modules its contract names: a new module left out would be unchecked."""
    config = tomllib.loads((HUB.parent / "pyproject.toml").read_text(encoding="utf-8"))
    [contract] = [c for c in config["tool"]["importlinter"]["contracts"] if c["id"] == "layers"]
    placed = {name for layer in contract["layers"] for name in re.split(r"[\s:|]+", layer) if name}
    present = {p.stem for p in HUB.glob("*.py") if p.stem != "__init__"}
    present |= {p.name for p in HUB.iterdir() if (p / "__init__.py").is_file() and p.name != "migrations"}
    assert present - placed == set(), "add these to [tool.importlinter] in pyproject.toml, in their layer"
