"""Table-driven tests of the successor policy (pure: no fixtures, no I/O)."""

from __future__ import annotations

import pytest

from policies.successor import (
    Decision,
    FallbackFacts,
    HostFacts,
    Outcome,
    SessionFacts,
    SuccessorRules,
    TransferRules,
    affected,
    choose_successor,
)

ORG = HostFacts("org@acme.example", 0, "organizer", "leaving", True)
A = HostFacts("a@acme.example", 1, "co_host", "active", True)
A_OFF = HostFacts("a@acme.example", 1, "co_host", "active", False)
A_GONE = HostFacts("a@acme.example", 1, "co_host", "suspended", True)
B = HostFacts("b@acme.example", 2, "co_host", "active", True)
P = HostFacts("p@acme.example", 1, "presenter", "active", True)
FB = FallbackFacts("fallback@acme.example", "active", True)
FB_OFF = FallbackFacts("fallback@acme.example", "active", False)
FB_GONE = FallbackFacts("fallback@acme.example", "suspended", True)
NO_FB = FallbackFacts(None)


def s(*hosts: HostFacts, owner: str | None = "org@acme.example") -> SessionFacts:
    return SessionFacts("s1", "Design thinking", tuple(hosts), owner)


CASES = [
    # id, session, fallback, rules, also_departing, outcome, successor  (departing: org@ unless noted)
    ("first connected co-host", s(ORG, A, B), FB, None, (), Outcome.CO_HOST, "a@acme.example"),
    ("host order not list order", s(B, ORG, A), FB, None, (), Outcome.CO_HOST, "a@acme.example"),
    ("skip unconnected co-host", s(ORG, A_OFF, B), FB, None, (), Outcome.CO_HOST, "b@acme.example"),
    ("skip suspended co-host", s(ORG, A_GONE, B), FB, None, (), Outcome.CO_HOST, "b@acme.example"),
    ("skip co-host leaving in the same batch", s(ORG, A, B), FB, None, ("A@acme.example",),
     Outcome.CO_HOST, "b@acme.example"),
    ("presenter not eligible by default", s(ORG, P), FB, None, (), Outcome.FALLBACK, "fallback@acme.example"),
    ("presenter eligible when opted in", s(ORG, P), FB, SuccessorRules(("co_host", "presenter")), (),
     Outcome.CO_HOST, "p@acme.example"),
    ("no co-host: fallback", s(ORG), FB, None, (), Outcome.FALLBACK, "fallback@acme.example"),
    ("only unconnected co-host: fallback", s(ORG, A_OFF), FB, None, (), Outcome.FALLBACK,
     "fallback@acme.example"),
    ("fallback not connected: blocked", s(ORG, A_OFF), FB_OFF, None, (), Outcome.BLOCKED, None),
    ("fallback suspended: blocked", s(ORG), FB_GONE, None, (), Outcome.BLOCKED, None),
    ("no fallback: blocked", s(ORG), NO_FB, None, (), Outcome.BLOCKED, None),
    ("fallback is the one leaving: blocked", s(ORG), FallbackFacts("org@acme.example", "active", True),
     None, (), Outcome.BLOCKED, None),
    ("someone else owns the event", s(ORG, A, owner="a@acme.example"), FB, None, (),
     Outcome.NOT_AFFECTED, None),
    ("never synced: first host is the owner", s(ORG, A, owner=None), FB, None, (), Outcome.CO_HOST,
     "a@acme.example"),
    ("never synced, co-host leaving: not affected", s(ORG, A, owner=None), FB, None, (),
     Outcome.NOT_AFFECTED, None),
]
#: Cases where the person leaving is the co-host a@ rather than the organizer.
CO_HOST_LEAVES = {"never synced, co-host leaving: not affected"}


@pytest.mark.parametrize(("name", "session", "fallback", "rules", "also", "outcome", "successor"),
                         CASES, ids=[c[0] for c in CASES])
def test_choose_successor(name: str, session: SessionFacts, fallback: FallbackFacts,
                          rules: SuccessorRules | None, also: tuple[str, ...], outcome: Outcome,
                          successor: str | None) -> None:
    departing = "a@acme.example" if name in CO_HOST_LEAVES else "org@acme.example"
    decision = choose_successor(session, departing, fallback, rules, also)
    assert decision.outcome is outcome
    assert decision.successor_email == successor
    assert decision.session_id == "s1"
    if outcome is Outcome.BLOCKED:
        assert decision.needed
    else:
        assert decision.needed is None


NEEDED = [
    ("unconnected co-host named", s(ORG, A_OFF), NO_FB, ["connect Google for a@acme.example",
                                                          "set the tenant's fallback owner"]),
    ("fallback needs connecting", s(ORG), FB_OFF,
     ["connect Google for the fallback owner fallback@acme.example"]),
    ("fallback gone", s(ORG), FB_GONE, ["choose another fallback owner"]),
]


@pytest.mark.parametrize(("session", "fallback", "fragments"), [c[1:] for c in NEEDED],
                         ids=[c[0] for c in NEEDED])
def test_blocked_says_what_is_needed(session: SessionFacts, fallback: FallbackFacts,
                                     fragments: list[str]) -> None:
    decision = choose_successor(session, "org@acme.example", fallback)
    assert decision.outcome is Outcome.BLOCKED
    assert decision.needed is not None
    assert "Design thinking" in decision.needed
    for fragment in fragments:
        assert fragment in decision.needed


def test_email_case_is_ignored() -> None:
    session = s(ORG, A, owner="ORG@Acme.Example")
    assert affected(session, "org@acme.example")
    assert choose_successor(session, "Org@ACME.example", FB) == Decision(
        "s1", Outcome.CO_HOST, "a@acme.example",
        reason="next co-host in host order with a working Google connection")


RULES_OK = [
    (None, ("organizer", "co_host")),
    ({}, ("organizer", "co_host")),
    ({"eligibleRoles": ["presenter", "co_host", "presenter"]}, ("presenter", "co_host")),
]


@pytest.mark.parametrize(("settings", "roles"), RULES_OK)
def test_rules_from_settings(settings: dict[str, object] | None, roles: tuple[str, ...]) -> None:
    assert SuccessorRules.from_settings(settings).eligible_roles == roles


RULES_BAD = [
    ({"eligibleRole": ["co_host"]}, "successor.eligibleRole: unknown setting"),
    ({"eligibleRoles": "co_host"}, "successor.eligibleRoles: must be a non-empty list"),
    ({"eligibleRoles": []}, "successor.eligibleRoles: must be a non-empty list"),
    ({"eligibleRoles": ["boss"]}, "successor.eligibleRoles: unknown role 'boss'"),
    (["co_host"], "successor: must be an object"),
]


@pytest.mark.parametrize(("settings", "message"), RULES_BAD)
def test_rules_reject_bad_settings(settings: object, message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        SuccessorRules.from_settings(settings)  # type: ignore[arg-type]


@pytest.mark.parametrize(("settings", "release"), [(None, False), ({}, False),
                                                   ({"releaseResources": True}, True)])
def test_transfer_rules(settings: dict[str, object] | None, release: bool) -> None:
    assert TransferRules.from_settings(settings).release_resources is release


@pytest.mark.parametrize(("settings", "message"), [
    ({"releaseResources": "yes"}, "lifecycle.releaseResources: must be true or false"),
    ({"release": True}, "lifecycle.release: unknown setting"),
    ("x", "lifecycle: must be an object"),
])
def test_transfer_rules_reject(settings: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        TransferRules.from_settings(settings)  # type: ignore[arg-type]
