"""`make bench` rewrites docs/benchmarks.md: a run of some benchmarks keeps the others'
figures from the file, dated, and the targets table reads both."""

from __future__ import annotations

import math

from bench.report import Section, earlier_sections, render

EARLIER = Section("relay", "The relay against raw kombu.", [
    ("relay / raw kombu (best)", 103.0, "%"), ("relay: 500 in flight", 9_876.0, "events/s"),
    ("relay: failed figure", math.nan, "")])
NOW = Section("append", "Event-store append throughput.", [
    ("append sqlite: 1 writer / raw inserts", 61.5, "%"),
    ("append sqlite: 1 writer, 1 event/txn", 2_345.6, "events/s")])


def test_a_section_not_run_again_keeps_its_figures_and_the_date_it_was_measured():
    first = render([EARLIER], "python -m bench --write b.md relay", quick=False)
    kept = earlier_sections(first)["relay"]
    assert kept.description == EARLIER.description
    assert kept.figures[:2] == EARLIER.figures[:2] and math.isnan(kept.figures[2][1])
    assert kept.measured_on is not None

    second = render([NOW, kept], "python -m bench --write b.md append", quick=False)
    assert f"_Measured on {kept.measured_on}, by an earlier run than the rest._" in second
    again = earlier_sections(second)
    assert again["relay"].measured_on == kept.measured_on  # still dated, not re-dated
    assert again["append"].figures == [("append sqlite: 1 writer / raw inserts", 61.5, "%"),
                                       ("append sqlite: 1 writer, 1 event/txn", 2_346.0,
                                        "events/s")]
    targets = second.split("## append")[0]
    assert f"relay / raw kombu (best) (measured {kept.measured_on}) | 103 % | yes" in targets
    assert "append sqlite: 1 writer / raw inserts | 61.50 % | yes" in targets
