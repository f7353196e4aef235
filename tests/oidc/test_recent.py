"""The per-process map of what was read or written lately: kept until its deadline, bounded, oldest forgotten."""

from __future__ import annotations

from oidc.recent import Recent


class Clock:
    """A clock the test moves."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_value_is_kept_until_its_deadline_and_not_after() -> None:
    clock = Clock()
    recent: Recent[str, int] = Recent(4, clock)
    recent.put("a", 1, clock.now + 5)
    clock.now += 4.9
    assert recent.get("a") == 1
    clock.now += 0.1
    assert recent.get("a") is None and len(recent) == 0


def test_past_its_size_the_oldest_put_is_forgotten_and_forget_drops_one() -> None:
    clock = Clock()
    recent: Recent[str, int] = Recent(2, clock)
    recent.put("a", 1, 200.0)
    recent.put("b", 2, 200.0)
    recent.put("a", 3, 200.0)  # put again: now the newest
    recent.put("c", 4, 200.0)
    assert (recent.get("a"), recent.get("b"), recent.get("c")) == (3, None, 4)
    recent.forget("c")
    assert recent.get("c") is None and len(recent) == 1
