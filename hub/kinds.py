"""The kinds of record, in one place (docs/design.md, "Kinds and states"): for each kind its table, GraphQL type,
state column, state enum and state machine, the named sets of its states that rules use, the name events give it,
what its remits ask about a record (its lab, its owner, the agencies named on it) and the remits themselves
(docs/design.md, "Remits"; the terms are hub/remits.py's). Everything that maps a kind to one of these reads it
here: the store's entities and locks, the visibility rule's tables, the dashboard, the GraphQL state enums,
EntityKind and availableTransitions, the events' kind-to-type map, the workflow's remit checks, and the tables of
docs/workflows.md (`make docs`).

A state machine lists, for each state that is not final, the states it may move to; the final states are declared
as such. The registry refuses at import a machine where a state is neither final nor has a move, a final state has
one, or a move names an unknown state (tests/test_kinds.py holds it to that). The database's CHECK constraints on
the state columns are written from here (`python -m hub.kinds --check-constraints`, in a new migration), and
tests/test_kinds.py reads them back from pg_constraint.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from hub.auth import Principal
from hub.remits import (
    ANY_STATE,
    HUB,
    ITSELF,
    LAB_OWNED,
    NAMED_AGENCY,
    OFFICERS,
    OWNER,
    OWNER_LAB,
    RECORD_LAB,
    Facts,
    Remit,
    Wording,
    agency,
    role,
)


@dataclass(frozen=True)
class Gate:
    """A condition on a record's data that a move to some state needs (beside the machine and the remit): `sql` a
    boolean over its row `t`, `code` the ErrorCode (hub/workflow.py) a refused move reports, `says` why, in words.
    `transition` (hub/workflow.py) checks them on every move, and availableTransitions leaves out a state whose gates
    the record does not meet (facts_sql reads them), so that both read one definition."""

    sql: str
    code: str
    says: str


@dataclass(frozen=True)
class Kind:
    """One kind of record. `name` is what events call it (events.entity_kind) and what the store and the visibility
    rule key it by."""

    name: str
    table: str
    # the GraphQL type of its records (None: it has none)
    type_name: str | None
    # how the documentation and messages call one record
    noun: str
    # whether events are about records of this kind (a value of the GraphQL enum EntityKind)
    events: bool = True
    # whether its GraphQL type is a Node (fetchable by node(id:)); `ids`: whether its records have global ids
    node: bool = True
    ids: bool = True
    # whether its rows carry tlp, owner_agency_id, share_*_ids, recipient_principal_ids and created_by
    tlp: bool = False
    # the column naming the lab the record concerns (the visibility rule of TLP records reads it)
    lab_column: str | None = None
    # the column naming the lab that owns the record when a lab does, in the owning agency's place (a finding its
    # liaison reported): the visibility rule of TLP records and the remits (Facts.owner_lab_id) read it
    owner_lab_column: str | None = None
    # the state: its column, the GraphQL enum's name and description, the states in the enum's order
    state_column: str | None = None
    state_enum: str | None = None
    state_description: str | None = None
    states: tuple[str, ...] = ()
    # the machine: each state that is not final -> the states it may move to, in the order `allowed` lists them
    moves: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    final: frozenset[str] = frozenset()
    # named sets of states that rules use, each with its reason where it is declared
    subsets: Mapping[str, frozenset[str]] = field(default_factory=dict)
    # a state -> the conditions on the record's data that a move into it needs (Gate), in the order they are checked
    gates: Mapping[str, tuple[Gate, ...]] = field(default_factory=dict)
    # what a remit asks about a record (hub/remits.py, Facts), as SQL over its row `t`: the lab it concerns (by
    # default its lab_column), the agency that owns it, the codes of the agencies named on it (a text[])
    lab_sql: str | None = None
    owner_sql: str | None = None
    agencies_sql: str | None = None
    wording: Wording = Wording()
    # who may do what to its records: one row per (action, who, to)
    remits: tuple[Remit, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "moves", MappingProxyType(dict(self.moves)))
        object.__setattr__(self, "subsets", MappingProxyType(dict(self.subsets)))
        object.__setattr__(self, "gates", MappingProxyType(dict(self.gates)))
        problems = machine_problems(self)
        if problems:
            raise ValueError(f"the state machine or the remits of {self.name} are wrong: " + "; ".join(problems))

    @property
    def has_states(self) -> bool:
        return self.state_column is not None

    def next_states(self, state: str) -> tuple[str, ...]:
        """The states a record in `state` may move to (none when it is final)."""
        return self.moves.get(state, ())

    def subset(self, name: str) -> frozenset[str]:
        return self.subsets[name]

    def sources(self, to: str) -> frozenset[str]:
        """The states from which a record may move to `to`."""
        return frozenset(s for s, nexts in self.moves.items() if to in nexts)

    @property
    def state_constraint(self) -> str:
        """The name of the CHECK constraint that holds the state column to the states (sql/007)."""
        return f"{self.table}_{self.state_column}_check"

    def remits_for(self, action: str) -> tuple[Remit, ...]:
        """The rows of `action` (LookupError when the kind has none: every write names a remit it has)."""
        rows = tuple(r for r in self.remits if r.action == action)
        if not rows:
            raise LookupError(f"{self.name} has no remit for {action}")
        return rows

    @property
    def actions(self) -> list[str]:
        """The actions of its remits, in the order of the table."""
        return list(dict.fromkeys(r.action for r in self.remits))


def machine_problems(kind: Kind) -> list[str]:
    """What is wrong with a kind's states and machine: empty when nothing is."""
    if kind.state_column is None:
        moving = kind.moves or kind.final or kind.states or any(r.to is not None for r in kind.remits)
        return ["a kind without states has no machine, and no remit moves its records"] if moving else []
    states = set(kind.states)
    problems = []
    if len(states) != len(kind.states):
        problems.append("a state is listed twice")
    for state, nexts in kind.moves.items():
        if state not in states:
            problems.append(f"a move from {state}, which is not a state")
        for to in nexts:
            if to not in states:
                problems.append(f"{state} moves to {to}, which is not a state")
        if not nexts:
            problems.append(f"{state} has no move: declare it final instead")
        if state in kind.final:
            problems.append(f"{state} is final but has moves")
    for state in kind.states:
        if state not in kind.final and not kind.moves.get(state):
            problems.append(f"{state} is neither final nor has a move")
    for state in kind.final - states:
        problems.append(f"{state} is final but not a state")
    for name, subset in kind.subsets.items():
        if not subset <= states:
            problems.append(f"the set {name} names {', '.join(sorted(subset - states))}, which are not states")
    for state in kind.gates:
        if state not in states:
            problems.append(f"a gate on {state}, which is not a state")
    for remit in kind.remits:
        for to in remit.to or ():
            if to not in states:
                problems.append(f"{remit.action} moves to {to}, which is not a state")
        if remit.to is not None and not any(remit.moves_to(t) for s in kind.moves.values() for t in s):
            problems.append(f"{remit.action} moves to a state no move of the machine reaches")
    return problems


