"""The program is voluntary, and its words say so (docs/design.md, "Voluntary by construction").

No word of enforcement (violation, breach, non-compliance, eligible, penalty, sanction, mandatory, "required of
labs", overdue, and their inflections) appears in what users read: the schema's names and descriptions, the event
actions and reasons the code writes, the docs, and the demo's texts. A place where such a word is right (a KEV due
date is a federal agency's own deadline, and the dashboard calls an agency's deadline past its date `overdue`) is
named in tests/wording_allowlist.toml with why; an entry that no longer matches anything fails too, so that the
list stays honest.
"""

from __future__ import annotations

import ast
import re
import tomllib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg
from graphql import GraphQLEnumType, GraphQLInputObjectType, GraphQLInterfaceType, GraphQLObjectType

from schema import schema

ROOT = Path(__file__).resolve().parent.parent
ALLOWLIST = Path(__file__).resolve().parent / "wording_allowlist.toml"

# (the word as the test names it, the pattern of it and its inflections); whole words, any case
WORDS = (
    ("violation", r"violat(?:e|es|ed|ing|ion|ions)"),
    ("breach", r"breach(?:es|ed|ing)?"),
    ("non-compliance", r"non-?complian(?:ce|t)"),
    ("eligible", r"(?:in)?eligib(?:le|ility)"),
    ("penalty", r"penalt(?:y|ies)|penali[sz](?:e|es|ed|ing)"),
    ("sanction", r"sanction(?:s|ed|ing)?"),
    ("mandatory", r"mandator(?:y|ily)"),
    ("required of labs", r"required\s+of\s+(?:the\s+|a\s+)?labs?"),
    ("overdue", r"overdue"),
)
PATTERNS = [(word, re.compile(rf"\b(?:{pattern})\b", re.IGNORECASE)) for word, pattern in WORDS]
# the same words for PostgreSQL's regular expressions (\m and \M: the start and end of a word)
SQL_PATTERN = r"\m(?:" + "|".join(pattern for _, pattern in WORDS) + r")\M"

# tables whose text is not the program's prose: applied migrations, stored GraphQL documents, secrets' metadata
NOT_PROSE_TABLES = {"schema_migrations", "persisted_queries", "api_tokens", "rate_limits", "idempotency_keys"}


@dataclass(frozen=True)
class Text:
    """A piece of text users read, and where it is: 'docs/reading.md:13', 'schema Dashboard.overdue'."""

    place: str
    text: str


@dataclass(frozen=True)
class Hit:
    place: str
    word: str
    text: str


@dataclass(frozen=True)
class Allowed:
    """An allow-list entry: a word is right in the places that start with `source` and whose text holds
    `context`, for the reason `why`."""

    source: str
    word: str
    context: str
    why: str

    def allows(self, hit: Hit) -> bool:
        return (
            hit.place.startswith(self.source)
            and hit.word == self.word
            and " ".join(_words(self.context).split()).lower() in " ".join(hit.text.split()).lower()
        )


def find_hits(texts: Iterable[Text]) -> list[Hit]:
    """Every word of enforcement in the texts, with its place."""
    return [Hit(t.place, word, t.text) for t in texts for word, pattern in PATTERNS if pattern.search(t.text)]


def unexplained(hits: list[Hit], allowed: list[Allowed]) -> tuple[list[Hit], list[Allowed]]:
    """The hits no entry allows, and the entries that allow no hit."""
    return (
        [h for h in hits if not any(a.allows(h) for a in allowed)],
        [a for a in allowed if not any(a.allows(h) for h in hits)],
    )


def report(hits: list[Hit], unused: list[Allowed]) -> str:
    lines = [f"{h.place}: {h.word!r} in {' '.join(h.text.split())[:200]!r}" for h in hits]
    lines += [f"unused allow-list entry: {a.source} / {a.word!r} / {a.context!r}" for a in unused]
    return "\n".join(lines)


def load_allowlist(path: Path = ALLOWLIST) -> list[Allowed]:
    entries = tomllib.loads(path.read_text(encoding="utf-8")).get("allow", [])
    allowed = [Allowed(e["source"], e["word"], e["context"], e["why"]) for e in entries]
    assert all(a.word in dict(WORDS) and a.why.strip() and a.context.strip() for a in allowed), "incomplete entry"
    return allowed


# ------------------------------------------------------------------------------------------------ the sources


def _words(name: str) -> str:
    """A GraphQL or enum name as words: overdueCount -> 'overdue Count', MODEL_RELEASED -> 'MODEL RELEASED'."""
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", name).replace("_", " ")


def schema_texts() -> Iterator[Text]:
    """Every type, field, argument, input field and enum value of the schema: its name and its description."""
    for type_name, graphql_type in schema._schema.type_map.items():
        if type_name.startswith("__"):
            continue
        yield Text(f"schema {type_name}", f"{_words(type_name)} | {graphql_type.description or ''}")
        if isinstance(graphql_type, GraphQLObjectType | GraphQLInterfaceType | GraphQLInputObjectType):
            for field_name, field in graphql_type.fields.items():
                place = f"schema {type_name}.{field_name}"
                yield Text(place, f"{_words(field_name)} | {field.description or ''}")
                for arg_name, arg in getattr(field, "args", {}).items():
                    yield Text(f"{place}({arg_name})", f"{_words(arg_name)} | {arg.description or ''}")
        elif isinstance(graphql_type, GraphQLEnumType):
            for value_name, value in graphql_type.values.items():
                yield Text(f"schema {type_name}.{value_name}", f"{_words(value_name)} | {value.description or ''}")


