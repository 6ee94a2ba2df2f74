"""The explorer against other web pages and against slow clients.

- Another page (another site, or another port on this machine) cannot change anything:
  its state-changing requests are refused by ``Origin``/``Sec-Fetch-Site``, and a
  session answers only calls that carry its token.
- A body over the limit is a 413 whether announced or sent chunked.
- A connection must deliver its request in time, and only so many are served at once,
  so stalled clients hold a bounded number of threads for a bounded time.
- A call to a session that has expired says so (``session_expired``), and the page
  rebuilds the session with the same settings.

The slow-client tests run a real server with short limits; every socket and every wait
has its own timeout, so each test ends by itself.
"""

from __future__ import annotations

import http.client
import http.server
import json
import select
import socket
import threading
import time
import urllib.request

import pytest
from flask import request

from backprop_lab.explorer import params as P
from backprop_lab.explorer.server import TOKEN_HEADER, ExplorerServer, create_app

HOST = "127.0.0.1:5000"  # the Host a page served from http://127.0.0.1:5000/ sends
OWN_ORIGIN = f"http://{HOST}"


@pytest.fixture
def app():
    return create_app(max_sessions=16)


@pytest.fixture
def client(app):
    return app.test_client()


def _create(client, **headers) -> tuple[int, dict]:
    reply = client.post("/api/session", headers={"Host": HOST, **headers})
    return reply.status_code, reply.get_json()


def _session(client) -> tuple[str, str]:
    status, snap = _create(client, Origin=OWN_ORIGIN, **{"Sec-Fetch-Site": "same-origin"})
    assert status == 201, snap
    return snap["session"], snap["token"]


# ---- requests from other pages -----------------------------------------------------------
OTHER_PAGES = {
    "another site": {"Origin": "http://attacker.example", "Sec-Fetch-Site": "cross-site"},
    "another site, old browser": {"Origin": "http://attacker.example"},
    "another port here": {"Origin": "http://127.0.0.1:8080", "Sec-Fetch-Site": "same-site"},
    "another scheme": {"Origin": "https://127.0.0.1:5000"},
    "the other loopback name": {"Origin": "http://localhost:5000"},
    "a sandboxed page": {"Origin": "null", "Sec-Fetch-Site": "cross-site"},
    "no Origin, cross-site": {"Sec-Fetch-Site": "cross-site"},
    "no Origin, same-site": {"Sec-Fetch-Site": "same-site"},
    "own Origin, cross-site fetch": {"Origin": OWN_ORIGIN, "Sec-Fetch-Site": "cross-site"},
}


@pytest.mark.parametrize("headers", OTHER_PAGES.values(), ids=OTHER_PAGES.keys())
def test_a_session_cannot_be_created_from_another_page(app, client, headers):
    status, reply = _create(client, **headers)  # bodiless: a "simple" request, no preflight
    assert status == 403 and reply["code"] == "cross_origin"
    assert "only from its own page" in reply["error"]
    assert len(app.extensions["explorer_sessions"]) == 0


OWN_PAGE_OR_NO_PAGE = {
    "own page": {"Origin": OWN_ORIGIN, "Sec-Fetch-Site": "same-origin"},
    "own page, old browser": {"Origin": OWN_ORIGIN},
    "a tool such as curl": {},
    "typed into the address bar": {"Sec-Fetch-Site": "none"},
}


@pytest.mark.parametrize("headers", OWN_PAGE_OR_NO_PAGE.values(), ids=OWN_PAGE_OR_NO_PAGE.keys())
def test_the_own_page_and_tools_may_create_sessions(client, headers):
    status, reply = _create(client, **headers)
    assert status == 201 and reply["session"]


def test_the_page_served_as_localhost_is_its_own_origin(client):
    reply = client.post(
        "/api/session", headers={"Host": "localhost:5000", "Origin": "http://localhost:5000"}
    )
    assert reply.status_code == 201


