"""Which place of a chain an approver fills, so that the chain can still be completed.

A chain is a list of places (a slot, N times: "2 risk owners of the system, 1 compliance
officer"). People who may fill a slot often may fill several (a risk owner who is also the
only designated executive). Putting each approver in the first open place they could fill
can leave a place nobody remaining can fill: the request is stuck for good, depending on who
clicked first. Instead, an approver takes a place only if the remaining places can still be
filled by distinct remaining people: a maximum bipartite matching (places x people,
Hopcroft-Karp from networkx) says whether they can.

If the open places can be filled at all (a complete matching exists) then for every approver
who holds an open place, one of their places keeps it so (take the place the matching gives
them, else any open place they hold: whoever the matching put there is freed). So with
`slot_choice`, no order of eligible approvers leaves a completable chain stuck (the property
test in tests/approvals proves it over random chains). Pure: no Django, people are any
hashable ids.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass, field

import networkx as nx
from networkx.algorithms import bipartite


def completion(open_counts: Mapping[str, int], holders: Mapping[str, Iterable[Hashable]]) -> dict | None:
    """A way to fill every open place with a distinct person: {(slot, i): person}, or None if there is none."""
    places = [("place", slot, i) for slot, n in open_counts.items() for i in range(max(0, n))]
    if not places:
        return {}
    graph = nx.Graph()
    graph.add_nodes_from(places)
    for place in places:
        for person in holders.get(place[1], ()):
            graph.add_edge(place, ("person", person))
    matching = bipartite.hopcroft_karp_matching(graph, top_nodes=places)
    if any(place not in matching for place in places):
        return None
    return {(place[1], place[2]): matching[place][1] for place in places}


def unfillable(open_counts: Mapping[str, int], holders: Mapping[str, Iterable[Hashable]]) -> list[str]:
    """Slots whose open places cannot all be filled by distinct people (empty when the chain can complete)."""
    if completion(open_counts, holders) is not None:
        return []
    out = []
    for slot, n in open_counts.items():
        if n > 0 and len(set(holders.get(slot, ()))) < n:
            out.append(slot)
    # Every slot has enough holders on its own, but they overlap: name every open slot.
    return out or [slot for slot, n in open_counts.items() if n > 0]


def without_one(open_counts: Mapping[str, int], slot: str) -> dict[str, int]:
    """The open places once one place of `slot` is filled."""
    counts = dict(open_counts)
    counts[slot] -= 1
    return counts


def _others(holders: Mapping[str, Iterable[Hashable]], person: Hashable) -> dict[str, set]:
    return {slot: {p for p in people if p != person} for slot, people in holders.items()}


@dataclass(frozen=True)
class SlotChoice:
    """The place an approver takes, and why."""

    slot: str | None  # None: no open place they may fill
    keeps_completable: tuple[str, ...] = ()  # their open places after which the chain can still complete
    completable_before: bool = True
    # Who could fill the remaining places if this approver took `slot` (a complete assignment), for messages.
    rest: dict = field(default_factory=dict)


def slot_choice(
    *,
    open_counts: Mapping[str, int],
    holders: Mapping[str, Iterable[Hashable]],
    approver: Hashable,
    approver_slots: Iterable[str],
    wanted: str | None = None,
) -> SlotChoice:
    """The place `approver` should take among `approver_slots` (in chain order); `wanted` if they chose one.

    `holders` are the people who could still fill each slot (not counting anyone who already decided
    or is barred by separation of duties); the approver may be among them."""
    options = [s for s in approver_slots if open_counts.get(s, 0) > 0]
    if not options:
        return SlotChoice(slot=None)
    others = _others(holders, approver)
    completions = {s: completion(without_one(open_counts, s), others) for s in options}
    keeps = tuple(s for s in options if completions[s] is not None)
    before = completion(open_counts, {s: {*people, approver} if s in options else people
                                      for s, people in others.items()}) is not None  # fmt: skip
    if wanted is not None:
        if wanted not in options:
            return SlotChoice(slot=None, keeps_completable=keeps, completable_before=before)
        return SlotChoice(slot=wanted, keeps_completable=keeps, completable_before=before,
                          rest=completions[wanted] or {})  # fmt: skip
    slot = keeps[0] if keeps else options[0]  # nothing keeps it: it was stuck before this decision
    return SlotChoice(slot=slot, keeps_completable=keeps, completable_before=before, rest=completions[slot] or {})
