"""frontier-hub: one GraphQL API over one PostgreSQL database for the frontier AI early-access program."""

__version__ = "0.2.0"