def code_texts() -> Iterator[Text]:
    """Every string constant of hub/ but docstrings: the event actions and reasons the code writes (and the
    messages it answers with) are among them."""
    for path in sorted((ROOT / "hub").rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        docstrings = {
            id(node.body[0].value)
            for node in ast.walk(tree)
            if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
            and node.body
            and isinstance(node.body[0], ast.Expr)
            and isinstance(node.body[0].value, ast.Constant)
        }
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
                yield Text(f"{path.relative_to(ROOT)}:{node.lineno}", _words(node.value))


def doc_texts() -> Iterator[Text]:
    """README.md and docs/*.md, line by line, and the comments of the vetted operations (what `hub query --list`
    says of them)."""
    for path in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            yield Text(f"{path.relative_to(ROOT)}:{number}", _words(line))
    for path in sorted((ROOT / "schema" / "operations").glob("*.graphql")):
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if line.lstrip().startswith("#"):
                yield Text(f"{path.relative_to(ROOT)}:{number}", _words(line))


async def database_texts(con: asyncpg.Connection) -> list[Text]:
    """The demo database's texts: every text and JSON column of every table (the events' actions, reasons and
    details among them), the rows whose text holds a word, found by PostgreSQL."""
    columns = await con.fetch(
        """select c.table_name, c.column_name, exists (select 1 from information_schema.columns k
                                                        where k.table_schema = c.table_schema
                                                          and k.table_name = c.table_name and k.column_name = 'id')
                                                 as has_id
             from information_schema.columns c join information_schema.tables t
                  on t.table_schema = c.table_schema and t.table_name = c.table_name and t.table_type = 'BASE TABLE'
            where c.table_schema = 'public'
              and (c.data_type in ('text', 'character varying', 'jsonb') or c.udt_name = '_text')
            order by c.table_name, c.ordinal_position"""
    )
    texts = []
    for c in columns:
        table, column = c["table_name"], c["column_name"]
        if table in NOT_PROSE_TABLES:
            continue
        key = "id" if c["has_id"] else "null"
        # names come from the catalogue, never from input
        rows = await con.fetch(
            f'select {key} as id, "{column}"::text as text from {table} where "{column}"::text ~* $1', SQL_PATTERN
        )
        texts += [Text(f"demo {table}.{column} (id {r['id']})", _words(r["text"])) for r in rows]
    return texts


# ------------------------------------------------------------------------------------------------ the tests


async def test_no_word_of_enforcement_outside_the_allow_list(connection: asyncpg.Connection) -> None:
    texts = [*schema_texts(), *code_texts(), *doc_texts(), *await database_texts(connection)]
    assert len(texts) > 5000  # every source was read
    hits, unused = unexplained(find_hits(texts), load_allowlist())
    assert not hits and not unused, report(hits, unused)


def test_a_planted_word_fails_naming_its_place() -> None:
    planted = [Text("schema Planted.window", "a breach of the window"), Text("docs/x.md:3", "fine words")]
    hits, unused = unexplained(find_hits(planted), load_allowlist())
    assert [(h.place, h.word) for h in hits] == [("schema Planted.window", "breach")]
    assert "schema Planted.window: 'breach'" in report(hits, [])


async def test_a_word_planted_in_the_demo_database_is_found_with_its_row(connection: asyncpg.Connection) -> None:
    finding = await connection.fetchval("select min(id) from findings")
    await connection.execute(
        "update findings set description = 'The lab is in breach of the window.' where id = $1", finding
    )
    standard = await connection.fetchval("select min(id) from coverage_standards")
    await connection.execute(
        """update coverage_standards set criteria = '["two violations"]' where id = $1""", standard
    )
    hits = find_hits(await database_texts(connection))
    assert (f"demo findings.description (id {finding})", "breach") in {(h.place, h.word) for h in hits}
    assert (f"demo coverage_standards.criteria (id {standard})", "violation") in {(h.place, h.word) for h in hits}


def test_inflections_count_and_lookalikes_do_not() -> None:
    flagged = {
        "two Violations": "violation",
        "breached": "breach",
        "Non-compliant": "non-compliance",
        "noncompliance": "non-compliance",
        "ineligible": "eligible",
        "eligibility": "eligible",
        "penalties": "penalty",
        "sanctioned": "sanction",
        "MANDATORY": "mandatory",
        "required of the labs": "required of labs",
        "2 days overdue": "overdue",
    }
    for text, word in flagged.items():
        assert [h.word for h in find_hits([Text("t", text)])] == [word], text
    for text in ("violet", "sanctuary", "mandate", "required of agencies", "the due date", "compliance"):
        assert find_hits([Text("t", text)]) == [], text
    # GraphQL and enum names read as words
    assert [h.word for h in find_hits([Text("t", _words("overdueCount"))])] == ["overdue"]


def test_an_entry_allows_only_its_place_and_context_and_an_unused_entry_fails() -> None:
    entry = Allowed("docs/x.md", "overdue", "the `overdue` list", "an agency's own deadlines")
    right = Hit("docs/x.md:7", "overdue", "the `overdue` list of agencies")
    elsewhere = Hit("docs/y.md:7", "overdue", "the `overdue` list of agencies")
    other_text = Hit("docs/x.md:9", "overdue", "the lab is overdue")
    hits, unused = unexplained([right, elsewhere, other_text], [entry])
    assert hits == [elsewhere, other_text] and unused == []
    hits, unused = unexplained([], [entry])
    assert unused == [entry] and "unused allow-list entry: docs/x.md" in report(hits, unused)
