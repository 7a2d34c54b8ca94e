"""The portal's layout: a package per concern, a few modules at the top, and no import cycle.

The imports are read from the source (every `import` and `from ... import`, those inside
functions included), not by importing it: an import placed inside a function to dodge a
cycle is still a cycle.
"""

import ast
from pathlib import Path

from tests import CHECKOUT

PORTAL = CHECKOUT / "portal"
TOP_LEVEL_MODULES = 8


def module_name(path: Path) -> str:
    parts = path.relative_to(PORTAL.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(path): path for path in PORTAL.rglob("*.py") if "migrations" not in path.parts}


def imported(path: Path) -> set[str]:
    """The portal modules `path` imports: `from portal.x import y` is portal.x.y when that is a
    module, else portal.x."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").startswith("portal"):
            for alias in node.names:
                found.add(f"{node.module}.{alias.name}" if f"{node.module}.{alias.name}" in MODULES else node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name.startswith("portal"))
    return found - {module_name(path), "portal"}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Each import cycle, as the path around it (a depth-first walk)."""
    found, done, path = [], set(), []

    def visit(name):
        if name in path:
            found.append(path[path.index(name):] + [name])
            return
        if name in done:
            return
        path.append(name)
        for other in sorted(graph.get(name, ())):
            visit(other)
        path.pop()
        done.add(name)

    for name in sorted(graph):
        visit(name)
    return found


def test_no_module_of_the_portal_imports_itself_round_a_cycle():
    graph = {name: imported(path) for name, path in MODULES.items()}
    assert all(dependency in MODULES for dependencies in graph.values() for dependency in dependencies)
    assert cycles(graph) == []


def test_the_cycle_finder_finds_one():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c", "a"]]


def test_the_top_of_the_portal_holds_a_few_modules_and_a_package_per_concern():
    top = sorted(path.name for path in PORTAL.glob("*.py"))
    packages = sorted(path.name for path in PORTAL.iterdir() if (path / "__init__.py").exists())
    assert len(top) <= TOP_LEVEL_MODULES, top
    assert packages == ["attempts", "core", "exams", "jobs", "mail", "people", "testpress", "web"]


def test_only_the_web_layer_and_create_app_import_the_web_layer():
    """The domain (people, exams, attempts, testpress) and core serve the pages, the command
    line and the worker alike: they never read a request or build a page's markup."""
    reaching_in = {name: sorted(dependency for dependency in imported(path) if dependency.startswith("portal.web"))
                   for name, path in MODULES.items()
                   if not name.startswith("portal.web") and name != "portal"}
    assert {name: found for name, found in reaching_in.items() if found} == {}
    reading_requests = [name for name, path in MODULES.items()
                        if name.split(".")[1:2] in (["people"], ["exams"], ["attempts"], ["testpress"])
                        and any(isinstance(node, ast.ImportFrom) and node.module == "flask"
                                and "request" in {alias.name for alias in node.names}
                                for node in ast.walk(ast.parse(path.read_text())))]
    assert reading_requests == []


def test_the_tests_mirror_the_packages():
    """A folder of tests per package (and e2e/ and sandbox/ beside them), so that a test is
    found where the code it tests is."""
    tests = CHECKOUT / "tests"
    folders = {path.parent.relative_to(tests).as_posix() for path in tests.rglob("test_*.py")} - {"."}
    packages = {path.parent.relative_to(PORTAL).as_posix() for path in PORTAL.rglob("__init__.py")}
    assert folders - {"e2e", "sandbox"} <= packages, sorted(folders - packages)
