"""``bpdebug serve``: the debugger in web browsers through textual-serve, one app process per visitor.

Safe by default. It listens on 127.0.0.1 unless told otherwise, and says which. Visitors choose among the
scenarios the command named (or the bundled ones) by a short name in the address (``/app/xor``); a name not
in that list is refused, and no path a visitor types ever reaches the file system. Each session is
:mod:`bpdebug.tui.served` (no reload, exports as downloads). At most ``max_sessions`` run at once; the next
visitor gets one line saying the server is full. When a browser goes, its session's process is told to quit
(and killed if it does not within a few seconds).
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import ipaddress
import logging
import shlex
import socket
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from ..core.graph.scenario import is_graph_file
from ..core.scenario import ScenarioError, load

log = logging.getLogger("bpdebug.serve")
STOP_TIMEOUT = 5.0  # seconds a session gets to quit after its browser went, before it is killed


class ServeError(Exception):
    """A reason ``bpdebug serve`` cannot start, in one line."""


@dataclass(frozen=True)
class Catalog:
    """The scenarios visitors may open: short name -> absolute path, in the order given."""

    entries: tuple[tuple[str, Path], ...]

    @classmethod
    def from_paths(cls, paths: Sequence[str | Path]) -> Catalog:
        """Validate every scenario (one-line error for a bad one); with none, the bundled ones, blog first."""
        if not paths:
            folder = Path(str(resources.files("bpdebug") / "scenarios"))
            bundled = sorted((p for p in folder.glob("*.toml") if not is_graph_file(p)),  # no app view of graphs yet
                             key=lambda p: (p.stem != "blog", p.stem))
            paths = list(bundled)
        entries: list[tuple[str, Path]] = []
        taken: set[str] = set()
        for raw in paths:
            path = Path(raw)
            try:
                load(path)
            except ScenarioError as exc:
                raise ServeError(str(exc)) from None
            base = "".join(c if c.isalnum() or c in "-_" else "-" for c in path.stem) or "scenario"
            name, k = base, 2
            while name in taken:
                name, k = f"{base}-{k}", k + 1
            taken.add(name)
            entries.append((name, path.resolve()))
        return cls(tuple(entries))

    @property
    def names(self) -> list[str]:
        return [name for name, _ in self.entries]

    def get(self, name: str) -> Path | None:
        """The path for a visitor's name, or None: names are looked up, never used as paths."""
        return dict(self.entries).get(name)


def session_command(path: Path) -> str:
    """The shell command of one session (textual-serve runs it through the shell, hence the quoting; ``exec``
    so the session is the shell's process itself, and a kill reaches it)."""
    return "exec " + shlex.join([sys.executable, "-m", "bpdebug.tui.served", str(path)])


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def where(host: str, port: int) -> str:
    """The one line saying who can reach the server."""
    shown = f"[{host}]" if ":" in host else host
    url = f"http://{shown}:{port}/"
    if is_loopback(host):
        return f"bpdebug serve: {url} (this machine only; --host 0.0.0.0 lets other machines in)"
    return (f"bpdebug serve: {url} listening on {host}: anyone who can reach this machine's port {port} "
            "can open a session")


