"""The coverage side of the demo: the inputs screening reads, the standards with typed criteria, and decisions whose
outcomes come from screening (docs/design.md, "Coverage").

- The evaluation register holds three fictional suites (content.EVAL_SUITES).
- Every input is a pure function of the model's position in the demo's model list (`unit_fraction`), never drawn
  at run time: lab-reported compute (pre- and post-training) for the labs that take part, agency estimates as
  low-high ranges for some models (a few straddle 10^26 FLOP), no estimate at all for others; lab-reported and
  agency-run results on the suites; a few designations.
- Standard 1.0, adopted by CISA and NIST before its due date, covers a model when either its total training
  compute is at least 10^26 FLOP or its score on the fictional cyber battery is at least 50 percent; the draft 2.0,
  the newest pending standard, lowers the compute threshold to 10^25 FLOP, so that its dry run shows changes.
- A decision's outcome is its screening's proposal (hub/screening.py, on the inputs as stored), except for a few
  overrides, each with its reason. Nothing here picks an outcome.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from hub.demo import content as c
from hub.demo.context import FICTIONAL, DemoContext, DemoModel
from hub.screening import CriterionResult, Screening, screen

# ------------------------------------------------------------------------------------------------ the inputs

# Labs that take part report their own figures; the others (invited, declined) only have what agencies estimate.
REPORTING = ("PARTICIPATING", "ENGAGED", "WITHDRAWN")
ESTIMATE_NOTES = (
    "from the GPU-hours the lab disclosed and the accelerators' peak throughput at 40 percent utilisation",
    "from the cluster's size and the training run's duration in the lab's public model card",
    "from the reported parameter count and training tokens (6 x parameters x tokens)",
)


def unit_fraction(index: int, salt: str) -> float:
    """A number in [0, 1) fixed by the model's position and what it is for: the demo's stand-in for chance."""
    digest = hashlib.blake2b(f"{salt}:{index}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def significant(value: float, digits: int = 2) -> Decimal:
    """`value` rounded to `digits` significant digits, exactly as a decimal."""
    return Decimal(f"{value:.{digits - 1}e}")


@dataclass(frozen=True)
class AgencyEstimate:
    code: str
    pre_low: Decimal
    pre_high: Decimal
    post_low: Decimal
    post_high: Decimal
    note: str


@dataclass(frozen=True)
class ComputePlan:
    """What the lab reports (None: nothing) and what an agency estimates (None: nothing) of a model's compute."""

    lab_pre: Decimal | None
    lab_post: Decimal | None
    agency: AgencyEstimate | None

    @property
    def legacy_flop(self) -> float | None:
        """The model's confidential training_compute_flop: the lab-reported total (pre-training alone when the
        lab reported no post-training figure)."""
        if self.lab_pre is None:
            return None
        return float(self.lab_pre + (self.lab_post or 0))


def _small(spec: c.ModelSpec) -> bool:
    return "mini" in spec.model_version.lower() or "Mini" in spec.name or spec.modality in ("IMAGE", "AUDIO")


def compute_plan(index: int, spec: c.ModelSpec, participation: str) -> ComputePlan:
    """The compute figures of the model at `index`: about 1 in 10 of the reporting labs' models reports nothing,
    1 in 7 of those that report leave post-training out; agencies estimate a range for 3 in 10 (for 1 in 2 of
    the models of labs that report nothing), 0.6 to 1.5 times the pre-training figure."""

    def u(salt: str) -> float:
        return unit_fraction(index, salt)

    exponent = 23.4 + 1.5 * u("size") if _small(spec) else 24.8 + 1.6 * u("size")
    pre = significant(10**exponent)
    post = None if u("post") < 0.10 else significant(float(pre) * (0.01 + 0.09 * u("post-share")))
    reports = participation in REPORTING and u("missing") >= 0.08
    agency = None
    if u("agency") < (0.3 if reports else 0.6):
        post_base = float(post) if post is not None else float(pre) * 0.05
        agency = AgencyEstimate(
            code="NIST" if u("agency-by") < 0.6 else "CISA",
            pre_low=significant(float(pre) * 0.6),
            pre_high=significant(float(pre) * 1.5),
            post_low=significant(post_base * 0.5),
            post_high=significant(post_base * 2),
            note=ESTIMATE_NOTES[int(u("agency-note") * len(ESTIMATE_NOTES))],
        )
    return ComputePlan(pre if reports else None, post if reports else None, agency)


