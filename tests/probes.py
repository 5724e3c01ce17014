"""The probe records of the visibility tests: one finding, measure and engagement of each TLP level around one
fictional model, and the six principals whose sight differs (docs/design.md, "Who sees what")."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hub import db
from tests.conftest import Api

PRINCIPALS = {
    "owner": {"agency": "TREASURY", "role": "OFFICER"},
    "shared": {"agency": "NIST", "role": "ANALYST"},
    "outside": {"agency": "EPA", "role": "VIEWER"},
    "recipient": {"agency": "HHS", "role": "OFFICER"},
    "lab": {"lab": "Anthropic", "role": "LAB_LIAISON"},
    "other_lab": {"lab": "OpenAI", "role": "LAB_LIAISON"},
}

# TLP -> who may see a record that TREASURY owns, shares with NIST and the lab concerned (Anthropic), names the HHS
# principal as RED recipient, and whose author is the TREASURY principal.
SEES_FINDING = {
    "CLEAR": {"owner", "shared", "outside", "recipient", "lab", "other_lab"},
    "GREEN": {"owner", "shared", "outside", "recipient", "lab"},
    "AMBER": {"owner", "shared", "lab"},
    "AMBER_STRICT": {"owner"},
    "RED": {"owner", "recipient"},
}
# Measures concern no lab: labs see only CLEAR ones.
SEES_MEASURE = {tlp: who - {"lab"} if tlp != "CLEAR" else who for tlp, who in SEES_FINDING.items()}
# TLP -> who may see a finding that the lab concerned (Anthropic) owns, its liaison having reported it ("labprobe
# finding TLP"): shared with NIST and with the other lab (OpenAI), RED recipient HHS, its author the lab's liaison. The
# lab takes the owning agency's place (docs/design.md, "Who sees what").
SEES_LAB_FINDING = {
    "CLEAR": {"owner", "shared", "outside", "recipient", "lab", "other_lab"},
    "GREEN": {"owner", "shared", "outside", "recipient", "lab"},
    "AMBER": {"lab", "shared", "other_lab"},
    "AMBER_STRICT": {"lab"},
    "RED": {"lab", "recipient"},
}

TLPS = list(SEES_FINDING)


@dataclass
class World:
    api: Api
    tokens: dict[str, str]
    ids: dict[str, Any]


async def build_world(api: Api) -> World:
    """Probe records of every TLP level, owned by TREASURY, shared with NIST and the lab concerned (Anthropic), RED
    recipient HHS, with a CREATED event each; and a finding of every TLP level that Anthropic owns (SEES_LAB_FINDING),
    linked like the others with the measure and the engagement of its level; tokens for the six principals of
    PRINCIPALS."""
    tokens = {who: await api.token(**spec, name=f"vis {who}") for who, spec in PRINCIPALS.items()}
    con = await db.connect(api.url)
    try:
        principal = {
            r["name"].removeprefix("vis "): r["id"]
            for r in await con.fetch("select id, name from principals where name like 'vis %'")
        }
        agency = {r["code"]: r["id"] for r in await con.fetch("select id, code from agencies")}
        lab = {r["name"]: r["id"] for r in await con.fetch("select id, name from labs")}
        ids: dict[str, Any] = {"lab": lab["Anthropic"], "agency": agency}
        ids["model"] = await con.fetchval(
            """insert into frontier_models (lab_id, name, model_version, modality, training_compute_flop,
                   capability_details, planned_release_on, planned_general_availability_on, release_status)
               values ($1, 'Visibility probe (fictional)', 'v1', 'TEXT', 3e25, 'secret details', '2027-01-01',
                   '2027-02-01', 'IN_DEVELOPMENT') returning id""",
            lab["Anthropic"],
        )
        common = {
            "owner": agency["TREASURY"],
            "share": [agency["NIST"]],
            "share_labs": [lab["Anthropic"]],
            "recipients": [principal["recipient"]],
            "author": principal["owner"],
        }
        for tlp in TLPS:
            ids[("finding", tlp)] = await con.fetchval(
                """insert into findings (title, model_id, lab_id, discovered_by_kind, tlp, owner_agency_id,
                       share_agency_ids, share_lab_ids, recipient_principal_ids, created_by, sectors)
                   values ($1, $2, $3, 'MODEL', $4, $5, $6, $7, $8, $9, '{ENERGY}') returning id""",
                f"visprobe finding {tlp}",
                ids["model"],
                lab["Anthropic"],
                tlp,
                common["owner"],
                common["share"],
                common["share_labs"],
                common["recipients"],
                common["author"],
            )
            ids[("measure", tlp)] = await con.fetchval(
                """insert into cyber_measures (title, kind, system_scope, owner_component, tlp, owner_agency_id,
                       share_agency_ids, share_lab_ids, recipient_principal_ids, created_by)
                   values ($1, 'DETECT', 'probe', 'CYBERCOM', $2, $3, $4, $5, $6, $7) returning id""",
                f"visprobe measure {tlp}",
                tlp,
                common["owner"],
                common["share"],
                common["share_labs"],
                common["recipients"],
                common["author"],
            )
            # each engagement's counterpart of its own, registered by CISA: others see it as they see the engagement
            ids[("counterpart", tlp)] = await con.fetchval(
                """insert into infrastructure_counterparts (name, kind, sector, owner_agency_id)
                   values ($1, 'ELECTRIC_UTILITY', 'ENERGY', $2) returning id""",
                f"visprobe utility {tlp} (fictional)",
                agency["CISA"],
            )
            ids[("engagement", tlp)] = await con.fetchval(
                """insert into infrastructure_engagements (title, lab_id, sector, counterpart_id, kind, tlp,
                       owner_agency_id, share_agency_ids, share_lab_ids, recipient_principal_ids, created_by)
                   values ($1, $2, 'ENERGY', $9, 'ADVISORY', $3, $4, $5, $6, $7, $8)
                   returning id""",
                f"visprobe engagement {tlp}",
                lab["Anthropic"],
                tlp,
                common["owner"],
                common["share"],
                common["share_labs"],
                common["recipients"],
                common["author"],
                ids[("counterpart", tlp)],
            )
            ids[("labfinding", tlp)] = await con.fetchval(
                """insert into findings (title, model_id, lab_id, discovered_by_kind, tlp, owner_agency_id,
                       owner_lab_id, share_agency_ids, share_lab_ids, recipient_principal_ids, created_by, sectors)
                   values ($1, $2, $3, 'MODEL', $4, null, $3, $5, $6, $7, $8, '{ENERGY}') returning id""",
                f"labprobe finding {tlp}",
                ids["model"],
                lab["Anthropic"],
                tlp,
                common["share"],
                [lab["OpenAI"]],
                common["recipients"],
                principal["lab"],
            )
            for finding in (ids[("finding", tlp)], ids[("labfinding", tlp)]):
                await con.execute("insert into measure_findings values ($1, $2)", ids[("measure", tlp)], finding)
                await con.execute("insert into engagement_findings values ($1, $2)", ids[("engagement", tlp)], finding)
            await con.execute(
                "insert into events (entity_kind, entity_id, action, to_state) values ('FINDING', $1, 'CREATED', 'X')",
                ids[("labfinding", tlp)],
            )
            for kind in ("FINDING", "MEASURE", "COUNTERPART", "ENGAGEMENT"):
                await con.execute(
                    "insert into events (entity_kind, entity_id, action, to_state) values ($1, $2, 'CREATED', 'X')",
                    kind,
                    ids[(kind.lower(), tlp)],
                )
    finally:
        await con.close()
    return World(api=api, tokens=tokens, ids=ids)


async def add_agreement(con: Any, world: World) -> int:
    """An ACTIVE agreement on the probe model naming NIST (accepted) and EPA (not yet)."""
    agency = world.ids["agency"]
    agreement = int(
        await con.fetchval(
            """insert into early_access_agreements (model_id, lab_id, state, access_kinds, access_start, access_end)
               values ($1, $2, 'ACTIVE', '{API}', now() - interval '1 day', now() + interval '10 days')
               returning id""",
            world.ids["model"],
            world.ids["lab"],
        )
    )
    await con.execute(
        "insert into agreement_agencies (agreement_id, agency_id, accepted_at) values ($1, $2, now()), ($1, $3, null)",
        agreement,
        agency["NIST"],
        agency["EPA"],
    )
    return agreement


# Who may see each input of a coverage screening on the probe model (hub/access.py, input_visible), with the world of
# the leak matrix: an ACTIVE agreement on the model that NIST ("shared") has accepted, and a coverage decision
# (REQUESTED) on it under a standard whose sign-off CISA, NIST and HHS ("recipient", an OFFICER) give. The lab sees
# its model's inputs; NIST as a party to the agreement; HHS's officer as a signer once the lab asked for a
# determination; TREASURY ("owner", an OFFICER but no signer) only what it made; EPA (a VIEWER, its agreement not
# accepted) and the other lab nothing. Suites: every principal; designations: every agency and the model's lab.
SEES_INPUT = {"LAB": {"lab", "shared", "recipient"}, "TREASURY": {"owner", "lab", "shared", "recipient"}}
SIGNING_AGENCIES = ("CISA", "NIST", "HHS")


async def add_inputs(con: Any, world: World) -> dict[str, int]:
    """The inputs of a coverage screening on the probe model: a compute estimate and an evaluation result that the
    lab reported, one of each that TREASURY made, the suite TREASURY registered, and TREASURY's designation."""
    agency, model, lab = world.ids["agency"], world.ids["model"], world.ids["lab"]
    ids: dict[str, int] = {}
    ids["suite"] = await con.fetchval(
        """insert into evaluation_suites (name, suite_version, capability_area, score_unit, owner_agency_id)
           values ('visprobe suite', '1', 'CYBER_OFFENSE', 'PERCENT', $1) returning id""",
        agency["TREASURY"],
    )
    for who, author in (("lab", None), ("agency", agency["TREASURY"])):
        ids[f"estimate:{who}"] = await con.fetchval(
            """insert into compute_estimates (model_id, lab_id, method, author_agency_id, pre_training_low,
                   pre_training_high, method_note, as_of)
               values ($1, $2, $3, $4, 1e25, 2e25, 'visprobe', current_date) returning id""",
            model,
            lab,
            "LAB_REPORTED" if author is None else "AGENCY_ESTIMATED",
            author,
        )
        ids[f"result:{who}"] = await con.fetchval(
            """insert into evaluation_results (model_id, lab_id, suite_id, method, run_by_agency_id, score, ran_on,
                   model_version, evidence_ref)
               values ($1, $2, $3, $4, $5, 42.5, current_date, 'v1', 'visprobe') returning id""",
            model,
            lab,
            ids["suite"],
            "LAB_REPORTED" if author is None else "AGENCY_ESTIMATED",
            author,
        )
    ids["designation"] = await con.fetchval(
        "insert into model_designations (model_id, lab_id, agency_id, reason) values ($1, $2, $3, 'visprobe')"
        " returning id",
        model,
        lab,
        agency["TREASURY"],
    )
    return ids
