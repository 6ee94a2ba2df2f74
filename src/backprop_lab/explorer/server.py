"""The explorer's web server: the page, and a small JSON API over the Python engine.

Every number the page shows comes from here (``nn.mlp``, ``training.train``, the layers'
``forward``/``backward``, ``gradient_check``); the page's script only draws them.

API (bodies are JSON objects; every reply is JSON, errors as ``{"error": message}``):

==========================================  ===============================================
``POST /api/session``                       new session (body: optional configuration)
``GET  /api/session/<id>``                  everything to draw it: config, curves, network
``POST /api/session/<id>/reset``            rebuild data and network (changed config fields)
``POST /api/session/<id>/settings``         change lr, batch_size or backprop mid-training
``POST /api/session/<id>/step``             train ``epochs`` more; new curve points, network
``POST /api/session/<id>/network``          weights and one borrower's neuron values
``GET  /api/session/<id>/borrower?index=i`` a training borrower's raw features and label
``POST /api/session/<id>/trace``            one forward and backward pass for a borrower
``POST /api/session/<id>/gradcheck``        finite-difference check of the current weights
==========================================  ===============================================

The server binds to the loopback interface only and answers only requests addressed to
it by a loopback name (which stops other web sites from reaching it through DNS tricks).
"""

from __future__ import annotations

import json
import socket
import sys
import threading
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from flask import Flask, Response, jsonify, request, send_from_directory
from werkzeug.exceptions import HTTPException
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from .. import __version__
from . import params as P
from .sessions import DEFAULT_MAX_SESSIONS, Session, SessionStore, check_spec

STATIC = Path(__file__).parent / "static"
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "[::1]", "::1")

_CSP = (
    "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a valid JSON number")


def read_json(required: bool = True) -> Any:
    """The request's JSON body (None when empty and not required), or a 4xx ApiError."""
    data = request.get_data(cache=True)  # over MAX_CONTENT_LENGTH: 413
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


def create_app(max_sessions: int = DEFAULT_MAX_SESSIONS) -> Flask:
    """The Flask application with its own store of at most ``max_sessions`` sessions."""
    app = Flask(__name__, static_folder=str(STATIC), static_url_path="/static")
    app.config["MAX_CONTENT_LENGTH"] = P.MAX_BODY_BYTES
    app.json.sort_keys = False
    store = SessionStore(max_sessions)
    app.extensions["explorer_sessions"] = store

    @app.before_request
    def only_loopback() -> None:
        if _host_name(request.host) not in LOOPBACK_HOSTS:
            raise P.ApiError(
                "this server answers only requests addressed to 127.0.0.1 or localhost", 403
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
        return jsonify(error=str(error)), error.status

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
            return jsonify(s.snapshot()), 201

    def with_session(sid: str, work: Callable[[Session], Any]) -> Response:
        with store.use(sid) as session:
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
            s.config = P.parse_settings(body, s.config)
            return {"config": s.config.to_dict(), "status": s.status()}

        return with_session(sid, work)

    @app.post("/api/session/<sid>/step")
    def step(sid: str) -> Response:
        epochs, borrower = P.parse_step(read_json())

        def work(s: Session) -> Any:
            spec = check_spec(borrower, s)
            new = s.step(epochs)
            return {"history": new, "status": s.status(), "network": s.network(spec)}

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

    @app.post("/api/session/<sid>/gradcheck")
    def gradcheck(sid: str) -> Response:
        read_json(required=False)
        return with_session(sid, lambda s: s.gradcheck())

    return app


class _QuietHandler(WSGIRequestHandler):
    """Log only failed requests: playing sends several requests a second."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        if str(code)[:1] == "5":
            super().log_request(code, size)


class ExplorerServer:
    """The app on a threaded werkzeug server bound to a loopback address.

    ``port=0`` picks a free port; ``url`` says which. ``serve_forever()`` blocks (Ctrl-C
    raises KeyboardInterrupt); ``start()`` serves from a background thread instead.
    """

    def __init__(
        self, port: int = 0, *, host: str = "127.0.0.1", max_sessions: int = DEFAULT_MAX_SESSIONS
    ) -> None:
        if host not in ("127.0.0.1", "localhost"):
            raise ValueError(f"the explorer binds to the loopback interface only; got {host!r}")
        if not 0 <= port <= 65535:
            raise ValueError(f"port must be between 0 and 65535; got {port}")
        self.app = create_app(max_sessions)
        # Bind first, so a busy port raises OSError here (werkzeug would exit the process).
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(("127.0.0.1", port))
            sock.listen(64)
            self._httpd: BaseWSGIServer = make_server(
                "127.0.0.1",
                port,
                self.app,
                threaded=True,
                request_handler=_QuietHandler,
                fd=sock.fileno(),
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
