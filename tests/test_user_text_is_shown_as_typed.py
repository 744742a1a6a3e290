"""User text (names, notes, tags) reaches the terminal as typed: never as markup or escape codes."""

from __future__ import annotations

import pytest

from helpers import (
    SETS,
    invoke,
)


@pytest.mark.parametrize(
    "name", ["[/]", "[link=http://example.com]x[/link]", "red\x1b[31mX\x1b]8;;http://e\x07", "x[idx]"]
)
def test_user_text_reaches_the_terminal_as_typed(isolated_db, name):
    assert invoke("train", "--preset", "quick", *SETS, "--name", name).exit_code == 0
    for args in (("list",), ("show", 1)):
        out = invoke(*args)
        assert out.exit_code == 0, out.output
        assert "\x1b" not in out.output and "\x07" not in out.output
        printable = name.replace("\x1b", "").replace("\x07", "")
        assert printable in out.output
