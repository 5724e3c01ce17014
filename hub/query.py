"""`hub query`: run a named operation or a .graphql file against a hub (written in a later step)."""

from __future__ import annotations

import argparse


def add_query_parser(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add the `query` subcommand to the `hub` command."""
