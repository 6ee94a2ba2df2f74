"""The explorer's web server: the page, and a small JSON API over the Python engine.

Every number the page shows comes from here (``nn.mlp``, ``training.train``, the layers'
``forward``/``backward``, ``gradient_check``); the page's script only draws them.

API (bodies are JSON objects; every reply is JSON, errors as ``{"error": message}``):

==========================================  ===============================================
``POST /api/session``                       new session (body: optional configuration)
``GET  /api/session/<id>``                  everything to draw it: config, curves, network
``POST /api/session/<id>/reset``            rebuild data and network (changed config fields)
``POST /api/session/<id>/settings``         change lr, batch_size, backprop or l2 mid-run
``POST /api/session/<id>/step``             train ``epochs`` more; new curve points, network
                                            (with ``"trace": true``, also the trace after it)
``POST /api/session/<id>/network``          weights and one borrower's neuron values
``GET  /api/session/<id>/borrower?index=i`` a training borrower's raw features and label
``POST /api/session/<id>/trace``            one forward and backward pass for a borrower
``GET  /api/session/<id>/units?feature=f``  hidden activations over training borrowers vs f
``POST /api/session/<id>/gradcheck``        finite-difference check of the current weights
==========================================  ===============================================

Every session call carries the session's token (``X-Explorer-Token``), which only the
``POST /api/session`` reply holds.

Defences, each against a way another web page or a slow client could disturb it:

- It binds to the loopback interface only and answers only requests addressed to it by a
  loopback name (which stops other web sites from reaching it through DNS tricks).
- A state-changing request (any method but GET, HEAD, OPTIONS) must come from the
  explorer's own page or from no page at all: its ``Origin``, when sent, must be this
  server's own origin, and its ``Sec-Fetch-Site``, when sent, ``same-origin`` or ``none``.
  Anything else (another site, another port on this machine, a sandboxed ``null``
  origin) is answered 403, so another page cannot create sessions to crowd out a
  learner's.
- A session answers only calls that present its token. A page on another origin cannot
  read the token, and cannot send the custom header without a CORS preflight, which the
  server never approves.
- A body is at most ``MAX_BODY_BYTES``, whether announced in ``Content-Length`` or sent
  chunked (413 beyond).
- A connection must deliver its whole request within ``request_timeout`` seconds (each
  read waits at most that long too), and at most ``max_connections`` connections are
  served at once: one more is answered 503 and closed, so slow or stalled clients hold a
  bounded number of threads for a bounded time.
"""

from __future__ import annotations

import io
import json
import socket
import sys
import threading
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from flask import Flask, Response, jsonify, request, send_from_directory
from werkzeug.exceptions import ClientDisconnected, HTTPException, RequestEntityTooLarge
from werkzeug.serving import ThreadedWSGIServer, WSGIRequestHandler

from .. import __version__
from . import params as P
from .sessions import DEFAULT_MAX_SESSIONS, Session, SessionStore, check_spec

STATIC = Path(__file__).parent / "static"
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "[::1]", "::1")
#: The header that carries a session's token on every call to it.
TOKEN_HEADER = "X-Explorer-Token"
#: Methods that change nothing; every other method must come from the explorer's page.
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
#: ``Sec-Fetch-Site`` values of a request from the server's own page, or from no page.
OWN_FETCH_SITES = frozenset({"same-origin", "none"})
#: Seconds a connection has to deliver its whole request (line, headers and body).
DEFAULT_REQUEST_TIMEOUT = 10.0
#: Connections served at once (a thread each); one more is answered 503.
DEFAULT_MAX_CONNECTIONS = 64

_CSP = (
    "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a valid JSON number")


class Refused(P.ApiError):
    """A request refused for where it came from or what it lacks (403), with a ``code``."""

    def __init__(self, message: str, code: str) -> None:
        super().__init__(message, status=403)
        self.code = code


