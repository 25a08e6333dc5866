"""Random lineage graphs and the walk cache, for the tests that compare walk forms, pages and streams."""

from __future__ import annotations

import random

import redis
from django.conf import settings

RELATIONS = ("built-from", "derived-from", "deployed-from")


def random_dag(seed: int, n: int, m: int, relations: tuple[str, ...] = RELATIONS) -> list[tuple[int, int, str]]:
    """`m` edges among `n` nodes, each from a lower to a higher index: diamonds and cross edges (a node
    reached at depth d also has edges from deeper nodes), the same for the same seed."""
    rng = random.Random(seed)
    edges = set()
    while len(edges) < m:
        a, b = sorted(rng.sample(range(n), 2))
        edges.add((a, b, rng.choice(relations)))
    return sorted(edges)


def kept_walk_keys() -> list[bytes]:
    """The walks kept in Redis for their later pages."""
    return list(redis.Redis.from_url(settings.REDIS_URL).scan_iter("*lineage-walk:*"))


def forget_kept_walks() -> None:
    keys = kept_walk_keys()
    if keys:
        redis.Redis.from_url(settings.REDIS_URL).delete(*keys)
