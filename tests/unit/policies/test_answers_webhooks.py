"""The answers and webhook settings: decline decisions and URL/event validation, table-driven."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from policies.answers import Action, AnswerChange, AnswersSettings, decide, next_waitlisted
from policies.schema import SettingError
from policies.settings import merged
from policies.webhooks import EVENT_TYPES, WebhookSettings

PROMOTE = {"on_decline": "cancel_and_promote"}


@pytest.mark.parametrize(
    ("settings", "change", "action"),
    [
        (None, AnswerChange("a@x", "needsAction", "declined", "enrolled"), Action.NONE),
        ({"on_decline": "report_only"}, AnswerChange("a@x", "accepted", "declined", "enrolled"), Action.NONE),
        (PROMOTE, AnswerChange("a@x", "accepted", "declined", "enrolled"), Action.CANCEL_AND_PROMOTE),
        (PROMOTE, AnswerChange("a@x", None, "declined", "enrolled"), Action.CANCEL_AND_PROMOTE),
        (PROMOTE, AnswerChange("a@x", "declined", "declined", "enrolled"), Action.NONE),  # no change: no action
        (PROMOTE, AnswerChange("a@x", "needsAction", "tentative", "enrolled"), Action.NONE),
        (PROMOTE, AnswerChange("a@x", "needsAction", "declined", "waitlisted"), Action.NONE),
        (PROMOTE, AnswerChange("h@x", "needsAction", "declined", None), Action.NONE),  # a host only reports
    ],
)
def test_decide(settings: dict[str, str] | None, change: AnswerChange, action: Action) -> None:
    assert decide(settings, change) is action


def test_the_next_waitlisted_learner_is_the_one_who_joined_first() -> None:
    t = [datetime(2026, 12, 1, h, tzinfo=UTC) for h in (9, 8, 8)]
    assert next_waitlisted([("b@x", t[0]), ("c@x", t[1]), ("a@x", t[2])]) == "a@x"
    assert next_waitlisted([]) is None


@pytest.mark.parametrize(
    ("data", "field", "phrase"),
    [
        ({"on_decline": "unenroll"}, "answers.on_decline", "report_only, cancel_and_promote"),
        ({"on_decline": True}, "answers.on_decline", "report_only"),
        ({"decline": "report_only"}, "answers.decline", "unknown setting"),
    ],
)
def test_bad_answers_settings_name_the_field(data: dict[str, object], field: str, phrase: str) -> None:
    with pytest.raises(SettingError) as exc:
        AnswersSettings.parse(data)
    assert exc.value.field == field and phrase in exc.value.message


@pytest.mark.parametrize(
    ("url", "phrase"),
    [
        ("ftp://platform.example/x", "https://"),
        ("http://platform.example/hooks", "http:// only for localhost"),
        ("https://user:pw@platform.example/hooks", "user name or password"),
        ("https:///nohost", "https://"),
        ("https://p.example/" + "x" * 2000, "at most 2000"),
        ("https://169.254.169.254/latest/meta-data", "not the internal address 169.254.169.254"),
        ("https://10.0.0.7/hooks", "internal address"),
        ("https://[::1]/hooks", "internal address"),
    ],
)
def test_bad_webhook_urls_are_refused_with_the_fix(url: str, phrase: str) -> None:
    with pytest.raises(SettingError) as exc:
        WebhookSettings.parse({"url": url})
    assert exc.value.field == "webhooks.url" and phrase in exc.value.message


def test_webhook_settings_defaults_events_and_round_trip() -> None:
    off = WebhookSettings.parse(None)
    assert off.url is None and not off.wants("enrollment.promoted") and off.events == list(EVENT_TYPES)
    local = WebhookSettings.parse({"url": " http://127.0.0.1:9/h ", "events": ["enrollment.promoted"]})
    assert local.url == "http://127.0.0.1:9/h" and local.wants("enrollment.promoted")
    assert not local.wants("session.sync_status_changed")
    assert WebhookSettings.parse({"url": ""}).url is None
    with pytest.raises(SettingError, match="unknown event type"):
        WebhookSettings.parse({"url": "https://p.example/h", "events": ["enrollment.deleted"]})
    stored = merged({}, {"webhooks": {"url": "https://p.example/h"}, "answers": PROMOTE})
    assert stored["webhooks"] == {"url": "https://p.example/h", "events": list(EVENT_TYPES)}
    assert stored["answers"] == PROMOTE


def test_the_rest_patch_takes_every_settings_section() -> None:
    from policies.settings import SECTIONS, SettingsPatch

    assert set(SettingsPatch.model_fields) == set(SECTIONS)
    patch = SettingsPatch.model_validate({"answers": {"on_decline": "cancel_and_promote"}, "webhooks": None})
    assert patch.changes() == {"answers": {"on_decline": "cancel_and_promote"}, "webhooks": None}
