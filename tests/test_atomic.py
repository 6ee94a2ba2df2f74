"""Atomic writes: all or nothing, with the permissions an ordinary write would give."""

import os
import stat

import pytest

from backprop_lab._util.atomic import atomic_write, atomic_write_text


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def test_new_file_gets_the_umask_mode_and_replaced_file_keeps_its_mode(tmp_path):
    old = os.umask(0o022)
    try:
        atomic_write_text(tmp_path / "new.txt", "hello")
        assert mode(tmp_path / "new.txt") == 0o644  # not mkstemp's 0600
        (tmp_path / "kept.txt").write_text("old")
        os.chmod(tmp_path / "kept.txt", 0o640)
        atomic_write_text(tmp_path / "kept.txt", "new")
        assert mode(tmp_path / "kept.txt") == 0o640
        assert (tmp_path / "kept.txt").read_text() == "new"
    finally:
        os.umask(old)


def test_failure_half_way_leaves_the_old_file_and_no_temporary(tmp_path):
    path = tmp_path / "out.txt"
    path.write_text("previous")
    with pytest.raises(RuntimeError), atomic_write(path, "w") as handle:
        handle.write("half of the new")
        raise RuntimeError("crash")
    assert path.read_text() == "previous"
    assert os.listdir(tmp_path) == ["out.txt"]
