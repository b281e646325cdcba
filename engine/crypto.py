"""Encryption of credentials at rest, and hashing of API keys.

Where it sits: :class:`~engine.store.models.GoogleConnection` stores refresh tokens only as Fernet ciphertext
made here from ``MUSTER_SECRET_KEY``; the connector layer receives plaintext only in memory, at the
moment it builds credentials. API keys are random 256-bit strings, so a plain SHA-256 is the right
hash (a slow password hash would add nothing but latency to every request).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

from cryptography.fernet import Fernet, InvalidToken

#: API keys look like ``mk_<prefix>_<secret>``; the prefix finds the row, the whole key is hashed.
API_KEY_PREFIX_LEN = 8


class DecryptionError(Exception):
    """Ciphertext could not be read with the configured key (key changed, or data corrupted)."""


def _fernet(secret_key: str) -> Fernet:
    digest = hashlib.sha256(("muster-credentials:" + secret_key).encode()).digest()
    return Fernet(base64.urlsafe_b64encode(digest))


def encrypt(secret_key: str, plaintext: str) -> str:
    return _fernet(secret_key).encrypt(plaintext.encode()).decode()


def decrypt(secret_key: str, ciphertext: str) -> str:
    try:
        return _fernet(secret_key).decrypt(ciphertext.encode()).decode()
    except InvalidToken:
        raise DecryptionError(
            "stored credential cannot be decrypted: MUSTER_SECRET_KEY differs from the key it was saved "
            "with; restore the old key or ask the person to reconnect Google"
        ) from None


def new_api_key() -> tuple[str, str, str]:
    """Return ``(key, prefix, key_hash)`` for a fresh API key. Show ``key`` once; store the rest."""
    prefix = secrets.token_hex(API_KEY_PREFIX_LEN // 2)
    key = f"mk_{prefix}_{secrets.token_urlsafe(32)}"
    return key, prefix, hash_api_key(key)


def hash_api_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def api_key_prefix(key: str) -> str | None:
    """The prefix part of a well-formed key, or None if ``key`` is not shaped like one of ours."""
    parts = key.split("_", 2)
    if len(parts) != 3 or parts[0] != "mk" or len(parts[1]) != API_KEY_PREFIX_LEN:
        return None
    return parts[1]


def api_key_matches(key: str, key_hash: str) -> bool:
    return hmac.compare_digest(hash_api_key(key), key_hash)
