"""browser.py: a headless Chromium for the demo's browser tests: Debian's /usr/bin/chromium when it is
installed, else playwright's own (`python -m playwright install --with-deps chromium`); the test is
skipped, with the reasons, only when neither starts."""

import os

import pytest

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]


def launch(playwright):
    """A headless Chromium browser (close it when done)."""
    problems = []
    if os.path.exists(CHROMIUM):
        try:
            return playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        except Exception as err:  # a broken system browser: try playwright's own
            problems.append(f"{CHROMIUM}: {' '.join(str(err).split())[:200]}")
    else:
        problems.append(f"no {CHROMIUM}")
    try:
        return playwright.chromium.launch(headless=True, args=ARGS)
    except Exception as err:
        problems.append(f"playwright's Chromium: {' '.join(str(err).split())[:200]}")
    pytest.skip(
        "no Chromium to run (apt-get install -y chromium, or python -m playwright install chromium): "
        + "; ".join(problems)
    )