def _kinds(*kinds: Kind) -> Mapping[str, Kind]:
    return MappingProxyType({kind.name: kind for kind in kinds})


# The agencies whose officers set the coverage standard, invite labs and request coverage determinations on a
# lab's behalf (while it takes part: hub/participation.py).
PROGRAM_AGENCIES = ("CISA", "NIST")

# The predicates the remits share (hub/remits.py has the terms).
LAB_LIAISONS = role("LAB_LIAISON") & RECORD_LAB
PROGRAM_OFFICERS = role(*OFFICERS) & agency(*PROGRAM_AGENCIES)
NAMED_OFFICERS = role(*OFFICERS) & NAMED_AGENCY
OWNER_OFFICERS = role(*OFFICERS) & OWNER
OWNER_WRITERS = role("ANALYST", *OFFICERS) & OWNER
# the liaisons of the lab that owns the record (a finding they reported), in the owning agency's place
OWNER_LAB_LIAISONS = role("LAB_LIAISON") & OWNER_LAB
# a webhook endpoint's managers: the admins of the agency that owns it, or the liaisons of the lab that owns it
WEBHOOK_OWNERS = (role("ADMIN") & OWNER) | OWNER_LAB_LIAISONS


KINDS: Mapping[str, Kind] = _kinds(
    Kind(name="AGENCY", table="agencies", type_name="Agency", noun="agency"),
    Kind(
        name="LAB",
        table="labs",
        type_name="Lab",
        noun="lab",
        lab_column="id",
        wording=Wording(lab="the lab"),
        remits=(
            Remit("registerLab", PROGRAM_OFFICERS, note="invite a lab: it starts INVITED"),
            Remit("updateLab", LAB_LIAISONS | PROGRAM_OFFICERS),
            Remit(
                "setLabParticipation",
                LAB_LIAISONS,
                to=ANY_STATE,
                note="the lab may decline or withdraw at any time (the program is voluntary), which closes what it "
                "had open",
            ),
            Remit("setLabParticipation", PROGRAM_OFFICERS, to=("INVITED",)),
        ),
        state_column="participation",
        state_enum="LabState",
        state_description="A lab's participation in the voluntary program; never a compliance status.",
        states=("INVITED", "ENGAGED", "PARTICIPATING", "DECLINED", "WITHDRAWN"),
        # participation is the lab's own choice: DECLINED and WITHDRAWN from anywhere, a new invitation after them
        moves={
            "INVITED": ("ENGAGED", "DECLINED", "WITHDRAWN"),
            "ENGAGED": ("PARTICIPATING", "DECLINED", "WITHDRAWN"),
            "PARTICIPATING": ("WITHDRAWN",),
            "DECLINED": ("INVITED",),
            "WITHDRAWN": ("INVITED",),
        },
        subsets={
            # the lab has chosen to take part: only then is anything registered, requested or started for it, by
            # anyone (hub/participation.py; docs/design.md, "Participation")
            "taking_part": frozenset({"ENGAGED", "PARTICIPATING"}),
        },
    ),
    Kind(
        name="MODEL",
        table="frontier_models",
        type_name="FrontierModel",
        noun="model",
        lab_column="lab_id",
        wording=Wording(lab="the model's lab"),
        remits=(
            Remit("registerModel", LAB_LIAISONS, note="while the lab takes part (ENGAGED or PARTICIPATING)"),
            Remit(
                "recordPublicModel",
                role(*OFFICERS),
                note="a model the lab has publicly released, marked as recorded by their agency, while the lab takes "
                "part; public facts only",
            ),
            Remit(
                "updateModel",
                LAB_LIAISONS,
                note="while the lab takes part; corrects a model an agency recorded, and sets its confidential fields",
            ),
            Remit(
                "setModelReleaseStatus",
                LAB_LIAISONS,
                to=ANY_STATE,
                note="never gated; a release during an open preview window is recorded on the agreement",
            ),
        ),
        state_column="release_status",
        state_enum="FrontierModelState",
        state_description="Set by the lab alone; never gated by a decision, agreement or finding.",
        states=("IN_DEVELOPMENT", "RESTRICTED_PREVIEW", "GENERALLY_AVAILABLE", "DEPRECATED"),
        # nothing here gates a model's release: its release status moves by the lab's word alone
        moves={
            "IN_DEVELOPMENT": ("RESTRICTED_PREVIEW", "GENERALLY_AVAILABLE", "DEPRECATED"),
            "RESTRICTED_PREVIEW": ("IN_DEVELOPMENT", "GENERALLY_AVAILABLE", "DEPRECATED"),
            "GENERALLY_AVAILABLE": ("DEPRECATED",),
        },
        final=frozenset({"DEPRECATED"}),
        subsets={
            # out in the world: every lab sees every lab's models in these (docs/design.md, "Visibility")
            "public": frozenset({"GENERALLY_AVAILABLE", "DEPRECATED"}),
            # what a lab's public announcement of a release says, and so what an agency may record of it
            # (recordPublicModel; docs/design.md, "Participation")
            "publicly_released": frozenset({"RESTRICTED_PREVIEW", "GENERALLY_AVAILABLE"}),
        },
    ),
    Kind(
        name="AGREEMENT",
        table="early_access_agreements",
        type_name="EarlyAccessAgreement",
        noun="agreement",
        lab_column="lab_id",
        agencies_sql=(
            "array(select a.code from agreement_agencies aa join agencies a on a.id = aa.agency_id"
            " where aa.agreement_id = t.id order by a.code)"
        ),
        wording=Wording(lab="the model's lab", agencies="an agency named on the agreement"),
        remits=(
            Remit("offerEarlyAccess", LAB_LIAISONS, note="unasked, of any length the lab chooses"),
            Remit(
                "acceptEarlyAccess",
                NAMED_OFFICERS,
                to=("ACTIVE",),
                note="for their agency (it joins); the first makes it ACTIVE; a counter-proposal first by the "
                "requesting agency",
            ),
            Remit("withdrawEarlyAccess", LAB_LIAISONS, to=("WITHDRAWN_BY_LAB",), note="at any time, for every agency"),
            Remit(
                "terminateEarlyAccess",
                NAMED_OFFICERS,
                to=("TERMINATED",),
                note="their agency leaves, with a reason; TERMINATED when no agency is left",
            ),
            # moves nothing of itself: removing the last agency left ends the agreement, as a consequence
            Remit(
                "removeEarlyAccessAgency", LAB_LIAISONS, note="one agency, with a reason; TERMINATED when none is left"
            ),
            Remit("complete", HUB, to=("COMPLETED",), note="by the scheduler at accessEnd"),
        ),
        state_column="state",
        state_enum="EarlyAccessAgreementState",
        states=("PROPOSED", "ACTIVE", "COMPLETED", "WITHDRAWN_BY_LAB", "TERMINATED"),
        moves={
            "PROPOSED": ("ACTIVE", "WITHDRAWN_BY_LAB", "TERMINATED"),
            "ACTIVE": ("COMPLETED", "WITHDRAWN_BY_LAB", "TERMINATED"),
        },
        final=frozenset({"COMPLETED", "WITHDRAWN_BY_LAB", "TERMINATED"}),
        subsets={
            # accepted and run to its term or still running: the agencies party to it (joined, not left) see the
            # model's confidential fields (docs/design.md, "Visibility"); a withdrawn or terminated one no longer
            # shows them
            "confidential": frozenset({"ACTIVE", "COMPLETED"}),
            # not yet ended: the lab's leaving the program withdraws these (hub/participation.py)
            "open": frozenset({"PROPOSED", "ACTIVE"}),
        },
    ),
    Kind(
        name="REQUEST",
        table="early_access_requests",
        type_name="EarlyAccessRequest",
        noun="early-access request",
        lab_column="lab_id",
        owner_sql="t.requesting_agency_id",
        agencies_sql="array(select a.code from agencies a where a.id = any(t.agency_ids) order by a.code)",
        wording=Wording(
            lab="the model's lab", owner="the requesting agency", agencies="an agency named on the request"
        ),
        remits=(
            Remit("requestEarlyAccess", role(*OFFICERS), note="their agency asks; a lab ENGAGED or PARTICIPATING"),
            # the requesting agency's acceptance of a counter-proposal (acceptEarlyAccess, on the agreement, by the
            # agreement's remit) makes the request ACCEPTED, as a consequence
            Remit(
                "answerEarlyAccessRequest",
                LAB_LIAISONS,
                to=("ACCEPTED", "COUNTER_PROPOSED", "DECLINED"),
                note="an OPEN request: accept (the agreement, ACTIVE), propose other terms, or decline",
            ),
            Remit(
                "withdrawEarlyAccess",
                LAB_LIAISONS,
                to=("OPEN",),
                note="the lab withdraws its counter-proposal (the agreement): the request is OPEN again",
            ),
            Remit(
                "withdrawEarlyAccessRequest",
                OWNER_OFFICERS,
                to=("WITHDRAWN",),
                note="an OPEN request, or declining the lab's counter-proposal",
            ),
        ),
        state_column="state",
        state_enum="EarlyAccessRequestState",
        state_description="An agency's request for early access to a model, and the lab's answer; the lab decides.",
        states=("OPEN", "ACCEPTED", "COUNTER_PROPOSED", "DECLINED", "WITHDRAWN"),
        moves={
            "OPEN": ("ACCEPTED", "COUNTER_PROPOSED", "DECLINED", "WITHDRAWN"),
            # OPEN again when the lab withdraws its counter-proposal; WITHDRAWN when the agency declines the lab's
            # terms or withdraws
            "COUNTER_PROPOSED": ("ACCEPTED", "OPEN", "WITHDRAWN"),
        },
        final=frozenset({"ACCEPTED", "DECLINED", "WITHDRAWN"}),
        subsets={
            # awaiting the lab's answer or the agency's word on the lab's terms: one per model and requesting
            # agency; the hub closes them (WITHDRAWN) when the lab withdraws from the program
            "open": frozenset({"OPEN", "COUNTER_PROPOSED"}),
        },
    ),
    Kind(
        name="STANDARD",
        table="coverage_standards",
        type_name="CoverageStandard",
        noun="coverage standard",
        owner_sql="t.owner_agency_id",
        agencies_sql="t.required_signoffs",
        wording=Wording(agencies="an agency whose sign-off the standard needs"),
        remits=(
            Remit("draftCoverageStandard", PROGRAM_OFFICERS, note="their agency owns it"),
            Remit("submitCoverageStandard", PROGRAM_OFFICERS, to=("IN_REVIEW",)),
            Remit("withdrawCoverageStandard", PROGRAM_OFFICERS, to=("WITHDRAWN",)),
            Remit(
                "signCoverageStandard",
                NAMED_OFFICERS,
                to=("ADOPTED",),
                note="for their agency; the last required signature adopts it",
            ),
            Remit("supersede", HUB, to=("SUPERSEDED",), note="when a newer standard is adopted"),
        ),
        state_column="state",
        state_enum="CoverageStandardState",
        states=("DRAFT", "IN_REVIEW", "ADOPTED", "SUPERSEDED", "WITHDRAWN"),
        moves={
            "DRAFT": ("IN_REVIEW", "WITHDRAWN"),
            "IN_REVIEW": ("ADOPTED", "DRAFT", "WITHDRAWN"),
            "ADOPTED": ("SUPERSEDED",),
        },
        final=frozenset({"SUPERSEDED", "WITHDRAWN"}),
        subsets={
            # adopted once, in force or superseded since: labs see these (docs/design.md, "Visibility")
            "published": frozenset({"ADOPTED", "SUPERSEDED"}),
            # on the way to adoption: they have a due date to meet (the scheduler's and the dashboard's deadlines)
            "pending": frozenset({"DRAFT", "IN_REVIEW"}),
        },
    ),
    Kind(
        name="DECISION",
        table="coverage_decisions",
        type_name="CoverageDecision",
        noun="coverage decision",
        lab_sql="(select m.lab_id from frontier_models m where m.id = t.model_id)",
        # the agencies whose sign-off the decision needs: those of its standard
        agencies_sql="(select s.required_signoffs from coverage_standards s where s.id = t.standard_id)",
        wording=Wording(lab="the model's lab", agencies="an agency whose sign-off the standard needs"),
        remits=(
            Remit(
                "requestCoverageDetermination",
                LAB_LIAISONS | PROGRAM_OFFICERS,
                note="officers for a lab that takes part (ENGAGED or PARTICIPATING)",
            ),
            Remit("startCoverageAssessment", NAMED_OFFICERS, to=("UNDER_ASSESSMENT",)),
            Remit("rescreenCoverage", NAMED_OFFICERS, note="a new screening on the inputs as they stand"),
            Remit(
                "decideCoverage",
                NAMED_OFFICERS,
                to=("AWAITING_CONCURRENCE", "DECIDED"),
                note="signs for their agency; DECIDED at once when no other agency must sign",
            ),
            Remit(
                "concurCoverageDecision",
                NAMED_OFFICERS,
                to=("DECIDED",),
                note="for their agency; the last concurrence puts it in effect",
            ),
            Remit("objectToCoverageDecision", NAMED_OFFICERS, to=("UNDER_ASSESSMENT",), note="with a reason"),
            Remit(
                "requestCoverageReconsideration",
                LAB_LIAISONS,
                to=("RECONSIDERATION_REQUESTED",),
                note="with a reason and new evidence; starts a new screening",
            ),
            Remit("withdrawCoverageRequest", LAB_LIAISONS, to=("WITHDRAWN",)),
            Remit(
                "supersede",
                HUB,
                to=("SUPERSEDED",),
                note="when a decision under a newer standard is in effect, or an undecided request is carried over",
            ),
        ),
        state_column="state",
        state_enum="CoverageDecisionState",
        states=(
            "REQUESTED",
            "UNDER_ASSESSMENT",
            "AWAITING_CONCURRENCE",
            "DECIDED",
            "RECONSIDERATION_REQUESTED",
            "SUPERSEDED",
            "WITHDRAWN",
        ),
        moves={
            "REQUESTED": ("UNDER_ASSESSMENT", "WITHDRAWN", "SUPERSEDED"),
            "UNDER_ASSESSMENT": ("AWAITING_CONCURRENCE", "DECIDED", "WITHDRAWN", "SUPERSEDED"),
            "AWAITING_CONCURRENCE": ("DECIDED", "UNDER_ASSESSMENT", "WITHDRAWN", "SUPERSEDED"),
            "DECIDED": ("RECONSIDERATION_REQUESTED", "SUPERSEDED"),
            "RECONSIDERATION_REQUESTED": (
                "UNDER_ASSESSMENT",
                "AWAITING_CONCURRENCE",
                "DECIDED",
                "WITHDRAWN",
                "SUPERSEDED",
            ),
        },
        final=frozenset({"SUPERSEDED", "WITHDRAWN"}),
        subsets={
            # a request awaiting a decision: a model has at most one open request per standard
            "open_request": frozenset(
                {"REQUESTED", "UNDER_ASSESSMENT", "AWAITING_CONCURRENCE", "RECONSIDERATION_REQUESTED"}
            ),
            # a decision once in effect keeps its outcome standing in these states, through a reconsideration and
            # a revision of the standard, until a newer decision is in effect (docs/design.md, "Coverage")
            "standing": frozenset({"UNDER_ASSESSMENT", "AWAITING_CONCURRENCE", "DECIDED", "RECONSIDERATION_REQUESTED"}),
            # a decision the hub moves to a newer standard's request when that standard is adopted
            "undecided": frozenset({"REQUESTED", "UNDER_ASSESSMENT", "AWAITING_CONCURRENCE"}),
        },
    ),
    Kind(
        name="COMPUTE_ESTIMATE",
        table="compute_estimates",
        type_name="ComputeEstimate",
        noun="compute estimate",
        lab_column="lab_id",
        owner_sql="t.author_agency_id",
        wording=Wording(lab="the model's lab", owner="the estimating agency"),
        remits=(
            Remit(
                "reportComputeEstimate",
                LAB_LIAISONS | role("ANALYST", *OFFICERS),
                note="a liaison's is LAB_REPORTED, an agency's AGENCY_ESTIMATED",
            ),
        ),
    ),
    Kind(
        name="EVAL_SUITE",
        table="evaluation_suites",
        type_name="EvaluationSuite",
        noun="evaluation suite",
        owner_sql="t.owner_agency_id",
        wording=Wording(owner="the owning agency"),
        remits=(Remit("registerEvaluationSuite", role("ANALYST", *OFFICERS), note="their agency owns it"),),
    ),
    Kind(
        name="EVAL_RESULT",
        table="evaluation_results",
        type_name="EvaluationResult",
        noun="evaluation result",
        lab_column="lab_id",
        owner_sql="t.run_by_agency_id",
        wording=Wording(lab="the model's lab", owner="the agency that ran it"),
        remits=(
            Remit(
                "recordEvaluationResult",
                LAB_LIAISONS | role("ANALYST", *OFFICERS),
                note="a liaison's is LAB_REPORTED, an agency's AGENCY_ESTIMATED",
            ),
        ),
    ),
    Kind(
        name="DESIGNATION",
        table="model_designations",
        type_name="ModelDesignation",
        noun="designation",
        lab_column="lab_id",
        owner_sql="t.agency_id",
        wording=Wording(lab="the model's lab", owner="the designating agency"),
        remits=(
            Remit("designateModel", role(*OFFICERS), note="their agency designates"),
            Remit("withdrawDesignation", OWNER_OFFICERS, to=("WITHDRAWN",)),
        ),
        state_column="state",
        state_enum="ModelDesignationState",
        states=("IN_FORCE", "WITHDRAWN"),
        moves={"IN_FORCE": ("WITHDRAWN",)},
        final=frozenset({"WITHDRAWN"}),
    ),
    # the criteria's results for one model and standard, kept as used; events are about the decision they serve
    Kind(
        name="SCREENING",
        table="coverage_screenings",
        type_name="CoverageScreening",
        noun="screening",
        events=False,
        lab_column="lab_id",
    ),
    Kind(
        name="FINDING",
        table="findings",
        type_name="Finding",
        noun="finding",
        tlp=True,
        lab_column="lab_id",
        owner_sql="t.owner_agency_id",
        owner_lab_column="owner_lab_id",
        wording=Wording(lab="the finding's lab", owner="the owning agency", owner_lab="the owning lab"),
        remits=(
            Remit(
                "reportFinding",
                role("ANALYST", *OFFICERS),
                note="an agency's: on a model they can see; their agency owns the finding",
            ),
            Remit(
                "reportFinding",
                LAB_LIAISONS,
                note="a liaison's: about their lab's own model, found by the lab or the model, while the lab takes "
                "part; the lab owns the finding",
            ),
            Remit("updateFinding", OWNER_WRITERS | OWNER_LAB_LIAISONS),
            Remit(
                "transitionFinding",
                OWNER_WRITERS | OWNER_LAB_LIAISONS,
                to=ANY_STATE,
                note="DUPLICATE names the original",
            ),
            Remit("shareFinding", OWNER_OFFICERS | OWNER_LAB_LIAISONS, note="TLP, shareWith, RED recipients"),
            Remit(
                "takeOverFinding",
                role("ANALYST", *OFFICERS) & LAB_OWNED,
                note="a finding they can see: their agency owns it from then on, the lab stays on its shareWith",
            ),
        ),
        state_column="state",
        state_enum="FindingState",
        states=(
            "REPORTED",
            "TRIAGED",
            "VALIDATED",
            "COORDINATING",
            "MITIGATION_AVAILABLE",
            "DISCLOSED",
            "REMEDIATED",
            "DUPLICATE",
            "REJECTED",
        ),
        moves={
            "REPORTED": ("TRIAGED", "DUPLICATE", "REJECTED"),
            "TRIAGED": ("VALIDATED", "DUPLICATE", "REJECTED"),
            "VALIDATED": ("COORDINATING", "MITIGATION_AVAILABLE", "DISCLOSED"),
            "COORDINATING": ("MITIGATION_AVAILABLE", "DISCLOSED"),
            "MITIGATION_AVAILABLE": ("DISCLOSED", "REMEDIATED"),
            "DISCLOSED": ("REMEDIATED",),
            "DUPLICATE": ("REPORTED",),
            "REJECTED": ("REPORTED",),
        },
        final=frozenset({"REMEDIATED"}),
        subsets={
            # on the way to remediation: their KEV due dates are deadlines. DUPLICATE and REJECTED are set aside
            # (they may be reported again), REMEDIATED is done
            "open": frozenset(
                {"REPORTED", "TRIAGED", "VALIDATED", "COORDINATING", "MITIGATION_AVAILABLE", "DISCLOSED"}
            ),
        },
    ),
    Kind(
        name="MEASURE",
        table="cyber_measures",
        type_name="CyberMeasure",
        noun="measure",
        tlp=True,
        owner_sql="t.owner_agency_id",
        remits=(
            Remit("planMeasure", role(*OFFICERS) & agency("DOD"), note="DoD owns the measure"),
            Remit("updateMeasure", OWNER_OFFICERS),
            Remit("transitionMeasure", OWNER_OFFICERS, to=ANY_STATE, note="VERIFIED needs evidence"),
        ),
        state_column="state",
        state_enum="CyberMeasureState",
        states=("PLANNED", "DEPLOYING", "DEPLOYED", "VERIFIED", "RETIRED", "SUSPENDED"),
        moves={
            "PLANNED": ("DEPLOYING", "SUSPENDED", "RETIRED"),
            "DEPLOYING": ("DEPLOYED", "SUSPENDED", "RETIRED"),
            "DEPLOYED": ("VERIFIED", "SUSPENDED", "RETIRED"),
            "VERIFIED": ("SUSPENDED", "RETIRED"),
            "SUSPENDED": ("DEPLOYING", "RETIRED"),
        },
        final=frozenset({"RETIRED"}),
    ),
    Kind(
        name="COUNTERPART",
        table="infrastructure_counterparts",
        type_name="InfrastructureCounterpart",
        noun="counterpart",
        owner_sql="t.owner_agency_id",
        wording=Wording(owner="the registering agency"),
        remits=(
            Remit(
                "registerInfrastructureCounterpart",
                role(*OFFICERS) & agency("CISA"),
                note="a utility, a rural hospital...: CISA registers it and owns the record",
            ),
            Remit("updateInfrastructureCounterpart", OWNER_OFFICERS),
        ),
    ),
    Kind(
        name="ENGAGEMENT",
        table="infrastructure_engagements",
        type_name="InfrastructureEngagement",
        noun="engagement",
        tlp=True,
        lab_column="lab_id",
        owner_sql="t.owner_agency_id",
        wording=Wording(lab="the engagement's lab"),
        remits=(
            Remit(
                "openEngagement",
                role(*OFFICERS) & agency("CISA"),
                note="CISA proposes and owns the engagement; only with a lab that is ENGAGED or PARTICIPATING",
            ),
            Remit("updateEngagement", OWNER_OFFICERS),
            Remit("addEngagementMilestone", OWNER_OFFICERS),
            Remit("completeEngagementMilestone", OWNER_OFFICERS),
            Remit(
                "acceptEngagement",
                LAB_LIAISONS,
                note="the lab accepts: the engagement becomes ACTIVE only after that (opt in)",
            ),
            Remit(
                "recordCounterpartConsent",
                OWNER_OFFICERS,
                note="whether the counterpart consented; a consent recorded as not given pauses an ACTIVE engagement",
            ),
            Remit(
                "transitionEngagement",
                OWNER_OFFICERS,
                to=ANY_STATE,
                note="ACTIVE only once the lab accepted and the counterpart's consent is recorded as given",
            ),
            Remit(
                "transitionEngagement",
                LAB_LIAISONS,
                to=("DECLINED", "WITHDRAWN"),
                note="at any time: the engagement is voluntary",
            ),
        ),
        state_column="state",
        state_enum="InfrastructureEngagementState",
        states=("PROPOSED", "SCOPING", "ACTIVE", "COMPLETED", "PAUSED", "DECLINED", "WITHDRAWN"),
        moves={
            "PROPOSED": ("SCOPING", "DECLINED", "WITHDRAWN"),
            "SCOPING": ("ACTIVE", "PAUSED", "DECLINED", "WITHDRAWN"),
            "ACTIVE": ("COMPLETED", "PAUSED", "WITHDRAWN"),
            "PAUSED": ("ACTIVE", "SCOPING", "WITHDRAWN"),
        },
        final=frozenset({"COMPLETED", "DECLINED", "WITHDRAWN"}),
        subsets={
            # not yet ended: the lab's leaving the program withdraws these (hub/participation.py)
            "open": frozenset({"PROPOSED", "SCOPING", "ACTIVE", "PAUSED"}),
        },
        # CISA proposes, the lab accepts: an engagement is ACTIVE only with the lab's acceptance and the
        # counterpart's consent (docs/workflows.md, "Infrastructure engagements")
        gates={
            "ACTIVE": (
                Gate(
                    "t.lab_accepted_at is not null",
                    "LAB_ACCEPTANCE_REQUIRED",
                    "the lab has not accepted the engagement (its liaisons accept it with acceptEngagement)",
                ),
                Gate(
                    "t.counterpart_consent is true",
                    "BAD_USER_INPUT",
                    "the counterpart's consent to the engagement is not recorded as given (CISA records it with"
                    " recordCounterpartConsent)",
                ),
            ),
        },
    ),
    Kind(
        name="POLICY",
        table="policy",
        type_name="Policy",
        noun="policy",
        node=False,
        ids=False,
        agencies_sql="t.required_signoffs",
        wording=Wording(agencies="an agency in the policy's required sign-offs"),
        remits=(
            Remit(
                "updatePolicy",
                role("ADMIN") & NAMED_AGENCY,
                note="proposes a new version, signed for their agency; CISA and NIST as the order has it",
            ),
        ),
    ),
    # the policy's versions: a change is proposed by one agency in the required sign-offs of the version in effect
    # and takes effect once every one of them has concurred (docs/design.md, "Policy versions"); the `policy` row is
    # the copy of the version in effect
    Kind(
        name="POLICY_VERSION",
        table="policy_versions",
        type_name="PolicyVersion",
        noun="policy version",
        node=False,
        owner_sql="t.proposed_by_agency_id",
        # the agencies that must concur: the required sign-offs of the version in effect when it was proposed
        agencies_sql="t.concurrence_needed",
        wording=Wording(
            agencies="an agency in the required sign-offs of the version in effect", owner="the proposing agency"
        ),
        remits=(
            Remit(
                "concurPolicyChange",
                role("ADMIN") & NAMED_AGENCY,
                to=("IN_EFFECT",),
                note="for their agency; the last concurrence puts it in effect, or the scheduler on its later "
                "effectiveOn",
            ),
            Remit("withdrawPolicyChange", role("ADMIN") & OWNER, to=("WITHDRAWN",), note="while it is proposed"),
            Remit("supersede", HUB, to=("SUPERSEDED",), note="when the next version takes effect"),
        ),
        state_column="state",
        state_enum="PolicyVersionState",
        state_description="A version of the program policy: proposed, in effect, superseded or withdrawn.",
        states=("PROPOSED", "IN_EFFECT", "SUPERSEDED", "WITHDRAWN"),
        moves={"PROPOSED": ("IN_EFFECT", "WITHDRAWN"), "IN_EFFECT": ("SUPERSEDED",)},
        final=frozenset({"SUPERSEDED", "WITHDRAWN"}),
    ),
    Kind(
        name="PRINCIPAL",
        table="principals",
        type_name="Principal",
        noun="principal",
        node=False,
        owner_sql="t.agency_id",
        wording=Wording(owner="the holder's agency", itself="the token's holder"),
        remits=(
            Remit("createToken", role("ADMIN"), note="for principals of their agency"),
            Remit(
                "revokeToken",
                ITSELF | (role("ADMIN") & OWNER),
                note="a token the caller may not revoke reads as missing: NOT_FOUND",
            ),
        ),
    ),
    # an endpoint that receives signed webhooks (docs/live.md, "Webhooks"), owned by an agency (its admins manage it)
    # or a lab (its liaisons); deliveries carry what its owner may see
    Kind(
        name="WEBHOOK",
        table="webhook_endpoints",
        type_name="WebhookEndpoint",
        noun="webhook endpoint",
        owner_sql="t.owner_agency_id",
        owner_lab_column="owner_lab_id",
        wording=Wording(owner="the owning agency", owner_lab="the owning lab"),
        remits=(
            Remit("registerWebhook", role("ADMIN"), note="for their own agency; the secret is shown once"),
            Remit("registerWebhook", role("LAB_LIAISON"), note="for their own lab; the secret is shown once"),
            Remit("updateWebhook", WEBHOOK_OWNERS),
            Remit("rotateWebhookSecret", WEBHOOK_OWNERS, note="the previous secret signs too during the overlap"),
            Remit("redeliverWebhook", WEBHOOK_OWNERS, note="from a cursor: the events after it are sent again"),
            Remit("transitionWebhook", WEBHOOK_OWNERS, to=ANY_STATE, note="disable, enable, delete"),
            Remit(
                "disable",
                HUB,
                to=("DISABLED",),
                note="by the delivery worker after consecutive failed attempts, or an operator (hub webhook disable)",
            ),
        ),
        state_column="state",
        state_enum="WebhookEndpointState",
        state_description="Whether a webhook endpoint is sent events: ENABLED, DISABLED (see disabledReason), "
        "DELETED (final; its secret is erased, its log kept).",
        states=("ENABLED", "DISABLED", "DELETED"),
        moves={"ENABLED": ("DISABLED", "DELETED"), "DISABLED": ("ENABLED", "DELETED")},
        final=frozenset({"DELETED"}),
    ),
    # not a kind events are about: the events themselves, read under the visibility of what they are about
    Kind(name="EVENT", table="events", type_name="Event", noun="event", events=False),
)


