"""Which tag a batched, `multiple=True` ack may name (`chibo.nameko.resilience.AckWindow`):
never one covering a delivery still being handled, never one the broker no longer holds
(it would close the channel), and nothing of a channel that is gone."""

from __future__ import annotations

from chibo.nameko.resilience import AckWindow

OLD, NEW = object(), object()


def window_with(*tags: int, channel: object = OLD) -> AckWindow:
    window = AckWindow()
    for tag in tags:
        window.delivered(channel, tag)
    return window


def test_an_ack_covers_only_what_is_settled_below_the_oldest_delivery_in_hand() -> None:
    window = window_with(1, 2, 3, 4, 5)
    for tag in (1, 2, 4, 5):
        window.acked(OLD, tag)
    assert window.take() == 2  # 3 is still being handled: 4 and 5 wait for it
    assert window.take() is None
    window.acked(OLD, 3)
    assert window.take() == 5
    assert window.take() is None


def test_a_rejected_delivery_is_never_the_tag_acked() -> None:
    window = window_with(1, 2, 3)
    window.acked(OLD, 1)
    window.acked(OLD, 2)
    window.rejected(OLD, 3)  # back in its queue: the broker no longer holds it for us
    assert window.take() == 2
    window.delivered(OLD, 4)
    window.rejected(OLD, 4)
    assert window.take() is None


def test_the_count_waiting_tells_when_a_batch_is_full() -> None:
    window = window_with(1, 2, 3)
    assert [window.acked(OLD, tag) for tag in (1, 2, 3)] == [1, 2, 3]
    assert window.acked(OLD, 3) == 0  # a second answer for one delivery counts once


def test_a_new_channel_forgets_the_old_one_s_tags() -> None:
    window = window_with(1, 2)
    window.acked(OLD, 1)
    window.delivered(NEW, 1)  # reconnected: tags count from 1 again
    assert window.acked(OLD, 2) == 0  # the old channel's deliveries come again anyway
    assert window.take() is None
    window.acked(NEW, 1)
    assert window.take() == 1
