import os
import shutil

import pytest

from tests.browser.live import CHROMIUM, console_server


def pytest_collection_modifyitems(items):
    for item in items:
        if "tests/browser" in str(item.fspath):
            item.add_marker(pytest.mark.browser)


@pytest.fixture
def live_console(engine, fresh_db):
    if not os.path.exists(CHROMIUM) and not shutil.which("chromium"):
        if os.environ.get("CI"):
            pytest.fail("Chromium is missing on CI: .ci/browser-deps.sh should have installed it")
        pytest.skip("Debian chromium not installed (run: bash .ci/browser-deps.sh)")
    with console_server(fresh_db) as url:
        yield url
