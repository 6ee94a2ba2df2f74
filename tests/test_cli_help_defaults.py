"""``backprop-lab COMMAND --help`` shows every option's default."""

from __future__ import annotations

import argparse

import pytest

from backprop_lab.cli import build_parser


def _subparsers() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    (action,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(action.choices)


def _shown(value: object) -> list[str]:
    """Ways a default may be written: '0.01', '1e-05', '[8]', '8'."""
    if isinstance(value, list):
        return [str(value), " ".join(map(str, value))]
    if isinstance(value, float):
        return [str(value), f"{value:g}"]
    return [str(value)]


@pytest.mark.parametrize("command", sorted(_subparsers()))
def test_every_option_with_a_value_shows_its_default(command):
    sub = _subparsers()[command]
    checked = 0
    for action in sub._actions:
        if not action.option_strings or action.nargs == 0 or action.help is None:
            assert action.nargs == 0 or action.option_strings == [] or action.help, (
                f"{command} {action.option_strings}: no help"
            )
            continue
        help_text = " ".join(sub._get_formatter()._expand_help(action).split())
        if action.default in (None, argparse.SUPPRESS, []):
            # no value by default: the help says what happens without the option
            continue
        checked += 1
        name = f"{command} {action.option_strings[-1]}"
        if "default:" in (action.help or ""):
            continue  # the default told in words: "(default: a free one)"
        assert "(default: " in help_text, f"{name}: no default in {help_text!r}"
        assert any(v in help_text for v in _shown(action.default)), (
            f"{name}: help does not show its default {action.default!r}: {help_text!r}"
        )
    assert checked or command in {"predict", "card"}  # every other command has such options


def test_flags_and_explained_defaults_are_not_repeated():
    train = _subparsers()["train"]
    text = " ".join(train.format_help().split())
    assert "(default: False)" not in text  # flags: off unless given
    assert text.count("default: the larger one") == 1 and "(default: None)" not in text
