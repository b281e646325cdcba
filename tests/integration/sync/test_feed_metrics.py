"""The change feed shows in the metrics: push notifications by verdict, channel calls, change-feed reads.

Where it sits: ``tests/integration/sync``, on the change feed's in-process stack (``FeedStack`` of
``test_change_feed.py``: SQLite, the embedded worker, the REST API served by uvicorn so the emulator posts
its notifications to ``POST /google/push``). Everything runs in this process, so this process's registry
(:func:`engine.runtime.metrics.local_samples`, what ``/metrics`` exposes) holds every series.
"""

from __future__ import annotations

import httpx

from engine.feed import channels
from engine.runtime import metrics
from tests.integration.sync.test_change_feed import WAIT_S, FeedStack, _followed, pushed, wait_for

__all__ = ["pushed"]  # the fixture, imported for this module's tests


def total(name: str, **labels: str) -> float:
    return sum(
        s.value for s in metrics.local_samples()
        if s.name == name and all(s.labels.get(k) == v for k, v in labels.items())
    )


def test_push_notifications_channels_and_feed_reads_are_counted(pushed: FeedStack) -> None:
    stack = pushed
    push = "muster_push_notifications_total"
    reads = "muster_change_feed_reads_total"
    start = {
        "sync": total(push, tenant="acme", result="sync"),
        "forged": total(push, tenant="acme", result="forged"),
        "bad": total(push, tenant="none", result="bad"),
        "watch": total("muster_push_channel_ops_total", tenant="acme", op="watch", outcome="ok"),
        "changes": total(reads, tenant="acme", outcome="changes"),
        "expired": total(reads, tenant="acme", outcome="token_expired"),
    }
    sid = stack.put("feed-metrics")
    wait_for(lambda: stack.synced(sid), WAIT_S, "first sync")
    cal = str(stack.binding(sid).calendar_id)
    stack.clock_pass()  # opens the channel and takes the calendar's first token (a full read)
    wait_for(lambda: (r := stack.feed_rows().get(cal)) is not None and r.channel_id is not None, WAIT_S, "channel")
    wait_for(_followed(stack, cal), WAIT_S, "first sync of the calendar")
    assert total("muster_push_channel_ops_total", tenant="acme", op="watch", outcome="ok") - start["watch"] >= 1
    assert total(reads, tenant="acme", outcome="changes") - start["changes"] >= 1

    # a change in Google: its notification is judged "sync" and the calendar's changes are read
    stack.edit_in_google(sid, "Renamed in Google")
    wait_for(lambda: stack.summary(sid) == "Intro to SQL", WAIT_S, "push-driven repair")
    assert total(push, tenant="acme", result="sync") - start["sync"] >= 1
    assert total(reads, tenant="acme", outcome="changes") - start["changes"] >= 2

    # a refused sync token (410) is counted before the full read that follows
    stack.emu.control("POST", f"calendars/{cal}/invalidate-sync-tokens")
    stack.edit_in_google(sid, "Renamed again")
    wait_for(lambda: stack.summary(sid) == "Intro to SQL", WAIT_S, "repair after the 410")
    assert total(reads, tenant="acme", outcome="token_expired") - start["expired"] == 1

    # forged and malformed notifications, by verdict; a notification naming no calendar has no tenant
    url = f"{stack.url}/google/push"
    channel = str(stack.feed_rows()[cal].channel_id)
    assert httpx.post(url, headers={"X-Goog-Channel-ID": channel, "X-Goog-Channel-Token": "nope",
                                    "X-Goog-Resource-State": "exists"}).status_code == 403
    assert httpx.post(url, headers={"X-Goog-Resource-State": "exists"}).status_code == 400
    assert total(push, tenant="acme", result="forged") - start["forged"] == 1
    assert total(push, tenant="none", result="bad") - start["bad"] == 1
    ok = httpx.post(url, headers={"X-Goog-Channel-ID": channel, "X-Goog-Resource-State": "exists",
                                  "X-Goog-Channel-Token": channels.channel_token(stack.settings.secret_key, channel)})
    assert ok.status_code == 200
    values = {v for s in metrics.local_samples() for v in s.labels.values()}
    assert channel not in values and cal not in values  # never a channel id or a calendar in a label
