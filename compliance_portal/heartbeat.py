"""Liveness files for the processes that answer no request: Celery beat and the ledger sequencer.

Each loop of such a process touches PORTAL_VAR_DIR/heartbeat/<name>; a container health check runs
`python -m compliance_portal.heartbeat <name> <max age in seconds>`, which exits 0 while the file is
fresher than that and 1 (saying how stale) otherwise. Plain standard library and no Django: the
check runs every few seconds in the container and must stay cheap.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

# Touch at most this often: the sequencer loops every 200 ms, a file write each time is waste.
TOUCH_EVERY_SECONDS = 5.0
_last_touch: dict[Path, float] = {}


def heartbeat_path(name: str) -> Path:
    """Where `name`'s heartbeat lives (PORTAL_VAR_DIR, as settings.VAR_DIR, defaults to ./var)."""
    var_dir = os.environ.get("PORTAL_VAR_DIR") or str(Path(__file__).resolve().parent.parent / "var")
    return Path(var_dir) / "heartbeat" / name


def heartbeat_touch(name: str, *, force: bool = False) -> None:
    """Record that `name` is alive now."""
    now = time.monotonic()
    path = heartbeat_path(name)
    # Keyed by the file, not the name: a process whose PORTAL_VAR_DIR changed writes the new file at once.
    if not force and now - _last_touch.get(path, -TOUCH_EVERY_SECONDS) < TOUCH_EVERY_SECONDS:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch()
    os.utime(path)  # touch() leaves an existing file's mtime alone on some filesystems
    _last_touch[path] = now


def heartbeat_age(name: str) -> float | None:
    """Seconds since `name` last touched its heartbeat, or None if it never did."""
    try:
        return time.time() - heartbeat_path(name).stat().st_mtime
    except FileNotFoundError:
        return None


def main(argv: list[str]) -> int:
    if len(argv) != 2 or not argv[1].isdigit():
        print("usage: python -m compliance_portal.heartbeat NAME MAX_AGE_SECONDS", file=sys.stderr)
        return 2
    name, max_age = argv[0], int(argv[1])
    age = heartbeat_age(name)
    if age is None:
        print(f"{name}: no heartbeat yet at {heartbeat_path(name)}")
        return 1
    if age > max_age:
        print(f"{name}: last heartbeat {age:.0f}s ago (limit {max_age}s)")
        return 1
    print(f"{name}: alive ({age:.0f}s ago)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
