"""The house rules a newcomer relies on: tests mirror modules, SQL has one door, imports go one way."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from tests.helpers import ROOT

PACKAGE = ROOT / "twi_overlay"
# Modules without logic of their own, and why they have no test file.
NO_LOGIC = {
    "keys.py": "declarations: AppKeys and their types",
    "pacing.py": "constants, each exercised by the test of the loop it paces",
    "__main__.py": "one line: runs cli.main",
    "domain/context.py": "data classes a handler receives and returns",
}


def modules() -> list[Path]:
    return sorted(p.relative_to(PACKAGE) for p in PACKAGE.rglob("*.py") if p.name != "__init__.py")


def imports_of(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return found


def test_every_module_with_logic_has_its_own_test_file() -> None:
    missing = []
    for module in modules():
        expected = ROOT / "tests" / module.parent / f"test_{module.stem}.py"
        if str(module) not in NO_LOGIC and not expected.exists():
            missing.append(f"{module} -> {expected.relative_to(ROOT)}")
    assert missing == [], "modules without a test file: " + ", ".join(missing)
    assert all((PACKAGE / name).exists() for name in NO_LOGIC), "NO_LOGIC names a module that is gone"


def test_only_the_repository_imports_the_query_loader() -> None:
    importers = [str(m) for m in modules() if "twi_overlay.repo.sqlfiles" in imports_of(PACKAGE / m)]
    assert importers and all(name.startswith("repo/") for name in importers), importers


SQL = re.compile(r"^\s*(SELECT|INSERT INTO|UPDATE \w+ SET|DELETE FROM|PRAGMA|CREATE|DROP)\b")


def test_sql_text_lives_in_sql_files_and_the_store_only() -> None:
    """Statements are written in sql/ (reached through repo/); the store keeps its own PRAGMAs and
    transaction statements."""
    offenders = []
    for module in modules():
        if module.parts[0] == "store":
            continue
        for node in ast.walk(ast.parse((PACKAGE / module).read_text())):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and SQL.match(node.value):
                offenders.append(f"{module}:{node.lineno}")
    assert offenders == []


# Which rooms each room may import. The edges (web, stream, ingest, twitch) sit on the pipeline and the
# domain; the domain on the repository; the repository on the store. ops and pacing are leaves.
def test_pyproject_ships_every_package_and_the_sql_and_migrations() -> None:
    import tomllib

    declared = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    packages = {".".join(("twi_overlay", *p.parent.relative_to(PACKAGE).parts)) for p in PACKAGE.rglob("__init__.py")}
    assert declared == packages | {"twi_overlay.web.static", "twi_overlay.sql", "twi_overlay.migrations"}


MAY_IMPORT = {
    "store": {"store", "pacing", "aio"},
    "repo": {"repo", "store"},
    "domain": {"domain", "repo", "store", "ops"},
}


def test_imports_go_one_way() -> None:
    wrong = []
    for module in modules():
        room = module.parts[0] if len(module.parts) > 1 else None
        if room not in MAY_IMPORT:
            continue
        for name in imports_of(PACKAGE / module):
            parts = name.split(".")
            if parts[0] == "twi_overlay" and len(parts) > 1 and parts[1] not in MAY_IMPORT[room] | {"data_dir"}:
                wrong.append(f"{module} imports {name}")
    assert wrong == []
