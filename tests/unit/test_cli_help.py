"""Every subcommand and every option of `exeunt` says what it does (issue 12, item 9)."""

from __future__ import annotations

import argparse

from exeunt.cli import parser


def _walk(p: argparse.ArgumentParser, path: str) -> list[tuple[str, argparse.Action]]:
    found = []
    for action in p._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {a.dest: a.help for a in action._choices_actions}
            for name, child in action.choices.items():
                found.append((f"{path} {name}", argparse.Action([name], name, help=helps.get(name))))
                found.extend(_walk(child, f"{path} {name}"))
        elif not isinstance(action, argparse._HelpAction | argparse._VersionAction):
            found.append((path, action))
    return found


def test_every_command_and_option_has_help() -> None:
    missing = [f"{path} {a.option_strings or a.dest}" for path, a in _walk(parser(), "exeunt") if not a.help]
    assert missing == []
