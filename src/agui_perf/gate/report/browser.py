"""Look at `report.html` the way a reader's browser draws it: headless Chromium, DevTools protocol.

Why a browser: an SVG chart can be valid XML and still say nothing to a reader (every point
on one line, axis labels printed over each other, a figure with nothing drawn), and a page can
try to fetch something or run a script only when a browser loads it. Those show only once the
page is laid out.

How: Chromium started with `--remote-debugging-pipe` speaks the Chrome DevTools Protocol on
its file descriptors 3 (commands in) and 4 (responses and events out), one JSON message per
NUL byte. A pipe opens no port and needs no WebSocket client: the whole client is `_Pipe`.
Chromium runs in a process group of its own, which is killed when the inspection ends, so no
renderer or helper process outlives it, whatever happened.

What `inspect_page` reports (`PageView`):
- script errors: uncaught exceptions, `console.error`, and browser log entries of level
  error (a Content-Security-Policy violation, a failed load);
- every request for a URL that is not `file:`, `data:`, `about:` or `blob:` that went out: the
  report must work offline and must not tell anyone that it was opened (one the page's
  Content-Security-Policy stopped is listed apart, and its violation is an error);
- per `<figure>` (the report wraps every chart in one): its size, how many data shapes of
  the chart's series are drawn with a non-empty box, which axis or legend labels overlap (or
  stand closer than 2 px side by side) and which are cut off at the chart's edge;
- with `screenshots=DIR`: one PNG per figure, clipped to it, plus one of the budget section.

`python -m agui_perf.gate.report.browser REPORT.html [--screenshots DIR]` prints the findings;
exit 0 when there are none, 1 when there are, 2 when the page cannot be inspected (no
Chromium, no such file), with one line on stderr.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import fcntl
import json
import os
import queue
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agui_perf.gate.errors import GateError

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

__all__ = [
    "BROWSER_ENV",
    "BROWSER_NAMES",
    "ChartView",
    "PageView",
    "find_browser",
    "inspect_page",
    "main",
]

#: Names tried on PATH, in order: Debian's package, Ubuntu's, Google's build.
BROWSER_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
#: An explicit browser executable, tried before the names.
BROWSER_ENV = "AGUI_PERF_CHROMIUM"
#: Seconds any one protocol step may take. Generous: the machine may be loaded many times over,
#: and nothing here is a timing measurement.
STEP_TIMEOUT_S = 120.0
_LOCAL_SCHEMES = ("file:", "data:", "about:", "blob:")
_HINT = "install Chromium (Debian: apt-get install chromium) or set AGUI_PERF_CHROMIUM"
_FLAGS = (
    "--headless",
    "--disable-gpu",
    # Root (CI, containers) cannot use Chromium's sandbox; the page is our own report.
    "--no-sandbox",
    "--remote-debugging-pipe",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-extensions",
    # Chromium's own background traffic (updates, safe browsing) would show as requests.
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--mute-audio",
    "--hide-scrollbars",
    "about:blank",
)

# Runs in the child: the pipe's ends onto fds 3 and 4 (dup2 makes them inheritable), then exec.
_TRAMPOLINE = (
    "import os, sys; r, w = int(sys.argv[1]), int(sys.argv[2]); os.dup2(r, 3); os.dup2(w, 4); "
    "os.execv(sys.argv[3], sys.argv[3:])"
)

# Collected in the page: each figure's box, its drawn data shapes and its label boxes. pygal
# draws a chart's data in `.series` groups (guides and the background are elsewhere), its axis
# labels as <text> in `.axis` groups and the legend in `.legends`.
_MEASURE_JS = r"""
(() => {
  const box = (el) => {
    const r = el.getBoundingClientRect();
    return {x: r.left + window.scrollX, y: r.top + window.scrollY, width: r.width,
            height: r.height};
  };
  const shown = (el) => {
    const style = getComputedStyle(el);
    return style.display !== "none" && style.visibility !== "hidden";
  };
  const overlaps = (labels) => {
    const found = [];
    for (let i = 0; i < labels.length; i++) {
      for (let j = i + 1; j < labels.length; j++) {
        const a = labels[i].box, b = labels[j].box;
        // Side by side, labels closer than 2 px read as one ("1.00 MiB2.00 MiB"); one above
        // the other, only a real overlap counts (text boxes include the line's leading).
        const dx = Math.min(a.x + a.width, b.x + b.width) - Math.max(a.x, b.x);
        const dy = Math.min(a.y + a.height, b.y + b.height) - Math.max(a.y, b.y);
        if (dx > -2 && dy > 0.5) found.push([labels[i].text, labels[j].text]);
      }
    }
    return found;
  };
  const figures = [];
  for (const figure of document.querySelectorAll("figure")) {
    const svg = figure.querySelector("svg");
    const view = {id: svg ? svg.id : "", title: figure.getAttribute("aria-label") || "",
                  box: box(figure), shapes: 0, labels: 0, overlaps: [], clipped: []};
    if (svg) {
      const shapes = svg.querySelectorAll(
        ".series path, .series rect, .series circle, .series line, .series polyline");
      view.shapes = [...shapes].filter((el) => {
        const r = el.getBoundingClientRect();
        return shown(el) && (r.width > 0 || r.height > 0);
      }).length;
      for (const group of svg.querySelectorAll(".axis.x, .axis.y, .legends")) {
        // A legend's colour squares count too: a long entry must not run over the next one.
        const labels = [...group.querySelectorAll("text, rect")]
          .filter((t) => shown(t) && (t.tagName === "rect" || t.textContent.trim()))
          .map((t) => ({text: t.tagName === "rect" ? "■" : t.textContent.trim(), box: box(t)}));
        view.labels += labels.length;
        view.overlaps.push(...overlaps(labels));
        // Text past the chart's own edge is cut off by the <svg> viewport.
        const edge = box(svg);
        view.clipped.push(...labels.filter((l) =>
          l.box.x < edge.x - 0.5 || l.box.x + l.box.width > edge.x + edge.width + 0.5 ||
          l.box.y < edge.y - 0.5 || l.box.y + l.box.height > edge.y + edge.height + 0.5
        ).map((l) => l.text));
      }
    }
    figures.push(view);
  }
  const sections = {};
  for (const section of document.querySelectorAll("section[id]")) {
    sections[section.id] = box(section);
  }
  return {title: document.title, figures, sections};
})()
"""


@dataclass(frozen=True)
class ChartView:
    """One `<figure>` as the browser laid it out (CSS pixels)."""

    id: str  # the chart's svg id ("chart-agui-perf-latency"); "" when the figure has no svg
    title: str  # the figure's aria-label
    width: float
    height: float
    shapes: int  # data shapes of the chart's series drawn with a non-empty box
    labels: int  # axis and legend labels shown
    overlaps: tuple[tuple[str, str], ...]  # pairs of labels whose boxes overlap
    clipped: tuple[str, ...] = ()  # labels that reach past the chart's edge (cut off)

    @property
    def problems(self) -> list[str]:
        name = self.id or self.title or "a figure"
        found = []
        if self.width < 1 or self.height < 1:
            found.append(f"{name} is not drawn ({self.width:.0f} x {self.height:.0f} px)")
        if self.shapes == 0:
            found.append(f"{name} draws no data")
        found += [f"{name}: labels {a!r} and {b!r} overlap" for a, b in self.overlaps]
        found += [f"{name}: label {text!r} is cut off at the chart's edge" for text in self.clipped]
        return found


@dataclass(frozen=True)
class PageView:
    """What loading one page showed."""

    url: str
    title: str
    charts: tuple[ChartView, ...]
    errors: tuple[str, ...]  # script errors and browser log errors, in order
    requests: tuple[str, ...]  # URLs fetched beyond file:, data:, about: and blob:
    screenshots: tuple[Path, ...] = ()
    blocked: tuple[str, ...] = ()  # such URLs the page's policy stopped before they went out

    @property
    def problems(self) -> list[str]:
        found = [f"script or load error: {error}" for error in self.errors]
        found += [f"fetched from the network: {url}" for url in self.requests]
        for chart in self.charts:
            found += chart.problems
        return found


def find_browser() -> str | None:
    """The Chromium executable to use: `$AGUI_PERF_CHROMIUM`, else the first of BROWSER_NAMES."""
    explicit = os.environ.get(BROWSER_ENV, "").strip()
    if explicit:
        return shutil.which(explicit)
    for name in BROWSER_NAMES:
        found = shutil.which(name)
        if found:
            return found
    return None


def _tail(log: Path) -> str:
    """The last line Chromium wrote, for an error message (its log goes with its profile)."""
    try:
        lines = [line for line in log.read_text(errors="replace").splitlines() if line.strip()]
    except OSError:
        return "none"
    return lines[-1][-300:] if lines else "none"


class _Pipe:
    """The DevTools protocol over Chromium's pipe: requests by id, events kept in order."""

    def __init__(self, commands: int, replies: int, log: Path) -> None:
        self._commands = os.fdopen(commands, "wb", buffering=0)
        self._replies = os.fdopen(replies, "rb", buffering=0)
        self._log = log
        self._next_id = 0
        self._inbox: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self.events: list[dict[str, Any]] = []
        # A thread reads, so that a slow or silent browser is a bounded wait, never a hang.
        self._reader = threading.Thread(target=self._read, name="devtools-pipe", daemon=True)
        self._reader.start()

    def _read(self) -> None:
        buffer = b""
        try:
            while chunk := self._replies.read(65536):
                buffer += chunk
                *messages, buffer = buffer.split(b"\0")
                for message in messages:
                    self._inbox.put(json.loads(message))
        except (OSError, ValueError):
            pass
        finally:
            self._inbox.put(None)  # end of stream: the browser is gone

    def _receive(self, what: str) -> dict[str, Any]:
        try:
            message = self._inbox.get(timeout=STEP_TIMEOUT_S)
        except queue.Empty:
            raise GateError(
                f"Chromium did not answer within {STEP_TIMEOUT_S:g} s while waiting for "
                f"{what} (its last output: {_tail(self._log)}) — rerun; if it persists, run "
                "chromium --headless --dump-dom on the page by hand to see why"
            ) from None
        if message is None:
            self._inbox.put(None)  # every later wait sees the end too
            raise GateError(
                f"Chromium exited while waiting for {what} (its last output: {_tail(self._log)}) "
                f"— {_HINT}"
            )
        return message

    def call(
        self, method: str, params: dict[str, Any] | None = None, *, session: str | None = None
    ) -> Any:
        """Send one command and wait for its result (`session`: the page's, once attached)."""
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        try:
            self._commands.write(json.dumps(message).encode() + b"\0")
        except OSError:
            raise GateError(
                f"Chromium exited before {method} (its last output: {_tail(self._log)}) — {_HINT}"
            ) from None
        while True:
            reply = self._receive(method)
            if reply.get("id") != self._next_id:
                self.events.append(reply)
                continue
            if "error" in reply:
                raise GateError(f"Chromium refused {method}: {reply['error'].get('message')}")
            return reply.get("result", {})

    def wait_event(self, method: str) -> dict[str, Any]:
        """The first event `method` seen so far or arriving next."""
        for event in self.events:
            if event.get("method") == method:
                return event
        while True:
            event = self._receive(method)
            self.events.append(event)
            if event.get("method") == method:
                return event

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._commands.close()
        self._reader.join(timeout=STEP_TIMEOUT_S)
        with contextlib.suppress(OSError):
            self._replies.close()


