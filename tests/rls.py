"""Row-level security as the second line: remove the store's own visibility filter, so that PostgreSQL's policies
(sql/003_rls.sql) are all that stands between a principal and a record."""

from __future__ import annotations

import sys
from collections import OrderedDict
from typing import Any

import pytest

from hub import access


def no_filter(kind: str, alias: str, principal: Any, p: Any) -> str:
    """The store's rule, removed: every row passes."""
    return "true"


def remove_store_filter(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every read and write of requests (the store, the workflows, the SQL compiler) without hub.access.visible;
    returns the
    modules patched. The event fan-out (hub.events) is left alone: it runs as the owner, outside RLS."""
    patched = []
    for name, module in list(sys.modules.items()):
        if not (name.startswith(("hub.store", "schema.compiler")) or name == "hub.workflow"):
            continue
        if getattr(module, "visible", None) is access.visible:
            monkeypatch.setattr(module, "visible", no_filter)
            patched.append(name)
    assert patched, "no module of the store uses hub.access.visible any more: this helper needs updating"
    assert any(name.startswith("schema.compiler") for name in patched), "the SQL compiler's module moved: update this"
    # statements the compiler made with the filter are not to be reused, nor those made without it kept
    from hub.app import COMPILER

    monkeypatch.setattr(COMPILER, "cache", OrderedDict())
    return patched
