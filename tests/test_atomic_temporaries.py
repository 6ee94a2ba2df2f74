"""Temporary files of atomic writes: recognisable names, stale ones removed by the next
write to the same file, live ones left alone; a missing folder is refused, not created;
errors name the file asked for."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import tempfile
import time

import pytest

from backprop_lab._util.atomic import (
    STALE_AFTER_SECONDS,
    OutputError,
    atomic_write,
    atomic_write_text,
    temporary_prefix,
)


def dead_pid() -> int:
    """The id of a process that has exited (a fresh pid is not reused at once)."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def host() -> str:
    return re.sub(r"[^A-Za-z0-9.-]", "-", socket.gethostname())


def test_the_temporary_file_names_target_host_and_process(tmp_path):
    with atomic_write(tmp_path / "scores.csv"):
        (name,) = os.listdir(tmp_path)
    assert name.startswith(f".scores.csv~{host()}~{os.getpid()}~") and name.endswith(".tmp")
    assert name.startswith(temporary_prefix(tmp_path / "scores.csv"))
    assert os.listdir(tmp_path) == ["scores.csv"]


def test_the_next_write_removes_stale_temporaries_of_that_file_only(tmp_path):
    gone = dead_pid()
    h = host()
    stale = [
        f".scores.csv~{h}~{gone}~abcd1234.tmp",  # its process has ended
        ".scores.csv~elsewhere~1~abcd1234.tmp",  # another host's, untouched for 2 days
    ]
    kept = [
        f".scores.csv~{h}~{os.getpid()}~abcd1234.tmp",  # a live writer (this process)
        ".scores.csv~elsewhere~1~efgh5678.tmp",  # another host's, recent: maybe live
        f".other.csv~{h}~{gone}~abcd1234.tmp",  # stale, but of another file
        f".scores.csv~{h}~{gone}~abcd1234.bak",  # not a temporary file name
        "scores.csv.tmp",  # not ours
    ]
    for name in stale + kept:
        (tmp_path / name).write_text("partial")
    old = time.time() - 2 * STALE_AFTER_SECONDS
    os.utime(tmp_path / stale[1], (old, old))
    atomic_write_text(tmp_path / "scores.csv", "new\n")
    assert sorted(os.listdir(tmp_path)) == sorted([*kept, "scores.csv"])


def test_a_missing_folder_is_refused_not_created(tmp_path):
    with pytest.raises(OutputError, match=r"the folder .*missing does not exist"):
        atomic_write_text(tmp_path / "missing" / "x.txt", "x")
    assert os.listdir(tmp_path) == []


def test_errors_name_the_target_not_the_temporary_file(tmp_path, monkeypatch):
    def refuse(*args, dir=None, **kwargs):
        raise PermissionError(13, "Permission denied", os.path.join(dir, ".x~h~1~y.tmp"))

    monkeypatch.setattr(tempfile, "mkstemp", refuse)
    with pytest.raises(OutputError) as error:
        atomic_write_text(tmp_path / "out.txt", "x")
    assert (
        str(error.value)
        == f"{tmp_path / 'out.txt'}: cannot write in the folder {tmp_path}: Permission denied"
    )


def test_a_full_disk_is_reported_naming_the_target(tmp_path):
    with pytest.raises(OutputError, match=r"out\.txt: cannot write: No space left on device"):
        with atomic_write(tmp_path / "out.txt") as handle:
            handle.write("half")
            raise OSError(28, "No space left on device")
    assert os.listdir(tmp_path) == []


def test_ctrl_c_half_way_removes_the_temporary_file(tmp_path):
    (tmp_path / "out.txt").write_text("previous")
    with pytest.raises(KeyboardInterrupt), atomic_write(tmp_path / "out.txt") as handle:
        handle.write("half of the new")
        raise KeyboardInterrupt
    assert os.listdir(tmp_path) == ["out.txt"]
    assert (tmp_path / "out.txt").read_text() == "previous"