@contextlib.contextmanager
def _chromium(executable: str) -> Iterator[_Pipe]:
    """A headless Chromium for the duration of the block, in its own process group."""
    with tempfile.TemporaryDirectory(prefix="agui-perf-chromium-") as profile:
        log = Path(profile) / "chromium.log"
        command_read, command_write = os.pipe()
        reply_read, reply_write = os.pipe()
        # The child's ends are moved above 9 first, so that they cannot be 3 or 4 already.
        command_read, reply_write = (_above_nine(fd) for fd in (command_read, reply_write))
        # Chromium expects the pipe on fds 3 and 4 exactly, and subprocess keeps an inherited
        # fd's number: a two-line Python trampoline moves them there and becomes Chromium (a
        # shell could too, but dash refuses fd numbers above 9).
        with log.open("wb") as log_file:
            process = subprocess.Popen(
                [
                    sys.executable,
                    "-c",
                    _TRAMPOLINE,
                    str(command_read),
                    str(reply_write),
                    executable,
                    f"--user-data-dir={profile}",
                    *_FLAGS,
                ],
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                pass_fds=(command_read, reply_write),
                start_new_session=True,
            )
        os.close(command_read)
        os.close(reply_write)
        pipe = _Pipe(command_write, reply_read, log)
        try:
            yield pipe
            with contextlib.suppress(GateError, OSError):
                pipe.call("Browser.close")
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=STEP_TIMEOUT_S)
        finally:
            # The group is Chromium's own (start_new_session): its renderers and helpers.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            pipe.close()