def test_other_pages_cannot_crowd_out_a_learners_session(app, client):
    """The reported attack: bodiless cross-origin POSTs used to fill the 16 places."""
    sid, token = _session(client)
    for _ in range(20):
        status, _ = _create(client, **OTHER_PAGES["another site"])
        assert status == 403
    assert app.extensions["explorer_sessions"].ids() == [sid]
    reply = client.get(f"/api/session/{sid}", headers={"Host": HOST, TOKEN_HEADER: token})
    assert reply.status_code == 200


SESSION_CALLS = [
    ("GET", "", None),
    ("POST", "/reset", {}),
    ("POST", "/settings", {"lr": 0.1}),
    ("POST", "/step", {"epochs": 1}),
    ("POST", "/network", {"index": 0}),
    ("GET", "/borrower?index=0", None),
    ("POST", "/trace", {"index": 0}),
    ("POST", "/gradcheck", None),
]
CHANGING_CALLS = [c for c in SESSION_CALLS if c[0] == "POST"]


@pytest.mark.parametrize(("method", "suffix", "body"), CHANGING_CALLS)
def test_every_change_to_a_session_checks_the_origin_even_with_the_token(
    client, method, suffix, body
):
    sid, token = _session(client)
    headers = {"Host": HOST, TOKEN_HEADER: token, **OTHER_PAGES["another port here"]}
    reply = client.open(f"/api/session/{sid}{suffix}", method=method, json=body, headers=headers)
    assert reply.status_code == 403 and reply.get_json()["code"] == "cross_origin"


# ---- the per-tab token ---------------------------------------------------------------------
@pytest.mark.parametrize(("method", "suffix", "body"), SESSION_CALLS)
def test_a_session_answers_only_its_own_token(client, method, suffix, body):
    sid, token = _session(client)
    _, other_token = _session(client)
    path = f"/api/session/{sid}{suffix}"
    for wrong, what in [(None, "no session token"), (other_token, "not this session's")]:
        headers = {"Host": HOST} if wrong is None else {"Host": HOST, TOKEN_HEADER: wrong}
        reply = client.open(path, method=method, json=body, headers=headers)
        assert reply.status_code == 403, reply.get_json()
        assert reply.get_json()["code"] == "bad_token" and what in reply.get_json()["error"]
    reply = client.open(path, method=method, json=body, headers={"Host": HOST, TOKEN_HEADER: token})
    assert reply.status_code == 200, reply.get_json()


def test_a_refused_call_does_not_keep_a_session_alive(app, client):
    first, _ = _session(client)
    second, _ = _session(client)
    client.get(f"/api/session/{first}", headers={"Host": HOST, TOKEN_HEADER: "guess"})
    assert app.extensions["explorer_sessions"].ids() == [first, second]  # first is still LRU


def test_the_token_is_unguessable_and_given_only_once(client):
    sid, token = _session(client)
    _, other = _session(client)
    assert token != other and len(token) >= 43  # token_urlsafe(32): 256 random bits
    reply = client.get(f"/api/session/{sid}", headers={"Host": HOST, TOKEN_HEADER: token})
    assert reply.status_code == 200 and token not in reply.get_data(as_text=True)
    reply = client.post(
        f"/api/session/{sid}/reset", json={}, headers={"Host": HOST, TOKEN_HEADER: token}
    )
    assert reply.status_code == 200 and token not in reply.get_data(as_text=True)


def test_a_preflight_from_another_page_is_never_approved(client):
    sid, _ = _session(client)
    reply = client.options(
        f"/api/session/{sid}/step",
        headers={
            "Host": HOST,
            "Origin": "http://attacker.example",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type, x-explorer-token",
        },
    )
    assert not [h for h in reply.headers.keys() if h.lower().startswith("access-control-")]


# ---- an expired session --------------------------------------------------------------------
def test_a_call_to_an_evicted_session_says_it_expired():
    client = create_app(max_sessions=1).test_client()
    sid, token = _session(client)
    _session(client)  # takes the only place
    for headers in ({"Host": HOST, TOKEN_HEADER: token}, {"Host": HOST}):
        reply = client.post(f"/api/session/{sid}/step", json={"epochs": 1}, headers=headers)
        assert reply.status_code == 404
        assert reply.get_json()["code"] == "session_expired"
        assert "expired" in reply.get_json()["error"]


