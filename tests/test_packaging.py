"""The wheel holds every package: a sub-package missing from pyproject's list works from the checkout (an
editable install) but is absent from an installed wheel."""

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_every_package_is_listed_in_pyproject():
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {
        ".".join(init.parent.relative_to(ROOT).parts)
        for top in ("rag", "retrievers", "prompts", "ui", "eval")
        for init in (ROOT / top).rglob("__init__.py")
    }
    assert found - listed == set()
