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


def test_the_wheel_holds_the_shipped_models_and_prompts(tmp_path):
    """Data-only folders not listed as packages are left out of wheels by newer setuptools ("Package would be
    ignored"): build the wheel (from a copy, so the checkout gets no build folder) and look for every shipped
    model file and prompt in it."""
    import shutil
    import subprocess
    import sys
    import zipfile

    source = tmp_path / "src"
    for top in ("rag", "retrievers", "prompts", "ui", "eval"):
        shutil.copytree(ROOT / top, source / top, ignore=shutil.ignore_patterns("__pycache__", ".*"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copyfile(ROOT / name, source / name)
    build = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", str(source)]
    subprocess.run([*build, "-w", str(tmp_path)], check=True, capture_output=True)
    (wheel,) = tmp_path.glob("*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    expected = {
        path.relative_to(ROOT).as_posix()
        for folder in (ROOT / "retrievers" / "models", ROOT / "prompts" / "files")
        for path in folder.rglob("*")
        if path.is_file() and not any(part.startswith(".") for part in path.relative_to(folder).parts)
    }
    assert expected and expected - names == set()
