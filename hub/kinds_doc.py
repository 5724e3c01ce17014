"""docs/workflows.md's tables of remits and of states, written from the kinds registry (hub/kinds.py), so that the
documentation never holds a rule of its own: `make docs` rewrites them, and tests/test_kinds.py fails while the
file differs from what this writes."""

from __future__ import annotations

import argparse
from pathlib import Path

from hub.kinds import KINDS, Kind, remit_says, stateful_kinds
from hub.remits import HUB

BEGIN = "<!-- generated from hub/kinds.py by `make docs`: {name} -->"
END = "<!-- end of generated: {name} -->"


def _hub_only(kind: Kind, action: str) -> bool:
    return all(r.who is HUB for r in kind.remits_for(action))


def remits_table() -> str:
    """Every mutation's remit, kind by kind, in the order of the registry."""
    lines = ["| mutation | record | who may | |", "|---|---|---|---|"]
    for kind in KINDS.values():
        for action in kind.actions:
            if _hub_only(kind, action):
                continue
            notes = "; ".join(dict.fromkeys(r.note for r in kind.remits_for(action) if r.note))
            lines.append(f"| `{action}` | {kind.type_name} | {remit_says(kind.name, action)} | {notes} |")
    return "\n".join(lines)


def _made_by(kind: Kind, to: str) -> str:
    """Which actions make a move to `to`: the mutations, or the hub and when."""
    names = []
    for remit in kind.remits:
        if not remit.moves_to(to):
            continue
        names.append(f"the hub, {remit.note}" if remit.who is HUB else f"`{remit.action}`")
    return ", ".join(dict.fromkeys(names)) or "no mutation yet"


def states_table() -> str:
    """Every state of every kind with states: the states it may move to and what makes each move."""
    lines = ["| record (state field) | state | may move to (made by) |", "|---|---|---|"]
    for kind in stateful_kinds():
        label = f"{kind.type_name} (`{kind.state_column}`)"
        for state in kind.states:
            groups: list[tuple[str, list[str]]] = []
            for to in kind.next_states(state):
                by = _made_by(kind, to)
                if groups and groups[-1][0] == by:
                    groups[-1][1].append(to)
                else:
                    groups.append((by, [to]))
            moves = "; ".join(f"{', '.join(targets)} ({by})" for by, targets in groups) or "final"
            lines.append(f"| {label} | {state} | {moves} |")
            label = ""
    return "\n".join(lines)


SECTIONS = {"remits": remits_table, "states": states_table}


def rewrite(text: str) -> str:
    """`text` with each generated section replaced by what the registry says now."""
    for name, render in SECTIONS.items():
        begin, end = BEGIN.format(name=name), END.format(name=name)
        head, found, rest = text.partition(begin)
        if not found or end not in rest:
            raise ValueError(f"the document has no section {begin} ... {end}")
        _, _, tail = rest.partition(end)
        text = f"{head}{begin}\n{render()}\n{end}{tail}"
    return text


def main(argv: list[str] | None = None) -> int:
    """`python -m hub.kinds_doc [--write] [FILE]`: rewrite (or, without --write, check) the generated tables of
    FILE (docs/workflows.md)."""
    parser = argparse.ArgumentParser(prog="python -m hub.kinds_doc", description=main.__doc__)
    parser.add_argument("file", nargs="?", default="docs/workflows.md")
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args(argv)
    path = Path(args.file)
    text = path.read_text()
    current = rewrite(text)
    if args.write:
        path.write_text(current)
        return 0
    if current != text:
        print(f"{path} is stale: run `make docs`")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
