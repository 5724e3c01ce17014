"""Who sees what (docs/design.md, Who sees what), as SQL fragments, in one place.

Every read in the store filters with `visible(kind, alias, principal, params)`. Deny by default: a kind without a
rule here is visible to nobody. An invisible record reads exactly like a missing one.

This module is the one definition of the rule. The database's side of it, the row-level security policies, the
masked view of the models' confidential columns and the fan-out's revocation check, is generated from these same
functions by hub/policies.py (with the principal read from the transaction's settings instead of parameters) into a
migration that tests/test_policies.py holds equal to the generator's output.
"""

from __future__ import annotations

from typing import Any

from hub.auth import Principal
from hub.kinds import KINDS, sql_list
from hub.remits import OFFICERS


class Params:
    """Collects query parameters and hands out their `$n` placeholders."""

    def __init__(self) -> None:
        self.values: list[Any] = []

    def __call__(self, value: Any) -> str:
        self.values.append(value)
        return f"${len(self.values)}"


# Record kinds whose rows carry tlp, owner_agency_id, share_*_ids, recipient_principal_ids and created_by
# (hub/kinds.py).
TLP_TABLES = {k.name: k.table for k in KINDS.values() if k.tlp}
# The column naming the lab a TLP record concerns (measures concern no lab).
TLP_LAB_COLUMN = {k.name: k.lab_column for k in KINDS.values() if k.tlp}
# The column naming the lab that owns a TLP record when a lab does (findings its liaisons reported); the kinds without
# one are owned by an agency always.
TLP_OWNER_LAB_COLUMN = {k.name: k.owner_lab_column for k in KINDS.values() if k.tlp}

# Named sets of states the rules read, with their reasons, in the registry (hub/kinds.py); the policies are
# generated from the rules, so these are the only place the rules' states come from.
PUBLIC_MODEL_STATES = KINDS["MODEL"].subset("public")
PUBLISHED_STANDARD_STATES = KINDS["STANDARD"].subset("published")
CONFIDENTIAL_AGREEMENT_STATES = KINDS["AGREEMENT"].subset("confidential")
# The state of a decision that has an outcome.
DECIDED = "DECIDED"
# The states in which a decision's outcome, once in effect, stands (through a reconsideration or a revision of the
# standard, until a newer decision is in effect): a model's coverageOutcome is that of its newest standing decision.
STANDING_DECISION_STATES = KINDS["DECISION"].subset("standing")


def tlp_visible(kind: str, a: str, principal: Principal, p: Params) -> str:
    """TLP 2.0 with owning agency, shareWith and RED recipients; for a record a lab owns (owner_lab_id, findings
    only), the lab in the owning agency's place (docs/design.md, "Who sees what").

    An agency's rule is the same for both owners: a lab-owned record has no owning agency, so AMBER is the agencies
    in shareWith and AMBER_STRICT none. A lab's: GREEN the lab concerned (which is the owning lab, when a lab owns
    it); AMBER the owning lab and the labs in shareWith, or, for an agency's record, the lab concerned when it is in
    shareWith; AMBER_STRICT the owning lab only."""
    lab_column = TLP_LAB_COLUMN[kind]
    owner_lab_column = TLP_OWNER_LAB_COLUMN[kind]
    red = f"({p(principal.id)}::bigint = any({a}.recipient_principal_ids) or {a}.created_by = {p(principal.id)})"
    if principal.is_agency:
        agency = p(principal.agency_id)
        return (
            f"(case {a}.tlp when 'CLEAR' then true when 'GREEN' then true"
            f" when 'AMBER' then ({a}.owner_agency_id = {agency} or {agency}::bigint = any({a}.share_agency_ids))"
            f" when 'AMBER_STRICT' then {a}.owner_agency_id = {agency}"
            f" when 'RED' then {red} else false end)"
        )
    if principal.is_lab and lab_column is not None and owner_lab_column is not None:
        lab = p(principal.lab_id)
        owner_lab = f"{a}.{owner_lab_column}"
        return (
            f"(case {a}.tlp when 'CLEAR' then true"
            f" when 'GREEN' then {a}.{lab_column} = {lab}"
            f" when 'AMBER' then ({owner_lab} = {lab} or ({lab}::bigint = any({a}.share_lab_ids)"
            f" and ({owner_lab} is not null or {a}.{lab_column} = {lab})))"
            f" when 'AMBER_STRICT' then {owner_lab} = {lab}"
            f" when 'RED' then {red} else false end)"
        )
    if principal.is_lab and lab_column is not None:
        lab = p(principal.lab_id)
        return (
            f"(case {a}.tlp when 'CLEAR' then true"
            f" when 'GREEN' then {a}.{lab_column} = {lab}"
            f" when 'AMBER' then ({a}.{lab_column} = {lab} and {lab}::bigint = any({a}.share_lab_ids))"
            f" when 'RED' then {red} else false end)"
        )
    if principal.is_lab:
        return f"(case {a}.tlp when 'CLEAR' then true when 'RED' then {red} else false end)"
    return "false"


