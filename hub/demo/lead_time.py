"""Demo general-availability dates, so that the preview lead-time report (docs/workflows.md, "Preview lead time,
measured") has lead times given and not given to show.

Only fictional labs' models (the lab's name contains "(fictional)", as the model's does) get invented dates; the
order's labs keep what the public record says, which the demo does not claim to know. The models are chosen at load
time from the agreements the demo made, with SQL, so this depends on no model's name: each fictional model with an
agreement that an agency has joined gets a date some days after its earliest joined agency's access start (cycling
through LEADS, which the program's 30 days splits into given and not given): the actual date for a model that is
generally available (when that date has passed), the planned one for a model in development or restricted preview.
"""

from __future__ import annotations

from datetime import timedelta

from hub.demo.context import DemoContext

# Days from access start to general availability, in turn: 45 and 30 give the 30 days asked for, 12 and 7 do not.
LEADS = (45, 12, 30, 7, 60, 21)

CANDIDATES = """
select m.id, m.release_status, min((greatest(g.access_start, aa.accepted_at) at time zone 'UTC')::date) as start_on
  from frontier_models m
  join labs l on l.id = m.lab_id
  join early_access_agreements g on g.model_id = m.id
  join agreement_agencies aa on aa.agreement_id = g.id and aa.accepted_at is not null
 where l.name like '%(fictional)%'
   and m.general_availability_on is null and m.planned_general_availability_on is null
 group by m.id, m.release_status
 order by m.id
"""


async def insert_lead_times(ctx: DemoContext) -> None:
    """Planned and actual general-availability dates on fictional models that have joined agreements."""
    actual: list[tuple[int, object]] = []
    planned: list[tuple[int, object]] = []
    for n, row in enumerate(await ctx.con.fetch(CANDIDATES)):
        on = row["start_on"] + timedelta(days=LEADS[n % len(LEADS)])
        if row["release_status"] in ("GENERALLY_AVAILABLE", "DEPRECATED"):
            if on <= ctx.today:
                actual.append((row["id"], on))
        elif row["release_status"] in ("IN_DEVELOPMENT", "RESTRICTED_PREVIEW"):
            planned.append((row["id"], on))
    await ctx.con.executemany("update frontier_models set general_availability_on = $2 where id = $1", actual)
    await ctx.con.executemany("update frontier_models set planned_general_availability_on = $2 where id = $1", planned)
