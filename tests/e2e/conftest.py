"""`sylo demo --serve` in a subprocess and Debian's Chromium driven by Playwright.

Nothing downloads at test time: Playwright launches /usr/bin/chromium (the Makefile installs
Debian's package), never a browser of its own.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright

from tests import services

CHROMIUM = "/usr/bin/chromium"
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
# As the machine notes advise: without these, Chromium keeps calling Google's hosts on a closed network.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
LINK = re.compile(r"^Sign in as (\S+) .*?(http://\S+/login/\S+)$", re.MULTILINE)
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}  # a current phone, in CSS pixels


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class DemoServer:
    """`sylo demo --serve` in its own working directory; its sign-in links, and the CLI on its data."""

    def __init__(self, workdir: Path, users: int = 1, scale: float = 0.3):
        self.workdir, self.port = workdir, _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = workdir / "demo.log"
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("SYLO_")}
        self.env |= {"SYLO_LOG_LEVEL": "WARNING", "SYLO_DATA_DIR": str(workdir / ".sylo"), "PYTHONUNBUFFERED": "1"}
        with self.log.open("wb") as log:
            command = [self._sylo(), "demo", "--serve", "--users", str(users), "--scale", str(scale),
                       "--port", str(self.port)]
            self.process = subprocess.Popen(command, cwd=workdir, env=self.env, stdout=log, stderr=subprocess.STDOUT)
        self.links = self._wait_until_serving(timeout=90)

    @staticmethod
    def _sylo() -> str:
        return str(Path(sys.executable).with_name("sylo"))

    def _wait_until_serving(self, timeout: float) -> dict[str, str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"sylo demo exited with {self.process.returncode}:\n{self.output()}")
            links = dict(LINK.findall(self.output()))
            if len(links) == 2 and self._healthy():
                return links
            time.sleep(0.3)
        raise RuntimeError(f"sylo demo did not serve within {timeout:g} s:\n{self.output()}")

    def _healthy(self) -> bool:
        try:
            return httpx.get(f"{self.url}/healthz", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def cli(self, *args: str) -> str:
        """Run `sylo ARGS` on the demo's data directory and return what it printed."""
        done = subprocess.run([self._sylo(), *args], check=False, cwd=self.workdir, env=self.env, capture_output=True,
                              text=True, timeout=60)
        if done.returncode:
            raise RuntimeError(f"sylo {' '.join(args)} failed: {done.stderr}")
        return done.stdout

    def login_link(self, user_id: str) -> str:
        token = self.cli("users", "login-link", user_id).split()[0].rsplit("/", 1)[1]
        return f"{self.url}/login/{token}"

    def send(self, user_id: str, body: dict, message_id: str | None = None) -> httpx.Response:
        """A signed command, as an agent sends it: `sylo sign` for the headers, then POST /v1/commands."""
        raw = json.dumps(body)
        args = ["sign", "--user", user_id] + (["--id", message_id] if message_id else []) + [raw]
        headers = dict(line.split(": ", 1) for line in self.cli(*args).splitlines())
        return httpx.post(f"{self.url}/v1/commands", content=raw, timeout=30,
                          headers={"Content-Type": "application/json", "X-Sylo-User": user_id, **headers})

    def token(self, user_id: str) -> str:
        """The API token the demo printed for one of its studios."""
        return re.search(rf"^  {re.escape(user_id)}  API token (sylo_\S+)", self.output(), re.MULTILINE).group(1)

    def command(self, user_id: str, command_id: str) -> dict:
        """A command as its agent sees it: GET /v1/commands/<id>."""
        return httpx.get(f"{self.url}/v1/commands/{command_id}", timeout=10,
                         headers={"Authorization": f"Bearer {self.token(user_id)}"}).json()

    def settled(self, user_id: str, answer: httpx.Response, timeout: float = 60) -> dict:
        """The command once the outbox has delivered it (the first try may outlast the API's wait)."""
        deadline = time.monotonic() + timeout
        command = answer.json()
        while command["status"] in ("queued", "delivering") and time.monotonic() < deadline:
            time.sleep(0.5)
            command = self.command(user_id, command["id"])
        return command

    @property
    def exports(self) -> Path:
        return self.workdir / ".sylo" / "exports"

    def stop(self) -> None:
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> Iterator[DemoServer]:
    server = DemoServer(tmp_path_factory.mktemp("demo"))
    yield server
    server.stop()


def _require_chromium() -> None:
    if shutil.which(CHROMIUM):
        return
    message = f"{CHROMIUM} is missing: `make test` installs Debian's chromium (apt-get install chromium)"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message, pytrace=False)
    if message not in services.MISSING:
        services.MISSING.append(message)
    pytest.skip(message)


# Module scope: Playwright's sync API keeps an event loop on this thread, so it must end before other tests run.
@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    _require_chromium()
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    """A fresh profile that may use the clipboard, as a person who allowed it would."""
    made = browser.new_context(permissions=["clipboard-read", "clipboard-write"], viewport=DESKTOP)
    made.set_default_timeout(15_000)
    yield made
    made.close()


@pytest.fixture(scope="session")
def screenshots() -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS


class Shots:
    """Full-page screenshots, numbered in the order they were taken, under one prefix per test."""

    def __init__(self, directory: Path, prefix: str):
        self.directory, self.prefix, self.count = directory, prefix, 0
        for old in directory.glob(f"{prefix}-*.png"):
            old.unlink()

    def __call__(self, page: Page, name: str, full_page: bool = True) -> Path:
        self.count += 1
        path = self.directory / f"{self.prefix}-{self.count:02d}-{name}.png"
        page.screenshot(path=str(path), full_page=full_page)
        return path
