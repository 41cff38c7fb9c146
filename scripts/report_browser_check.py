"""Open a report in headless Chromium and check it loads cleanly (used by the report tests).

Chromium is driven over the DevTools protocol (a stdlib-only WebSocket client below, so the
check needs nothing beyond Python and the browser): the page is loaded from a file URL and we
record every console error, uncaught exception, browser log error and network request, check
that every image decoded, and save a full-page screenshot. Parsing ``--enable-logging`` output
instead would depend on log formats that change between Chromium versions; protocol events do
not.

Usage: python scripts/report_browser_check.py REPORT.html SCREENSHOT.png [--chromium PATH]
Prints a JSON summary; exit code 0 when clean, 1 when problems were found, 2 on failure.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

CHROMIUM_FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--remote-debugging-port=0", "--window-size=1280,900", "--hide-scrollbars",
)
SETTLE_SECONDS = 1.0  # keep listening after the load event for late errors or requests


class WebSocket:
    """The smallest RFC 6455 client the DevTools protocol needs (text frames, client masking)."""

    def __init__(self, host: str, port: int, path: str, timeout: float) -> None:
        self.sock = socket.create_connection((host, port), timeout=timeout)
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall((f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
                           f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                           "Sec-WebSocket-Version: 13\r\n\r\n").encode())
        response = b""
        while b"\r\n\r\n" not in response:
            chunk = self.sock.recv(4096)
            if not chunk:
                raise ConnectionError("DevTools closed the connection during the handshake")
            response += chunk
        if b" 101 " not in response.split(b"\r\n", 1)[0]:
            raise ConnectionError(f"WebSocket handshake refused: {response[:200]!r}")
        self.buffer = response.split(b"\r\n\r\n", 1)[1]

    def send(self, text: str) -> None:
        payload = text.encode()
        header = bytes([0x81])
        if len(payload) < 126:
            header += bytes([0x80 | len(payload)])
        elif len(payload) < 1 << 16:
            header += bytes([0x80 | 126]) + struct.pack(">H", len(payload))
        else:
            header += bytes([0x80 | 127]) + struct.pack(">Q", len(payload))
        mask = os.urandom(4)
        self.sock.sendall(header + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload)))

    def _next_frame(self) -> tuple[int, bytes]:
        """(first header byte, payload) of the next whole frame.

        Bytes leave the buffer only once a whole frame has arrived, so a socket timeout in
        the middle of a frame loses nothing.
        """
        while True:
            frame = self._parse(self.buffer)
            if frame is not None:
                first, payload, used = frame
                self.buffer = self.buffer[used:]
                return first, payload
            chunk = self.sock.recv(1 << 16)
            if not chunk:
                raise ConnectionError("DevTools connection closed")
            self.buffer += chunk

    @staticmethod
    def _parse(data: bytes) -> tuple[int, bytes, int] | None:
        if len(data) < 2:
            return None
        length, offset = data[1] & 0x7F, 2
        if length == 126:
            if len(data) < 4:
                return None
            length, offset = struct.unpack(">H", data[2:4])[0], 4
        elif length == 127:
            if len(data) < 10:
                return None
            length, offset = struct.unpack(">Q", data[2:10])[0], 10
        if len(data) < offset + length:
            return None
        return data[0], data[offset:offset + length], offset + length

    def receive(self) -> str:
        message = b""
        while True:
            first, payload = self._next_frame()
            opcode = first & 0x0F
            if opcode == 0x8:
                raise ConnectionError("DevTools closed the connection")
            if opcode in (0x9, 0xA):  # ping/pong: not used by DevTools, ignored
                continue
            message += payload
            if first & 0x80:
                return message.decode()


class DevTools:
    """Commands and events over one flattened DevTools session."""

    def __init__(self, ws: WebSocket) -> None:
        self.ws = ws
        self.next_id = 0
        self.events: list[dict[str, Any]] = []
        self.session: str | None = None

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        self.next_id += 1
        message: dict[str, Any] = {"id": self.next_id, "method": method, "params": params}
        if self.session is not None:
            message["sessionId"] = self.session
        self.ws.send(json.dumps(message))
        while True:
            reply = json.loads(self.ws.receive())
            if reply.get("id") == self.next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            self.events.append(reply)

    def wait_for(self, method: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not any(e.get("method") == method for e in self.events):
            if time.monotonic() > deadline:
                raise TimeoutError(f"no {method} within {timeout} s")
            self.events.append(json.loads(self.ws.receive()))

    def listen(self, seconds: float) -> None:
        self.ws.sock.settimeout(seconds)
        try:
            while True:
                self.events.append(json.loads(self.ws.receive()))
        except TimeoutError:
            pass


def _devtools_endpoint(profile: Path, timeout: float) -> tuple[int, str]:
    port_file = profile / "DevToolsActivePort"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if port_file.is_file():
            lines = port_file.read_text().split()
            if len(lines) >= 2:
                return int(lines[0]), lines[1]
        time.sleep(0.1)
    raise TimeoutError("Chromium did not open its DevTools port")


def problems_from_events(events: list[dict[str, Any]], page_url: str) -> dict[str, list[str]]:
    """Console errors, exceptions, log errors and every request other than the page itself."""
    found: dict[str, list[str]] = {"console_errors": [], "requests": []}
    for event in events:
        method, params = event.get("method"), event.get("params", {})
        if method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
            found["console_errors"].append(" ".join(str(a.get("value", a.get("description")))
                                                    for a in params.get("args", [])))
        elif method == "Runtime.exceptionThrown":
            found["console_errors"].append(str(params["exceptionDetails"].get("text")))
        elif method == "Log.entryAdded" and params["entry"].get("level") == "error":
            found["console_errors"].append(str(params["entry"].get("text")))
        elif method == "Network.requestWillBeSent":
            url = params["request"]["url"]
            if url != page_url and not url.startswith("data:"):
                found["requests"].append(url)
    return found


def _stop(process: subprocess.Popen) -> None:
    """Stop the browser we started and every helper process in its session."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(10)
            time.sleep(0.3)  # let the helpers of the group exit too
            os.killpg(process.pid, 0)  # raises once the whole group is gone
        except (subprocess.TimeoutExpired, PermissionError):
            continue
        except ProcessLookupError:
            return


