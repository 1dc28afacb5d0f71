"""The apps import one another only downwards, in the layer order the README states (Development, "Layer order").

Every module under apps/ is parsed, and every import of another app is checked: at module level and inside
functions, `import apps.x`, `from apps.x import y`, `from apps import x` and relative imports that leave the app.
"""

import ast
import re
from pathlib import Path

from django.conf import settings

ROOT = Path(__file__).resolve().parents[2]
APPS = ROOT / "apps"


def layer_order() -> list[str]:
    match = re.search(r"^Layer order: (.+)$", (ROOT / "README.md").read_text(), re.MULTILINE)
    assert match, "README.md states no 'Layer order: core, audit, ...' line in its Development section"
    return [name.strip() for name in match.group(1).split(",")]


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imported_modules(node, module: str, is_package: bool) -> list[str]:
    """The absolute names an import statement reaches (for `from x import y`, both x and x.y)."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if node.level:  # relative: resolve against this module's package
        package = module.split(".") if is_package else module.split(".")[:-1]
        base = package[: len(package) - node.level + 1]
        origin = ".".join(base + ([node.module] if node.module else []))
    else:
        origin = node.module or ""
    return [origin] + [f"{origin}.{alias.name}" for alias in node.names]


def imports_of_other_apps(path: Path) -> list[tuple[int, str]]:
    """(line, app) for every import in `path` of an app other than its own."""
    module = _module_name(path)
    own = module.split(".")[1]
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if not isinstance(node, ast.Import | ast.ImportFrom):
            continue
        apps = set()
        for name in _imported_modules(node, module, path.name == "__init__.py"):
            parts = name.split(".")
            if parts[0] == "apps" and len(parts) > 1 and (APPS / parts[1]).is_dir() and parts[1] != own:
                apps.add(parts[1])
        found += [(node.lineno, app) for app in sorted(apps)]
    return sorted(found)


def upward_imports(order: list[str]) -> list[str]:
    rank = {app: index for index, app in enumerate(order)}
    problems = []
    for path in sorted(APPS.rglob("*.py")):
        own = path.relative_to(APPS).parts[0]
        if own not in rank:
            continue  # reported by test_every_app_has_a_place_in_the_layer_order
        for line, app in imports_of_other_apps(path):
            if app not in rank or rank[app] > rank[own]:
                problems.append(f"{path.relative_to(ROOT)}:{line}: {own} imports {app}, which comes later")
    return problems


def test_every_app_has_a_place_in_the_layer_order():
    apps = sorted(path.name for path in APPS.iterdir() if (path / "apps.py").exists())
    assert sorted(layer_order()) == apps


def test_installed_apps_follow_the_layer_order():
    installed = [name.removeprefix("apps.") for name in settings.INSTALLED_APPS if name.startswith("apps.")]
    assert installed == layer_order()


def test_no_app_imports_a_later_app():
    assert upward_imports(layer_order()) == []


def test_an_upward_import_is_named_with_its_file_and_line():
    # The checker itself: in the order reversed, core's imports of nothing pass and audit's of core do not.
    problems = upward_imports(list(reversed(layer_order())))

    assert any(re.fullmatch(r"apps/audit/models\.py:\d+: audit imports core, which comes later", p) for p in problems)


def test_imports_inside_functions_and_relative_imports_are_seen(tmp_path, monkeypatch):
    package = tmp_path / "apps" / "audit"
    package.mkdir(parents=True)
    source = "def later():\n    from apps.accounts import permissions\n\nfrom ..compliance import models\n"
    (package / "sneaky.py").write_text(source)
    monkeypatch.setitem(globals(), "ROOT", tmp_path)
    monkeypatch.setitem(globals(), "APPS", tmp_path / "apps")
    (tmp_path / "apps" / "accounts").mkdir()
    (tmp_path / "apps" / "compliance").mkdir()

    assert imports_of_other_apps(package / "sneaky.py") == [(2, "accounts"), (4, "compliance")]
