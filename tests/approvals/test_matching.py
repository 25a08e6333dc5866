"""The approval engine's place assignment: no order of eligible approvers leaves a completable chain stuck."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from apps.approvals.matching import completion, slot_choice, unfillable

SLOTS = ("risk_owner", "officer", "executive")


@st.composite
def chains_and_people(draw):
    """A chain (slot -> how many people) and people each holding some of its slots."""
    slots = draw(st.lists(st.sampled_from(SLOTS), min_size=1, max_size=3, unique=True))
    chain = {s: draw(st.integers(min_value=1, max_value=2)) for s in slots}
    n = draw(st.integers(min_value=1, max_value=6))
    people = {p: set(draw(st.lists(st.sampled_from(slots), max_size=len(slots), unique=True))) for p in range(n)}
    order = draw(st.permutations(list(people)))
    return chain, people, order


def run(chain: dict, people: dict, order: list, *, choose) -> dict:
    """Every person arrives once, in `order`, and approves if they hold an open place; what is left open."""
    open_counts, decided = dict(chain), set()
    for person in order:
        holders = {s: {p for p, held in people.items() if s in held and p not in decided} for s in chain}
        slot = choose(open_counts, holders, person, [s for s in chain if s in people[person]])
        if slot is None:
            continue  # refused: every place they could fill is taken
        open_counts[slot] -= 1
        decided.add(person)
    return {s: n for s, n in open_counts.items() if n}


def engine(open_counts, holders, person, slots):
    return slot_choice(open_counts=open_counts, holders=holders, approver=person, approver_slots=slots).slot


def first_open(open_counts, holders, person, slots):
    return next((s for s in slots if open_counts[s] > 0), None)


@settings(max_examples=400, deadline=None)
@given(chains_and_people())
def test_no_order_of_eligible_approvers_leaves_a_completable_chain_stuck(case):
    chain, people, order = case
    holders = {s: {p for p, held in people.items() if s in held} for s in chain}
    completable = completion(chain, holders) is not None

    left = run(chain, people, order, choose=engine)

    if completable:
        assert left == {}, f"stuck with {left} open"
    else:
        assert unfillable(chain, holders)


def test_first_open_place_gets_stuck_where_the_engine_does_not():
    """The issue's reproduction in miniature: ciso (risk owner and only executive) arrives first."""
    chain = {"risk_owner": 1, "officer": 1, "executive": 1}
    people = {"ciso": {"risk_owner", "executive"}, "compliance": {"officer"}, "riskowner": {"risk_owner"}}
    order = ["ciso", "compliance", "riskowner"]

    assert run(chain, people, order, choose=first_open) == {"executive": 1}
    assert run(chain, people, order, choose=engine) == {}


def test_a_chosen_place_that_would_strand_the_chain_is_flagged():
    choice = slot_choice(
        open_counts={"risk_owner": 1, "executive": 1},
        holders={"risk_owner": {"ciso", "riskowner"}, "executive": {"ciso"}},
        approver="ciso",
        approver_slots=["risk_owner", "executive"],
        wanted="risk_owner",
    )
    assert choice.completable_before and choice.keeps_completable == ("executive",)
    assert choice.slot == "risk_owner"  # the caller refuses it: not among keeps_completable
