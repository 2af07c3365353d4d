"""Debian's headless Chromium driven by Playwright (never a downloaded browser build)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.support.servers import ROOT

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# Screenshots of the browser tests (ignored by git).
ARTIFACTS = ROOT / "test-artifacts"


def sync_api():
    """Playwright's sync API; the test is skipped without Playwright, fails without Chromium."""
    api = pytest.importorskip("playwright.sync_api")
    assert Path(CHROMIUM).exists(), "Chromium is required: run `make test-deps`"
    return api


def launch(playwright):
    return playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
