"""The board (hub/board/format.js) lists each kind's states in the order it shows them and the open states of a
finding, to lay out its counts and its deadlines: they are checked against the kinds registry (hub/kinds.py), so a
state added there fails here until the board shows it too (docs/design.md, "Kinds and states")."""

from __future__ import annotations

import json
import re
from pathlib import Path

from hub.kinds import KINDS

FORMAT_JS = (Path(__file__).resolve().parent.parent / "hub" / "board" / "format.js").read_text()


def board_states() -> dict[str, list[str]]:
    rows = re.findall(r'\["([A-Z_]+)", "[^"]+", (\[[^\]]*\])\]', FORMAT_JS)
    return {kind: json.loads(states) for kind, states in rows}


def test_the_board_shows_every_state_of_every_kind_it_counts() -> None:
    shown = board_states()
    # every kind with states (the designations since #15)
    assert set(shown) == {k.name for k in KINDS.values() if k.has_states}, shown
    for kind, states in shown.items():
        # the board's own order (a paused engagement beside the active ones), the registry's states
        assert len(states) == len(set(states)) and set(states) == set(KINDS[kind].states), kind


def test_the_board_s_open_findings_are_the_registry_s() -> None:
    found = re.search(r"export const OPEN_FINDING_STATES = (\[[^\]]*\]);", FORMAT_JS)
    assert found is not None
    assert set(json.loads(found.group(1))) == set(KINDS["FINDING"].subset("open"))