def _above_nine(fd: int) -> int:
    moved = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10)
    os.close(fd)
    return moved


def _url_of(path: Path) -> str:
    return path.resolve().as_uri()


def _external(url: str) -> bool:
    return not url.startswith(_LOCAL_SCHEMES)


def _errors(events: Sequence[dict[str, Any]]) -> list[str]:
    found = []
    for event in events:
        method, params = event.get("method"), event.get("params", {})
        if method == "Runtime.exceptionThrown":
            details = params.get("exceptionDetails", {})
            exception = details.get("exception", {})
            found.append(str(exception.get("description") or details.get("text") or details))
        elif method == "Runtime.consoleAPICalled" and params.get("type") == "error":
            found.append(
                " ".join(str(a.get("value", a.get("description"))) for a in params["args"])
            )
        elif method == "Log.entryAdded" and params.get("entry", {}).get("level") == "error":
            found.append(str(params["entry"].get("text")))
    return found


def _requests(events: Sequence[dict[str, Any]]) -> tuple[list[str], list[str]]:
    """(sent, blocked): external URLs the page asked for, split by whether the browser let the
    request out. Chromium announces a request before its Content-Security-Policy check, and
    reports the block as a failed load with a `blockedReason`."""
    asked: dict[str, str] = {}
    blocked: set[str] = set()
    for event in events:
        method, params = event.get("method"), event.get("params", {})
        if method == "Network.requestWillBeSent":
            url = str(params["request"]["url"])
            if _external(url):
                asked[str(params["requestId"])] = url
        elif method == "Network.loadingFailed" and params.get("blockedReason"):
            blocked.add(str(params["requestId"]))
    sent = [url for rid, url in asked.items() if rid not in blocked]
    stopped = [url for rid, url in asked.items() if rid in blocked]
    return list(dict.fromkeys(sent)), list(dict.fromkeys(stopped))


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "figure"


