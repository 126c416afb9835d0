"""`/readyz` is public: its checks run at most once a second, and callers in between get
the last answer, so a flood of requests cannot open a database connection each."""

from __future__ import annotations

from chibo.nameko.web.health import READINESS_REUSE_SECONDS, _LastAnswer


def test_an_answer_is_given_again_within_the_reuse_window_then_checked_anew():
    now = [100.0]
    runs: list[int] = []

    def check():
        runs.append(1)
        return 200, {"status": "ready", "run": len(runs)}

    last = _LastAnswer()
    first = last.get(("members",), check, lambda: now[0])
    now[0] += READINESS_REUSE_SECONDS / 2
    again = last.get(("members",), check, lambda: now[0])
    assert again is first and len(runs) == 1
    assert last.get(("meetings",), check, lambda: now[0])[1]["run"] == 2  # its own answer
    now[0] += READINESS_REUSE_SECONDS
    assert last.get(("members",), check, lambda: now[0])[1]["run"] == 3
