"""The Google calendar factory keeps one port per service-account identity and thread, and none for OAuth.

Where it sits: ``tests/unit/connectors``; no network (ports build their client lazily, on first call).
"""

from __future__ import annotations

import threading

from connectors.google.calendar import GoogleCalendarFactory
from connectors.ports.calendar import Actor


class _NoCredentials:
    def credentials_for(self, actor: Actor, scopes: object) -> object:  # never called: no request is made
        raise AssertionError("no request expected")


def test_one_port_per_identity_and_thread_and_a_fresh_one_for_oauth() -> None:
    factory = GoogleCalendarFactory(_NoCredentials(), root_url="http://127.0.0.1:9/")  # type: ignore[arg-type]
    owner = Actor("vendor", "owner@vendor.example")
    assert factory(owner) is factory(owner)
    assert factory(owner) is not factory(Actor("vendor", "other@vendor.example"))
    oauth = Actor("oauth", "ada@acme.example")
    assert factory(oauth) is not factory(oauth)
    seen: list[object] = []
    thread = threading.Thread(target=lambda: seen.append(factory(owner)))
    thread.start()
    thread.join()
    assert seen[0] is not factory(owner)  # another thread gets its own port