def _shoot(pipe: _Pipe, session: str, box: dict[str, float], path: Path) -> Path:
    clip = {**{k: box[k] for k in ("x", "y", "width", "height")}, "scale": 1}
    shot = pipe.call(
        "Page.captureScreenshot",
        {"format": "png", "clip": clip, "captureBeyondViewport": True},
        session=session,
    )
    path.write_bytes(base64.b64decode(shot["data"]))
    return path


def inspect_page(
    page: str | os.PathLike[str],
    *,
    screenshots: str | os.PathLike[str] | None = None,
    width: int = 1200,
    browser: str | None = None,
) -> PageView:
    """Load `page` (a local HTML file) in headless Chromium and report what it showed.

    `width` is the window's width in CSS pixels. Raises `GateError` when there is no browser
    (`find_browser`), no such file, or the browser fails.
    """
    path = Path(page)
    if not path.is_file():
        raise GateError(f"'{path}' is not a file — write the report first (nox -s perf)")
    executable = browser or find_browser()
    if executable is None:
        raise GateError(f"no Chromium found ({', '.join(BROWSER_NAMES)} on PATH) — {_HINT}")
    shot_dir = Path(screenshots) if screenshots is not None else None
    if shot_dir is not None:
        shot_dir.mkdir(parents=True, exist_ok=True)
    with _chromium(executable) as pipe:
        target = pipe.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = pipe.call("Target.attachToTarget", {"targetId": target, "flatten": True})[
            "sessionId"
        ]
        for domain in ("Page", "Runtime", "Log", "Network"):
            pipe.call(f"{domain}.enable", session=session)
        pipe.call(
            "Emulation.setDeviceMetricsOverride",
            {"width": width, "height": 900, "deviceScaleFactor": 1, "mobile": False},
            session=session,
        )
        # Only events from here on belong to the page.
        pipe.events.clear()
        url = _url_of(path)
        navigated = pipe.call("Page.navigate", {"url": url}, session=session)
        if navigated.get("errorText"):
            raise GateError(f"Chromium could not open {url}: {navigated['errorText']}")
        pipe.wait_event("Page.loadEventFired")
        measured = pipe.call(
            "Runtime.evaluate",
            {
                # Text is measured once the fonts are in, or label boxes would be the fallback's.
                "expression": f"document.fonts.ready.then(() => {_MEASURE_JS})",
                "awaitPromise": True,
                "returnByValue": True,
            },
            session=session,
        )
        if "exceptionDetails" in measured:
            raise GateError(f"measuring the page failed: {measured['exceptionDetails']}")
        found = measured["result"]["value"]
        charts = tuple(
            ChartView(
                id=f["id"],
                title=f["title"],
                width=f["box"]["width"],
                height=f["box"]["height"],
                shapes=int(f["shapes"]),
                labels=int(f["labels"]),
                overlaps=tuple((str(a), str(b)) for a, b in f["overlaps"]),
                clipped=tuple(str(text) for text in f["clipped"]),
            )
            for f in found["figures"]
        )
        shots: list[Path] = []
        if shot_dir is not None:
            for chart, figure in zip(charts, found["figures"], strict=True):
                if chart.width >= 1 and chart.height >= 1:
                    name = _slug(chart.id.removeprefix("chart-") or chart.title) + ".png"
                    shots.append(_shoot(pipe, session, figure["box"], shot_dir / name))
            budgets = found["sections"].get("budgets")
            if budgets and budgets["height"] >= 1:
                shots.append(_shoot(pipe, session, budgets, shot_dir / "budgets.png"))
        events = list(pipe.events)
    sent, blocked = _requests(events)
    return PageView(
        url=url,
        title=str(found["title"]),
        charts=charts,
        errors=tuple(_errors(events)),
        requests=tuple(sent),
        screenshots=tuple(shots),
        blocked=tuple(blocked),
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m agui_perf.gate.report.browser",
        description="Open a report page in headless Chromium; report script errors, network "
        "fetches and empty or overlapping charts. Exit 0 none, 1 some, 2 cannot inspect.",
    )
    parser.add_argument("page", help="the HTML file, e.g. .perf/report/report.html")
    parser.add_argument("--screenshots", metavar="DIR", help="write one PNG per chart here")
    parser.add_argument("--width", type=int, default=1200, help="window width (default 1200)")
    args = parser.parse_args(argv)
    try:
        view = inspect_page(args.page, screenshots=args.screenshots, width=args.width)
    except GateError as err:
        print(f"browser: error: {err}", file=sys.stderr)
        return 2
    for chart in view.charts:
        print(
            f"chart {chart.id or chart.title}: {chart.width:.0f} x {chart.height:.0f} px, "
            f"{chart.shapes} data shapes, {chart.labels} labels, {len(chart.overlaps)} overlaps, "
            f"{len(chart.clipped)} cut off"
        )
    for shot in view.screenshots:
        print(f"screenshot {shot}")
    problems = view.problems
    for problem in problems:
        print(f"problem: {problem}")
    print(
        f"{view.url}: {len(view.charts)} charts, {len(view.errors)} errors, "
        f"{len(view.requests)} network requests — {'OK' if not problems else 'PROBLEMS'}"
    )
    return 1 if problems else 0


if __name__ == "__main__":  # pragma: no cover - the command line
    sys.exit(main())