def read_json(required: bool = True) -> Any:
    """The request's JSON body (None when empty and not required), or a 4xx ApiError."""
    # MAX_CONTENT_LENGTH is one byte over the limit: werkzeug refuses a longer announced
    # Content-Length itself, but stops reading a chunked body at MAX_CONTENT_LENGTH without
    # saying so, so a body that fills it was cut and is too large.
    data = request.get_data(cache=True)
    if len(data) > P.MAX_BODY_BYTES:
        raise RequestEntityTooLarge()
    if not data:
        if required:
            raise P.ApiError("the request needs a JSON body")
        return None
    if request.mimetype != "application/json":
        raise P.ApiError("send the body as JSON with Content-Type: application/json", 415)
    try:
        return json.loads(data.decode("utf-8"), parse_constant=_reject_constant)
    except (UnicodeDecodeError, ValueError, RecursionError) as error:
        raise P.ApiError(f"malformed JSON body: {error}") from None


def _host_name(host: str) -> str:
    if host.startswith("["):
        return host[: host.find("]") + 1]
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def from_own_page() -> bool:
    """Whether the request comes from the server's own page, or from no page at all.

    A browser names the page behind a request in ``Origin`` (on every POST) and in
    ``Sec-Fetch-Site``; tools such as curl send neither. The own origin is the scheme and
    the Host the request was sent to, which ``only_loopback`` has already checked.
    """
    origin = request.headers.get("Origin")
    site = request.headers.get("Sec-Fetch-Site")
    if origin is not None and origin != f"http://{request.host}":
        return False
    return site is None or site in OWN_FETCH_SITES


