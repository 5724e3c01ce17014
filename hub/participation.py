"""Participation checked on every write that acts for a lab (docs/design.md, "Participation").

The program is voluntary: nothing is registered, requested or started for a lab that has not chosen to take part.
A lab has chosen once it is ENGAGED or PARTICIPATING (hub/kinds.py, LAB's subset `taking_part`); INVITED,
DECLINED and WITHDRAWN labs are refused with LAB_NOT_PARTICIPATING, whoever writes. The lab's own liaisons can
always change the lab's participation (setLabParticipation), which is how a lab chooses.

The check reads the lab's row FOR SHARE: a withdrawal (which locks the row FOR UPDATE and closes everything open
in the same transaction) waits for a write that passed the check to commit, and then closes what it wrote too; a
write that comes after the withdrawal sees WITHDRAWN and is refused. Nothing opened for a lab outlives its
withdrawal.
"""

from __future__ import annotations

import asyncpg

from hub.kinds import KINDS
from hub.workflow import ErrorCode, Rejected

TAKING_PART = KINDS["LAB"].subset("taking_part")


async def check_taking_part(con: asyncpg.Connection, lab_id: int, *, field: str, doing: str) -> str:
    """The lab's participation, when it has chosen to take part; else LAB_NOT_PARTICIPATING naming `field` (the
    input that names the lab or its model) and what was refused (`doing`, e.g. "asked for early access")."""
    row = await con.fetchrow("select name, participation from labs where id = $1 for share", lab_id)
    if row is None:
        raise Rejected(ErrorCode.NOT_FOUND, f"{field}: no such lab", field=field)
    state = row["participation"]
    if state not in TAKING_PART:
        raise Rejected(
            ErrorCode.LAB_NOT_PARTICIPATING,
            f"{field}: {row['name']} is {state} in the program, not ENGAGED or PARTICIPATING: nothing is {doing} for "
            "a lab that has not chosen to take part (the lab's liaisons change its participation)",
            field=field,
        )
    return str(state)
