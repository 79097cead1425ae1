"""Fixtures of the fuzz suite: the in-process system of the reliability suite. And each schemathesis test's own node
id."""

from __future__ import annotations

import pytest

from tests.reliability.harness import dynamodb_key_limits, system

__all__ = ["dynamodb_key_limits", "pytest_collection_modifyitems", "system"]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Put each schemathesis test's operation in its node id (``…::test_every_operation_conforms[POST /trackings]``).

    Under pytest 9, whose node ids carry a test's parameters but not its name, the tests schemathesis makes for each
    operation all get one node id. The node id is what xdist schedules by (its ``loadgroup`` once ran one operation
    of 27 and reported green), what ``--lf`` reruns and what ``--durations`` names. pytest has no public way to set
    it, so this uses the node's ``_id`` (``NodeId.with_params``);
    ``test_schemathesis.py::test_each_operation_is_a_test_with_its_own_node_id`` fails if that stops working.
    """
    for item in items:
        label = getattr(item, "operation_label", None)
        if label and not item.nodeid.endswith(f"[{label}]"):
            item._id = item._id.with_params(label)