def test_twenty_tabs_fit_in_the_default_store():
    """The reported churn: 20 tabs at a cap of 16 evicted each other in turn."""
    client = create_app().test_client()
    tabs = [_session(client) for _ in range(20)]
    for sid, token in tabs:
        reply = client.get(f"/api/session/{sid}", headers={"Host": HOST, TOKEN_HEADER: token})
        assert reply.status_code == 200


# ---- a real server: body limits and slow clients -----------------------------------------------
def _http(port, method, path, body=None, headers=None, timeout=30.0):
    """(status, headers, JSON) of one request on a fresh connection."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        chunked = body is not None and not isinstance(body, bytes)
        connection.request(method, path, body=body, headers=headers or {}, encode_chunked=chunked)
        reply = connection.getresponse()
        return reply.status, reply.headers, json.loads(reply.read())
    finally:
        connection.close()


@pytest.fixture(scope="module")
def served():
    with ExplorerServer().start() as server:
        status, _, snap = _http(server.port, "POST", "/api/session")
        assert status == 201
        yield server, snap["session"], snap["token"]


def _step_body(size: int) -> bytes:
    """``{"epochs": 1}`` padded with JSON whitespace to exactly ``size`` bytes."""
    body = b'{"epochs": 1' + b" " * (size - 13) + b"}"
    assert len(body) == size
    return body


def _chunks(data: bytes, size: int = 1000):
    return (data[i : i + size] for i in range(0, len(data), size))


@pytest.mark.parametrize("chunked", [False, True], ids=["Content-Length", "chunked"])
@pytest.mark.parametrize(("size", "status"), [(P.MAX_BODY_BYTES, 200), (P.MAX_BODY_BYTES + 1, 413)])
def test_the_body_limit_is_exact_announced_or_chunked(served, chunked, size, status):
    server, sid, token = served
    body = _step_body(size)
    headers = {"Content-Type": "application/json", TOKEN_HEADER: token}
    got, _, reply = _http(
        server.port, "POST", f"/api/session/{sid}/step", _chunks(body) if chunked else body, headers
    )
    assert got == status, reply
    if status == 413:
        assert "too large" in reply["error"]


def test_a_chunked_20_mb_body_is_a_413_not_malformed_json(served):
    server, sid, token = served
    body = b'{"epochs": 1, "pad": "' + b"x" * 20_000_000 + b'"}'
    headers = {"Content-Type": "application/json", TOKEN_HEADER: token}
    status, _, reply = _http(
        server.port, "POST", f"/api/session/{sid}/step", _chunks(body, 1 << 20), headers
    )
    assert status == 413 and "too large" in reply["error"]


def _closed_by_server(sock: socket.socket) -> bool:
    """Whether the server closes this connection (after any reply) before its timeout."""
    try:
        while sock.recv(65536):
            pass
        return True
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False


def _health_status(port: int) -> int:
    try:
        return _http(port, "GET", "/api/health", timeout=5.0)[0]
    except (ConnectionError, TimeoutError, http.client.HTTPException):
        return 0


def test_half_sent_requests_time_out_and_the_threads_stay_bounded():
    """The reported stall: 1,500 half-sent requests held 1,504 threads for over a minute."""
    limit, timeout = 16, 0.5
    with ExplorerServer(max_connections=limit, request_timeout=timeout).start() as server:
        stop = threading.Event()
        peak = []

        def sample() -> None:
            while not stop.is_set():
                peak.append(threading.active_count())
                time.sleep(0.002)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        baseline = threading.active_count()
        stalled = []
        try:
            for _ in range(200):
                sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
                sock.sendall(b"POST /api/session HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Ty")
                stalled.append(sock)
            # the server still answers: at once, or within a few request timeouts (the
            # wait is capped at 30 s, 60 times the 0.5 s timeout)
            deadline = time.monotonic() + 30
            while _health_status(server.port) != 200:
                assert time.monotonic() < deadline, "the server stopped answering"
                time.sleep(0.05)
            # and it has closed every half-sent connection itself (each wait is capped at
            # 10 s, 20 times the timeout)
            assert all(_closed_by_server(sock) for sock in stalled)
        finally:
            stop.set()
            sampler.join()
            for sock in stalled:
                sock.close()
    assert max(peak) - baseline <= limit


def test_a_request_trickled_a_byte_at_a_time_is_cut_off_at_the_deadline():
    # each byte comes 20 ms after the last (well inside a per-read timeout of 0.5 s), so
    # only a deadline on the whole request stops it; the client gives up after 20 s
    with ExplorerServer(request_timeout=0.5).start() as server:
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
            sock.sendall(b"GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Pad: ")
            closed = False
            for _ in range(1000):
                try:
                    sock.sendall(b"a")
                except (BrokenPipeError, ConnectionResetError):
                    closed = True
                    break
                if select.select([sock], [], [], 0.02)[0]:
                    closed = _closed_by_server(sock)
                    break
            assert closed


def test_a_body_that_stops_coming_is_a_408():
    with ExplorerServer(request_timeout=0.5).start() as server:
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
            sock.sendall(
                b"POST /api/session HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                b'Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{"se'
            )
            reply = http.client.HTTPResponse(sock)
            reply.begin()
            assert reply.status == 408
            assert "not received in time" in json.loads(reply.read())["error"]


def test_connections_beyond_the_limit_are_answered_503_until_one_frees():
    with ExplorerServer(max_connections=1, request_timeout=30).start() as server:
        holder = socket.create_connection(("127.0.0.1", server.port), timeout=10)
        try:
            holder.sendall(b"GET /api/health HTTP/1.1\r\n")  # holds the only place
            status, headers, reply = _http(server.port, "GET", "/api/health")
            assert status == 503 and headers["Retry-After"] == "1"
            assert "too many connections" in reply["error"]
        finally:
            holder.close()
        deadline = time.monotonic() + 10
        while _health_status(server.port) != 200:
            assert time.monotonic() < deadline, "the place was not given back"
            time.sleep(0.05)


# ---- in a real browser -----------------------------------------------------------------------
@pytest.fixture(scope="module")
def browser():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("the playwright Python package is not installed")
    from explorer_browser import CHROMIUM_ARGS, _chromium

    executable = _chromium()
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(10_000)
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    yield page
    context.close()
    assert errors == []


def _open(page, url):
    from playwright.sync_api import expect

    page.goto(url)
    expect(page.locator("body")).to_have_attribute("data-ready", "true")
    return expect


def test_the_page_rebuilds_an_expired_session_with_the_same_settings(page):
    with ExplorerServer(max_sessions=1).start() as server:
        expect = _open(page, server.url)
        with page.expect_response(lambda r: r.url.endswith("/reset")):
            page.select_option("#activation", "tanh")
        seed = page.locator("#seed")
        with page.expect_response(lambda r: r.url.endswith("/reset")):
            seed.fill("7")
            seed.dispatch_event("change")
        store = server.app.extensions["explorer_sessions"]
        with store.use(store.ids()[0]) as session:
            assert (session.config.seed, session.config.activation) == (7, "tanh")
        pill = page.locator("#epoch-pill")
        page.click("#btn-step")
        expect(pill).to_have_text("epoch 1")
        first_loss = page.locator("#m-train-loss").inner_text()  # epoch 0's
        page.click("#btn-step")
        expect(pill).to_have_text("epoch 2")
        # another tab takes the only place: this tab's session expires
        urllib.request.urlopen(urllib.request.Request(server.url + "api/session", method="POST"))
        page.click("#btn-step")
        notice = page.locator("#notice")
        expect(notice).to_contain_text("expired because many tabs were open")
        expect(notice).to_contain_text("rebuilt with the same settings (seed 7)")
        expect(pill).to_have_text("epoch 1")  # the click's step ran on the new session
        assert page.locator("#m-train-loss").inner_text() == first_loss  # same data and init
        assert page.locator("#message").is_hidden()
        assert page.locator("#seed").input_value() == "7"
        with store.use(store.ids()[0]) as session:
            assert (session.config.seed, session.config.activation) == (7, "tanh")
            assert session.epochs == 1
        # again with the trace open, from a call that does not redraw it by itself
        page.click("#btn-trace")
        expect(page.locator("#trace-view")).to_be_visible()
        page.click("#rail button[data-step=delta2]")
        expect(page.locator("#step-card")).to_have_attribute("data-step", "delta2")
        delta2 = page.locator("#tv-delta2").inner_text()  # with the weights after epoch 1
        page.evaluate("document.getElementById('notice').hidden = true")
        urllib.request.urlopen(urllib.request.Request(server.url + "api/session", method="POST"))
        page.click("#btn-gradcheck")
        expect(notice).to_be_visible()
        expect(page.locator("#gc-verdict")).to_have_text("PASS")
        expect(pill).to_have_text("epoch 0")
        expect(page.locator("#step-card")).to_have_attribute("data-step", "delta2")
        expect(page.locator("#tv-delta2")).not_to_have_text(delta2)  # the rebuilt weights'


_ATTACK_PAGE = """<!doctype html><title>elsewhere</title><script>
window.attack = async (target) => {
  // bodiless "simple" POSTs need no preflight: the browser sends them as they are
  const simple = Array.from({ length: 20 }, () =>
    fetch(target + "api/session", { method: "POST", mode: "no-cors" }).then(() => "sent", () => "failed"));
  // a call with the token header needs a preflight, which the explorer never approves
  const custom = fetch(target + "api/session/SID/step", {
    method: "POST", headers: { "X-Explorer-Token": "guess", "Content-Type": "application/json" },
    body: '{"epochs": 1}' }).then((r) => "answered " + r.status, () => "blocked");
  return { simple: await Promise.all(simple), custom: await custom };
};
</script>"""


class _AttackPage(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = _ATTACK_PAGE.encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


@pytest.mark.parametrize("attacker_host", ["127.0.0.1", "localhost"])
def test_a_page_elsewhere_cannot_crowd_out_a_learners_tab(browser, page, attacker_host):
    with (
        ExplorerServer(max_sessions=16).start() as server,
        http.server.ThreadingHTTPServer(("127.0.0.1", 0), _AttackPage) as elsewhere,
    ):
        arrived = []  # what reached the explorer, recorded before any of its checks

        def record() -> None:
            arrived.append((request.method, request.headers.get("Origin")))

        server.app.before_request_funcs.setdefault(None, []).insert(0, record)
        threading.Thread(target=elsewhere.serve_forever, daemon=True).start()
        try:
            expect = _open(page, server.url)  # the learner's tab
            store = server.app.extensions["explorer_sessions"]
            learner = store.ids()
            other = browser.new_context()
            try:
                attack = other.new_page()
                origin = f"http://{attacker_host}:{elsewhere.server_address[1]}"
                attack.goto(origin + "/")
                result = attack.evaluate("(target) => window.attack(target)", server.url)
            finally:
                other.close()
        finally:
            elsewhere.shutdown()
        posts = [o for m, o in arrived if m == "POST" and o == origin]
        assert len(posts) >= 20, arrived  # the simple requests did reach the server...
        assert result["custom"] == "blocked"  # (the preflighted one never got past it)
        assert store.ids() == learner  # ...and created nothing
        page.click("#btn-step")
        expect(page.locator("#epoch-pill")).to_have_text("epoch 1")
        assert page.locator("#notice").is_hidden()


@pytest.mark.parametrize(
    ("limits", "message"),
    [
        ({"max_connections": 0}, "max_connections must be at least 1; got 0"),
        ({"request_timeout": 0}, "request_timeout must be positive; got 0"),
    ],
)
def test_limits_that_would_serve_nobody_are_refused(limits, message):
    with pytest.raises(ValueError, match=message):
        ExplorerServer(**limits)
