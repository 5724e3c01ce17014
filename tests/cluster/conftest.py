"""The topology of tests/cluster/topology.py, built once for the module that uses it (`make test-cluster`), and gone
before the next module's servers start."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.cluster.topology import Topology

# read-your-writes: how long a read with a token waits for the replica before the primary answers it
CONSISTENCY_WAIT_SECONDS = 0.5


@pytest.fixture(scope="module")
def topology() -> Iterator[Topology]:
    built = Topology(node_env={"HUB_CONSISTENCY_WAIT_SECONDS": str(CONSISTENCY_WAIT_SECONDS)})
    try:
        built.start()
    except BaseException:
        print(built.logs())
        built.stop()
        raise
    try:
        yield built
    finally:
        built.stop()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """A failing test's report ends with the tail of every log of the topology."""
    report = yield
    if report.failed and "topology" in getattr(item, "funcargs", {}):
        report.sections.append(("topology logs", item.funcargs["topology"].logs()))
    return report
