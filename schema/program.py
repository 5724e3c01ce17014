"""Program-wide reads: who am I, the policy in force, the dashboard, and node lookups."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from enum import Enum
from typing import TYPE_CHECKING, Any

import strawberry

from hub.auth import Principal as HubPrincipal
from hub.auth import get_principal
from hub.store import agencies as agency_store
from hub.store import dashboard as store
from hub.store import policy as policy_store
from hub.store import principals as principal_store
from hub.store.agencies import AGENCY
from hub.store.base import MAX_PAGE_SIZE
from hub.store.labs import LAB
from schema.agencies import Agency
from schema.common import (
    NODE_TYPES,
    EntityKind,
    HubError,
    Node,
    check_list_limit,
    computed_field,
    ctx,
    from_global_id,
    look_ahead,
    relation_field,
    state_enum,
    to_global_id,
)
from schema.events import KIND_TYPES, record_of_kind
from schema.labs import Lab
from schema.lookahead import preload_records
from schema.mutations import UserError, optional_id, record_id, run_mutation
from schema.relations import ById, ByKind


@strawberry.enum
class Role(Enum):
    VIEWER = "VIEWER"
    ANALYST = "ANALYST"
    OFFICER = "OFFICER"
    ADMIN = "ADMIN"
    LAB_LIAISON = "LAB_LIAISON"


@strawberry.type(description="A person or script holding a token.")
class Principal:
    id: strawberry.ID
    name: str
    role: Role
    agency_pk: strawberry.Private[int | None]
    lab_pk: strawberry.Private[int | None]

    agency: Agency | None = relation_field(ById(AGENCY, "agency_pk"))

    lab: Lab | None = relation_field(ById(LAB, "lab_pk"), description="For a LAB_LIAISON: the lab.")


if TYPE_CHECKING:
    PolicyVersionState = Enum
else:
    # the states of the registry (hub/kinds.py), in its order
    PolicyVersionState = state_enum("POLICY_VERSION")

POLICY_READ = "read with the policy by Query.policy (hub/store/policy.py, versions)"


@strawberry.type(description="An agency's concurrence with a policy version (the proposer's agency signs at once).")
class PolicyVersionSignature:
    agency_pk: strawberry.Private[int]
    agency_code: str
    signed_by: str | None = strawberry.field(description="The name of the admin who signed for the agency.")
    signed_at: datetime

    agency: Agency | None = relation_field(ById(AGENCY, "agency_pk"))


@strawberry.type(
    description="A version of the program policy: PROPOSED by an admin of an agency in the required sign-offs of the "
    "version in effect, IN_EFFECT once an admin of every one of those agencies has concurred (on effectiveOn when "
    "that is later), SUPERSEDED by the next; or WITHDRAWN by its proposing agency."
)
class PolicyVersion:
    id: strawberry.ID
    proposed_by_agency_pk: strawberry.Private[int | None]
    number: int
    state: PolicyVersionState
    order_date: date
    standard_due_days: int
    standard_due_on: date = strawberry.field(description="orderDate + standardDueDays.")
    required_signoffs: list[str] = strawberry.field(description="Codes of agencies that must sign a standard.")
    preview_lead_time_days: int = strawberry.field(
        description="The days before general availability the program asks that each agency have a model to "
        "preview: a figure the hub reports on, never a limit on what a lab gives."
    )
    effective_on: date | None = strawberry.field(
        description="The day it takes (or took) effect; null on a proposal that takes effect on its last concurrence "
        "and on a version never in effect."
    )
    concurrence_needed: list[str] = strawberry.field(
        description="The agencies that must concur: the required sign-offs of the version in effect when it was "
        "proposed."
    )
    awaiting_concurrence_of: list[str] = strawberry.field(
        description="Those of concurrenceNeeded that have not concurred yet (a PROPOSED version)."
    )
    agreed_at: datetime | None = strawberry.field(description="When the last agency that had to concur did.")
    took_effect_at: datetime | None = strawberry.field(description="Null for a version never in effect.")
    ended_at: datetime | None = strawberry.field(description="When it was superseded or withdrawn.")
    reason: str | None
    note: str | None = strawberry.field(description="What the version is, for those the hub did not see proposed.")
    created_at: datetime
    updated_at: datetime
    version: int = strawberry.field(description="Optimistic concurrency: name it as expectedVersion when writing.")
    signatures: list[PolicyVersionSignature] = computed_field(POLICY_READ, description="Oldest first.")

    proposed_by_agency: Agency | None = relation_field(ById(AGENCY, "proposed_by_agency_pk"))


def policy_version(row: dict[str, Any]) -> PolicyVersion:
    signed = {s["agency_code"] for s in row["signatures"]}
    return PolicyVersion(
        id=to_global_id("PolicyVersion", row["number"]),
        proposed_by_agency_pk=row["proposed_by_agency_id"],
        number=row["number"],
        state=PolicyVersionState(row["state"]),
        order_date=row["order_date"],
        standard_due_days=row["standard_due_days"],
        standard_due_on=row["order_date"] + timedelta(days=row["standard_due_days"]),
        required_signoffs=list(row["required_signoffs"]),
        preview_lead_time_days=row["preview_lead_time_days"],
        effective_on=row["effective_on"],
        concurrence_needed=list(row["concurrence_needed"]),
        awaiting_concurrence_of=[c for c in row["concurrence_needed"] if c not in signed]
        if row["state"] == "PROPOSED"
        else [],
        agreed_at=row["agreed_at"],
        took_effect_at=row["took_effect_at"],
        ended_at=row["ended_at"],
        reason=row["reason"],
        note=row["note"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        version=row["version"],
        signatures=[
            PolicyVersionSignature(
                agency_pk=s["agency_id"],
                agency_code=s["agency_code"],
                signed_by=s["principal_name"],
                signed_at=s["signed_at"],
            )
            for s in row["signatures"]
        ],
    )


@strawberry.type(
    description="The program's policy in force, as data: the copy of the policy version in effect, with every version "
    "and the change proposed, if any. A change is joint: proposed by an admin of one agency in the required "
    "sign-offs, in effect once an admin of each of the others concurs."
)
class Policy:
    number: int = strawberry.field(description="The number of the policy version in effect.")
    effective_on: date | None = strawberry.field(description="The day the version in effect took effect.")
    order_date: date
    standard_due_days: int
    standard_due_on: date = strawberry.field(description="orderDate + standardDueDays.")
    required_signoffs: list[str] = strawberry.field(description="Codes of agencies that must sign a standard.")
    preview_lead_time_days: int = strawberry.field(
        description="The days before general availability the program asks that each agency have a model to "
        "preview: a figure the hub reports on, never a limit on what a lab gives."
    )
    updated_at: datetime
    version: int = strawberry.field(
        description="Optimistic concurrency: name it as expectedVersion when proposing a change (updatePolicy)."
    )
    history: list[PolicyVersion] = computed_field(POLICY_READ, description="Every version, newest first.")
    pending_change: PolicyVersion | None = computed_field(
        POLICY_READ, description="The change proposed (at most one at a time), awaiting concurrence or its day."
    )


@strawberry.type
class StateCount:
    kind: EntityKind
    state: str
    count: int


@strawberry.type(
    description="Something due: an agreement's preview access ending, a standard due, and, for agencies, a KEV due "
    "date (the catalogue's deadline for federal agencies, BOD 22-01) or an engagement milestone."
)
class Deadline:
    kind: EntityKind
    entity_pk: strawberry.Private[int]
    what: str
    due_on: date
    days_left: int = strawberry.field(description="Negative when past due (an agency's own deadline).")
    overdue: bool = strawberry.field(
        description="An agency's own deadline past its date; never true on a lab liaison's dashboard."
    )

    entity_id: strawberry.ID = strawberry.field(resolver=lambda self: _entity_id(self))
    entity: Node | None = relation_field(
        ByKind("kind", "entity_pk", record_of_kind), description="The record, as you may see it."
    )


def _entity_id(deadline: Deadline) -> strawberry.ID:
    return to_global_id(KIND_TYPES[deadline.kind.value], deadline.entity_pk)


DASHBOARD = "read by the dashboard's own queries (hub/store/dashboard.py)"


@strawberry.type(description="Counts by state and deadlines, over the records you may see.")
class Dashboard:
    as_of: date
    horizon_days: int
    counts: list[StateCount] = computed_field(DASHBOARD)
    due_soon: list[Deadline] = computed_field(
        DASHBOARD,
        description="Due from today to today + horizonDays, soonest first. A lab liaison sees only what concerns its "
        "lab: its agreements' access ends and the coverage standards due.",
    )
    due_soon_count: int
    overdue: list[Deadline] = computed_field(
        DASHBOARD,
        description="Agencies' own deadlines past their date and unfinished, most recently due first; always empty "
        "for a lab liaison.",
    )
    overdue_count: int
    rescreening_queue_count: int = strawberry.field(
        description="Coverage decisions standing under a standard no longer in force whose model waits for a "
        "decision under the adopted one (coverageDecisions(filter: {awaitingRescreening: true}))."
    )
    override_count: int = strawberry.field(
        description="Coverage outcomes standing that override their screening's proposal, each with its reason."
    )


@strawberry.type
class ProgramQuery:
    @strawberry.field(description="Who you are.")
    def me(self, info: strawberry.Info) -> Principal:
        return principal_type(ctx(info).principal)

    @strawberry.field(description="Tokens you may administer: your agency's (admins), else your own. No secrets.")
    async def api_tokens(self, info: strawberry.Info, first: int = 100) -> list[ApiToken]:
        check_list_limit(first)
        rows = await principal_store.list_tokens(ctx(info).db, ctx(info).principal, limit=first)
        return [api_token(r) for r in rows]

    @strawberry.field(description="The policy in force, its versions and the change proposed.")
    async def policy(self, info: strawberry.Info) -> Policy:
        db = ctx(info).db
        row = await agency_store.get_policy(db)
        history = [policy_version(v) for v in await policy_store.versions(db)]
        in_effect = next((v for v in history if v.number == row["policy_version"]), None)
        return Policy(
            number=row["policy_version"],
            effective_on=in_effect.effective_on if in_effect else None,
            order_date=row["order_date"],
            standard_due_days=row["standard_due_days"],
            standard_due_on=row["order_date"] + timedelta(days=row["standard_due_days"]),
            required_signoffs=list(row["required_signoffs"]),
            preview_lead_time_days=row["preview_lead_time_days"],
            updated_at=row["updated_at"],
            version=row["version"],
            history=history,
            pending_change=next((v for v in history if v.state.value == "PROPOSED"), None),
        )

    @strawberry.field(
        description="Counts by state; deadlines due within `horizonDays` (default 7) and, for agencies, those past "
        "their date (each list at most `first`, default 50)."
    )
    async def dashboard(
        self, info: strawberry.Info, horizon_days: int = 7, as_of: date | None = None, first: int = 50
    ) -> Dashboard:
        if not 0 <= horizon_days <= 366:
            raise HubError("horizonDays must be between 0 and 366", "BAD_USER_INPUT", field="horizonDays")
        check_list_limit(first)
        db = ctx(info).db
        today = as_of or datetime.now(UTC).date()
        found = await store.dashboard(db, today=today, horizon_days=horizon_days, limit=first)

        def deadlines(rows: list[dict[str, Any]], overdue: bool) -> list[Deadline]:
            return [
                Deadline(
                    kind=EntityKind(r["kind"]),
                    entity_pk=r["id"],
                    what=r["what"],
                    due_on=r["due_on"],
                    days_left=(r["due_on"] - today).days,
                    overdue=overdue,
                )
                for r in rows
            ]

        counts = found["counts"]
        due_soon, due_soon_count = deadlines(found["due_soon"], False), found["due_soon_count"]
        overdue, overdue_count = deadlines(found["past"], True), found["past_count"]
        coverage = found
        return Dashboard(
            as_of=today,
            horizon_days=horizon_days,
            counts=[StateCount(kind=EntityKind(r["kind"]), state=r["state"], count=r["count"]) for r in counts],
            due_soon=due_soon,
            due_soon_count=due_soon_count,
            overdue=overdue,
            overdue_count=overdue_count,
            rescreening_queue_count=coverage["rescreening_queue"],
            override_count=coverage["overrides"],
        )

    @strawberry.field(description="Any record by its global id; null when missing or not visible to you.")
    async def node(self, info: strawberry.Info, id: strawberry.ID) -> Node | None:
        return (await _load_nodes(info, [id]))[0]

    @strawberry.field(description="Records by global id, in order; null where missing or not visible to you.")
    async def nodes(self, info: strawberry.Info, ids: list[strawberry.ID]) -> list[Node | None]:
        if len(ids) > MAX_PAGE_SIZE:
            raise HubError(f"ids: at most {MAX_PAGE_SIZE}", "BAD_USER_INPUT", field="ids")
        return await _load_nodes(info, ids)


async def _load_nodes(info: strawberry.Info, ids: list[strawberry.ID]) -> list[Any]:
    loaders = ctx(info).loaders
    keys = [from_global_id(i) for i in ids]
    found = []
    for type_name, pk in keys:
        if type_name not in NODE_TYPES:
            raise HubError(f"id: a {type_name} is not a node", "BAD_USER_INPUT", field="id")
        entity, node_type = NODE_TYPES[type_name]
        found.append((node_type, loaders.by_id(entity).load(pk)))
    results = []
    for node_type, pending in found:
        row = await pending
        results.append(node_type.from_row(row) if row else None)
    # what the records' nested fields will ask for, loaded for all of them at once
    await look_ahead(preload_records(info, [r for r in results if r is not None]))
    return results


# ------------------------------------------------------------------------------------------------ mutations


@strawberry.type(description="A token, without its secret.")
class ApiToken:
    id: strawberry.ID
    prefix: str = strawberry.field(
        description="The token's public part (fh_ and its public id), to tell tokens apart; none of its secret."
    )
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    holder: str | None = strawberry.field(default=None, description="The name of the principal holding it.")


def api_token(row: dict[str, Any]) -> ApiToken:
    return ApiToken(
        id=to_global_id("ApiToken", row["id"]),
        prefix=row["prefix"],
        created_at=row["created_at"],
        expires_at=row["expires_at"],
        revoked_at=row["revoked_at"],
        holder=row.get("name"),
    )


def principal_type(p: HubPrincipal) -> Principal:
    return Principal(
        id=to_global_id("Principal", p.id), name=p.name, role=Role(p.role), agency_pk=p.agency_id, lab_pk=p.lab_id
    )


@strawberry.input(
    description="A proposed change to the policy: the figures it changes (the others stay as in effect), when it "
    "takes effect, and why."
)
class UpdatePolicyInput:
    expected_version: int = strawberry.field(description="The policy's version as you read it (Policy.version).")
    order_date: date | None = None
    standard_due_days: int | None = None
    required_signoffs: list[str] | None = strawberry.field(default=None, description="Agency codes.")
    preview_lead_time_days: int | None = None
    effective_on: date | None = strawberry.field(
        default=None,
        description="The day it takes effect once every agency that must concur has (UTC; today or later). "
        "Default: on the last concurrence.",
    )
    reason: str | None = None


@strawberry.type
class PolicyPayload:
    policy: Policy | None = strawberry.field(description="The policy in force (unchanged until the change is agreed).")
    policy_version: PolicyVersion | None = strawberry.field(description="The version proposed.")
    errors: list[UserError]


@strawberry.input
class ConcurPolicyChangeInput:
    number: int = strawberry.field(description="The number of the proposed policy version.")
    expected_version: int = strawberry.field(description="The proposed version's version as you read it.")


@strawberry.input
class WithdrawPolicyChangeInput:
    number: int = strawberry.field(description="The number of the proposed policy version.")
    expected_version: int = strawberry.field(description="The proposed version's version as you read it.")
    reason: str | None = None


@strawberry.type
class PolicyChangePayload:
    policy_version: PolicyVersion | None
    policy: Policy | None = strawberry.field(description="The policy in force after the write.")
    errors: list[UserError]


async def _policy_change(info: strawberry.Info, action: Any) -> tuple[Policy | None, PolicyVersion | None, list[Any]]:
    made: dict[str, Any] = {}

    async def run(con: Any, p: HubPrincipal) -> int:
        made["number"] = await action(con, p)
        return int(made["number"])

    _, errors = await run_mutation(info, run, None)
    if errors:
        return None, None, errors
    policy = await ProgramQuery().policy(info)
    version = next((v for v in policy.history if v.number == made["number"]), None)
    return policy, version, []


@strawberry.input
class CreateTokenInput:
    name: str | None = strawberry.field(default=None, description="For a new principal of your agency.")
    role: Role | None = strawberry.field(default=None, description="For a new principal: VIEWER .. ADMIN.")
    principal_id: strawberry.ID | None = strawberry.field(
        default=None, description="Instead of name and role: a further token for this principal of your agency."
    )
    expires_in_days: int | None = None


@strawberry.type
class CreateTokenPayload:
    token: str | None = strawberry.field(
        description="The token, shown this once; only a salted hash of its secret is stored."
    )
    api_token: ApiToken | None
    principal: Principal | None
    errors: list[UserError]


@strawberry.input
class RevokeTokenInput:
    id: strawberry.ID


@strawberry.type
class RevokeTokenPayload:
    api_token: ApiToken | None
    errors: list[UserError]


@strawberry.type
class ProgramMutation:
    @strawberry.mutation(
        description="Propose a change to the policy, as a new version: by an admin of an agency in the required "
        "sign-offs of the version in effect, signed for that agency at once. It takes effect once an admin of every "
        "other agency in those sign-offs has concurred (concurPolicyChange). One change at a time."
    )
    async def update_policy(self, info: strawberry.Info, input: UpdatePolicyInput) -> PolicyPayload:
        values = {
            "order_date": input.order_date,
            "standard_due_days": input.standard_due_days,
            "required_signoffs": input.required_signoffs,
            "preview_lead_time_days": input.preview_lead_time_days,
            "effective_on": input.effective_on,
            "reason": input.reason,
        }
        policy, version, errors = await _policy_change(
            info, lambda con, p: policy_store.propose_policy_change(con, p, input.expected_version, values)
        )
        return PolicyPayload(policy=policy, policy_version=version, errors=errors)

    @strawberry.mutation(
        description="Concur with a proposed policy change for your agency (admins of an agency that must concur); "
        "the last concurrence puts it in effect, or on its effectiveOn when that is later."
    )
    async def concur_policy_change(self, info: strawberry.Info, input: ConcurPolicyChangeInput) -> PolicyChangePayload:
        policy, version, errors = await _policy_change(
            info, lambda con, p: policy_store.concur_policy_change(con, p, input.number, input.expected_version)
        )
        return PolicyChangePayload(policy_version=version, policy=policy, errors=errors)

    @strawberry.mutation(
        description="Withdraw a proposed policy change (admins of the proposing agency); the version in effect stays."
    )
    async def withdraw_policy_change(
        self, info: strawberry.Info, input: WithdrawPolicyChangeInput
    ) -> PolicyChangePayload:
        def withdraw(con: Any, p: HubPrincipal) -> Any:
            return policy_store.withdraw_policy_change(con, p, input.number, input.expected_version, input.reason)

        policy, version, errors = await _policy_change(info, withdraw)
        return PolicyChangePayload(policy_version=version, policy=policy, errors=errors)

    @strawberry.mutation(description="An agency admin creates a token (and a principal of the agency for it).")
    async def create_token(self, info: strawberry.Info, input: CreateTokenInput) -> CreateTokenPayload:
        values = {
            "name": input.name,
            "role": input.role.value if input.role else None,
            "principal_id": optional_id(input.principal_id, "Principal", "input.principalId"),
            "expires_in_days": input.expires_in_days,
        }
        made: dict[str, Any] = {}

        async def action(con: Any, p: HubPrincipal) -> int:
            token_id, made["secret"] = await principal_store.create_token(con, p, values)
            made["row"] = await principal_store.get_token(con, token_id)
            made["holder"] = await get_principal(con, made["row"]["principal_id"])
            return token_id

        _, errors = await run_mutation(info, action, None)
        if errors:
            return CreateTokenPayload(token=None, api_token=None, principal=None, errors=errors)
        return CreateTokenPayload(
            token=made["secret"], api_token=api_token(made["row"]), principal=principal_type(made["holder"]), errors=[]
        )

    @strawberry.mutation(description="Revoke a token: your own, or (admins) one of your agency's.")
    async def revoke_token(self, info: strawberry.Info, input: RevokeTokenInput) -> RevokeTokenPayload:
        token_id = record_id(input.id, "ApiToken")
        made: dict[str, Any] = {}

        async def action(con: Any, p: HubPrincipal) -> int:
            await principal_store.revoke_token(con, p, token_id)
            made["row"] = await principal_store.get_token(con, token_id)
            return token_id

        _, errors = await run_mutation(info, action, None)
        if errors:
            return RevokeTokenPayload(api_token=None, errors=errors)
        return RevokeTokenPayload(api_token=api_token(made["row"]), errors=[])