@dataclass(frozen=True)
class ResultPlan:
    suite: str  # a key of content.EVAL_SUITES
    method: str
    agency: str | None
    score: Decimal


def result_plans(index: int, spec: c.ModelSpec, participation: str) -> list[ResultPlan]:
    """The model's results on the suites: the cyber battery for 4 in 5 models of the labs that report (every one
    that finds vulnerabilities), scores near or above 0.5 for vulnerability finders; agency-run cyber results for
    some; autonomy results for agentic models and biology results for biology models of the labs that report."""

    def u(salt: str) -> float:
        return unit_fraction(index, salt)

    caps = set(spec.capabilities)
    reports = participation in REPORTING
    vuln = "vulnerability-discovery" in caps
    if vuln:
        cyber = 0.30 + 0.45 * u("cyber")
    elif caps & {"code", "agentic"}:
        cyber = 0.08 + 0.46 * u("cyber")
    else:
        cyber = 0.02 + 0.22 * u("cyber")
    plans = []
    if reports and (vuln or u("cyber-lab") < 0.9):
        plans.append(ResultPlan("cyber", "LAB_REPORTED", None, Decimal(f"{cyber:.2f}")))
    if u("cyber-agency") < (0.5 if not reports else 0.3 if vuln else 0.15):
        agency_score = max(0.0, cyber + 0.12 * (u("cyber-delta") - 0.5))
        code = "NIST" if u("cyber-by") < 0.5 else "CISA"
        plans.append(ResultPlan("cyber", "AGENCY_ESTIMATED", code, Decimal(f"{agency_score:.2f}")))
    if reports and caps & {"agentic", "tool-use"} and u("autonomy-lab") < 0.7:
        plans.append(ResultPlan("autonomy", "LAB_REPORTED", None, Decimal(f"{5 + 55 * u('autonomy'):.1f}")))
    if reports and "bio" in caps:
        plans.append(ResultPlan("bio", "LAB_REPORTED", None, Decimal(f"{12 + 40 * u('bio'):.1f}")))
    return plans


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


async def insert_suites(ctx: DemoContext) -> None:
    """The evaluation register: the fictional suites, registered well before the first standard."""
    assert ctx.policy is not None, "load_reference() reads the policy first"
    created = datetime.combine(min(ctx.policy["order_date"], ctx.today) - timedelta(days=150), time(10), tzinfo=UTC)
    suite_ids = await ctx.reserve_ids("evaluation_suites", len(c.EVAL_SUITES))
    suite_rows = []
    for suite_id, suite in zip(suite_ids, c.EVAL_SUITES, strict=True):
        ctx.coverage.suites[suite.key] = suite_id
        officer = ctx.officers[suite.owner]
        suite_rows.append(
            {
                "id": suite_id,
                "name": suite.name,
                "suite_version": suite.suite_version,
                "capability_area": suite.capability_area,
                "score_unit": suite.score_unit,
                "description": suite.description,
                "owner_agency_id": ctx.agency_ids[suite.owner],
                "created_by": officer,
                "created_at": created,
                "updated_at": created,
            }
        )
        ctx.record("EVAL_SUITE", suite_id, created_by=officer)
    await ctx.copy_rows("evaluation_suites", suite_rows)