# The kinds every principal sees, records and events: the agencies, the labs, and the policy with its versions
# (proposed, in effect or past: the program's rules are public to everyone in it).
EVERYONE_SEES = ("AGENCY", "LAB", "POLICY", "POLICY_VERSION")


def visible(kind: str, a: str, principal: Principal, p: Params) -> str:
    """A boolean SQL expression: may `principal` see the row of `kind` aliased `a`?"""
    if kind in EVERYONE_SEES:
        return "true"
    if kind == "MODEL":
        if principal.is_agency:
            return "true"
        if principal.is_lab:
            return f"({a}.lab_id = {p(principal.lab_id)} or {a}.release_status in {sql_list(PUBLIC_MODEL_STATES)})"
        return "false"
    if kind == "AGREEMENT":
        if principal.is_agency:
            # the agencies named on it (agreement_agencies), as the agreement's row keeps them (agency_ids, kept
            # by a trigger of sql/024): the rule reads one row, so that a summary keyed by it counts exactly
            return f"{p(principal.agency_id)}::bigint = any({a}.agency_ids)"
        if principal.is_lab:
            return f"{a}.lab_id = {p(principal.lab_id)}"
        return "false"
    if kind == "REQUEST":
        # like an agreement: the agencies on it and the model's lab only (docs/design.md, "Who sees what")
        if principal.is_agency:
            return f"{p(principal.agency_id)}::bigint = any({a}.agency_ids)"
        if principal.is_lab:
            return f"{a}.lab_id = {p(principal.lab_id)}"
        return "false"
    if kind == "STANDARD":
        if principal.is_agency:
            return "true"
        if principal.is_lab:
            return f"{a}.state in {sql_list(PUBLISHED_STANDARD_STATES)}"
        return "false"
    if kind == "DECISION":
        if principal.is_agency:
            return "true"
        if principal.is_lab:
            # the model's lab, as the decision's row keeps it (lab_id, kept by a trigger of sql/024)
            return f"{a}.lab_id = {p(principal.lab_id)}"
        return "false"
    if kind == "EVAL_SUITE":
        return "true" if principal.is_agency or principal.is_lab else "false"
    if kind == "DESIGNATION":
        if principal.is_agency:
            return "true"
        if principal.is_lab:
            return f"{a}.lab_id = {p(principal.lab_id)}"
        return "false"
    if kind in INPUT_OWNER_COLUMN:
        return input_visible(kind, a, principal, p)
    if kind == "SCREENING":
        if principal.is_lab:
            return f"{a}.lab_id = {p(principal.lab_id)}"
        if principal.is_agency:
            agency = p(principal.agency_id)
            rule = f"{a}.screened_by_agency_id = {agency}"
            if principal.role in OFFICERS:
                rule += f" or {signing_agency(f'{a}.standard_id', agency)}"
            return f"({rule})"
        return "false"
    if kind == "WEBHOOK":
        # a webhook endpoint: the admins of the agency that owns it, the liaisons of the lab that owns it
        # (docs/design.md, "Webhooks")
        if principal.is_agency and principal.role == "ADMIN":
            return f"{a}.owner_agency_id = {p(principal.agency_id)}"
        if principal.is_lab:
            return f"{a}.owner_lab_id = {p(principal.lab_id)}"
        return "false"
    if kind == "COUNTERPART":
        return counterpart_visible(a, principal, p)
    if kind in TLP_TABLES:
        return tlp_visible(kind, a, principal, p)
    if kind == "EVENT":
        return event_visible(a, principal, p)
    return "false"


