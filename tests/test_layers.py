"""The layers' import rules (CONTRIBUTING.md, "Layers"), read from the source with ``ast``.

- ``cli/``, ``runner/``, ``tui/`` and the dashboard ``dash/`` are HTTP clients: from ``app``
  they import only the shared vocabulary ``app.shared`` and ``app.version``;
- ``app/models`` holds state and knows nothing of the web, the command line or HTTP;
- ``app/tasks`` calls the models, never the request handlers (``app.api``);
- ``app/__init__.py`` imports the web stack only inside ``create_app`` (the CLI and runner
  import ``app.shared`` without loading Flask);
- ``app/shared`` is importable by every side: the standard library, isodate and itself;
- only the command-line layer imports click (library modules raise ``TorcClientError``);
- only the client (``cli/client.py``, ``cli/api/``) writes an API path.

A broken rule is reported as ``path:line imports name (the rule)``, a raw path as
``path:line: 'the string'``.
"""

from __future__ import annotations

import ast
import itertools
import re
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from tests.conftest import REPO

CLIENT_PACKAGES = ("cli", "runner", "tui", "dash")
CLIENT_MAY_IMPORT_FROM_APP = ("app.shared", "app.version")
NOT_IN_MODELS = (
    "flask",
    "flask_smorest",
    "marshmallow",
    "werkzeug",
    "waitress",
    "click",
    "requests",
    "http",
    "urllib.request",
    "app.api",
    "cli",
    "runner",
    "tui",
    "dash",
)
NOT_IN_TASKS = ("app.api", "cli", "runner", "tui", "dash")
# The command-line layer: commands, their options and output, and the one error boundary.
CLICK_MODULES = (
    "cli/commands/",
    "cli/main.py",
    "cli/context.py",
    "cli/options.py",
    "cli/output.py",
    "cli/parsing.py",
    "dash/main.py",  # the torc-dash console script
)
LAZY_APP_INIT_MAY_IMPORT = ("__future__", "typing", "app.version")
SHARED_MAY_IMPORT_BEYOND_STDLIB = ("isodate", "app.shared")


@dataclass(frozen=True)
class Import:
    where: str  # path:line, relative to the repository
    module: str
    top_level: bool  # executed when the module is imported (not in a function or TYPE_CHECKING)

    def describe(self, rule: str) -> str:
        return f"{self.where} imports {self.module} ({rule})"


def imports(path: Path, root: Path = REPO) -> Iterator[Import]:
    """Every module ``path`` imports (``from a import b`` counts as ``a.b``: ``b`` may be a
    module), relative imports resolved."""
    relative = path.relative_to(root)
    tree = ast.parse(path.read_text(), filename=str(path))
    package = relative.parent.parts  # an __init__.py's package is its directory too
    deferred = _deferred_nodes(tree)
    for node in ast.walk(tree):
        top_level = id(node) not in deferred
        where = f"{relative}:{getattr(node, 'lineno', 0)}"
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield Import(where, alias.name, top_level)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package[: len(package) - (node.level - 1)]
                base = ".".join(part for part in (*anchor, base) if part)
            for alias in node.names:
                yield Import(where, f"{base}.{alias.name}", top_level)


def _deferred_nodes(tree: ast.Module) -> set[int]:
    """Nodes inside a function body or an ``if TYPE_CHECKING:`` block."""
    deferred: set[int] = set()
    for node in ast.walk(tree):
        is_function = isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        is_type_check = isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)
        if is_function or is_type_check:
            deferred.update(id(inner) for inner in ast.walk(node) if inner is not node)
    return deferred


def within(module: str, packages: tuple[str, ...]) -> bool:
    return any(module == name or module.startswith(f"{name}.") for name in packages)


def sources(*directories: str) -> list[Path]:
    return sorted(path for name in directories for path in (REPO / name).rglob("*.py"))


def violations(
    paths: list[Path], allowed: Callable[[Import], bool], rule: str, root: Path = REPO
) -> list[str]:
    return [
        found.describe(rule)
        for path in paths
        for found in imports(path, root)
        if not allowed(found)
    ]


def is_stdlib(module: str) -> bool:
    return module.partition(".")[0] in sys.stdlib_module_names


def test_clients_import_from_app_only_the_shared_vocabulary() -> None:
    def allowed(found: Import) -> bool:
        return not within(found.module, ("app",)) or within(
            found.module, CLIENT_MAY_IMPORT_FROM_APP
        )

    rule = "cli/, runner/, tui/ and dash/ may import from app only app.shared and app.version"
    assert violations(sources(*CLIENT_PACKAGES), allowed, rule) == []


def test_only_the_command_line_layer_uses_click() -> None:
    """Library modules (recovery, export, workflow manager, reports, the client, the runner)
    raise ``TorcClientError`` and friends, so a TUI or a dashboard can call them too; only
    the command modules and the CLI's boundary speak click."""
    paths = [
        path
        for path in sources(*CLIENT_PACKAGES)
        if not str(path.relative_to(REPO)).startswith(CLICK_MODULES)
    ]
    rule = f"only {', '.join(CLICK_MODULES)} may import click"
    assert violations(paths, lambda found: not within(found.module, ("click",)), rule) == []


def test_models_know_no_web_command_line_or_http() -> None:
    rule = f"app/models imports none of {', '.join(NOT_IN_MODELS)}"
    paths = [path for path in sources("app/models") if "migrations" not in path.parts]
    assert violations(paths, lambda found: not within(found.module, NOT_IN_MODELS), rule) == []


def test_tasks_call_models_not_handlers() -> None:
    rule = f"app/tasks imports none of {', '.join(NOT_IN_TASKS)}"
    assert (
        violations(sources("app/tasks"), lambda found: not within(found.module, NOT_IN_TASKS), rule)
        == []
    )


