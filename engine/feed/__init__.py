"""The change feed: Google tells Muster what changed on the calendars it writes to.

Where it sits: between the connector's :class:`~connectors.ports.feed.ChangeFeedPort` and the reconciler.
Flow: :mod:`engine.feed.calendars` keeps one :class:`~engine.store.models.FeedCalendar` row per calendar
a binding uses; :mod:`engine.feed.sync` lists each calendar's changes since its stored sync token (a 410
runs a full resync of that calendar only), maps each changed event to its binding with the pure
:mod:`engine.feed.plan` and calls :func:`engine.sync.remote_change.note_remote_change` for those that are
not Muster's own last write; :mod:`engine.feed.channels` keeps a push channel open per calendar (renewed
before it expires, stopped when the calendar is no longer used) when ``MUSTER_PUSH_URL`` is set, and
judges each notification ``POST /google/push`` receives (:mod:`engine.api.routes.push`). Without a public
URL the same incremental sync runs on the worker's feed clock (``MUSTER_FEED_POLL_S``); with one, the clock
still runs (less often) so a lost notification delays a change but never loses it.
"""
