"""Idempotency keys on every create mutation: a retry with the same key and the same input returns the first
record and writes nothing more; the key with another input, or for another mutation, is IDEMPOTENCY_KEY_REUSED and
writes nothing. A key belongs to the principal that used it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from hub import db
from tests.conftest import Api
from tests.writes import global_id_of, mutation_operation, write_snapshot

REUSED = {"field": "input.idempotencyKey", "code": "IDEMPOTENCY_KEY_REUSED"}


async def create(api: Api, name: str, token: str, fields: dict[str, Any]) -> dict[str, Any]:
    """The payload of create mutation `name`: its record's id (under `record`) and its errors."""
    data = await api.data(mutation_operation(name, "id"), {"input": fields}, token=token)
    payload = dict(data[name])
    errors = payload.pop("errors")
    (record,) = payload.values()
    return {"record": record, "errors": errors}


async def create_inputs(api: Api) -> list[tuple[str, str, dict[str, Any], dict[str, Any]]]:
    """(mutation, token, an input that creates a record, a change to it) for every create mutation."""
    cisa = await api.token(agency="CISA", role="OFFICER")
    liaison = await api.token(lab="Anthropic", role="LAB_LIAISON")
    dod = await api.token(agency="DOD", role="OFFICER")
    lab = await global_id_of(api.url, "Lab", "select id from labs where name = 'Anthropic'")
    counterpart = await global_id_of(
        api.url, "InfrastructureCounterpart", "select id from infrastructure_counterparts order by id limit 1"
    )
    models = [
        (await create(api, "registerModel", liaison, {"labId": lab, "name": n, "modality": "TEXT"}))["record"]["id"]
        for n in ("Keyed base model", "Keyed second model")
    ]
    agencies = [await global_id_of(api.url, "Agency", "select id from agencies where code = 'CISA'")]
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(days=1)
    window = {"accessStart": start.isoformat(), "accessEnd": (start + timedelta(days=10)).isoformat()}
    criteria = [
        {
            "metric": "DESIGNATION",
            "threshold": "1",
            "unit": "DESIGNATIONS",
            "designatingAgencies": ["CISA", "NIST"],
            "description": "Designated by CISA or NIST",
        }
    ]
    return [
        ("registerLab", cisa, {"name": "Keyed Lab", "country": "GB"}, {"name": "Keyed Lab Two"}),
        ("registerModel", liaison, {"labId": lab, "name": "Keyed model", "modality": "TEXT"}, {"name": "Other"}),
        (
            "offerEarlyAccess",
            liaison,
            {"modelId": models[0], "agencyIds": agencies, "accessKinds": ["API"], **window},
            {"accessKinds": ["SANDBOX"]},
        ),
        (
            "draftCoverageStandard",
            cisa,
            {"standardVersion": "9.0", "title": "Keyed", "criteria": criteria},
            {"standardVersion": "9.1"},
        ),
        ("requestCoverageDetermination", liaison, {"modelId": models[0]}, {"modelId": models[1]}),
        ("reportFinding", cisa, {"title": "Keyed finding"}, {"tlp": "GREEN"}),
        (
            "planMeasure",
            dod,
            {"title": "Keyed measure", "kind": "DETECT", "systemScope": "s", "ownerComponent": "c"},
            {"systemScope": "another scope"},
        ),
        (
            "openEngagement",
            cisa,
            {"title": "Keyed", "labId": lab, "sector": "DAMS", "counterpartId": counterpart, "kind": "ADVISORY"},
            {"sector": "ENERGY"},
        ),
        (
            "registerInfrastructureCounterpart",
            cisa,
            {"name": "Keyed utility (fictional)", "kind": "WATER_UTILITY", "sector": "WATER_AND_WASTEWATER_SYSTEMS"},
            {"region": "Ohio"},
        ),
    ]


async def test_a_key_replays_the_same_input_and_refuses_another(api: Api) -> None:
    for name, token, fields, change in await create_inputs(api):
        key = {"idempotencyKey": f"run-{name}"}
        first = await create(api, name, token, {**fields, **key})
        assert first["errors"] == [] and first["record"], (name, first)
        after_first = await write_snapshot(api.url)

        # the same input again: the first record, one row, no event
        again = await create(api, name, token, {**fields, **key})
        assert again == first, name
        assert await write_snapshot(api.url) == after_first, name

        # the same key with another input: refused, nothing written
        other = await create(api, name, token, {**fields, **change, **key})
        assert other["record"] is None, (name, other)
        assert [{k: e[k] for k in REUSED} for e in other["errors"]] == [REUSED], (name, other)
        assert "another input" in other["errors"][0]["message"], name
        assert await write_snapshot(api.url) == after_first, name

        # without the key, that other input is a record of its own
        assert (await create(api, name, token, {**fields, **change}))["errors"] == [], name


async def test_a_key_is_the_principals_across_every_create_mutation(api: Api) -> None:
    cisa = await api.token(agency="CISA", role="OFFICER")
    nist = await api.token(agency="NIST", role="OFFICER")
    lab_input = {"name": "Scoped Lab", "country": "GB", "idempotencyKey": "shared-key"}
    first = await create(api, "registerLab", cisa, lab_input)
    assert first["errors"] == []
    before = await write_snapshot(api.url)

    # the same principal, another mutation: refused, nothing written
    finding = await create(api, "reportFinding", cisa, {"title": "Scoped", "idempotencyKey": "shared-key"})
    assert finding["record"] is None
    assert [{k: e[k] for k in REUSED} for e in finding["errors"]] == [REUSED]
    assert "registerLab" in finding["errors"][0]["message"]
    assert await write_snapshot(api.url) == before

    # another principal with the same key and the same input: a record of its own
    theirs = await create(api, "registerLab", nist, {**lab_input, "name": "Scoped Lab of NIST"})
    assert theirs["errors"] == [] and theirs["record"]["id"] != first["record"]["id"]


async def test_a_key_stored_before_inputs_were_replays_whatever_the_input(api: Api) -> None:
    cisa = await api.token(agency="CISA", role="OFFICER")
    first = await create(api, "reportFinding", cisa, {"title": "Old key", "idempotencyKey": "old-key"})
    con = await db.connect(api.url)
    try:
        # as sql/006 left the keys stored before it
        await con.execute("update idempotency_keys set input_sha256 = null where key = 'old-key'")
    finally:
        await con.close()
    before = await write_snapshot(api.url)
    again = await create(api, "reportFinding", cisa, {"title": "Old key, edited", "idempotencyKey": "old-key"})
    assert again == first
    assert await write_snapshot(api.url) == before
