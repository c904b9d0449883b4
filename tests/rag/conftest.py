"""The CLI runner and the store fixtures live in tests/conftest.py (shared with tests/eval)."""

from ..conftest import run

__all__ = ["run"]
