"""What every mutation shares: the user-error type, the rule that puts input errors in the payload, and the runner
that gives each mutation one transaction."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
import strawberry
from strawberry.extensions import FieldExtension
from strawberry.types.field import StrawberryField

from hub.auth import Principal
from hub.loaders import Loaders
from hub.store.base import Entity
from hub.workflow import ErrorCode, Forbidden, Rejected
from schema.common import HubError, InputError, ctx, decode_ids

log = logging.getLogger("hub.mutations")

# hub.workflow's ErrorCode, as the GraphQL enum UserErrorCode
strawberry.enum(
    ErrorCode,
    name="UserErrorCode",
    description="What is wrong with a mutation's input: BAD_USER_INPUT (a value is missing, malformed, an id of "
    "another type, too long or out of range), NOT_FOUND (the record, or one the input names, does not exist or you "
    "may not see it), INVALID_TRANSITION (see `allowed`), STALE_VERSION (see `currentVersion`), CONFLICT (a unique "
    "rule), IDEMPOTENCY_KEY_REUSED (the idempotencyKey was used for another mutation or another input), "
    "LAB_NOT_PARTICIPATING (the lab has not chosen to take part: nothing is done for it), LAB_ACCEPTANCE_REQUIRED "
    "(the move waits for the lab's acceptance). Codes may be "
    "added: treat one you do not know like BAD_USER_INPUT.",
)


@strawberry.type(description="Something about the input that the caller can fix. Nothing was written.")
class UserError:
    field: str | None = strawberry.field(
        description="The input field at fault, as a path from the mutation's argument: input.accessEnd, "
        "input.findingIds, input.criteria[0].threshold."
    )
    code: ErrorCode
    message: str
    current_version: int | None = strawberry.field(default=None, description="With STALE_VERSION.")
    allowed: list[str] | None = strawberry.field(
        default=None,
        description="With INVALID_TRANSITION: the states the record may move to next, as the names of the values "
        "of its state enum (strings); empty when its state is final.",
    )


def user_error(rejection: Rejected) -> UserError:
    return UserError(
        field=rejection.field,
        code=rejection.code,
        message=rejection.message,
        current_version=rejection.current_version,
        allowed=rejection.allowed,
    )


class InputErrorsInPayload(FieldExtension):
    """What a mutation's resolver refuses while it reads its input, before its transaction (a malformed id, an id of
    another type, a null where a value is needed: InputError; a Rejected), is reported like what its transaction
    refuses: `data.<mutation>` holds the payload with no record and the error in `errors`. Only graphql-core's own
    coercion of the request (a String where an Int is needed, an unknown enum value or input field) stays a GraphQL
    error, as the GraphQL spec has it. Every root mutation carries it (`in_payload`)."""

    payload: type

    def apply(self, field: StrawberryField) -> None:
        payload = field.type
        assert isinstance(payload, type) and dataclasses.is_dataclass(payload), f"{field.name}: not a payload type"
        self.payload = payload

    async def resolve_async(
        self, next_: Callable[..., Awaitable[Any]], source: Any, info: strawberry.Info, **kwargs: Any
    ) -> Any:
        try:
            return await next_(source, info, **kwargs)
        except InputError as error:
            refused = UserError(field=error.field, code=ErrorCode.BAD_USER_INPUT, message=error.message)
        except Rejected as rejection:
            refused = user_error(rejection)
        nothing = {f.name: None for f in dataclasses.fields(self.payload) if f.init and f.name != "errors"}
        return self.payload(**nothing, errors=[refused])


def in_payload(mutation_type: type) -> type:
    """Give every field of the root mutation type InputErrorsInPayload (before the schema is built from it)."""
    for field in mutation_type.__strawberry_definition__.fields:  # type: ignore[attr-defined]
        field.extensions.append(InputErrorsInPayload())
    return mutation_type


def optional_id(global_id: strawberry.ID | None, type_name: str, field: str) -> int | None:
    """The primary key of an optional id of `type_name` in an input."""
    if global_id is None:
        return None
    return record_id(global_id, type_name, field)


def record_id(global_id: strawberry.ID, type_name: str, field: str = "input.id") -> int:
    """The primary key of an id of `type_name` in an input (BAD_USER_INPUT naming `field` otherwise)."""
    ids = decode_ids([global_id], type_name, field=field)
    assert ids is not None
    return ids[0]


Action = Callable[[asyncpg.Connection, Principal], Awaitable[int]]


async def run_mutation(
    info: strawberry.Info, action: Action, entity: Entity | None
) -> tuple[dict[str, Any] | None, list[UserError]]:
    """Run `action` (which returns the id of the record it wrote) in one transaction; on a rejection roll it back
    and report it. Returns the record as the caller may now see it (just {"id": ...} without an entity), and the
    errors."""
    context = ctx(info)
    try:
        async with context.db.transaction() as con:
            record_id = await action(con, context.principal)
    except Rejected as rejection:
        return None, [user_error(rejection)]
    except Forbidden as refusal:
        raise HubError(str(refusal), "FORBIDDEN") from None
    except asyncpg.IntegrityConstraintViolationError as violation:
        # the checks above should have caught it; the database's own rule is the last word
        log.warning("constraint %s refused a write", getattr(violation, "constraint_name", None))
        return None, [
            UserError(
                field="input",
                code=ErrorCode.CONFLICT
                if isinstance(violation, asyncpg.UniqueViolationError)
                else ErrorCode.BAD_USER_INPUT,
                message="the change breaks a rule of the data "
                f"({getattr(violation, 'constraint_name', None) or 'a constraint'})",
            )
        ]
    # what was cached before the write is stale now
    context.loaders = Loaders(context.db)
    if entity is None:
        return {"id": record_id}, []
    row = await context.loaders.by_id(entity).load(record_id)
    return row, []
