"""The feed provider's pause between runs under load (`Feed._gather`): it lets the next
run take more events, and ends as soon as enough of them wait or the feed stops, never
holding events back for its whole window."""

from __future__ import annotations

import eventlet
from eventlet.hubs import get_hub

from chibo.contracts import Catalogue
from chibo.eventstore.feed import Envelope, OrderedFeed
from chibo.nameko.providers import Feed

#: Longer than any test may take: a gather that ran its whole window fails the test.
WINDOW = 3600.0


def feed_provider(gather_events: int) -> Feed:
    provider = Feed(["members"], lambda session, envelope: None, Catalogue(),
                    gather_seconds=WINDOW, gather_events=gather_events)
    provider.feed = OrderedFeed("reporting", ["members"], None, Catalogue(),  # type: ignore[arg-type]
                                lambda session, envelope: None, lambda s, a, n: [])
    provider._running = True
    return provider


def event(position: int) -> Envelope:
    return {"source": "members", "position": position, "type": "ticked", "version": 1,
            "data": {}}


def test_a_gather_ends_once_enough_events_wait() -> None:
    provider = feed_provider(gather_events=5)

    def arrive() -> None:
        for position in range(1, 6):
            eventlet.sleep(0)
            provider.offer(event(position))

    eventlet.spawn(arrive)
    with eventlet.Timeout(30):
        provider._gather(get_hub().clock)
    assert provider.feed is not None and provider.feed.buffered() == 5


def test_a_gather_ends_when_the_feed_stops() -> None:
    provider = feed_provider(gather_events=1000)

    def stop() -> None:
        provider.offer(event(1))
        provider.stop()

    eventlet.spawn(stop)
    with eventlet.Timeout(30):
        provider._gather(get_hub().clock)
    assert provider.feed is not None and provider.feed.buffered() == 1
