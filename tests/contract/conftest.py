"""Contract-test fixtures: one in-process emulator per session, real Google clients against it.

Where it sits: ``tests/contract``. The emulator runs over real HTTP (``EmulatorServer`` on a free port);
clients are built by ``connectors.google.clients.build_service`` with real google-auth credentials
(an RSA key generated once per session for the service account) and a schema-validating transport.
Each test gets a freshly reset and populated world (``ws`` fixture), so tests do not see each other's
events; the server and the key are shared to keep the suite fast.
"""

from __future__ import annotations

import http.server
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import google_auth_httplib2
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from connectors.google.clients import build_service, service_account_credentials, user_credentials
from connectors.google_emulator.server import EmulatorServer
from connectors.google_emulator.state import EmulatorOptions, World
from tests.contract.validating_http import ValidatingHttp

DOMAIN = "corp.test"
SA_EMAIL = "sync@vendor-project.iam.gserviceaccount.com"
SA_CLIENT_ID = "104857600000000000042"
SA_KEY_ID = "k1"
OAUTH_CLIENT_ID = "1234-emu.apps.googleusercontent.com"
OAUTH_SECRET = "emu-secret"
REDIRECT_URI = "http://127.0.0.1:9/callback"
CAL = "https://www.googleapis.com/auth/calendar"
CAL_EVENTS = "https://www.googleapis.com/auth/calendar.events"
ROOM = "c_room1@resource.calendar.google.com"
ALICE, BOB, CAROL, DAVE, ERIN = (f"{n}@{DOMAIN}" for n in ("alice", "bob", "carol", "dave", "erin"))
GUEST = "guest@gmail.com"


@dataclass
class SaKey:
    private_pem: str
    public_pem: str

    def info(self, token_uri: str) -> dict[str, Any]:
        return {
            "type": "service_account",
            "project_id": "vendor-project",
            "private_key_id": SA_KEY_ID,
            "private_key": self.private_pem,
            "client_email": SA_EMAIL,
            "client_id": SA_CLIENT_ID,
            "token_uri": token_uri,
        }


@pytest.fixture(scope="session")
def sa_key() -> SaKey:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    public = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return SaKey(private, public)


@pytest.fixture(scope="session")
def server() -> Iterator[EmulatorServer]:
    world = World(options=EmulatorOptions(conference_delay_s=0.0, room_response_delay_s=0.05))
    with EmulatorServer(world=world) as srv:
        yield srv


def populate(world: World, key: SaKey) -> None:
    world.add_domain(DOMAIN)
    world.add_user(ALICE, name={"fullName": "Alice A"}, isAdmin=True, timeZone="Europe/Berlin")
    world.add_user(BOB, name={"fullName": "Bob B"})
    world.add_user(CAROL, suspended=True, suspensionReason="ADMIN")
    world.add_user(DAVE, deleted=True)
    world.add_user(ERIN)
    world.add_resource(
        {
            "resourceEmail": ROOM,
            "resourceId": "111",
            "resourceName": "Room 1",
            "generatedResourceName": "HQ-1-Room 1 (6)",
            "capacity": 6,
        }
    )
    world.add_service_account(SA_EMAIL, key.public_pem, private_key_id=SA_KEY_ID, client_id=SA_CLIENT_ID)
    world.add_delegation_grant(SA_CLIENT_ID, DOMAIN, [CAL])
    world.add_oauth_client(OAUTH_CLIENT_ID, OAUTH_SECRET, [REDIRECT_URI])


@dataclass
class Ws:
    """The populated world of one test plus builders of real clients against it."""

    server: EmulatorServer
    key: SaKey
    https: list[ValidatingHttp] = field(default_factory=list)

    @property
    def world(self) -> World:
        return self.server.world

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def token_uri(self) -> str:
        return self.url + "token"

    def _http(self, creds: Any) -> Any:
        raw = ValidatingHttp(timeout=10)
        self.https.append(raw)
        return google_auth_httplib2.AuthorizedHttp(creds, http=raw)

    def sa_creds(self, subject: str | None, scopes: list[str] | None = None) -> Any:
        return service_account_credentials(
            self.key.info(self.token_uri), scopes=scopes or [CAL], subject=subject, token_uri=self.token_uri
        )

    def calendar(self, creds: Any) -> Any:
        return build_service("calendar", "v3", root_url=self.url, http=self._http(creds))

    def as_user(self, email: str, scopes: list[str] | None = None) -> Any:
        """Calendar client of the service account impersonating ``email`` (domain-wide delegation)."""
        return self.calendar(self.sa_creds(email, scopes))

    def as_sa(self, scopes: list[str] | None = None) -> Any:
        """Calendar client of the service account acting as itself (no ``sub``)."""
        return self.calendar(self.sa_creds(None, scopes))

    def as_oauth_user(self, email: str, scopes: list[str] | None = None) -> Any:
        """Calendar client of an OAuth user (refresh token as the consent flow would have issued)."""
        rt = self.world.issue_refresh_token(email, OAUTH_CLIENT_ID, scopes or [CAL])
        creds = user_credentials(rt.token, OAUTH_CLIENT_ID, OAUTH_SECRET, scopes or [CAL], self.token_uri)
        return self.calendar(creds)


@pytest.fixture
def ws(server: EmulatorServer, sa_key: SaKey) -> Iterator[Ws]:
    server.world.reset()
    server.world.options = EmulatorOptions(conference_delay_s=0.0, room_response_delay_s=0.05)
    server.world.rng.seed(1234)
    populate(server.world, sa_key)
    w = Ws(server, sa_key)
    yield w
    for h in w.https:
        assert not h.violations, h.violations


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


class PushReceiver:
    """A tiny HTTP server recording push notifications."""

    def __init__(self) -> None:
        self.received: list[Received] = []
        self.cond = threading.Condition()
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                n = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(n) if n else b""
                with outer.cond:
                    outer.received.append(Received("POST", self.path, dict(self.headers.items()), body))
                    outer.cond.notify_all()
                self.send_response(200)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/hook"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def wait_for(self, n: int, timeout: float = 5.0) -> list[Received]:
        with self.cond:
            self.cond.wait_for(lambda: len(self.received) >= n, timeout)
            return list(self.received)

    def close(self) -> None:
        self.httpd.shutdown()


@pytest.fixture
def push_receiver() -> Iterator[PushReceiver]:
    r = PushReceiver()
    yield r
    r.close()


def timed(start: str, end: str, tz: str = "UTC") -> dict[str, Any]:
    return {"start": {"dateTime": start, "timeZone": tz}, "end": {"dateTime": end, "timeZone": tz}}


@pytest.fixture
def ev() -> Callable[..., dict[str, Any]]:
    """Body factory for a one-hour event."""

    def make(summary: str = "Session", *, day: int = 11, hour: int = 10, **extra: Any) -> dict[str, Any]:
        body = {
            "summary": summary,
            **timed(f"2027-01-{day:02d}T{hour:02d}:00:00Z", f"2027-01-{day:02d}T{hour + 1:02d}:00:00Z"),
        }
        body.update(extra)
        return body

    return make
