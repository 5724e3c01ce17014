"""Expand, then contract: which statements of a migration would break the previous release's nodes still running on
the schema during a rolling upgrade (docs/operators.md, "Rolling upgrades"). The migrations are parsed with pglast
(PostgreSQL's own parser, libpg_query), never matched by text.

A contract step (dropping or renaming a table, view, type, function or column, changing a column's type, making a
column NOT NULL, adding a NOT NULL column without a default) is allowed only when a comment right above it names the
release since which no code reads what it removes, and that release is out already (releases.toml):

    -- contract: findings.old_score is unread since release 0.2.0
    alter table findings drop column old_score;

What is created in the same migration may be changed freely there (no release knows it yet). Statements inside DO
blocks and function bodies are not parsed (PL/pgSQL): a contract step there is for the review to catch.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import pglast
from pglast import ast
from pglast.enums import AlterTableType, ConstrType, ObjectType

MARKER = re.compile(r"--\s*contract:\s*(?P<what>.*?)\bunread since release\s+(?P<version>\d+(?:\.\d+)*)")

# what a DROP or a RENAME of would break for code that reads it
KINDS = {
    ObjectType.OBJECT_TABLE: "table",
    ObjectType.OBJECT_VIEW: "view",
    ObjectType.OBJECT_MATVIEW: "materialized view",
    ObjectType.OBJECT_TYPE: "type",
    ObjectType.OBJECT_DOMAIN: "domain",
    ObjectType.OBJECT_SEQUENCE: "sequence",
    ObjectType.OBJECT_FUNCTION: "function",
    ObjectType.OBJECT_SCHEMA: "schema",
    ObjectType.OBJECT_COLUMN: "column",
    ObjectType.OBJECT_ATTRIBUTE: "attribute",
}


@dataclass(frozen=True)
class ContractStep:
    """A statement that removes or narrows something the previous release may read or write."""

    what: str
    statement: str
    unread_since: str | None  # the release its marker names, or None when unmarked


def _last_name(obj: Any) -> str:
    """The unqualified name of a parsed object reference (a list of names, a function, a type, a range)."""
    if isinstance(obj, ast.ObjectWithArgs):
        obj = obj.objname
    elif isinstance(obj, ast.TypeName):
        obj = obj.names
    elif isinstance(obj, ast.RangeVar):
        return str(obj.relname)
    if isinstance(obj, list | tuple):
        names = [item.sval for item in obj if isinstance(item, ast.String)]
        return names[-1] if names else str(obj)
    if isinstance(obj, ast.String):
        return str(obj.sval)
    return str(obj)


def _created(statements: list[Any]) -> set[str]:
    """Names of the relations, types and functions a migration creates."""
    made: set[str] = set()
    for raw in statements:
        stmt = raw.stmt
        if isinstance(stmt, ast.CreateStmt | ast.CreateSeqStmt):
            made.add(stmt.relation.relname if isinstance(stmt, ast.CreateStmt) else stmt.sequence.relname)
        elif isinstance(stmt, ast.ViewStmt):
            made.add(stmt.view.relname)
        elif isinstance(stmt, ast.CreateTableAsStmt):
            made.add(stmt.into.rel.relname)
        elif isinstance(stmt, ast.CreateFunctionStmt):
            made.add(_last_name(stmt.funcname))
        elif isinstance(stmt, ast.CompositeTypeStmt):
            made.add(stmt.typevar.relname)
        elif isinstance(stmt, ast.CreateEnumStmt | ast.CreateDomainStmt):
            made.add(_last_name(stmt.typeName if isinstance(stmt, ast.CreateEnumStmt) else stmt.domainname))
    return made


def _steps_of(stmt: Any, created: set[str]) -> list[str]:
    """What contract steps one statement takes (empty for an expanding one)."""
    found = []
    if isinstance(stmt, ast.DropStmt) and stmt.removeType in KINDS:
        for obj in stmt.objects or ():
            if _last_name(obj) not in created:
                found.append(f"drops {KINDS[stmt.removeType]} {_last_name(obj)}")
    elif isinstance(stmt, ast.RenameStmt) and stmt.renameType in KINDS:
        target = stmt.relation.relname if stmt.relation is not None else _last_name(stmt.object)
        if target not in created:
            old = f"{target}.{stmt.subname}" if stmt.subname else target
            found.append(f"renames {KINDS[stmt.renameType]} {old} to {stmt.newname}")
    elif isinstance(stmt, ast.AlterEnumStmt) and stmt.oldVal:
        found.append(f"renames value {stmt.oldVal!r} of type {_last_name(stmt.typeName)}")
    elif isinstance(stmt, ast.AlterTableStmt) and stmt.relation.relname not in created:
        table = stmt.relation.relname
        for cmd in stmt.cmds or ():
            if cmd.subtype == AlterTableType.AT_DropColumn:
                found.append(f"drops column {table}.{cmd.name}")
            elif cmd.subtype == AlterTableType.AT_AlterColumnType:
                found.append(f"changes the type of column {table}.{cmd.name}")
            elif cmd.subtype == AlterTableType.AT_SetNotNull:
                found.append(f"makes column {table}.{cmd.name} NOT NULL")
            elif cmd.subtype == AlterTableType.AT_AddColumn:
                kinds = {constraint.contype for constraint in cmd.def_.constraints or ()}
                filled = {ConstrType.CONSTR_DEFAULT, ConstrType.CONSTR_IDENTITY, ConstrType.CONSTR_GENERATED}
                if ConstrType.CONSTR_NOTNULL in kinds and not kinds & filled:
                    found.append(f"adds column {table}.{cmd.def_.colname} NOT NULL without a default")
    return found


def contract_steps(sql: str) -> list[ContractStep]:
    """Every contract step of a migration, each with the release its marker names (if any)."""
    statements = pglast.parse_sql(sql)
    created = _created(statements)
    steps = []
    start = 0
    for raw in statements:
        end = raw.stmt_location + raw.stmt_len if raw.stmt_len else len(sql)
        # the statement and what stands before it since the previous one (its comments)
        text = sql[start:end]
        start = end
        for what in _steps_of(raw.stmt, created):
            marker = MARKER.search(text)
            steps.append(
                ContractStep(
                    what=what,
                    statement=sql[raw.stmt_location : end].strip()[:200],
                    unread_since=marker.group("version") if marker else None,
                )
            )
    return steps


def problems(name: str, sql: str, released: list[str]) -> list[str]:
    """What keeps a migration added since the previous release from expanding only: unmarked contract steps, and
    marked ones whose release is not out yet (`released`: the versions of releases.toml)."""
    found = []
    for step in contract_steps(sql):
        if step.unread_since is None:
            found.append(
                f"{name} {step.what}, which the previous release may still read: expand now and contract in a later "
                "release, or mark it `-- contract: ... unread since release X.Y.Z` "
                f'(docs/operators.md, "Rolling upgrades"): {step.statement}'
            )
        elif step.unread_since not in released:
            found.append(
                f"{name} {step.what} as unread since release {step.unread_since}, which is not out (releases.toml "
                f"lists {', '.join(released) or 'none'}): the nodes of the release before it may still read it"
            )
    return found