async def insert_inputs(ctx: DemoContext) -> None:
    """Compute estimates, evaluation results and designations, each with its event, on file before the first
    decision under 0.9."""
    gathered = ctx.standards.adopted_at["0.9"].date() - timedelta(days=10)
    ctx.coverage.inputs_as_of = gathered
    estimates: list[dict[str, Any]] = []
    results: list[dict[str, Any]] = []
    for index, model in enumerate(ctx.models):
        spec = ctx.model_specs[model.id]
        participation = ctx.lab_participation[model.lab_id]
        liaison = ctx.liaisons.get(model.lab_id)
        as_of = gathered - timedelta(days=index % 90)
        plan = compute_plan(index, spec, participation)
        if plan.lab_pre is not None:
            estimates.append(
                _estimate(model, "LAB_REPORTED", None, liaison, as_of, plan.lab_pre, plan.lab_pre,
                          plan.lab_post, plan.lab_post,
                          f"{FICTIONAL} Figures from the lab's confidential training-run report (fictional).")
            )  # fmt: skip
        if plan.agency is not None:
            a = plan.agency
            estimates.append(
                _estimate(model, "AGENCY_ESTIMATED", ctx.agency_ids[a.code], ctx.officers[a.code],
                          as_of + timedelta(days=5), a.pre_low, a.pre_high, a.post_low, a.post_high,
                          f"{FICTIONAL} Estimated by {a.code} {a.note}.")
            )  # fmt: skip
        for n, r in enumerate(result_plans(index, spec, participation)):
            suite = next(s for s in c.EVAL_SUITES if s.key == r.suite)
            runner = ctx.officers[r.agency] if r.agency else liaison
            who = r.agency or "LAB"
            ref = f"FICTIONAL-EVAL-{who}-{suite.key.upper()}-{model.id:04d}-{n + 1}"
            ran_on = as_of - timedelta(days=3 + n)
            evidence = f"{FICTIONAL} {suite.name} {suite.suite_version} on {model.label}: {r.score} {suite.score_unit}."
            results.append(
                {
                    "model_id": model.id,
                    "lab_id": model.lab_id,
                    "suite_id": ctx.coverage.suites[r.suite],
                    "method": r.method,
                    "run_by_agency_id": ctx.agency_ids[r.agency] if r.agency else None,
                    "score": r.score,
                    "ran_on": ran_on,
                    "model_version": model.model_version or model.name,
                    "evidence_ref": ref,
                    "evidence_sha256": _sha256(evidence),
                    "created_by": runner,
                    "created_at": _noon(ran_on + timedelta(days=1)),
                    "updated_at": _noon(ran_on + timedelta(days=1)),
                }
            )
    for table, kind, rows in (
        ("compute_estimates", "COMPUTE_ESTIMATE", estimates),
        ("evaluation_results", "EVAL_RESULT", results),
    ):
        ids = await ctx.reserve_ids(table, len(rows))
        for row_id, row in zip(ids, rows, strict=True):
            row["id"] = row_id
            ctx.record(kind, row_id, created_by=row["created_by"])
        await ctx.copy_rows(table, rows)
    await _insert_designations(ctx, gathered)


def _noon(day: date) -> datetime:
    return datetime.combine(day, time(12), tzinfo=UTC)


def _estimate(
    model: DemoModel,
    method: str,
    agency_id: int | None,
    by: int | None,
    as_of: date,
    pre_low: Decimal,
    pre_high: Decimal,
    post_low: Decimal | None,
    post_high: Decimal | None,
    note: str,
) -> dict[str, Any]:
    return {
        "model_id": model.id,
        "lab_id": model.lab_id,
        "method": method,
        "author_agency_id": agency_id,
        "pre_training_low": pre_low,
        "pre_training_high": pre_high,
        "post_training_low": post_low,
        "post_training_high": post_high,
        "method_note": note,
        "as_of": as_of,
        "created_by": by,
        "created_at": _noon(as_of + timedelta(days=1)),
        "updated_at": _noon(as_of + timedelta(days=1)),
    }


# model name, designating agency, withdrawn
DESIGNATIONS = (
    ("Claude Mythos Preview", "CISA", False),
    ("Gale 4 (fictional)", "NIST", False),
    ("Heron 3 (fictional)", "DOD", True),
)


async def _insert_designations(ctx: DemoContext, gathered: date) -> None:
    rows = []
    picked = []
    for name, code, withdrawn in DESIGNATIONS:
        model = next((m for m in ctx.models if m.name == name), None)
        if model is None:  # the fictional families' generations are fixed by the seed; any model of the family
            family = name.split(" ")[0]
            model = next(m for m in ctx.models if m.name.startswith(family + " ") and "Mini" not in m.name)
        picked.append((model, code, withdrawn))
    ids = await ctx.reserve_ids("model_designations", len(picked))
    for designation_id, (model, code, withdrawn) in zip(ids, picked, strict=True):
        officer = ctx.officers[code]
        created = _noon(gathered - timedelta(days=20))
        rows.append(
            {
                "id": designation_id,
                "model_id": model.id,
                "lab_id": model.lab_id,
                "agency_id": ctx.agency_ids[code],
                "state": "WITHDRAWN" if withdrawn else "IN_FORCE",
                "reason": f"{FICTIONAL} {code} asks the program to cover {model.label}: its preview showed "
                "capabilities the agency's own testers want assessed.",
                "withdrawn_at": created + timedelta(days=9) if withdrawn else None,
                "created_by": officer,
                "created_at": created,
                "updated_at": created + timedelta(days=9) if withdrawn else created,
            }
        )
        ctx.event("DESIGNATION", designation_id, "WITHDRAWN" if withdrawn else "IN_FORCE", created_by=officer,
                  transitioned_by=officer)  # fmt: skip
    await ctx.copy_rows("model_designations", rows)