def event_kinds() -> list[Kind]:
    """The kinds events are about, in the order of the GraphQL enum EntityKind."""
    return [k for k in KINDS.values() if k.events]


def stateful_kinds() -> list[Kind]:
    """The kinds whose records have a state and a machine."""
    return [k for k in KINDS.values() if k.has_states]


def blocked_sql(k: Kind) -> str:
    """The states whose gates the row `t` does not meet, as an SQL text[] (empty for a kind without gates)."""
    if not k.gates:
        return "'{}'::text[]"
    unmet = [
        f"case when not coalesce({' and '.join(f'({g.sql})' for g in gates)}, false) then '{state}' end"
        for state, gates in k.gates.items()
    ]
    return f"array_remove(array[{', '.join(unmet)}]::text[], null)"


def facts_sql(name: str, condition: str) -> str:
    """A statement reading the remit facts (hub/remits.py, Facts) of the records of kind `name` that meet
    `condition` (on alias `t`): id, lab_id, owner_agency_id, owner_lab_id, agencies, state, and the states its gates
    block."""
    k = KINDS[name]
    lab = k.lab_sql or (f"t.{k.lab_column}" if k.lab_column else "null")
    owner_lab = f"t.{k.owner_lab_column}" if k.owner_lab_column else "null"
    state = f"t.{k.state_column}" if k.state_column else "null"
    return (
        f"select t.id, ({lab})::bigint as lab_id, ({k.owner_sql or 'null'})::bigint as owner_agency_id,"
        f" ({owner_lab})::bigint as owner_lab_id,"
        f" coalesce(({k.agencies_sql or 'null'})::text[], '{{}}') as agencies, ({state})::text as state,"
        f" {blocked_sql(k)} as blocked from {k.table} t where {condition}"
    )