def counterpart_visible(a: str, principal: Principal, p: Params) -> str:
    """A critical-infrastructure counterpart (a small utility, a rural hospital): its identity says that it has
    vulnerabilities being worked on, so it is shared no further than the engagements about it. The agency that
    registered it (CISA) sees it; anyone else, agency or lab, sees it while they may see an engagement that names it
    (so whoever sees an engagement sees its counterpart). Nobody else."""
    engagement = KINDS["ENGAGEMENT"].table
    named = (
        f"exists (select 1 from {engagement} cp_e where cp_e.counterpart_id = {a}.id"
        f" and {visible('ENGAGEMENT', 'cp_e', principal, p)})"
    )
    if principal.is_agency:
        return f"({a}.owner_agency_id = {p(principal.agency_id)} or {named})"
    if principal.is_lab:
        return named
    return "false"


# The inputs of a coverage screening (docs/design.md, "Who sees what"), and the column naming the agency that made
# each (null for what the lab reported).
INPUT_OWNER_COLUMN = {"COMPUTE_ESTIMATE": "author_agency_id", "EVAL_RESULT": "run_by_agency_id"}
# A request for a coverage determination in these states shares the model's inputs with the officers of the
# standard's agencies: the lab's consent is the request, and withdrawing it ends the sharing.
SHARING_DECISION_STATES = tuple(s for s in KINDS["DECISION"].states if s != "WITHDRAWN")


def signing_agency(standard: str, agency: str) -> str:
    """Is `agency` (a placeholder) one whose sign-off standard `standard` (an id expression) needs?"""
    return (
        f"exists (select 1 from {KINDS['STANDARD'].table} sig_s"
        f" join agencies sig_a on sig_a.code = any(sig_s.required_signoffs)"
        f" where sig_s.id = {standard} and sig_a.id = {agency})"
    )


def agreement_party(model: str, agency: str) -> str:
    """Is `agency` named on, has it accepted, and has it not left, an ACTIVE or COMPLETED agreement on model `model`
    (an id)? An agency that left (or that the lab removed) still sees the agreement, no longer the model's
    confidential data."""
    return (
        f"exists (select 1 from {KINDS['AGREEMENT'].table} conf_g"
        f" join agreement_agencies conf_aa on conf_aa.agreement_id = conf_g.id"
        f" where conf_g.model_id = {model} and conf_g.state in {sql_list(CONFIDENTIAL_AGREEMENT_STATES)}"
        f" and conf_aa.agency_id = {agency} and conf_aa.accepted_at is not null and conf_aa.left_at is null)"
    )


def input_visible(kind: str, a: str, principal: Principal, p: Params) -> str:
    """A compute estimate or an evaluation result: the model's lab; the agency that made it; the agencies that may
    see the model's confidential data (agreement_party); and, once the lab has asked for a coverage determination
    on the model, the officers of the agencies whose sign-off that standard needs."""
    if principal.is_lab:
        return f"{a}.lab_id = {p(principal.lab_id)}"
    if not principal.is_agency:
        return "false"
    agency = p(principal.agency_id)
    branches = [f"{a}.{INPUT_OWNER_COLUMN[kind]} = {agency}", agreement_party(f"{a}.model_id", agency)]
    if principal.role in OFFICERS:
        branches.append(
            f"exists (select 1 from {KINDS['DECISION'].table} sub_d where sub_d.model_id = {a}.model_id"
            f" and sub_d.state in {sql_list(SHARING_DECISION_STATES)}"
            f" and {signing_agency('sub_d.standard_id', agency)})"
        )
    return "(" + " or ".join(branches) + ")"


