"""Notifications of escalations: channels config, an outbox of sends, e-mail and webhooks.

`channels` reads which committee hears through which channels; `outbox` queues one
row per channel with the escalation and delivers due rows with retries; `email` and
`webhook` build and send one message each; `encoding` writes escalations and moments
the same way for all of them.
"""