def facts_of(row: Mapping[str, Any]) -> Facts:
    """The Facts of a row that facts_sql read."""
    return Facts(
        lab_id=row["lab_id"],
        owner_agency_id=row["owner_agency_id"],
        owner_lab_id=row["owner_lab_id"],
        agencies=tuple(row["agencies"]),
        state=row["state"],
        blocked=tuple(row["blocked"]),
    )


def remit_says(name: str, action: str, facts: Facts | None = None) -> str:
    """Who may do `action` to a record of kind `name`, in prose (with the record's agencies when `facts` has them):
    for messages and docs/workflows.md."""
    k = KINDS[name]
    rows = k.remits_for(action)
    parts = []
    for row in rows:
        text = row.who.says(k.wording, facts)
        if len(rows) > 1 and row.to not in (None, ANY_STATE):
            text += f" (to {' or '.join(row.to or ())} only)"
        parts.append(text)
    return "; or ".join(parts)


def allowed_moves(principal: Principal | None, name: str, facts: Facts) -> list[str]:
    """The next states of the machine that `principal` may move the record (`facts`, with its state) to, by some
    action of its remit, in the machine's order, leaving out those whose gates the record does not meet
    (`facts.blocked`): GraphQL's availableTransitions. The mutation may still refuse what its input does not allow
    (evidence, an ended window); never for the remit, the machine or a gate."""
    k = KINDS[name]
    if facts.state is None:
        return []
    return [
        to
        for to in k.next_states(facts.state)
        if to not in facts.blocked and any(r.moves_to(to) and r.who(principal, facts) is True for r in k.remits)
    ]


