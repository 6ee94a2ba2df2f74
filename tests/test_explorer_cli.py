"""``backprop-lab explore``: starts on loopback, opens the browser unless told not to,
stops cleanly on Ctrl-C, and reports a bad or busy port in one line."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import urllib.request
import webbrowser

import pytest

from backprop_lab.cli import main
from backprop_lab.explorer.server import ExplorerServer


def test_help_lists_the_options(capsys):
    with pytest.raises(SystemExit) as stop:
        main(["explore", "--help"])
    assert stop.value.code == 0
    out = capsys.readouterr().out
    assert "--port" in out and "--no-browser" in out and "127.0.0.1" in out


def test_port_out_of_range_is_a_one_line_error(capsys):
    assert main(["explore", "--port", "70000", "--no-browser"]) == 2
    assert capsys.readouterr().err.strip() == (
        "backprop-lab: error: --port must be between 0 and 65535; got 70000"
    )


def test_busy_port_is_a_one_line_error(capsys):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        assert main(["explore", "--port", str(port), "--no-browser"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"backprop-lab: error: cannot listen on 127.0.0.1:{port}")
    assert "\n" not in err


@pytest.mark.parametrize(("flags", "opened"), [([], True), (["--no-browser"], False)])
def test_browser_opens_unless_told_not_to(monkeypatch, capsys, flags, opened):
    seen = []
    monkeypatch.setattr(webbrowser, "open", seen.append)

    def interrupted(self):
        raise KeyboardInterrupt

    monkeypatch.setattr(ExplorerServer, "serve_forever", interrupted)
    assert main(["explore", *flags]) == 0
    captured = capsys.readouterr()
    url = captured.out.split("explorer: ")[1].split()[0]
    assert url.startswith("http://127.0.0.1:") and url.endswith("/")
    assert seen == ([url] if opened else [])
    assert "stopped" in captured.err


def test_server_refuses_anything_but_loopback():
    with pytest.raises(ValueError, match="loopback interface only"):
        ExplorerServer(host="0.0.0.0")


def test_real_server_answers_and_stops_on_ctrl_c():
    process = subprocess.Popen(
        [sys.executable, "-m", "backprop_lab", "explore", "--no-browser"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = process.stdout.readline()
        url = line.split("explorer: ")[1].split()[0]
        with urllib.request.urlopen(url + "api/health", timeout=10) as reply:
            assert json.load(reply)["ok"] is True
        with urllib.request.urlopen(url, timeout=10) as reply:
            assert b"backprop-lab explorer" in reply.read()
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=20) == 0
        assert "stopped" in process.stderr.read()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        process.stdout.close()
        process.stderr.close()


def test_every_page_file_is_packaged():
    """The wheel must carry the page: each static file matches a package-data pattern."""
    import fnmatch
    import tomllib
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    patterns = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"][
        "package-data"
    ]["backprop_lab"]
    package = root / "src" / "backprop_lab"
    files = [
        p.relative_to(package).as_posix() for p in (package / "explorer" / "static").rglob("*")
    ]
    files = [f for f in files if (package / f).is_file()]
    assert len(files) >= 7
    unpackaged = [f for f in files if not any(fnmatch.fnmatch(f, pat) for pat in patterns)]
    assert unpackaged == []