# A model's confidential columns: null for those model_confidential_visible denies.
MODEL_CONFIDENTIAL_COLUMNS = (
    "training_compute_flop",
    "capability_details",
    "planned_release_on",
    "planned_general_availability_on",
)


def model_confidential_visible(a: str, principal: Principal, p: Params) -> str:
    """May `principal` see the lab's confidential data on model `a` (planned release and general availability,
    compute, capability details)?

    Only the lab itself and agencies party to an ACTIVE or COMPLETED agreement on the model (named on it and
    having accepted it, and not having left it).
    """
    if principal.is_lab:
        return f"({a}.lab_id = {p(principal.lab_id)})"
    if principal.is_agency:
        return agreement_party(f"{a}.id", p(principal.agency_id))
    return "false"


# The kinds events are about whose records are nodes, and their tables (hub/kinds.py).
ENTITY_TABLES = {k.name: k.table for k in KINDS.values() if k.events and k.node}


def event_visible(a: str, principal: Principal, p: Params) -> str:
    """An event is visible when the record it is about is visible now. Events about principals and their tokens:
    the principal itself and the admins of its agency."""
    branches = [f"{a}.entity_kind in {sql_list(EVERYONE_SEES)}"]
    principal_rule = f"{a}.entity_id = {p(principal.id)}"
    if principal.is_agency and principal.role == "ADMIN":
        principal_rule += (
            f" or exists (select 1 from principals ev_p where ev_p.id = {a}.entity_id"
            f" and ev_p.agency_id = {p(principal.agency_id)})"
        )
    branches.append(f"({a}.entity_kind = 'PRINCIPAL' and ({principal_rule}))")
    for kind, table in ENTITY_TABLES.items():
        if kind in ("AGENCY", "LAB"):
            continue
        alias = f"ev_{kind.lower()}"
        rule = visible(kind, alias, principal, p)
        if rule == "false":
            continue
        if rule == "true":
            branches.append(f"{a}.entity_kind = '{kind}'")
            continue
        branches.append(
            f"({a}.entity_kind = '{kind}' and exists (select 1 from {table} {alias}"
            f" where {alias}.id = {a}.entity_id and {rule}))"
        )
    return "(" + " or ".join(branches) + ")"


# What the event of a sharing change keeps of the record as it was (`details.before`, hub/store/sharing.py), with
# each column's type: the columns tlp_visible reads.
SHARING_SNAPSHOT = {
    "tlp": "text",
    "owner_agency_id": "bigint",
    "owner_lab_id": "bigint",
    "share_agency_ids": "bigint[]",
    "share_lab_ids": "bigint[]",
    "recipient_principal_ids": "bigint[]",
    "created_by": "bigint",
    "lab_id": "bigint",
}


def was_visible_before(a: str, principal: Principal, p: Params) -> str:
    """For an event `a` that changed a TLP record's sharing: could `principal` see the record before the change?

    The change's event keeps the record's sharing as it was (`details.before`); the same TLP rule judges it.
    """
    before = f"{a}.details->'before'"

    def column(name: str, sql_type: str) -> str:
        if sql_type.endswith("[]"):
            element = sql_type.removesuffix("[]")
            values = f"array(select jsonb_array_elements_text({before}->'{name}')::{element})"
            return f"coalesce({values}, '{{}}') as {name}"
        return f"({before}->>'{name}')::{sql_type} as {name}"

    snapshot = "(select " + ", ".join(column(name, sql_type) for name, sql_type in SHARING_SNAPSHOT.items()) + ")"
    # the finding rule reads lab_id and owner_lab_id, which the snapshot holds as null for records that concern no
    # lab or that no lab owns (and for the events of before owner_lab_id)
    rule = tlp_visible("FINDING", "before_change", principal, p)
    return (
        f"({a}.details ? 'before' and {a}.entity_kind in {sql_list(tuple(TLP_TABLES))}"
        f" and exists (select 1 from {snapshot} before_change where {rule}))"
    )