# The CHECK constraint that holds events.entity_kind to the event kinds.
EVENT_KIND_CONSTRAINT = "events_entity_kind_check"


def _check(table: str, column: str, constraint: str, values: tuple[str, ...]) -> str:
    listed = ", ".join(f"'{v}'" for v in values)
    return (
        f"alter table {table} drop constraint if exists {constraint},\n"
        f"    add constraint {constraint} check ({column} in ({listed}));"
    )


def check_constraints_sql() -> str:
    """The statements that (re)create every state column's CHECK constraint, and that of events.entity_kind, from
    the registry: what a migration that adds a state or a kind includes (`python -m hub.kinds --check-constraints`)."""
    statements = [_check(k.table, str(k.state_column), k.state_constraint, k.states) for k in stateful_kinds()]
    statements.append(
        _check(KINDS["EVENT"].table, "entity_kind", EVENT_KIND_CONSTRAINT, tuple(k.name for k in event_kinds()))
    )
    return "\n".join(statements) + "\n"


def sql_list(states: frozenset[str] | tuple[str, ...]) -> str:
    """A set of states as an SQL list of literals, sorted: `('ACTIVE', 'COMPLETED')`. Only for the states of this
    registry (names of capital letters and underscores), never for input."""
    assert all(s.replace("_", "").isalpha() and s.isupper() for s in states), states
    return "(" + ", ".join(f"'{s}'" for s in sorted(states)) + ")"


def main(argv: list[str] | None = None) -> int:
    """`python -m hub.kinds --check-constraints`: print the SQL that holds the state columns (and the events' kinds)
    to the registry, for a new migration."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m hub.kinds", description=main.__doc__)
    parser.add_argument("--check-constraints", action="store_true", help="print the CHECK constraints' SQL")
    args = parser.parse_args(argv)
    if args.check_constraints:
        print(check_constraints_sql(), end="")
        return 0
    parser.print_help()
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