def create_app(max_sessions: int = DEFAULT_MAX_SESSIONS) -> Flask:
    """The Flask application with its own store of at most ``max_sessions`` sessions."""
    app = Flask(__name__, static_folder=str(STATIC), static_url_path="/static")
    app.config["MAX_CONTENT_LENGTH"] = P.MAX_BODY_BYTES + 1  # see read_json
    app.json.sort_keys = False
    store = SessionStore(max_sessions)
    app.extensions["explorer_sessions"] = store

    @app.before_request
    def only_loopback() -> None:
        if _host_name(request.host) not in LOOPBACK_HOSTS:
            raise P.ApiError(
                "this server answers only requests addressed to 127.0.0.1 or localhost", 403
            )

    @app.before_request
    def only_own_page() -> None:
        if request.method not in SAFE_METHODS and not from_own_page():
            raise Refused(
                f"this server takes changes only from its own page; refused a {request.method} "
                "sent from another page (see its Origin and Sec-Fetch-Site headers)",
                "cross_origin",
            )

    @app.after_request
    def headers(response: Response) -> Response:
        response.headers["Content-Security-Policy"] = _CSP
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "no-referrer"
        if request.path.startswith("/api/") or request.path == "/":
            response.headers["Cache-Control"] = "no-store"
        return response

    # ---- errors: always JSON, never a traceback ----------------------------------------
    @app.errorhandler(P.ApiError)
    def api_error(error: P.ApiError) -> tuple[Response, int]:
        code = getattr(error, "code", None)
        body = {"error": str(error)} if code is None else {"error": str(error), "code": code}
        return jsonify(body), error.status

    @app.errorhandler(ClientDisconnected)
    def body_not_received(error: ClientDisconnected) -> tuple[Response, int]:
        return jsonify(error="the request body was not received in time, or was cut off"), 408

    @app.errorhandler(ValueError)
    def value_error(error: ValueError) -> tuple[Response, int]:
        return jsonify(error=str(error)), 400

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException) -> tuple[Response, int]:
        messages = {
            404: "no such page or API endpoint",
            405: f"method {request.method} is not allowed here",
            413: f"request body too large (at most {P.MAX_BODY_BYTES} bytes)",
        }
        code = error.code or 500
        return jsonify(error=messages.get(code, error.description)), code

    @app.errorhandler(Exception)
    def unexpected(error: Exception) -> tuple[Response, int]:
        traceback.print_exception(error, file=sys.stderr)  # to the server's log only
        return jsonify(error="internal error; the server's log has the details"), 500

    # ---- page and API ------------------------------------------------------------------
    @app.get("/")
    def index() -> Response:
        return send_from_directory(STATIC, "index.html")

    @app.get("/api/health")
    def health() -> Response:
        return jsonify(ok=True, version=__version__, sessions=len(store))

    @app.post("/api/session")
    def create() -> tuple[Response, int]:
        config = P.parse_config(read_json(required=False))
        session = store.create(config)
        with store.use(session.id) as s:
            return jsonify({**s.snapshot(), "token": s.token}), 201  # the token, this once

    def with_session(sid: str, work: Callable[[Session], Any]) -> Response:
        with store.use_as_owner(sid, request.headers.get(TOKEN_HEADER)) as session:
            return jsonify(work(session))

    @app.get("/api/session/<sid>")
    def get_session(sid: str) -> Response:
        return with_session(sid, lambda s: s.snapshot())

    @app.post("/api/session/<sid>/reset")
    def reset(sid: str) -> Response:
        body = read_json(required=False)

        def work(s: Session) -> Any:
            s.build(P.parse_config(body, base=s.config))
            return s.snapshot()

        return with_session(sid, work)

    @app.post("/api/session/<sid>/settings")
    def settings(sid: str) -> Response:
        body = read_json()

        def work(s: Session) -> Any:
            s.change_settings(P.parse_settings(body, s.config))
            return {"config": s.config.to_dict(), "status": s.status()}

        return with_session(sid, work)

    @app.post("/api/session/<sid>/step")
    def step(sid: str) -> Response:
        epochs, borrower, trace = P.parse_step(read_json())

        def work(s: Session) -> Any:
            spec = check_spec(borrower, s)
            new = s.step(epochs)
            reply = {"history": new, "status": s.status(), "network": s.network(spec)}
            if trace and s.config.depth == 1:  # the open trace card's borrower, after the step
                reply["trace"] = s.trace(spec or P.BorrowerSpec(index=0))
            return reply

        return with_session(sid, work)

    @app.post("/api/session/<sid>/network")
    def network(sid: str) -> Response:
        body = read_json()
        return with_session(sid, lambda s: s.network(check_spec(body, s)))

    @app.get("/api/session/<sid>/borrower")
    def borrower(sid: str) -> Response:
        text = request.args.get("index")
        return with_session(sid, lambda s: s.borrower(P.parse_index_query(text, s.n_train)))

    @app.post("/api/session/<sid>/trace")
    def trace(sid: str) -> Response:
        body = read_json()
        return with_session(sid, lambda s: s.trace(check_spec(body, s)))

    @app.get("/api/session/<sid>/units")
    def units(sid: str) -> Response:
        name = P.parse_feature_query(request.args.get("feature"))
        return with_session(sid, lambda s: s.units(name))

    @app.post("/api/session/<sid>/gradcheck")
    def gradcheck(sid: str) -> Response:
        body = read_json(required=False)
        return with_session(sid, lambda s: s.gradcheck(P.parse_gradcheck(body, s.config.hidden)))

    return app


class _DeadlineReader(io.RawIOBase):
    """A socket's input that ends in a TimeoutError once its deadline has passed.

    Each read waits at most until the deadline, so a client that sends a byte now and
    then cannot stretch one request past it (a socket timeout alone restarts per read).
    """

    def __init__(self, sock: socket.socket, deadline: float, timeout: float) -> None:
        self._sock, self._deadline, self._timeout = sock, deadline, timeout

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        left = self._deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("the request was not received in time")
        self._sock.settimeout(min(left, self._timeout))
        try:
            return self._sock.recv_into(buffer)
        finally:
            self._sock.settimeout(self._timeout)  # writes get the full timeout


class _Handler(WSGIRequestHandler):
    """One connection: its request must arrive within the server's ``request_timeout``.

    werkzeug closes every connection after one response, so the deadline, counted from
    the connection's start, covers one request. Only failed requests are logged: playing
    sends several requests a second.
    """

    server: _BoundedWSGIServer

    def setup(self) -> None:
        self.timeout = self.server.request_timeout  # each socket read and write
        super().setup()
        deadline = time.monotonic() + self.server.request_timeout
        self.rfile.close()  # the plain reader; the socket stays open
        self.rfile = io.BufferedReader(_DeadlineReader(self.connection, deadline, self.timeout))

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        if str(code)[:1] == "5":
            super().log_request(code, size)


