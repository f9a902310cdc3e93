"""Pseudonyms and sealed contact data.

- ``pseudonym``: HMAC-SHA256 of a Telegram user id under a key derived from
  the service secret. Stable for one user, meaningless without the secret.
- ``seal`` / ``unseal``: AES-256-GCM (authenticated encryption) of the chat
  id needed to reach a doctor while a case is open. The pseudonym is the
  associated data, so a sealed value copied to another row does not open.

The secret lives in the config file or the environment, never in the database.
"""

from __future__ import annotations

import hashlib
import hmac
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

NONCE_BYTES = 12


class SealBroken(Exception):
    """A sealed value did not open: wrong key, or the row was tampered with."""


def _derive(secret: str, purpose: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=b"kollega", info=purpose).derive(secret.encode())


class Keyring:
    """The keys derived from the service secret."""

    def __init__(self, secret: str) -> None:
        if len(secret) < 16:
            raise ValueError("the secret key must be at least 16 characters")
        self._pseudonym_key = _derive(secret, b"pseudonym")
        self._aead = AESGCM(_derive(secret, b"seal"))
        self._invite_key = _derive(secret, b"invite")

    def pseudonym(self, telegram_user_id: int) -> str:
        return hmac.new(self._pseudonym_key, f"user:{telegram_user_id}".encode(), hashlib.sha256).hexdigest()

    def tag(self, message: str) -> str:
        """An HMAC tag binding a button to the one person it was sent to."""
        return hmac.new(self._pseudonym_key, f"tag:{message}".encode(), hashlib.sha256).hexdigest()

    def invite_hash(self, code: str) -> str:
        return hmac.new(self._invite_key, code.strip().upper().encode(), hashlib.sha256).hexdigest()

    def seal(self, reach: int, pseudonym: str) -> bytes:
        nonce = os.urandom(NONCE_BYTES)
        return nonce + self._aead.encrypt(nonce, str(reach).encode(), pseudonym.encode())

    def unseal(self, sealed: bytes, pseudonym: str) -> int:
        try:
            plain = self._aead.decrypt(sealed[:NONCE_BYTES], sealed[NONCE_BYTES:], pseudonym.encode())
        except InvalidTag as error:
            raise SealBroken("sealed contact data did not open") from error
        return int(plain.decode())
