"""The database's side of the visibility rule (docs/design.md, Who sees what) is printed from the rules of
hub/access.py by hub/policies.py: the newest generated migration must be the generator's output, so that the
policies cannot drift from the store's filters. A changed rule is a new migration, never an edit of an applied one."""

from __future__ import annotations

import pytest

from hub import db, policies
from hub.access import PUBLIC_MODEL_STATES, PUBLISHED_STANDARD_STATES, Params, visible


def test_the_newest_generated_migration_is_the_generators_output() -> None:
    generated = [m for m in db.load_migrations() if m.sql.startswith(policies.MARKER)]
    assert generated, "no migration holds the generated policies"
    newest = generated[-1]
    assert newest.sql == policies.migration(), (
        f"hub/access.py no longer prints migration {newest.version}_{newest.name}: write the new rules into a new"
        " migration with `python -m hub.policies > sql/NNN_visibility_<what changed>.sql`"
    )


def test_every_table_with_a_rule_has_its_policy_and_the_states_come_from_hub_access() -> None:
    sql = policies.migration()
    for table in [*policies.POLICED.values(), "events"]:
        assert f"create policy hub_read on {table} for select" in sql
    assert set(policies.POLICED) == {
        *("MODEL", "AGREEMENT", "REQUEST", "STANDARD", "DECISION", "FINDING", "MEASURE", "COUNTERPART", "ENGAGEMENT"),
        *("COMPUTE_ESTIMATE", "EVAL_RESULT", "DESIGNATION", "SCREENING", "WEBHOOK"),
    }
    for state in (*PUBLIC_MODEL_STATES, *PUBLISHED_STANDARD_STATES):
        assert f"'{state}'" in sql


def test_a_printed_rule_takes_no_parameter_but_the_principal() -> None:
    with pytest.raises(TypeError, match="not the principal"):
        policies.BoundParams()(42)
    # the same rule: with the principal's values as parameters for the store, its settings for the database
    p = Params()
    store = visible("MODEL", "t", policies.bound_principal("LAB_LIAISON"), p)
    printed = visible("MODEL", "t", policies.bound_principal("LAB_LIAISON"), policies.BoundParams())
    assert store.replace("$1", "hub_lab_id()") == printed and p.values == [policies.Bound("hub_lab_id()")]
