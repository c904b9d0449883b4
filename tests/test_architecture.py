"""The size limits of docs/architecture.md, kept by the suite: no module over 400 lines and no function over
80, in the packages (tests and research scripts apart), so that each stage stays one file a newcomer can read."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("rag", "retrievers", "eval", "ui", "prompts")
MODULE_LINES, FUNCTION_LINES = 400, 80


def modules() -> list[Path]:
    return sorted(p for package in PACKAGES for p in (ROOT / package).rglob("*.py"))


def test_the_packages_are_found():
    assert len(modules()) > 50


def test_no_module_is_over_400_lines():
    too_long = {str(p.relative_to(ROOT)): n for p in modules() if (n := len(p.read_text().splitlines())) > MODULE_LINES}
    assert too_long == {}


def test_no_function_is_over_80_lines():
    too_long = {}
    for path in modules():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                if (n := node.end_lineno - node.lineno + 1) > FUNCTION_LINES:
                    too_long[f"{path.relative_to(ROOT)}:{node.name}"] = n
    assert too_long == {}


def test_every_package_lists_its_public_api():
    """Each package's `__init__` names what it offers (`__all__`), and every name there resolves."""
    import importlib

    for init in sorted(p for package in PACKAGES for p in (ROOT / package).rglob("__init__.py")):
        name = ".".join(init.parent.relative_to(ROOT).parts)
        module = importlib.import_module(name)
        assert getattr(module, "__all__", None), f"{name} has no __all__"
        missing = [n for n in module.__all__ if not hasattr(module, n)]
        assert missing == [], f"{name}: {missing}"
