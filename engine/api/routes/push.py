"""``POST /google/push``: Google's change notifications for the calendars Muster follows.

Where it sits: the web edge of the change feed (:mod:`engine.feed`). Google posts one bodyless request
per change with ``X-Goog-Channel-ID``, ``X-Goog-Channel-Token``, ``X-Goog-Resource-ID`` and
``X-Goog-Resource-State`` (reference §6.3); :func:`engine.feed.channels.judge` decides, then:

* the calendar's current channel, state ``exists``/``not_exists`` → 200, a coalesced incremental sync of
  that calendar is requested (:func:`engine.feed.dispatch.request_sync`); ``sync`` (the first message) → 200;
* a channel of Muster's that is stale (replaced by a renewal, of a calendar no longer followed, or naming no
  calendar Muster knows: then matched by its resource URI) → 200, and the channel is stopped after the
  answer (:func:`engine.feed.dispatch.request_stop`);
* a channel id or token that does not verify → 403; required headers missing → 400 naming them.

No API key (Google cannot send one): the channel token, an HMAC of the channel id under Muster's secret key,
is the proof. Nothing is written; the answer never waits for Google. Never a 500 on what Google sends.
"""

from __future__ import annotations

import logging

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy.exc import SQLAlchemyError

from engine.api.deps import context
from engine.feed import channels
from engine.feed.dispatch import request_stop, request_sync

router = APIRouter(tags=["google"])
log = logging.getLogger(__name__)


def _error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status)


@router.post(
    "/google/push",
    summary="Google Calendar push notification (called by Google, not by the platform)",
    status_code=200,
    responses={400: {"description": "required X-Goog-* headers missing"},
               403: {"description": "the channel token does not verify"},
               503: {"description": "the database is unreachable; Google retries"}},
)
def google_push(request: Request) -> JSONResponse:
    ctx = context(request)
    h = request.headers
    channel_id, state = h.get("x-goog-channel-id"), h.get("x-goog-resource-state")
    try:
        judged = channels.judge(ctx.engine, ctx.settings.all_secret_keys, channel_id=channel_id,
                                token=h.get("x-goog-channel-token"), state=state,
                                resource_uri=h.get("x-goog-resource-uri"))
    except SQLAlchemyError as exc:
        log.warning("push notification not judged: database unreachable: %s", exc)
        return _error(503, "unavailable", "the database is unreachable; try again")
    if judged.verdict == "bad":
        missing = [n for n, v in (("X-Goog-Channel-ID", channel_id), ("X-Goog-Resource-State", state)) if not v]
        return _error(400, "bad_notification", "missing header(s): " + ", ".join(missing))
    if judged.verdict == "forged":
        log.warning("push notification refused: channel %r with a token that does not verify", channel_id)
        return _error(403, "forged", "unknown channel or a token that does not verify")
    if judged.verdict == "sync" and judged.feed_id is not None:
        request_sync(judged.feed_id)
    elif judged.verdict == "stop" and judged.feed_id is not None and channel_id:
        request_stop(judged.feed_id, channel_id, h.get("x-goog-resource-id") or "")
    return JSONResponse({"status": judged.verdict})