# ------------------------------------------------------------------------------------------------ standards


@dataclass(frozen=True)
class Criterion:
    metric: str
    unit: str
    threshold: Decimal
    written_as: str
    description: str
    suite: str | None = None  # a key of content.EVAL_SUITES
    designating: tuple[str, ...] = ()


COMPUTE_1E26 = Criterion(
    "TRAINING_COMPUTE", "FLOP", Decimal(10) ** 26, ">= 10^26 FLOP",
    "Total training compute (pre- and post-training) at or above 10^26 operations",
)  # fmt: skip
COMPUTE_1E25 = Criterion(
    "TRAINING_COMPUTE", "FLOP", Decimal(10) ** 25, ">= 10^25 FLOP",
    "Total training compute (pre- and post-training) at or above 10^25 operations",
)  # fmt: skip
CYBER = Criterion(
    "EVALUATION_SCORE", "FRACTION", Decimal("0.5"), ">= 50 PERCENT",
    "Solves at least half the tasks of the Fictional Range Cyber Offence Battery 2.1", suite="cyber",
)  # fmt: skip
AUTONOMY = Criterion(
    "EVALUATION_SCORE", "PERCENT", Decimal(30), ">= 30 PERCENT",
    "Completes at least 30 percent of the Fictional Long-Horizon Autonomy Tasks 1.3", suite="autonomy",
)  # fmt: skip
BIO = Criterion(
    "EVALUATION_SCORE", "POINTS", Decimal(40), ">= 40 POINTS",
    "Scores at least 40 points on the Fictional Wet-Lab Protocol Uplift Panel 0.8", suite="bio",
)  # fmt: skip
DESIGNATED = Criterion(
    "DESIGNATION", "DESIGNATIONS", Decimal(1), ">= 1 designation",
    "Designated by CISA or NIST on a lab's or an agency's request", designating=("CISA", "NIST"),
)  # fmt: skip


@dataclass(frozen=True)
class StandardSpec:
    version: str
    title: str
    state: str
    criteria: tuple[Criterion, ...]
    due_on: date
    owner: str
    signers: list[str]
    created_at: datetime
    adopted_at: datetime | None = None


# the version of the adopted standard, and of the draft that revises it
ADOPTED = "1.0"
DRAFT = "2.0"


