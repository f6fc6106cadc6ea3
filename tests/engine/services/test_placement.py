"""Placement: label, constraints, room and load, without a database."""

import pytest

from engine.services.placement import (
    NodeLoad,
    NoNodeFits,
    Request,
    parse_constraint,
    place,
    request_for,
)

GIB = 1024**3
A = NodeLoad("a", labels={"disk": "ssd"}, cpus=2, memory=4 * GIB, containers=3)
B = NodeLoad("b", labels={"disk": "hdd"}, cpus=2, memory=4 * GIB, containers=1)
C = NodeLoad("c", cpus=4, memory=8 * GIB, containers=2)


def test_it_picks_the_node_with_fewest_containers():
    assert place(Request(), [A, B, C]) == "b"


def test_it_honours_the_node_label():
    assert place(request_for({"dockyard.node": "a"}, [], 0, 0), [A, B, C]) == "a"


def test_it_refuses_an_unknown_node_label():
    with pytest.raises(NoNodeFits, match="no node named 'z'"):
        place(request_for({"dockyard.node": "z"}, [], 0, 0), [A, B])


def test_it_honours_label_and_hostname_constraints():
    by_label = request_for({"dockyard.constraint": "node.labels.disk==ssd"}, [], 0, 0)
    assert place(by_label, [A, B, C]) == "a"
    by_name = request_for({}, ["constraint:node.hostname==c"], 0, 0)
    assert place(by_name, [A, B, C]) == "c"
    not_b = request_for({"dockyard.constraint": "node.hostname!=b, node.hostname!=c"}, [], 0, 0)
    assert place(not_b, [A, B, C]) == "a"


def test_swarm_classic_constraints_name_labels_without_prefix():
    assert place(request_for({}, ["constraint:disk==hdd"], 0, 0), [A, B, C]) == "b"
    assert place(request_for({}, ["constraint:node==a"], 0, 0), [A, B, C]) == "a"


def test_it_skips_drained_and_down_nodes():
    drained = NodeLoad("b", schedulable=False, cpus=2, memory=4 * GIB)
    assert place(Request(), [A, drained, C]) == "c"
    with pytest.raises(NoNodeFits, match="no node is up and active"):
        place(request_for({"dockyard.node": "b"}, [], 0, 0), [A, drained])


def test_it_needs_room_for_the_reservation():
    full = NodeLoad("b", cpus=2, memory=4 * GIB, reserved_memory=3 * GIB, containers=0)
    assert place(Request(memory=2 * GIB), [A, full]) == "a"
    assert place(Request(cpus=3), [A, full, C]) == "c"
    with pytest.raises(NoNodeFits, match="room"):
        place(Request(memory=16 * GIB), [A, full, C])


def test_a_bad_constraint_is_an_error():
    with pytest.raises(ValueError, match="invalid constraint"):
        parse_constraint("node.labels.disk=ssd")


def test_no_constraint_match_says_which():
    with pytest.raises(NoNodeFits, match="node.labels.gpu==yes"):
        place(request_for({"dockyard.constraint": "node.labels.gpu==yes"}, [], 0, 0), [A, B])
