"""Shared fixtures. Real-data tests use ../shared/data and skip cleanly where it is absent."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

#: The app tests' fixtures (main-window factory, small projects) live in tests/app_support.py.
pytest_plugins = ["tests.app_support"]

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("DEFORMLEARN_SHARED_DATA", REPO_ROOT.parent / "shared" / "data"))


@pytest.fixture(scope="session", autouse=True)
def _lifter_cache(tmp_path_factory) -> None:
    """Rounds on small projects train the synthetic lifter once: cache it in the session's temp folder, never in
    the user's data folder (subprocesses inherit the variable)."""
    os.environ.setdefault("DEFORMLEARN_LIFTER_CACHE", str(tmp_path_factory.mktemp("lifters")))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """../shared/data, or skip the test when it is not beside the checkout."""
    if not SHARED_DATA.is_dir():
        pytest.skip("../shared/data is absent")
    return SHARED_DATA


@pytest.fixture(scope="session")
def builtin_template():
    from deformlearn.core.body.template import load_builtin_template

    return load_builtin_template()