async def insert_standards(ctx: DemoContext) -> None:
    """Six coverage standards: 0.5 withdrawn, 0.9 superseded by 1.0 (adopted), 1.1 in review, 1.2 a draft, and
    2.0, the newest draft, which lowers 1.0's compute threshold.

    1.0 is due when the policy says (order date + standard due days) and adopted a few days before, or two
    weeks ago when the demo date comes earlier; the open ones are due within the week (1.1), overdue (1.2) and
    in twelve days (2.0).
    """
    policy = ctx.policy
    assert policy is not None, "load_reference() reads the policy first"
    due = policy["order_date"] + timedelta(days=policy["standard_due_days"])
    required = list(policy["required_signoffs"])
    adoption_day = min(due - timedelta(days=3), ctx.today - timedelta(days=14))
    adopted_1_0 = datetime.combine(adoption_day, time(15), tzinfo=UTC)
    adopted_0_9 = adopted_1_0 - timedelta(days=21)
    today = ctx.at(0, 9)
    specs = [
        StandardSpec("0.5", "Interim compute-only screen", "WITHDRAWN", (COMPUTE_1E25,), due, "CISA", [],
                     adopted_0_9 - timedelta(days=40)),
        StandardSpec("0.9", "Interim coverage standard for frontier models", "SUPERSEDED", (COMPUTE_1E26,), due,
                     "NIST", required, adopted_0_9 - timedelta(days=20), adopted_0_9),
        StandardSpec("1.0", "Coverage standard for frontier models", "ADOPTED", (COMPUTE_1E26, CYBER), due, "CISA",
                     required, adopted_1_0 - timedelta(days=14), adopted_1_0),
        StandardSpec("1.1", "Coverage standard for frontier models: agentic cyber update", "IN_REVIEW",
                     (COMPUTE_1E26, CYBER, AUTONOMY, DESIGNATED), ctx.today + timedelta(days=5), "NIST",
                     required[-1:], today - timedelta(days=12)),
        StandardSpec("1.2", "Coverage standard for frontier models: biology evaluations", "DRAFT",
                     (COMPUTE_1E26, CYBER, AUTONOMY, BIO, DESIGNATED), ctx.today - timedelta(days=3), "CISA", [],
                     today - timedelta(days=8)),
        StandardSpec(DRAFT, "Coverage standard for frontier models, version 2: compute threshold lowered", "DRAFT",
                     (COMPUTE_1E25, CYBER), ctx.today + timedelta(days=12), "NIST", [],
                     today - timedelta(days=2)),
    ]  # fmt: skip
    ids = await ctx.reserve_ids("coverage_standards", len(specs))
    ctx.standards.ids = {spec.version: standard_id for standard_id, spec in zip(ids, specs, strict=True)}
    rows: dict[str, tuple[Any, ...]] = {}
    signoffs = []
    criteria = []
    for standard_id, spec in zip(ids, specs, strict=True):
        officer = ctx.officers[spec.owner]
        superseded_by = ctx.standards.ids[ADOPTED] if spec.state == "SUPERSEDED" else None
        summary = f"{FICTIONAL} Version {spec.version} of the program's coverage standard ({spec.state.lower()})."
        updated = spec.adopted_at or spec.created_at
        # the typed criteria are in coverage_criteria; the free ones of before stay empty
        rows[spec.version] = (
            standard_id, spec.version, spec.title, summary, spec.state, [], required, spec.due_on,
            ctx.agency_ids[spec.owner], officer, spec.adopted_at, superseded_by, "ANY_OF", spec.created_at, updated,
        )  # fmt: skip
        for position, criterion in enumerate(spec.criteria):
            criteria.append(
                (
                    standard_id,
                    position,
                    criterion.metric,
                    "TOTAL" if criterion.metric == "TRAINING_COMPUTE" else None,
                    ctx.coverage.suites[criterion.suite] if criterion.suite else None,
                    [ctx.agency_ids[code] for code in criterion.designating],
                    criterion.unit,
                    "GTE",
                    criterion.threshold,
                    criterion.written_as,
                    "HIGHER_OF_TWO",
                    criterion.description,
                )
            )
        # signed a day or two before adoption (or, for a standard in review, before today)
        signed_by = spec.adopted_at or ctx.at(-2, 16)
        for n, code in enumerate(reversed(spec.signers), start=1):
            signed_at = signed_by - timedelta(days=n, hours=n)
            signoffs.append((standard_id, ctx.agency_ids[code], ctx.officers[code], signed_at))
        if spec.adopted_at is not None:
            ctx.standards.adopted_at[spec.version] = spec.adopted_at
        ctx.event("STANDARD", standard_id, spec.state, created_by=officer, transitioned_by=officer)
    # Row by row (the jsonb codec has no binary COPY format), 1.0 before the 0.9 that points at it.
    await ctx.con.executemany(
        """insert into coverage_standards (id, standard_version, title, summary, state, criteria,
               required_signoffs, due_on, owner_agency_id, created_by, adopted_at, superseded_by_id, combine,
               created_at, updated_at)
           overriding system value values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)""",
        [rows[version] for version in ("0.5", "1.0", "0.9", "1.1", "1.2", DRAFT)],
    )
    await ctx.copy(
        "coverage_criteria",
        ("standard_id", "position", "metric", "compute_scope", "suite_id", "designating_agency_ids", "unit",
         "operator", "threshold", "written_as", "source", "description"),
        criteria,
    )  # fmt: skip
    await ctx.copy("coverage_signoffs", ("standard_id", "agency_id", "principal_id", "signed_at"), signoffs)


# ------------------------------------------------------------------------------------------------ decisions