_BUSY_BODY = b'{"error": "the explorer is serving too many connections; try again in a moment"}'
_BUSY = (
    b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
    b"Content-Length: %d\r\nRetry-After: 1\r\nConnection: close\r\n\r\n%s"
    % (len(_BUSY_BODY), _BUSY_BODY)
)


class _BoundedWSGIServer(ThreadedWSGIServer):
    """werkzeug's threaded server with at most ``max_connections`` connection threads.

    A connection beyond the limit is answered 503 at once from the accepting thread
    (without waiting on its request) and closed.
    """

    def __init__(
        self, app: Flask, fd: int, *, max_connections: int, request_timeout: float
    ) -> None:
        self.request_timeout = request_timeout
        self._slots = threading.BoundedSemaphore(max_connections)
        # serves the socket ``fd`` already listening on 127.0.0.1 (its port is read from it)
        super().__init__("127.0.0.1", 0, app, _Handler, fd=fd)

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self._slots.acquire(blocking=False):
            self._refuse(request)
            return
        try:
            super().process_request(request, client_address)  # starts the thread
        except BaseException:
            self._slots.release()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()

    def _refuse(self, request: socket.socket) -> None:
        try:
            request.setblocking(False)
            request.recv(65536)  # what already arrived, so that closing does not reset
        except OSError:
            pass
        try:
            request.send(_BUSY)
        except OSError:
            pass
        self.shutdown_request(request)


class ExplorerServer:
    """The app on a threaded werkzeug server bound to a loopback address.

    ``port=0`` picks a free port; ``url`` says which. ``serve_forever()`` blocks (Ctrl-C
    raises KeyboardInterrupt); ``start()`` serves from a background thread instead.
    ``request_timeout`` (seconds for a connection's whole request) and ``max_connections``
    (connections served at once) bound what slow or stalled clients can hold.
    """

    def __init__(
        self,
        port: int = 0,
        *,
        host: str = "127.0.0.1",
        max_sessions: int = DEFAULT_MAX_SESSIONS,
        max_connections: int = DEFAULT_MAX_CONNECTIONS,
        request_timeout: float = DEFAULT_REQUEST_TIMEOUT,
    ) -> None:
        if host not in ("127.0.0.1", "localhost"):
            raise ValueError(f"the explorer binds to the loopback interface only; got {host!r}")
        if not 0 <= port <= 65535:
            raise ValueError(f"port must be between 0 and 65535; got {port}")
        if max_connections < 1:
            raise ValueError(f"max_connections must be at least 1; got {max_connections}")
        if not request_timeout > 0:
            raise ValueError(f"request_timeout must be positive; got {request_timeout}")
        self.app = create_app(max_sessions)
        # Bind first, so a busy port raises OSError here (werkzeug would exit the process).
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(("127.0.0.1", port))
            sock.listen(64)
            self._httpd = _BoundedWSGIServer(
                self.app,
                sock.fileno(),
                max_connections=max_connections,
                request_timeout=request_timeout,
            )
        except OSError as error:
            failure = OSError(f"cannot listen on 127.0.0.1:{port}: {error.strerror}")
            failure.errno = error.errno
            raise failure from None
        finally:
            sock.close()  # the server holds its own duplicate of the socket
        self.port = int(self._httpd.server_address[1])
        self.url = f"http://127.0.0.1:{self.port}/"
        self._thread: threading.Thread | None = None

    def serve_forever(self) -> None:
        self._httpd.serve_forever()

    def start(self) -> ExplorerServer:
        """Serve from a daemon thread; returns self."""
        self._thread = threading.Thread(target=self.serve_forever, daemon=True)
        self._thread.start()
        return self

    def close(self) -> None:
        """Stop serving (if started) and release the port."""
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join()
            self._thread = None
        self._httpd.server_close()

    def __enter__(self) -> ExplorerServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
