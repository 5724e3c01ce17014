"""The demo kept to the program's participation rule (docs/design.md, "Participation"), and a lab reporting findings
about its own model (docs/design.md, "Who sees what"). Fictional demo records, as the rest of the demo.

- A lab that does not take part (INVITED, DECLINED, WITHDRAWN) has nothing open in the program: whatever the demo
  generated for it while it took part is closed as a lab's leaving closes it (hub/participation.py,
  CLOSED_WHEN_THE_LAB_LEAVES), each record with its LAB_LEFT_PROGRAM event. The demo's INVITED labs are labs invited
  again after leaving: their models and their decided coverage outcomes date from their earlier participation.
- One fictional lab taking part reports findings about its own model through its liaison: the lab owns them.
"""

from __future__ import annotations

from hub.demo.context import FICTIONAL, DemoContext
from hub.kinds import KINDS
from hub.participation import CLEARED_WHEN_CLOSED, CLOSED_ACTION, CLOSED_WHEN_THE_LAB_LEAVES, TAKING_PART


async def close_for_labs_not_taking_part(ctx: DemoContext) -> None:
    """Close every open record of a lab that does not take part, as its leaving would have."""
    con = ctx.con
    for kind, states, target in CLOSED_WHEN_THE_LAB_LEAVES:
        k = KINDS[kind]
        lab = k.lab_sql or f"t.{k.lab_column}"
        cleared = "".join(f", {column} = null" for column in CLEARED_WHEN_CLOSED.get(kind, {}))
        # names from the registry, never from input
        rows = await con.fetch(
            f"""with closing as (
                    select t.id, t.{k.state_column} as was from {k.table} t
                      join labs l on l.id = ({lab})
                     where l.participation <> all($1::text[]) and t.{k.state_column} = any($2::text[])
                     for update of t)
                update {k.table} t set {k.state_column} = $3, version = t.version + 1, updated_at = now(){cleared}
                  from closing where closing.id = t.id
             returning t.id, closing.was""",
            sorted(TAKING_PART),
            sorted(states),
            target,
        )
        for row in sorted(rows, key=lambda r: r["id"]):
            ctx.events.append((None, None, None, kind, row["id"], CLOSED_ACTION, row["was"], target))


# The findings the lab reports: (title, found by, TLP, shared with the agencies of these codes).
LAB_FINDINGS = (
    (
        "The model wrote a working exploit for a flaw it found in its own sandbox (fictional)",
        "MODEL",
        "AMBER",
        ("CISA", "NIST"),
    ),
    ("Prompt-injection path into the model's tool calls, found in red-teaming (fictional)", "LAB", "GREEN", ()),
)


async def insert_lab_findings(ctx: DemoContext) -> None:
    """The first fictional lab that participates (by name) reports LAB_FINDINGS about its first model that is not
    DEPRECATED, through a demo liaison of its own (no token is issued for it: `hub token create --lab` makes one)."""
    con = ctx.con
    lab = await con.fetchrow(
        """select id, name from labs where participation = 'PARTICIPATING' and name like '%(fictional)'
            order by name limit 1"""
    )
    if lab is None:
        return
    model = await con.fetchval(
        "select id from frontier_models where lab_id = $1 and release_status <> 'DEPRECATED' order by id limit 1",
        lab["id"],
    )
    if model is None:
        return
    liaison = await con.fetchval(
        "insert into principals (lab_id, role, name) values ($1, 'LAB_LIAISON', $2) returning id",
        lab["id"],
        f"{lab['name']} demo liaison",
    )
    ctx.principal_scope[liaison] = (None, lab["id"])
    for title, found_by, tlp, shared in LAB_FINDINGS:
        finding = await con.fetchval(
            """insert into findings (title, description, state, tlp, model_id, lab_id, owner_lab_id,
                                     discovered_by_kind, discovered_by_lab_id, share_agency_ids, created_by)
               values ($1, $2, 'REPORTED', $3, $4, $5, $5, $6, $7, $8::bigint[], $9) returning id""",
            title,
            f"{FICTIONAL} Reported by the lab about its own model.",
            tlp,
            model,
            lab["id"],
            found_by,
            lab["id"] if found_by == "LAB" else None,
            [ctx.agency_ids[code] for code in shared],
            liaison,
        )
        ctx.event("FINDING", finding, "REPORTED", created_by=liaison)