DECISION_STATES = {
    "DECIDED": 65,
    "AWAITING_CONCURRENCE": 5,
    "REQUESTED": 10,
    "UNDER_ASSESSMENT": 12,
    "RECONSIDERATION_REQUESTED": 2,
    "SUPERSEDED": 20,
    "WITHDRAWN": 10,
}
# States of a decision that carry an outcome (a reconsideration keeps the decision it questions).
DECIDED_STATES = ("DECIDED", "RECONSIDERATION_REQUESTED", "SUPERSEDED")
DECIDER, CONCURRER = "CISA", "NIST"


def _compute(s: Screening) -> CriterionResult:
    return s.results[0]


def _cyber(s: Screening) -> CriterionResult:
    return s.results[1]


@dataclass(frozen=True)
class Override:
    """An override the agencies make of a screening under 1.0 that fits the reason they give."""

    proposal: str
    outcome: str
    fits: Callable[[Screening], bool]
    reason: str


# each for the first DECIDED decision under 1.0 (in id order) whose screening fits, not overridden already
OVERRIDES = (
    Override(
        "INSUFFICIENT_INFORMATION",
        "COVERED",
        lambda s: _cyber(s).low is None,
        "the lab's own red-team report (fictional) shows the model completing the cyber range's exploitation "
        "chains end to end; the agencies do not wait for a scored result on the battery to cover it",
    ),
    Override(
        "INSUFFICIENT_INFORMATION",
        "COVERED",
        lambda s: _compute(s).result == "UNKNOWN" and (_compute(s).low or 0) >= Decimal("3e25"),
        "the lab's board-approved training plan (fictional) puts total compute above 10^26 FLOP once every "
        "post-training phase is counted; the figures on file leave the question open",
    ),
    Override(
        "INSUFFICIENT_INFORMATION",
        "NOT_COVERED",
        lambda s: _compute(s).result == "UNKNOWN" and _compute(s).high is None and _cyber(s).result == "NOT_MET",
        "the lab's signed attestation (fictional) caps post-training compute at 1 percent of pre-training, which "
        "leaves the total well under 10^26 FLOP; the estimate on file predates it",
    ),
    Override(
        "NOT_COVERED",
        "COVERED",
        lambda s: (_cyber(s).low or 0) >= Decimal("0.25"),
        "NIST's red team (fictional exercise) saw the model chain two previously unknown flaws in a test network, "
        "beyond what the battery's scored tasks measure",
    ),
)

CRITERION_WORDS = {"TRAINING_COMPUTE": "total training compute", "EVALUATION_SCORE": "the cyber battery score"}


def _number(value: Decimal | None) -> str:
    """A measured value in words: '9.7e23' for compute, '0.45' for a score."""
    if value is None:
        return "nothing"
    if value >= 10**6:
        return format(value.normalize(), "e").replace("e+", "e")
    return format(value.normalize(), "f")


def _interval(r: CriterionResult) -> str:
    low = _number(r.low)
    if r.high is None:
        return f"at least {low}"
    high = _number(r.high)
    return low if low == high else f"{low} to {high}"


def screening_summary(screening: Screening, metrics: list[str]) -> str:
    """The criteria's results in words: 'total training compute met (1.2E26 to 1.8E26); the cyber battery score
    not met (0.31)'."""
    parts = []
    for r in screening.results:
        what = CRITERION_WORDS.get(metrics[r.position], metrics[r.position].lower())
        if r.result == "UNKNOWN" and r.low is None:
            parts.append(f"{what} undecided ({r.missing})")
        elif r.result == "UNKNOWN" and r.high is None:
            parts.append(f"{what} undecided ({_interval(r)}, post-training not reported)")
        elif r.result == "UNKNOWN":
            parts.append(f"{what} undecided ({_interval(r)} straddles the threshold)")
        else:
            parts.append(f"{what} {'met' if r.result == 'MET' else 'not met'} ({_interval(r)})")
    return "; ".join(parts)


@dataclass
class _Decision:
    id: int
    state: str
    model: DemoModel
    version: str
    liaison: int | None
    requested_at: datetime
    decided_at: datetime | None = None
    screening: Screening | None = None
    override: tuple[str, str] | None = None  # outcome, reason
    screenings: list[tuple[int, str, datetime]] = field(default_factory=list)  # id, trigger, at