def test_app_package_import_stays_lazy() -> None:
    def allowed(found: Import) -> bool:
        return not found.top_level or within(found.module, LAZY_APP_INIT_MAY_IMPORT)

    rule = "app/__init__.py imports the web stack only inside create_app"
    assert violations([REPO / "app" / "__init__.py"], allowed, rule) == []


def test_shared_vocabulary_needs_only_the_standard_library_and_isodate() -> None:
    def allowed(found: Import) -> bool:
        return is_stdlib(found.module) or within(found.module, SHARED_MAY_IMPORT_BEYOND_STDLIB)

    rule = "app/shared imports only the standard library, isodate and app.shared"
    assert violations(sources("app/shared"), allowed, rule) == []


def test_a_broken_rule_names_the_file_line_and_import(tmp_path: Path) -> None:
    """The checker itself: a client module importing a model is reported, relative imports
    are resolved, and a deferred import is told apart from a top-level one."""
    probe = tmp_path / "cli" / "probe.py"
    probe.parent.mkdir()
    probe.write_text(
        "from app.models import db\nfrom . import client\n\ndef f():\n    import flask\n"
    )
    found = list(imports(probe, tmp_path))
    outside_app = violations(
        [probe], lambda item: not within(item.module, ("app",)), "rule", tmp_path
    )
    assert [(item.module, item.top_level) for item in found] == [
        ("app.models.db", True),
        ("cli.client", True),
        ("flask", False),
    ]
    assert outside_app == ["cli/probe.py:1 imports app.models.db (rule)"]


# --------------------------------------------------------------------------------------------
# API paths are written only in the client
# --------------------------------------------------------------------------------------------

API_PATH_PREFIX = "/torc-service"
# The client itself: the only code that writes API paths.
CLIENT_SOURCES = ("cli/client.py", "cli/api/")
# Code that calls the server and so must go through the client's methods.
CALLERS = ("cli", "runner", "tui", "dash", "bench", "scripts")


def api_resources() -> set[str]:
    """The first path segment of every server route (``workflows``, ``jobs``, ``ping``...)."""
    segments = set()
    for path in sources("app/api"):
        for node in ast.walk(ast.parse(path.read_text())):
            is_route = (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "route"
            )
            if is_route and node.args and isinstance(node.args[0], ast.Constant):
                segments.add(str(node.args[0].value).strip("/").split("/")[0].split("<")[0])
    return segments - {""}


def literal_text(node: ast.AST) -> tuple[str, str] | None:
    """A string literal's (leading text, whole text); an f-string's placeholders as ``{}``."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value, node.value
    if isinstance(node, ast.JoinedStr):
        parts = [v.value if isinstance(v, ast.Constant) else "{}" for v in node.values]
        return (parts[0] if parts else ""), "".join(map(str, parts))
    return None


def after_placeholder(node: ast.AST) -> list[str]:
    """An f-string's literal parts that follow a placeholder (``f"{url}/jobs"`` -> "/jobs")."""
    if not isinstance(node, ast.JoinedStr):
        return []
    values = node.values
    return [
        part.value
        for before, part in itertools.pairwise(values)
        if isinstance(before, ast.FormattedValue)
        and isinstance(part, ast.Constant)
        and isinstance(part.value, str)
    ]


def raw_paths(path: Path, resources: set[str], root: Path = REPO) -> list[str]:
    """``path:line: 'text'`` for each string that starts with an API path, joins one to a base
    URL, or names the API prefix."""
    endpoint = re.compile(rf"^/({'|'.join(sorted(resources))})(/|\?|$)")
    tree = ast.parse(path.read_text())
    inside_fstrings = {
        id(part)
        for node in ast.walk(tree)
        if isinstance(node, ast.JoinedStr)
        for part in node.values
    }
    found = []
    for node in ast.walk(tree):
        text = None if id(node) in inside_fstrings else literal_text(node)
        if text is None:
            continue
        leading, whole = text
        joined = any(endpoint.match(part) for part in after_placeholder(node))
        if endpoint.match(leading) or joined or API_PATH_PREFIX in whole:
            found.append((getattr(node, "lineno", 0), whole))
    return [f"{path.relative_to(root)}:{line}: {text!r}" for line, text in sorted(found)]


def test_only_the_client_writes_api_paths() -> None:
    resources = api_resources()
    assert {"workflows", "jobs", "compute_nodes", "ping"} <= resources
    callers = [
        path
        for path in sources(*CALLERS)
        if not str(path.relative_to(REPO)).startswith(CLIENT_SOURCES)
    ]
    found = [line for path in callers for line in raw_paths(path, resources)]
    assert found == [], "use (or add) a TorcClient method instead of an API path"


def test_the_path_check_finds_raw_paths(tmp_path: Path) -> None:
    probe = tmp_path / "probe.py"
    probe.write_text(
        'client.get(f"/workflows/{w}/status")\n'
        'path = "/jobs"\n'
        'url = f"http://{host}/torc-service/v1"\n'
        'note = "see PUT /jobs/{id}/..."\n'
        'local = "/tmp/x"\n'
        'report = f"{base_url}/workflows/{w}/detect_orphans"\n'
        'log = f"{directory}/job_stdio/{name}"\n'
    )
    found = raw_paths(probe, {"workflows", "jobs"}, tmp_path)
    assert found == [
        "probe.py:1: '/workflows/{}/status'",
        "probe.py:2: '/jobs'",
        "probe.py:3: 'http://{}/torc-service/v1'",
        "probe.py:6: '{}/workflows/{}/detect_orphans'",
    ]
