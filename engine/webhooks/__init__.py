"""Outbound webhooks: Muster tells the learning platform what happened in Google.

Where it sits: beside :mod:`engine.sync`. Code that learns something the platform must hear (the
reconcile's answer recording in :mod:`engine.sync.answers`, the organizer lifecycle, the Google-side
change policy) calls :func:`emit` inside its unit of work with one of the event models of
:mod:`engine.webhooks.events`; a durable row is written in the same transaction (:mod:`engine.webhooks.outbox`),
handed to the ``deliver_webhook`` actor after the commit, and retried with backoff by the delivery clock
until the platform answers 2xx (:mod:`engine.webhooks.delivery`). Bodies are signed with HMAC-SHA256 over
a timestamp and the body (:mod:`engine.webhooks.signing`). See docs/webhooks.md.
"""

from engine.webhooks.outbox import emit

__all__ = ["emit"]
