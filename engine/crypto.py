"""Encryption of credentials at rest (with key rotation), and hashing of API keys.

Where it sits: :class:`~engine.store.models.GoogleConnection` stores refresh tokens only as Fernet ciphertext
made here from ``MUSTER_SECRET_KEY``; the connector layer receives plaintext only in memory, at the
moment it builds credentials. ``MUSTER_SECRET_KEY`` may hold several keys (comma-separated, newest first):
the first encrypts, every one decrypts (cryptography's ``MultiFernet``), and :func:`rotate` re-encrypts a
ciphertext with the first key (``muster secrets rotate`` does it for every stored credential), after
which the older keys can be removed. API keys are random 256-bit strings, so a plain SHA-256 is the right
hash (a slow password hash would add nothing but latency to every request).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Sequence

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

#: API keys look like ``mk_<prefix>_<secret>``; the prefix finds the row, the whole key is hashed.
API_KEY_PREFIX_LEN = 8


class DecryptionError(Exception):
    """Ciphertext could not be read with the configured key (key changed, or data corrupted)."""


def _fernet(secret_key: str) -> Fernet:
    digest = hashlib.sha256(("muster-credentials:" + secret_key).encode()).digest()
    return Fernet(base64.urlsafe_b64encode(digest))


def _keys(secret_keys: str | Sequence[str]) -> list[str]:
    keys = [secret_keys] if isinstance(secret_keys, str) else list(secret_keys)
    if not keys:
        raise ValueError("no secret key configured")
    return keys


def _multi(secret_keys: str | Sequence[str]) -> MultiFernet:
    return MultiFernet([_fernet(k) for k in _keys(secret_keys)])


def encrypt(secret_keys: str | Sequence[str], plaintext: str) -> str:
    """Ciphertext of ``plaintext`` under the first key."""
    return _multi(secret_keys).encrypt(plaintext.encode()).decode()


def _undecryptable(count: int) -> DecryptionError:
    keys = "the configured key" if count == 1 else f"any of the {count} configured keys"
    return DecryptionError(
        f"stored credential cannot be decrypted with {keys} (MUSTER_SECRET_KEY): it was saved with a key "
        "that is no longer configured; put that key back in MUSTER_SECRET_KEY (after the new one, "
        "comma-separated), then run `muster secrets rotate`"
    )


def decrypt(secret_keys: str | Sequence[str], ciphertext: str) -> str:
    """Plaintext of ``ciphertext``, trying every key; :class:`DecryptionError` names the key problem."""
    try:
        return _multi(secret_keys).decrypt(ciphertext.encode()).decode()
    except InvalidToken:
        raise _undecryptable(len(_keys(secret_keys))) from None


def encrypted_with_first(secret_keys: str | Sequence[str], ciphertext: str) -> bool:
    """True when ``ciphertext`` is already under the first key (nothing to rotate)."""
    try:
        _fernet(_keys(secret_keys)[0]).decrypt(ciphertext.encode())
    except InvalidToken:
        return False
    return True


def rotate(secret_keys: str | Sequence[str], ciphertext: str) -> str:
    """``ciphertext`` re-encrypted under the first key (readable by any configured key before)."""
    try:
        return _multi(secret_keys).rotate(ciphertext.encode()).decode()
    except InvalidToken:
        raise _undecryptable(len(_keys(secret_keys))) from None


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