async def insert_decisions(ctx: DemoContext) -> None:
    """Coverage decisions under standard 1.0, and superseded ones under 0.9 of models decided again since: every
    outcome from a screening kept with the decision, a few overridden with a reason, each signed by CISA and
    concurred by NIST; some await NIST's concurrence."""
    rng = ctx.rng
    states = ctx.deal(DECISION_STATES)
    candidates = [m for m in ctx.models if ctx.lab_participation[m.lab_id] != "DECLINED"]
    current = iter(rng.sample(candidates, len(states) - states.count("SUPERSEDED")))
    models = [next(current) if state != "SUPERSEDED" else None for state in states]
    redecided = [m for m, state in zip(models, states, strict=True) if m and state in DECIDED_STATES]
    earlier = iter(rng.sample(redecided, states.count("SUPERSEDED")))
    plan = [(state, model or next(earlier)) for state, model in zip(states, models, strict=True)]

    adopted = ctx.standards.adopted_at
    days_in_force = max(2, (ctx.at(0, 0) - adopted[ADOPTED]).days)
    ids = await ctx.reserve_ids("coverage_decisions", len(states))
    decisions = []
    for decision_id, (state, model) in zip(ids, plan, strict=True):
        version = "0.9" if state == "SUPERSEDED" else ADOPTED
        if state == "SUPERSEDED":
            decided_at = adopted["0.9"] + timedelta(days=rng.randint(1, 19), hours=rng.randint(0, 6))
        else:
            decided_at = adopted[ADOPTED] + timedelta(days=rng.randint(1, days_in_force - 1), hours=rng.randint(0, 6))
        requested_at = decided_at - timedelta(days=rng.randint(2, 9), hours=rng.randint(0, 5))
        decisions.append(
            _Decision(
                decision_id,
                state,
                model,
                version,
                ctx.liaisons.get(model.lab_id),
                requested_at,
                decided_at if state in (*DECIDED_STATES, "AWAITING_CONCURRENCE") else None,
            )
        )

    # screen each model under its decision's standard, on the inputs as stored
    metrics: dict[str, list[str]] = {}
    for version in sorted({d.version for d in decisions}):
        standard_id = ctx.standards.ids[version]
        metrics[version] = [
            r["metric"]
            for r in await ctx.con.fetch(
                "select metric from coverage_criteria where standard_id = $1 order by position", standard_id
            )
        ]
        mine = [d for d in decisions if d.version == version]
        found = {s.model_id: s for s in await screen(ctx.con, None, [standard_id], [d.model.id for d in mine])}
        for d in mine:
            d.screening = found[d.model.id]
    overridden = set()
    for override in OVERRIDES:
        chosen = next(
            (
                d
                for d in decisions
                if d.state == "DECIDED" and d.version == ADOPTED and d.id not in overridden
                and d.screening is not None and d.screening.proposed_outcome == override.proposal
                and override.fits(d.screening)
            ),
            None,
        )  # fmt: skip
        if chosen is not None:
            chosen.override = (override.outcome, f"{FICTIONAL} Overridden: {override.reason}.")
            overridden.add(chosen.id)

    # the screenings: at the request, at the decision (or the decision awaiting concurrence), at a reconsideration
    planned = []
    for d in decisions:
        planned.append((d, "REQUESTED", d.requested_at))
        if d.decided_at is not None:
            planned.append((d, "DECIDED", d.decided_at - timedelta(hours=1)))
        if d.state == "RECONSIDERATION_REQUESTED":
            planned.append((d, "RECONSIDERATION", ctx.at(-1, 11)))
    screening_ids = await ctx.reserve_ids("coverage_screenings", len(planned))
    screening_rows = []
    for screening_id, (d, trigger, at) in zip(screening_ids, planned, strict=True):
        assert d.screening is not None
        d.screenings.append((screening_id, trigger, at))
        by_officer = trigger != "REQUESTED" or d.liaison is None
        screened_by = ctx.officers[DECIDER] if by_officer else d.liaison
        screening_rows.append(
            (screening_id, d.id, d.model.id, d.model.lab_id, ctx.standards.ids[d.version],
             d.screening.proposed_outcome, [r.as_json() for r in d.screening.results], trigger,
             screened_by, ctx.agency_ids[DECIDER] if by_officer else None, at)
        )  # fmt: skip

    rows: list[dict[str, Any]] = []
    signatures = []
    for d in decisions:
        assert d.screening is not None
        proposal = d.screening.proposed_outcome
        outcome, override_reason = d.override or (proposal, None)
        decided = d.state in DECIDED_STATES
        awaiting = d.state == "AWAITING_CONCURRENCE"
        decision_screening = next((s for s, trigger, _ in d.screenings if trigger == "DECIDED"), None)
        rationale = _rationale(d, metrics[d.version], outcome, override_reason)
        rows.append(
            {
                "id": d.id,
                "model_id": d.model.id,
                "standard_id": ctx.standards.ids[d.version],
                "state": d.state,
                "outcome": outcome if decided else None,
                "rationale": rationale if decided else None,
                "request_note": f"{FICTIONAL} The lab asks whether standard {d.version} covers {d.model.label}.",
                "requested_by": d.liaison,
                "decided_by": ctx.officers[DECIDER] if decided else None,
                "decided_by_agency_id": ctx.agency_ids[DECIDER] if decided else None,
                "decided_at": d.decided_at if decided else None,
                "proposed_outcome": proposal if decided else None,
                "is_override": decided and override_reason is not None,
                "override_reason": override_reason if decided else None,
                "pending_outcome": outcome if awaiting else None,
                "pending_rationale": rationale if awaiting else None,
                "pending_override_reason": override_reason if awaiting else None,
                "signature_round": 1 if decided or awaiting else 0,
                # the screening ids: set once the screenings are in (they point back at the decision)
                "_screening": decision_screening if decided else None,
                "_pending_screening": decision_screening if awaiting else None,
                "_latest_screening": d.screenings[-1][0],
            }
        )
        if decided or awaiting:
            assert d.decided_at is not None
            signatures.append(
                (d.id, 1, ctx.agency_ids[DECIDER], ctx.officers[DECIDER], "DECIDED", outcome, override_reason,
                 d.decided_at - timedelta(minutes=50))
            )  # fmt: skip
        if decided:
            assert d.decided_at is not None
            signatures.append(
                (d.id, 1, ctx.agency_ids[CONCURRER], ctx.officers[CONCURRER], "CONCURRED", outcome, None,
                 d.decided_at)
            )  # fmt: skip
        if d.state in ("WITHDRAWN", "RECONSIDERATION_REQUESTED"):
            mover = d.liaison  # the lab withdraws, or asks again
        elif d.state == "AWAITING_CONCURRENCE":
            mover = ctx.officers[DECIDER]
        elif decided:
            mover = ctx.officers[CONCURRER]  # the last concurrence puts it in effect
        else:
            mover = ctx.officers[DECIDER]
        ctx.event("DECISION", d.id, d.state, created_by=d.liaison, transitioned_by=mover)

    links = [(r["id"], r.pop("_screening"), r.pop("_pending_screening"), r.pop("_latest_screening")) for r in rows]
    await ctx.copy_rows("coverage_decisions", rows)
    await ctx.con.executemany(
        """insert into coverage_screenings (id, decision_id, model_id, lab_id, standard_id, proposed_outcome, results,
                                            trigger, screened_by, screened_by_agency_id, created_at)
           overriding system value values ($1, $2, $3, $4, $5, $6, $7::jsonb, $8, $9, $10, $11)""",
        screening_rows,
    )
    await ctx.con.execute(
        """update coverage_decisions d
              set screening_id = u.screening, pending_screening_id = u.pending, latest_screening_id = u.latest
             from unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::bigint[]) as u (id, screening, pending, latest)
            where d.id = u.id""",
        *[list(column) for column in zip(*links, strict=True)],
    )
    await ctx.copy(
        "coverage_decision_signatures",
        ("decision_id", "round", "agency_id", "principal_id", "action", "outcome", "reason", "signed_at"),
        signatures,
    )


def _rationale(d: _Decision, metrics: list[str], outcome: str, override_reason: str | None) -> str:
    assert d.screening is not None
    proposal = d.screening.proposed_outcome
    text = f"{FICTIONAL} Screened under standard {d.version}: {screening_summary(d.screening, metrics)}."
    if override_reason is None:
        return f"{text} The screening proposes {proposal}, and the agencies agree."
    return f"{text} The screening proposes {proposal}; the agencies decide {outcome} instead."