def check_page(html: Path, screenshot: Path, chromium: str, timeout: float = 60.0) -> dict:
    """Load ``html`` in a fresh headless Chromium profile; return what was found."""
    page_url = html.resolve().as_uri()
    # Chromium's helper processes may still write to the profile for a moment after the
    # browser exits: its whole process group is stopped before the profile is removed.
    with tempfile.TemporaryDirectory(prefix="report-chromium-",
                                     ignore_cleanup_errors=True) as profile:
        process = subprocess.Popen([chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile}",
                                    "about:blank"], stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL, start_new_session=True)
        try:
            port, path = _devtools_endpoint(Path(profile), timeout)
            tools = DevTools(WebSocket("127.0.0.1", port, path, timeout))
            target = tools.call("Target.createTarget", url="about:blank")["targetId"]
            tools.session = tools.call("Target.attachToTarget", targetId=target,
                                       flatten=True)["sessionId"]
            for domain in ("Runtime", "Log", "Network", "Page"):
                tools.call(f"{domain}.enable")
            started = time.monotonic()
            tools.call("Page.navigate", url=page_url)
            tools.wait_for("Page.loadEventFired", timeout)
            load_seconds = time.monotonic() - started
            tools.listen(SETTLE_SECONDS)
            tools.ws.sock.settimeout(timeout)
            images = tools.call("Runtime.evaluate", returnByValue=True, expression=(
                "Array.from(document.images).map(i => i.complete && i.naturalWidth > 0)"))
            sections = tools.call("Runtime.evaluate", returnByValue=True,
                                  expression="document.querySelectorAll('section').length")
            size = tools.call("Page.getLayoutMetrics")["cssContentSize"]
            shot = tools.call("Page.captureScreenshot", format="png", captureBeyondViewport=True,
                              clip={"x": 0, "y": 0, "width": size["width"],
                                    "height": size["height"], "scale": 1})
            screenshot.parent.mkdir(parents=True, exist_ok=True)
            screenshot.write_bytes(base64.b64decode(shot["data"]))
        finally:
            _stop(process)
    image_flags = images["result"]["value"]
    return {**problems_from_events(tools.events, page_url), "images": len(image_flags),
            "images_broken": image_flags.count(False), "sections": sections["result"]["value"],
            "load_seconds": round(load_seconds, 2), "screenshot": str(screenshot),
            "page_height_px": size["height"]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("html", type=Path)
    parser.add_argument("screenshot", type=Path)
    parser.add_argument("--chromium", default="chromium")
    parser.add_argument("--timeout", type=float, default=60.0)
    args = parser.parse_args()
    try:
        result = check_page(args.html, args.screenshot, args.chromium, args.timeout)
    except (OSError, TimeoutError, ConnectionError, RuntimeError) as exc:
        print(json.dumps({"failure": f"{type(exc).__name__}: {exc}"}))
        return 2
    print(json.dumps(result, indent=2))
    clean = not result["console_errors"] and not result["requests"] and not result[
        "images_broken"]
    return 0 if clean else 1


if __name__ == "__main__":
    sys.exit(main())
