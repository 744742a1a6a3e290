"""Tags and notes a researcher adds to runs, before or after they run. (The store loads on first use:
`check_tag` serves sweep-file parsing, which needs no database.)"""

from __future__ import annotations

import unicodedata
from typing import TYPE_CHECKING

from ..errors import MftctlError
from ..terminal import safe

if TYPE_CHECKING:
    from ..store.engine import Store

MAX_TAG = 64
MAX_NOTE = 10_000


def _unusable(char: str) -> bool:
    # Format characters (zero-width spaces, bidi overrides) make two tags look alike or text run backwards.
    return char.isspace() or char in ",[]" or unicodedata.category(char) in ("Cc", "Cf", "Co", "Cn", "Zl", "Zp")


def check_tag(tag: str) -> str:
    """A tag is one word people can type in `--where tag=NAME`: no spaces, commas or control characters."""
    if not tag or len(tag) > MAX_TAG or any(_unusable(c) for c in tag) or safe(tag) != tag:
        raise MftctlError(
            f"tag {tag!r} is not usable: a tag is 1 to {MAX_TAG} characters without spaces, commas, "
            "brackets or control characters, e.g. baseline or lr-scan"
        )
    return tag


def check_note(text: str) -> str:
    if len(text) > MAX_NOTE:
        raise MftctlError(f"a note is at most {MAX_NOTE:,} characters, this one {len(text):,}")
    return text


def tag_runs(store: Store, run_ids: list[int], tag: str, *, remove: bool = False) -> list[int]:
    """Tag the runs (or untag them); every id must exist, else nothing changes. Returns the ids."""
    from ..store import reads, writes

    check_tag(tag)
    ids = sorted(set(run_ids))
    reads.runs_by_id(store, ids)
    if remove:
        tags = reads.tags_of(store, ids)
        missing = [i for i in ids if tag not in tags.get(i, [])]
        if missing:
            raise MftctlError(
                f"run {', '.join(map(str, missing))} has no tag {tag!r}; `mftctl show ID` lists a run's tags"
            )
    writes.tag_runs(store, ids, tag, remove=remove)
    return ids


def note_run(store: Store, run_id: int, text: str) -> None:
    """The run's note (an empty text clears it)."""
    from ..store import reads, writes

    check_note(text)
    reads.get_run(store, run_id)
    writes.set_note(store, run_id, text.strip())
