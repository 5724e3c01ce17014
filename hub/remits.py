"""Who may do what to a record, as data: predicates over the principal and the record, built from a fixed set of
terms (docs/design.md, "Remits").

The terms: the principal's role, the principal's agency, the record's lab, the agencies named on the record, the
agency that owns the record, the lab that owns the record (a finding its liaison reported: the lab in the owning
agency's place), whether a lab owns the record, the record being the principal itself, and the hub acting on its own
(the scheduler, a consequence of another write). `&` and `|` combine them. Each kind's remits (hub/kinds.py) are
rows of (action, who, to): the workflow checks them (hub/workflow.py, check_remit), docs/workflows.md prints them,
and GraphQL's `availableTransitions` reads them; nothing else decides who may write.

A predicate answers True, False, or None when it depends on a record not known yet: a create checks the remit once
before it looks anything up (so that a caller outside the remit learns nothing about the records it names) and once
more with the record's facts.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from hub.auth import Principal

OFFICERS = ("OFFICER", "ADMIN")


@dataclass(frozen=True)
class Facts:
    """What a remit may ask about a record (hub/kinds.py says how each kind's are read): its lab, its owning agency
    or owning lab (a record has at most one owner), the codes of the agencies named on it, the principal it is (for
    principals) and its state; and the states its data does not let it move to yet (`blocked`: hub/kinds.py, Gate),
    which availableTransitions leaves out."""

    lab_id: int | None = None
    owner_agency_id: int | None = None
    owner_lab_id: int | None = None
    agencies: tuple[str, ...] = ()
    principal_id: int | None = None
    state: str | None = None
    blocked: tuple[str, ...] = ()


Verdict = bool | None
Test = Callable[[Principal | None, Facts | None], Verdict]


@dataclass(frozen=True)
class Wording:
    """How the predicates of one kind read in prose: `lab` is the record's lab ("the lab", "the model's lab"),
    `agencies` the agencies named on it ("an agency the standard needs"), `owner` its owning agency, `owner_lab` its
    owning lab, `itself` the principal the record is."""

    lab: str = "the record's lab"
    agencies: str = "an agency named on the record"
    owner: str = "the owning agency"
    owner_lab: str = "the owning lab"
    itself: str = "the principal itself"


class Who:
    """A predicate over (principal, facts): a disjunction of conjunctions of terms, so that it can be said in
    prose. `principal` None is the hub itself."""

    def __init__(self, clauses: tuple[tuple[Term, ...], ...]) -> None:
        self.clauses = clauses

    def __and__(self, other: Who) -> Who:
        return Who(tuple(a + b for a in self.clauses for b in other.clauses))

    def __or__(self, other: Who) -> Who:
        return Who(self.clauses + other.clauses)

    def __call__(self, principal: Principal | None, facts: Facts | None) -> Verdict:
        return any_of(all_of(term.test(principal, facts) for term in clause) for clause in self.clauses)

    def says(self, wording: Wording, facts: Facts | None = None) -> str:
        """The predicate in prose, e.g. "officers and admins of CISA or NIST"."""
        return "; or ".join(_clause_text(clause, wording, facts) for clause in self.clauses)


def all_of(verdicts: Iterable[Verdict]) -> Verdict:
    """Kleene's and: False if any is False, else None if any is unknown, else True."""
    seen = list(verdicts)
    if any(v is False for v in seen):
        return False
    return None if any(v is None for v in seen) else True


def any_of(verdicts: Iterable[Verdict]) -> Verdict:
    """Kleene's or: True if any is True, else None if any is unknown, else False."""
    seen = list(verdicts)
    if any(v is True for v in seen):
        return True
    return None if any(v is None for v in seen) else False


@dataclass(frozen=True)
class Term:
    """One term: `kind` says how it reads in prose (role, qualifier, subject), `test` what it asks."""

    kind: str
    text: str
    test: Test


def _term(kind: str, text: str, test: Test) -> Who:
    return Who(((Term(kind, text, test),),))


def role(*roles: str) -> Who:
    """The principal's role is one of `roles`."""
    names = [("liaison" if r == "LAB_LIAISON" else r.lower()) + "s" for r in roles]
    text = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
    return _term("role", text, lambda p, f: p is not None and p.role in roles)


def agency(*codes: str) -> Who:
    """The principal is of one of the agencies `codes`."""
    return _term("qualifier", "of " + " or ".join(codes), lambda p, f: p is not None and p.agency_code in codes)


def _about_record(needs: Callable[[Principal], object], test: Callable[[Principal, Facts], bool]) -> Test:
    """A term that compares the principal with the record: False when the principal has nothing to compare (`needs`
    is None), unknown before the record is known."""

    def check(p: Principal | None, f: Facts | None) -> Verdict:
        if p is None or needs(p) is None:
            return False
        return None if f is None else test(p, f)

    return check


RECORD_LAB = _term(
    "qualifier",
    "of {lab}",
    _about_record(lambda p: p.lab_id, lambda p, f: f.lab_id is not None and f.lab_id == p.lab_id),
)
"""The principal belongs to the record's lab."""

OWNER = _term(
    "qualifier",
    "of {owner}",
    _about_record(lambda p: p.agency_id, lambda p, f: f.owner_agency_id == p.agency_id),
)
"""The principal belongs to the agency that owns the record."""

OWNER_LAB = _term(
    "qualifier",
    "of {owner_lab}",
    _about_record(lambda p: p.lab_id, lambda p, f: f.owner_lab_id is not None and f.owner_lab_id == p.lab_id),
)
"""The principal belongs to the lab that owns the record (in the owning agency's place)."""

LAB_OWNED = _term("condition", "while a lab owns it", lambda p, f: None if f is None else f.owner_lab_id is not None)
"""A lab owns the record (not an agency): what an agency may take over."""

NAMED_AGENCY = _term(
    "qualifier", "of {agencies}", _about_record(lambda p: p.agency_code, lambda p, f: p.agency_code in f.agencies)
)
"""The principal belongs to an agency named on the record."""

ITSELF = _term("subject", "{itself}", _about_record(lambda p: p.id, lambda p, f: f.principal_id == p.id))
"""The record is the principal itself."""

HUB = _term("subject", "the hub itself", lambda p, f: p is None)
"""The hub acting on its own: the scheduler, or a consequence of another write."""


def _clause_text(clause: tuple[Term, ...], wording: Wording, facts: Facts | None) -> str:
    roles = [t.text for t in clause if t.kind == "role"]
    qualifiers = [t.text for t in clause if t.kind == "qualifier"]
    subjects = [t.text for t in clause if t.kind == "subject"]
    conditions = [t.text for t in clause if t.kind == "condition"]
    if roles and not qualifiers:
        qualifiers = ["of any lab" if roles == ["liaisons"] else "of any agency"]
    if roles or qualifiers:
        subjects.append(" and ".join(roles) if roles else "principals")
    named = wording.agencies + (f" ({', '.join(facts.agencies)})" if facts is not None and facts.agencies else "")
    text = " ".join([*subjects, *qualifiers, *conditions])
    return text.format(
        lab=wording.lab, agencies=named, owner=wording.owner, owner_lab=wording.owner_lab, itself=wording.itself
    )


ANY_STATE: tuple[str, ...] = ()
"""A remit's `to` for a move to whatever next state the machine allows."""


@dataclass(frozen=True)
class Remit:
    """One row of the remit table: who may do `action` (a mutation's name, or the hub's own action) to a record of
    the kind that holds it. `to`: for an action that moves the record, the states it may move it to (ANY_STATE:
    whichever the machine allows); None for an action that moves nothing. `note` is for the documentation only."""

    action: str
    who: Who
    to: tuple[str, ...] | None = None
    note: str = ""

    def moves_to(self, state: str) -> bool:
        return self.to is not None and (self.to == ANY_STATE or state in self.to)
