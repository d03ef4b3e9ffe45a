"""Fixtures shared by the test files (pytest finds them by name; nothing here imports jax or torch)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def repo_root() -> Path:
    """The repository root (README.md, pyproject.toml, notebooks/ ...)."""
    return ROOT


@pytest.fixture(scope="session")
def readme(repo_root) -> str:
    """README.md's text."""
    return (repo_root / "README.md").read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def one_blas_thread():
    """Small matrices on a shared 2-core machine: BLAS (and torch, when loaded) threads only contend.

    Use it as ``pytestmark = pytest.mark.usefixtures("one_blas_thread")``; the thread counts are
    restored afterwards.
    """
    import threadpoolctl  # a scikit-learn dependency, so always installed with the project

    torch = sys.modules.get("torch")
    threads = torch.get_num_threads() if torch is not None else None
    if torch is not None:
        torch.set_num_threads(1)
    try:
        with threadpoolctl.threadpool_limits(limits=1, user_api="blas"):
            yield
    finally:
        if torch is not None:
            torch.set_num_threads(threads)
