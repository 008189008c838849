"""``bpdebug serve``: the debugger in a browser, one app process per visitor, safe by default.

Three levels: the served app itself under Textual's Pilot (reload off, exports as downloads, nothing written
on the server); the server over loopback HTTP and websockets, as textual-serve's page talks to it (answers,
refuses names it was not given, spawns a process per connection, caps sessions, ends them when the browser
goes); and a person's view, Debian's Chromium driven by Playwright pressing ``n`` twice. The state is read
from the status file each session writes under ``BPDEBUG_SESSION_STATUS``, never from the canvas.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from _bundled import NETWORKS

from bpdebug import cli, cli_args
from bpdebug.tui.app import make_app
from bpdebug.tui.served import STATUS_ENV, ServedApp
from bpdebug.tui.server import Catalog, ServeError, is_loopback, session_command, where

ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = ROOT / "bpdebug" / "scenarios"
BLOG, XOR = SCENARIOS / "blog.toml", SCENARIOS / "xor.toml"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--no-first-run", "--disable-sync"]


# ----------------------------------------------------------------------------------------- the served app

async def test_served_app_has_no_reload_and_says_so(tmp_path):
    copy = tmp_path / "xor.toml"
    copy.write_text(XOR.read_text())
    app = make_app(copy, served=True)
    assert isinstance(app, ServedApp)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("n", "n")
        assert app.step_index == 2
        copy.write_text(XOR.read_text().replace("learning_rate = ", "learning_rate = 1"))
        await pilot.press("r")
        await pilot.pause()
        assert app.screen.check_action("reload", ()) is False
        assert app.step_index == 2 and app.scenario.learning_rate == make_app(XOR).scenario.learning_rate
        assert await app.run_action("app.reload") is False  # the command palette's way in is shut too
        assert "reload" not in {b.binding.action.split(".")[-1] for b in app.screen.active_bindings.values()
                                if b.enabled and app.screen.check_action(b.binding.action.split(".")[-1], ())}


async def test_served_export_is_delivered_to_the_browser_and_writes_nothing_on_the_server(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    app = make_app(BLOG, served=True)
    delivered: list[tuple[str, str | None]] = []

    def deliver_text(file, *, save_filename=None, **_):
        delivered.append((file.read(), save_filename))
        return "key"

    async with app.run_test(size=(120, 40)) as pilot:
        monkeypatch.setattr(app, "deliver_text", deliver_text)
        await pilot.press("x")
        await pilot.pause()
        from textual.widgets import Input

        field = app.screen.query_one("#export-path", Input)
        assert field.value == "blog.md"  # a file name, no folder of the server's
        field.value = "../../etc/evil.md"
        await pilot.press("enter")
        for _ in range(100):
            await pilot.pause(0.05)
            if delivered:
                break
    assert len(delivered) == 1
    text, name = delivered[0]
    assert name == "evil.md" and text.startswith("# ") and "0.003648332" in text  # the blog's ∂E/∂w5
    assert list(tmp_path.iterdir()) == []


async def test_a_served_what_if_fork_is_saved_as_a_download(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    app = make_app(BLOG, served=True)
    delivered: list[tuple[str, str | None]] = []

    def deliver_text(file, *, save_filename=None, **_):
        delivered.append((file.read(), save_filename))
        return "key"

    async with app.run_test(size=(120, 40)) as pilot:
        monkeypatch.setattr(app, "deliver_text", deliver_text)
        await pilot.press("e", "0", "full_stop", "5", "enter", "s")
        await pilot.pause()
    assert len(delivered) == 1
    text, name = delivered[0]
    assert name == "blog-whatif.toml" and "0.5" in text
    saved = tmp_path / "x.toml"  # the downloaded text is a scenario that runs the fork
    saved.write_text(text)
    from bpdebug.core.scenario import load

    assert load(saved).weights[1][0, 1] == 0.5
    assert [p.name for p in tmp_path.iterdir()] == ["x.toml"]  # nothing else written


async def test_a_session_reports_its_state_in_the_status_file(tmp_path, monkeypatch):
    monkeypatch.setenv(STATUS_ENV, str(tmp_path))
    app = make_app(XOR, served=True)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("n", "n", "n")
        await pilot.pause()
        status = json.loads((tmp_path / f"{os.getpid()}.json").read_text())
    assert status["step_index"] == 3 == app.step_index and status["changes"] == 3
    assert status["reload_allowed"] is False and status["scenario"] == str(XOR)


# ------------------------------------------------------------------------------------------- the catalog

def test_the_catalog_holds_the_named_scenarios_or_the_bundled_ones():
    bundled = Catalog.from_paths([])
    assert bundled.names[0] == "blog" and set(bundled.names) == {p.stem for p in NETWORKS}
    named = Catalog.from_paths([XOR, BLOG, SCENARIOS / "xor.toml"])
    assert named.names == ["xor", "blog", "xor-2"] and named.get("xor") == XOR.resolve()
    for typed in ("../xor", str(XOR), "/etc/passwd", "xor.toml", ""):
        assert named.get(typed) is None


def test_a_bad_scenario_stops_serve_with_one_line(tmp_path, capsys):
    bad = tmp_path / "bad.toml"
    bad.write_text("[network]\nlayers = [2, 2]\n")
    with pytest.raises(ServeError):
        Catalog.from_paths([bad])
    assert cli.main(["serve", str(bad), "--port", "1"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("bpdebug serve: ") and "bad.toml" in err


@pytest.mark.parametrize("args, says", [(["--port", "70000"], "--port 70000: expected 0..65535"),
                                        (["--max-sessions", "0"], "--max-sessions 0: expected")])
def test_bad_serve_arguments_end_in_one_line(capsys, args, says):
    assert cli.main(["serve", *args]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and says in err


def test_a_port_in_use_is_one_line(capsys):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert cli.main(["serve", str(XOR), "--port", str(port)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"cannot listen on 127.0.0.1:{port}" in err


def test_localhost_by_default_and_the_line_says_who_can_connect():
    assert cli_args.parser().parse_args(["serve"]).host == "127.0.0.1"
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.4")
    assert "this machine only" in where("127.0.0.1", 8000)
    assert "anyone who can reach" in where("0.0.0.0", 8000)
    assert session_command(Path("/a b/x.toml")).endswith("-m bpdebug.tui.served '/a b/x.toml'")


# -------------------------------------------------------------------------------- the server, over loopback

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Served:
    """``bpdebug serve`` running in a subprocess on a free loopback port."""

    def __init__(self, tmp_path: Path, *scenarios: Path, max_sessions: int = 2) -> None:
        self.port = free_port()
        self.status = tmp_path / "status"
        self.status.mkdir()
        env = dict(os.environ, PYTHONPATH=str(ROOT), **{STATUS_ENV: str(self.status)})
        self.log = open(tmp_path / "serve.log", "w+")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bpdebug", "serve", *map(str, scenarios), "--port", str(self.port),
             "--max-sessions", str(max_sessions)], stdout=self.log, stderr=subprocess.STDOUT, env=env, cwd=ROOT)
        self.url = f"http://127.0.0.1:{self.port}"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return
            except OSError:
                if self.process.poll() is not None:
                    break
                time.sleep(0.1)
        self.stop()
        raise AssertionError(f"bpdebug serve did not start: {self.output()}")

    def output(self) -> str:
        self.log.flush()
        self.log.seek(0)
        return self.log.read()

    def states(self) -> dict[int, dict]:
        out = {}
        for f in self.status.glob("*.json"):
            try:
                out[int(f.stem)] = json.loads(f.read_text())
            except (ValueError, OSError):
                continue
        return out

    def wait_for(self, condition, timeout: float = 60.0, what: str = "a condition"):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = condition()
            if value:
                return value
            time.sleep(0.1)
        raise AssertionError(f"timed out waiting for {what}; server said: {self.output()}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()


@pytest.fixture
def served(tmp_path):
    server = Served(tmp_path, XOR, BLOG)
    yield server
    server.stop()


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}").exists() and "Z" not in Path(f"/proc/{pid}/stat").read_text().split()[2]


def test_serve_answers_http_refuses_unnamed_scenarios_and_says_where_it_listens(served):
    aiohttp = pytest.importorskip("aiohttp")

    async def check():
        async with aiohttp.ClientSession() as s:
            async with s.get(served.url + "/") as r:
                page = await r.text()
                assert r.status == 200 and 'href="/app/xor"' in page and 'href="/app/blog"' in page
            async with s.get(served.url + "/app/xor") as r:
                assert r.status == 200 and f"ws://127.0.0.1:{served.port}/ws/xor" in await r.text()
            for name in ("mazur", "..%2F..%2Fetc%2Fpasswd", "%2Fetc%2Fpasswd", "xor.toml"):
                for route in ("/app/", "/ws/"):
                    async with s.get(served.url + route + name) as r:
                        assert r.status == 404, (route, name)
            async with s.get(served.url + "/status") as r:
                assert (await r.json())["sessions"] == 0

    asyncio.run(check())
    assert f"http://127.0.0.1:{served.port}/ (this machine only" in served.output()


async def _session(url: str, keys: str, width: int = 100, height: int = 30):
    import aiohttp

    session = aiohttp.ClientSession()
    ws = await session.ws_connect(f"{url}?width={width}&height={height}")
    await ws.send_json(["resize", {"width": width, "height": height}])

    async def drain():
        async for _ in ws:
            pass

    task = asyncio.create_task(drain())
    for key in keys:
        await ws.send_json(["stdin", key])
    return session, ws, task


def test_a_process_per_connection_a_session_cap_and_shutdown_when_the_browser_goes(served):
    pytest.importorskip("aiohttp")
    ws_url = f"ws://127.0.0.1:{served.port}/ws"

    async def check():
        import aiohttp

        first = await _session(ws_url + "/xor", "")
        served.wait_for(lambda: len(served.states()) == 1, what="the first session")
        second = await _session(ws_url + "/blog", "")
        states = served.wait_for(lambda: len(served.states()) == 2 and served.states(), what="a second session")
        pids = set(states)
        assert len(pids) == 2 and {Path(s["scenario"]).name for s in states.values()} == {"xor.toml", "blog.toml"}
        for _ in range(2):
            await first[1].send_json(["stdin", "n"])
        served.wait_for(lambda: any(s["step_index"] == 2 for s in served.states().values()), what="two steps")
        async with aiohttp.ClientSession() as s:
            async with s.get(served.url + "/app/xor") as r:
                text = await r.text()
                assert r.status == 503 and text.count("\n") == 1 and "full (2 of 2 sessions" in text
            third = await s.ws_connect(ws_url + "/xor")
            message = await third.receive()
            assert message.type == aiohttp.WSMsgType.CLOSE and third.close_code == 1013
            await third.close()
        for session, ws, task in (first, second):
            await ws.close()
            await session.close()
            task.cancel()
        return pids

    pids = asyncio.run(check())
    served.wait_for(lambda: not any(alive(p) for p in pids), timeout=60, what="the sessions to end")
    assert served.process.poll() is None  # the server goes on


# ---------------------------------------------------------------------------------------- a person's view

@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Chromium is not installed (apt-get install chromium)")
def test_chromium_opens_the_served_app_steps_twice_and_the_session_ends_with_the_page(served, tmp_path):
    playwright = pytest.importorskip("playwright.sync_api")
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        page.goto(served.url + "/app/xor")
        states = served.wait_for(served.states, what="the browser's session to start")
        pid = next(iter(states))
        page.locator("#terminal").click()
        for _ in range(2):
            page.keyboard.press("n")
        state = served.wait_for(lambda: (s := served.states().get(pid)) and s["step_index"] == 2 and s,
                                what="two steps in the browser's session")
        shot = tmp_path / "served.png"
        page.screenshot(path=str(shot))
        assert shot.stat().st_size > 10_000
        assert state["kind"] == "z" and state["epoch"] == 1 and Path(state["scenario"]).name == "xor.toml"
        assert state["size"][0] >= 80  # the page sized the terminal to the browser window
        browser.close()
    served.wait_for(lambda: not alive(pid), timeout=60, what="the session to end with the page")



# ------------------------------------------------------------------------- bad requests and long runs

BAD_REQUESTS = [
    ("GET", "/app/nope", 404, "no scenario called 'nope' here"),
    ("GET", "/ws/blog", 400, "expects a websocket upgrade; open /app/blog in a browser"),  # a plain GET
    ("GET", "/ws/nope", 404, "no scenario called 'nope' here"),
    ("GET", "/download/no-such-key", 404, "not found"),
    ("GET", "/no/such/page", 404, "Not Found"),
    ("POST", "/", 405, "Method Not Allowed"),
    ("GET", "/static/../../etc/passwd", 404, "Not Found"),
]


async def test_every_bad_request_gets_a_4xx_in_one_line_never_a_traceback():
    from aiohttp.test_utils import TestClient, TestServer

    from bpdebug.tui.server import make_server

    server = make_server(Catalog.from_paths([BLOG, XOR]), max_sessions=2)
    async with TestClient(TestServer(await server._make_app())) as client:
        for method, path, status, says in BAD_REQUESTS:
            r = await client.request(method, path)
            text = await r.text()
            assert r.status == status, (path, text)
            assert text.startswith("bpdebug serve: ") and text.count("\n") == 1 and says in text, (path, text)
            assert "Traceback" not in text
        r = await client.get("/app/blog?fontsize=huge")  # a bad number in the query falls back to the default
        assert r.status == 200
        assert (await client.get("/status")).status == 200  # the server goes on


@pytest.mark.parametrize(("text", "says"), [
    ("not json", "not JSON"), ("{}", "expected [KIND, DATA]"), ("[]", "expected [KIND, DATA]"),
    ('["rm", "-rf"]', "expected [KIND, DATA]"), ('["stdin", 5]', "stdin: expected a string"),
    ('["resize", {"width": "x", "height": 24}]', "resize: expected whole numbers"),
    ('["resize", {"width": 100000, "height": 24}]', "resize: expected whole numbers"),
    ('["resize", [80, 24]]', "resize: expected whole numbers"), ('["resize", {"width": true, "height": 2}]', "resize"),
])
def test_a_malformed_browser_message_is_named_in_one_line(text, says):
    from bpdebug.tui.server import parse_envelope

    result = parse_envelope(text)
    assert isinstance(result, str) and says in result and "\n" not in result


def test_well_formed_browser_messages_are_read_as_the_page_sends_them():
    from bpdebug.tui.server import parse_envelope

    assert parse_envelope('["stdin", "n"]') == ("stdin", "n")
    assert parse_envelope('["resize", {"width": 120, "height": 40}]') == ("resize", {"width": 120, "height": 40})
    assert parse_envelope('["ping", "1"]') == ("ping", "1") and parse_envelope('["blur"]') == ("blur", None)


async def test_malformed_messages_are_dropped_and_the_session_goes_on(tmp_path, monkeypatch):
    from aiohttp import WSMsgType
    from aiohttp.test_utils import TestClient, TestServer

    from bpdebug.tui.server import make_server

    monkeypatch.setenv(STATUS_ENV, str(tmp_path))
    server = make_server(Catalog.from_paths([XOR]), max_sessions=2)
    async with TestClient(TestServer(await server._make_app())) as client:
        ws = await client.ws_connect("/ws/xor?width=100&height=30")
        for bad in ("not json", "[]", '["stdin", 5]', '["resize", {"width": "x"}]', '{"a": 1}'):
            await ws.send_str(bad)
        await ws.send_json(["ping", "still there"])
        deadline = time.monotonic() + 60
        pong = None
        while pong is None and time.monotonic() < deadline:
            message = await ws.receive(timeout=60)
            assert message.type not in (WSMsgType.CLOSE, WSMsgType.CLOSED, WSMsgType.ERROR)
            if message.type == WSMsgType.TEXT and message.json()[0] == "pong":
                pong = message.json()
        assert pong == ["pong", "still there"]
        assert len(server.sessions) == 1  # the session was not ended by the bad messages
        await ws.send_json(["stdin", "n"])
        while time.monotonic() < deadline and not any(
                json.loads(f.read_text()).get("step_index") == 1 for f in tmp_path.glob("*.json")):
            await asyncio.sleep(0.1)
        assert any(json.loads(f.read_text()).get("step_index") == 1 for f in tmp_path.glob("*.json"))
        await ws.close()


async def test_a_served_go_to_a_huge_epoch_stops_at_the_time_cap_with_progress_and_says_so(monkeypatch):
    from bpdebug.tui import served

    monkeypatch.setattr(served, "RUN_SECONDS", 1.0)
    app = make_app(XOR, served=True)
    notes: list[str] = []
    reports: list[tuple[int, int]] = []
    async with app.run_test(size=(120, 40)) as pilot:
        monkeypatch.setattr(app, "notify", lambda message, **_: notes.append(str(message)))
        run_to = app.session.run_to

        def recording(epoch, progress=None, should_stop=None):
            def report(done, total):
                reports.append((done, total))
                progress(done, total)
            return run_to(epoch, report, should_stop)

        monkeypatch.setattr(app.session, "run_to", recording)
        screen = app.screen
        started = time.monotonic()
        await pilot.press("n", "g", *"99999999", "enter")
        for _ in range(1200):  # until the run ends by itself (a loaded machine may take seconds)
            if any("at most" in n for n in notes) and not screen.busy:
                break
            await pilot.pause(0.05)
        assert not screen.busy and time.monotonic() - started < 60  # the cap ended it, nobody pressed Escape
        assert any("a served session trains at most 1 s at a time" in n for n in notes), notes
        assert reports and all(total == 99999999 for _, total in reports)  # progress went to the screen
        reached = app.session.trace.losses_computed
        assert 1 < app.session.step.epoch <= reached < 99999999
        assert any(f"stopped at epoch {reached} of 99999999" in n for n in notes), notes
        await pilot.press("n")  # the session answers keys again
        assert app.session.index % app.session.trace.steps_per_epoch == 2


async def test_a_served_search_for_a_breakpoint_stops_at_the_time_cap_and_says_so(monkeypatch):
    from bpdebug.tui import served

    monkeypatch.setattr(served, "RUN_SECONDS", 1.0)
    app = make_app(XOR, served=True)
    notes: list[str] = []
    async with app.run_test(size=(120, 40)) as pilot:
        monkeypatch.setattr(app, "notify", lambda message, **_: notes.append(str(message)))
        app.session.trace.extend(10**8)  # a visitor's earlier g 100000000: the search's horizon
        app.session.add_condition("nan")  # never holds on xor
        assert app.session.search_is_long()
        screen = app.screen
        started = time.monotonic()
        await pilot.press("c")
        for _ in range(1200):
            if any("at most" in n for n in notes) and not screen.busy:
                break
            await pilot.pause(0.05)
        assert not screen.busy and time.monotonic() - started < 60
        assert any("a served session trains at most 1 s at a time" in n for n in notes), notes
        assert any("interrupted after epoch" in n for n in notes), notes
        assert app.session.trace.losses_computed < 10**8