def make_server(catalog: Catalog, host: str = "127.0.0.1", port: int = 8000, max_sessions: int = 30) -> Any:
    """The textual-serve server with bpdebug's routes, limits and messages (needs textual-serve)."""
    try:
        import aiohttp_jinja2
        from aiohttp import WSMsgType, web
        from textual_serve.app_service import AppService
        from textual_serve.server import Server
    except ImportError as exc:
        raise ServeError(f"needs textual-serve ({exc.name} is missing): pip install textual-serve") from None

    @web.middleware
    async def one_line_errors(request: web.Request, handler: Any) -> web.StreamResponse:
        """Every refusal is one line of text; an unexpected failure is a 500 in one line (its traceback only in
        the server's log at debug level), never a traceback sent to the browser."""
        try:
            response: web.StreamResponse = await handler(request)
            return response
        except web.HTTPException as exc:
            if exc.status >= 400:
                text = (exc.text or "").strip()
                if not text or "\n" in text:
                    text = f"{exc.status} {exc.reason}"
                exc.text = (text if text.startswith("bpdebug serve:") else f"bpdebug serve: {text}") + "\n"
            raise
        except Exception as exc:  # noqa: BLE001 - one request's failure must not reach the visitor as a traceback
            log.error("bpdebug serve: %s %s failed: %s: %s", request.method, request.path, type(exc).__name__, exc)
            log.debug("traceback", exc_info=True)
            return web.Response(status=500, text="bpdebug serve: internal error (the server's log says more)\n")

    class BpdebugServer(Server):
        """textual-serve's server, one session command per scenario and a cap on concurrent sessions."""

        def __init__(self) -> None:
            super().__init__(session_command(catalog.entries[0][1]), host=host, port=port, title="bpdebug")
            self.catalog = catalog
            self.max_sessions = max_sessions
            self.sessions: set[AppService] = set()
            self.started = 0

        @property
        def full(self) -> bool:
            return len(self.sessions) >= self.max_sessions

        def full_line(self) -> str:
            return (f"bpdebug serve: full ({len(self.sessions)} of {self.max_sessions} sessions in use); "
                    "try again in a while")

        async def _make_app(self) -> web.Application:
            app = web.Application(middlewares=[one_line_errors])
            aiohttp_jinja2.setup(app, loader=__import__("jinja2").FileSystemLoader(self.templates_path))
            app.add_routes([
                web.get("/", self.handle_root, name="index"),
                web.get("/app/{scenario}", self.handle_app, name="app"),
                web.get("/ws/{scenario}", self.handle_websocket, name="websocket"),
                web.get("/download/{key}", self.handle_download, name="download"),
                web.get("/status", self.handle_status, name="status"),
                web.static("/static", self.statics_path, show_index=False, name="static"),
            ])
            app.on_startup.append(self.on_startup)
            app.on_shutdown.append(self.on_shutdown)
            return app

        async def on_startup(self, app: web.Application) -> None:
            print(where(host, port), flush=True)
            print(f"  scenarios: {', '.join(self.catalog.names)}; at most {self.max_sessions} sessions at once; "
                  "Ctrl+C stops", flush=True)

        async def on_shutdown(self, app: web.Application) -> None:
            await asyncio.gather(*(self._stop(s) for s in list(self.sessions)), return_exceptions=True)

        async def handle_root(self, request: web.Request) -> web.StreamResponse:
            if len(self.catalog.entries) == 1:
                return await self.handle_app(request, self.catalog.names[0])
            items = "".join(f'<li><a href="/app/{html.escape(n)}">{html.escape(n)}</a></li>'
                            for n in self.catalog.names)
            page = (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>bpdebug</title></head>"
                    f"<body style='font-family:monospace'><h1>bpdebug</h1><p>Choose a scenario:</p>"
                    f"<ul>{items}</ul></body></html>")
            return web.Response(text=page, content_type="text/html")

        async def handle_app(self, request: web.Request, name: str | None = None) -> web.StreamResponse:
            name = name or request.match_info["scenario"]
            if self.catalog.get(name) is None:
                raise web.HTTPNotFound(text=f"bpdebug serve: no scenario called {name!r} here; "
                                            f"expected one of {', '.join(self.catalog.names)}\n")
            if self.full:
                raise web.HTTPServiceUnavailable(text=self.full_line() + "\n")
            base = f"{request.scheme}://{request.host}"
            ws = ("wss:" if request.scheme == "https" else "ws:") + base.split(":", 1)[1] + f"/ws/{name}"
            context = {
                "font_size": _to_int(request.query.get("fontsize", "16"), 16),
                "app_websocket_url": ws,
                "config": {"static": {"url": f"{base}/static/"}},
                "application": {"name": f"bpdebug · {name}"},
            }
            return aiohttp_jinja2.render_template("app_index.html", request, context)

        async def handle_status(self, request: web.Request) -> web.StreamResponse:
            """How many sessions run, for the operator and the tests (no paths, no pids)."""
            return web.json_response({"sessions": len(self.sessions), "max_sessions": self.max_sessions,
                                      "started": self.started, "scenarios": self.catalog.names})

        async def handle_websocket(self, request: web.Request) -> web.WebSocketResponse:
            name = request.match_info["scenario"]
            path = self.catalog.get(name)
            if path is None:
                raise web.HTTPNotFound(text=f"bpdebug serve: no scenario called {name!r} here\n")
            websocket = web.WebSocketResponse(heartbeat=15, max_msg_size=MAX_MESSAGE)
            if not websocket.can_prepare(request).ok:
                raise web.HTTPBadRequest(text=f"bpdebug serve: /ws/{name} is a session's websocket and expects a "
                                              f"websocket upgrade; open /app/{name} in a browser\n")
            if self.full:
                log.warning(self.full_line())
                await websocket.prepare(request)
                await websocket.close(code=1013, message=b"bpdebug serve: full")
                return websocket
            width = _to_int(request.query.get("width", "80"), 80)
            height = _to_int(request.query.get("height", "24"), 24)
            async def close() -> None:
                await websocket.close()

            service = AppService(session_command(path), write_bytes=websocket.send_bytes,
                                 write_str=websocket.send_str, close=close,
                                 download_manager=self.download_manager, debug=self.debug)
            self.sessions.add(service)
            self.started += 1
            try:
                await websocket.prepare(request)
                await service.start(width, height)
                await self._process_messages(websocket, service)
            except asyncio.CancelledError:
                await websocket.close()
            except Exception as error:  # noqa: BLE001 - one visitor's failure must not stop the server
                log.exception(error)
            finally:
                await self._stop(service)
                self.sessions.discard(service)
            return websocket

        async def _process_messages(self, websocket: web.WebSocketResponse, service: AppService) -> None:
            """The browser's messages to its session (as textual-serve's page sends them); a malformed one is
            dropped with one line in the log, and the session goes on."""
            async for message in websocket:
                if message.type != WSMsgType.TEXT:
                    continue
                envelope = parse_envelope(message.data)
                if isinstance(envelope, str):
                    log.warning("bpdebug serve: message dropped: %s", envelope)
                    continue
                kind, data = envelope
                if kind == "stdin":
                    await service.send_bytes(data.encode("utf-8"))
                elif kind == "resize":
                    await service.set_terminal_size(data["width"], data["height"])
                elif kind == "ping":
                    await websocket.send_json(["pong", data])
                elif kind == "blur":
                    await service.blur()
                elif kind == "focus":
                    await service.focus()

        async def _stop(self, service: AppService) -> None:
            """Ask the session to quit; kill its process if it has not within STOP_TIMEOUT seconds."""
            try:
                await asyncio.wait_for(asyncio.shield(service.stop()), STOP_TIMEOUT)
            except (TimeoutError, Exception):  # noqa: BLE001
                process = getattr(service, "_process", None)
                if process is not None and process.returncode is None:
                    with contextlib.suppress(ProcessLookupError):
                        process.kill()
                    with contextlib.suppress(Exception):
                        await process.wait()

        def serve(self, debug: bool = False) -> None:
            self.debug = debug
            logging.basicConfig(level=logging.WARNING, format="%(name)s: %(message)s")
            web.run_app(self._make_app(), host=host, port=port, print=None, access_log=None,
                        handle_signals=True, shutdown_timeout=STOP_TIMEOUT)

    return BpdebugServer()


MAX_MESSAGE = 64 * 1024  # bytes of one browser message (keys, sizes, pings: a few dozen bytes each)
MESSAGE_KINDS = ("stdin", "resize", "ping", "blur", "focus")


def parse_envelope(text: str) -> tuple[str, Any] | str:
    """A browser message ``["stdin", "n"]``, ``["resize", {"width": 80, "height": 24}]``, ``["ping", x]``,
    ``["blur"]``, ``["focus"]`` as (kind, data), or one line saying what was wrong with it."""
    import json

    try:
        envelope = json.loads(text)
    except ValueError:
        return f"not JSON: {text[:40]!r}"
    if not isinstance(envelope, list) or not envelope or envelope[0] not in MESSAGE_KINDS:
        return f"expected [KIND, DATA] with KIND one of {', '.join(MESSAGE_KINDS)}, got {text[:40]!r}"
    kind, data = envelope[0], envelope[1] if len(envelope) > 1 else None
    if kind == "stdin" and not isinstance(data, str):
        return f"stdin: expected a string of keys, got {type(data).__name__}"
    if kind == "resize":
        size = data if isinstance(data, dict) else {}
        w, h = size.get("width"), size.get("height")
        if not all(isinstance(v, int) and not isinstance(v, bool) and 1 <= v <= 1000 for v in (w, h)):
            return f"resize: expected whole numbers width and height in 1..1000, got {str(data)[:40]}"
        data = {"width": w, "height": h}
    return kind, data


def _to_int(value: str, default: int) -> int:
    try:
        return max(1, min(int(value), 1000))
    except ValueError:
        return default


def serve(scenarios: Sequence[str], host: str = "127.0.0.1", port: int = 8000, max_sessions: int = 30) -> int:
    """Run the server until Ctrl+C (SIGINT) or SIGTERM; ServeError with one line when it cannot start."""
    if not 0 <= port <= 65535:
        raise ServeError(f"--port {port}: expected 0..65535")
    if max_sessions < 1:
        raise ServeError(f"--max-sessions {max_sessions}: expected a whole number >= 1")
    catalog = Catalog.from_paths(scenarios)
    server = make_server(catalog, host, port, max_sessions)
    try:  # a clear line for a taken port or an unknown host, before aiohttp says it its way
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind((host, port))
    except OSError as exc:
        raise ServeError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    try:
        server.serve()
    except OSError as exc:
        raise ServeError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    return 0
