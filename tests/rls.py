"""The two lines of defence, one at a time: remove the store's own visibility filter, so that PostgreSQL's policies
(generated into sql/008_visibility.sql by hub/policies.py) are all that stands between a principal and a record; or
serve requests as the tables' owner, whom the policies let through, so that the store's filter stands alone."""

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
    """Every read and write of requests (the store, the workflows, the SQL compiler) and the event fan-out (which
    reads as the request role too) without hub.access.visible; returns the modules patched."""
    patched = []
    for name, module in list(sys.modules.items()):
        if not (name.startswith(("hub.store", "schema.compiler")) or name in ("hub.workflow", "hub.events")):
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


def serve_as_owner(monkeypatch: pytest.MonkeyPatch) -> None:
    """Requests served by a pool of the tables' owner, whose policy lets everything through: the store's own filter
    is all that stands (for an api fixture made after this one, as tests.conftest._api makes them)."""
    from functools import partial

    from hub import app as hub_app
    from hub import db

    monkeypatch.setattr(hub_app, "create_pool", partial(db.create_pool, app_role=False))
