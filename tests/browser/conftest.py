"""Browser fixtures: Debian's chromium (installed with apt when missing) and the real app under uvicorn.

Playwright drives the system chromium through ``executable_path``; ``playwright install``
(which downloads browsers) is never used.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "build" / "screenshots"
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# Without a CJK font the zh-CN pages (and their screenshots) render as boxes.
APT_PACKAGES = ["chromium", "fonts-noto-cjk"]


def _find_chromium() -> str | None:
    return shutil.which("chromium") or (shutil.which("/usr/bin/chromium"))


def _apt(*args: str, timeout: int) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    return subprocess.run(
        ["apt-get", *args], capture_output=True, text=True, timeout=timeout, env=env, check=False
    )


@pytest.fixture(scope="session")
def chromium_path() -> str:
    path = _find_chromium()
    if path is None and hasattr(os, "geteuid") and os.geteuid() == 0 and shutil.which("apt-get"):
        try:
            update = _apt("update", timeout=300)
            if update.returncode == 0:
                install = _apt("install", "-y", "--no-install-recommends", *APT_PACKAGES, timeout=900)
                if install.returncode != 0:
                    sys.stderr.write(install.stdout[-2000:] + install.stderr[-2000:])
            else:
                sys.stderr.write(update.stderr[-2000:])
        except subprocess.TimeoutExpired:
            sys.stderr.write("apt-get timed out while installing chromium\n")
        path = _find_chromium()
    if path is None:
        pytest.skip(
            "browser tests need Debian's chromium at /usr/bin/chromium "
            "(as root: apt-get update && apt-get install -y chromium)"
        )
    return path


@pytest.fixture(scope="session")
def browser(chromium_path: str) -> Iterator[Any]:
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=chromium_path, headless=True, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass(frozen=True)
class LiveServer:
    url: str
    bank_code: str
    bank_name: str
    username: str
    password: str
    posted_minor: int


@pytest.fixture(scope="session")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    import uvicorn
    from tests.conftest import create_bank

    from dipper.accounting.commands import PostingLine, PostJournalEntry
    from dipper.bootstrap import bootstrap
    from dipper.entrypoints.http.app import create_app
    from dipper.kernel.uow import Actor
    from dipper.persistence.migrate import upgrade
    from dipper.settings import Settings

    db = tmp_path_factory.mktemp("browser") / "console.db"
    container = bootstrap(Settings(database_url=f"sqlite:///{db}", environment="test"))
    upgrade(container.engine)
    bank = create_bank(container, "长江农商银行")
    posted = 123_456_789
    container.handle(
        PostJournalEntry(
            tenant_id=bank.tenant_id,
            client_key=f"browser-{uuid.uuid4().hex}",
            value_date=container.clock.today(),
            description="注册资本到账",
            lines=(
                PostingLine(account_code="1002", currency="CNY", debit_minor=posted),
                PostingLine(account_code="4001", currency="CNY", credit_minor=posted),
            ),
        ),
        actor=Actor(kind="user", id=bank.admin_id, name="admin"),
        tenant_id=bank.tenant_id,
    )

    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(container), host="127.0.0.1", port=port, log_level="warning", access_log=False
        )
    )
    thread = threading.Thread(target=server.run, name="uvicorn-console", daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the console server did not start")
        time.sleep(0.05)
    try:
        yield LiveServer(
            url=f"http://127.0.0.1:{port}",
            bank_code=bank.code,
            bank_name="长江农商银行",
            username="admin",
            password=bank.admin_password,
            posted_minor=posted,
        )
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        container.dispose()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(
        viewport={"width": 1360, "height": 860}, locale="zh-CN", timezone_id="Asia/Shanghai"
    )
    p = context.new_page()
    try:
        yield p
    finally:
        context.close()


@pytest.fixture(scope="session")
def screenshots() -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS
