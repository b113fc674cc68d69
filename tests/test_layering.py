"""The package's layers: a module imports only its own package or a lower layer.

Lower layers never import roles: the transport (``streams``) does not know who
writes to it, configuration knows nothing of emostream, and the shared
infrastructure knows neither Redis nor a role. Every import counts, deferred
ones inside functions and ``TYPE_CHECKING`` blocks too, since a deferred import
hides a loop rather than removing it. The table below is the one place the
layering is written down (docs/architecture.md explains it).
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "emostream"

# Lowest first. Packages on one line are peers: they may not import each other.
LAYERS: list[tuple[str, ...]] = [
    ("config",),
    ("infra",),
    ("streams",),
    ("client", "detector", "classifier"),
    ("ingest", "training"),
    ("viewer",),
    ("aggregator",),
    ("run",),
    ("cli",),
    ("__main__",),
]
LAYER = {name: rank for rank, names in enumerate(LAYERS) for name in names}
ROOT_FILES = {"__init__.py", "__main__.py", "cli.py", "py.typed"}
DATA_FOLDERS = {"assets", "schemas"}


def _part(module: str) -> str | None:
    """The top-level part of ``emostream.<part>...``; None for other modules and for ``emostream`` itself."""
    pieces = module.split(".")
    return pieces[1] if pieces[0] == "emostream" and len(pieces) > 1 else None


def _imports(path: Path, text: str | None = None) -> list[tuple[int, str]]:
    """(line, module) of every import in the file, at any depth (functions, TYPE_CHECKING); ``text`` overrides its content."""
    found: list[tuple[int, str]] = []
    package = ".".join(["emostream", *path.relative_to(PACKAGE).parent.parts])
    for node in ast.walk(ast.parse(path.read_text() if text is None else text, str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against the file's package
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join([*base, node.module] if node.module else base)
            else:
                module = node.module or ""
            if module == "emostream":  # from emostream import x: x is the part
                found += [(node.lineno, f"emostream.{alias.name}") for alias in node.names]
            else:
                found.append((node.lineno, module))
    return found


def _violations() -> list[str]:
    problems = []
    for path in sorted(PACKAGE.rglob("*.py")):
        own = path.relative_to(PACKAGE).parts[0].removesuffix(".py")
        if own == "__init__":
            continue
        if own not in LAYER:
            problems.append(f"{path.relative_to(PACKAGE.parent)}: {own} has no layer in the table")
            continue
        for line, module in _imports(path):
            part = _part(module)
            if part is None or part == own:
                continue
            if part not in LAYER:
                problems.append(f"{path.relative_to(PACKAGE.parent)}:{line}: imports {module}, a part the layer table does not know")
            elif LAYER[part] >= LAYER[own]:
                problems.append(f"{path.relative_to(PACKAGE.parent)}:{line}: {own} (layer {LAYER[own]}) imports {module} (layer {LAYER[part]})")
    return problems


def test_every_import_goes_to_the_own_package_or_a_lower_layer() -> None:
    problems = _violations()
    assert not problems, "imports into the same or a higher layer:\n" + "\n".join(problems)


def test_every_part_of_the_package_has_a_layer() -> None:
    parts = {p.name.removesuffix(".py") for p in PACKAGE.iterdir() if p.name != "__pycache__"}
    unknown = parts - set(LAYER) - {n.removesuffix(".py") for n in ROOT_FILES} - DATA_FOLDERS
    assert not unknown, f"parts of src/emostream with no place in the layer table: {sorted(unknown)}"


def test_the_root_holds_only_the_entry_points_and_folders() -> None:
    loose = sorted(p.name for p in PACKAGE.iterdir() if p.is_file() and p.name not in ROOT_FILES)
    assert not loose, f"modules at the package root (move them into a folder): {loose}"


def test_the_check_sees_deferred_and_type_checking_imports() -> None:
    source = "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from emostream.ingest import x\n\ndef f():\n    import emostream.aggregator.worker\n"
    found = sorted(module for _, module in _imports(PACKAGE / "streams" / "probe.py", source))
    assert found == ["emostream.aggregator.worker", "emostream.ingest", "typing"], found


MAX_MODULE_LINES = 300
MAX_FUNCTION_LINES = 60


def test_modules_and_functions_stay_small() -> None:
    """A module past 300 lines or a function past 60 usually holds two ideas (issue 26): split it, by idea."""
    too_long: list[str] = []
    for path in sorted(PACKAGE.rglob("*.py")):
        text = path.read_text()
        where = path.relative_to(PACKAGE)
        if (lines := text.count("\n")) > MAX_MODULE_LINES:
            too_long.append(f"{where}: {lines} lines")
        for node in ast.walk(ast.parse(text)):
            if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) or node.end_lineno is None:
                continue
            if (length := node.end_lineno - node.lineno + 1) > MAX_FUNCTION_LINES:
                too_long.append(f"{where}:{node.lineno} {node.name}: {length} lines")
    assert not too_long, "too long: " + "; ".join(too_long)
