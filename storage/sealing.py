"""Pseudonyms, sealed contact data and the keys behind them (docs/threat-model.md section 6).

- ``pseudonym``: HMAC-SHA256 of a Telegram user id under a key derived from
  the service secret. Stable for one user, meaningless without the secret.
- ``seal`` / ``unseal``: AES-256-GCM (authenticated encryption) of what is needed to
  reach a doctor, or what they answered, while it is needed. The row it belongs to
  (a pseudonym, a case code) is the associated data, so a sealed value copied to
  another row does not open. A sealed value starts with its format byte and the id of
  the key that sealed it, so a value sealed before a rotation is still read.
- ``statistics_tag``: an HMAC under a key of its own, for the statistics cells that are
  kept only as a tag (county and role, ``storage.statistics``).

The secret lives in the config file or the environment, never in the database. After
``kollega keys rotate`` the config names the new secret and keeps the old one under
``retired_keys``: a retired key only opens what it sealed; nothing new uses it.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import os
from collections.abc import Sequence

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from zxcvbn import zxcvbn

NONCE_BYTES = 12
FORMAT = b"\x01"
"""The first byte of a sealed value: format 1 is FORMAT, key id, nonce, ciphertext."""
KID_BYTES = 4
MIN_SECRET_BITS = 128
"""The entropy a secret needs, as estimated by :func:`secret_bits`."""


class SealBroken(Exception):
    """A sealed value did not open: wrong key, or the row was tampered with."""


def _derive(secret: str, purpose: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=b"kollega", info=purpose).derive(secret.encode())


def secret_bits(secret: str) -> float:
    """A cautious estimate of a secret's entropy in bits.

    Random characters count for what their alphabet allows (hex digits 4 bits each, letters
    and digits about 6, more with punctuation). But when zxcvbn (Dropbox's strength estimator)
    finds structure in it (words, repeats, sequences, keyboard runs, dates), it is worth what
    zxcvbn says it takes to guess: ``secrets.token_urlsafe(32)`` (what ``kollega init`` writes)
    gets about 250 bits, ``openssl rand -hex 16`` 128, "correct horse battery staple" 67.
    """
    alphabet = 16 if set(secret) <= HEX else sum(size for kind, size in ALPHABETS if any(kind(c) for c in secret))
    by_alphabet = len(secret) * math.log2(max(alphabet, 2))
    sample = secret[:ZXCVBN_LENGTH]
    guesses_log10 = float(zxcvbn(sample)["guesses_log10"])
    if guesses_log10 < 0.8 * len(sample):  # zxcvbn rates random text at about 1 digit per character
        return guesses_log10 * math.log2(10)
    return by_alphabet


HEX = frozenset("0123456789abcdef")
ALPHABETS = (
    (str.isdigit, 10), (str.islower, 26), (str.isupper, 26), (lambda c: c in "-_", 2),
    (lambda c: not c.isalnum() and c not in "-_", 31),
)  # fmt: skip
"""Character classes and how many characters each has (ASCII printable: 95 in all)."""
ZXCVBN_LENGTH = 100
"""zxcvbn looks at this much of a secret (its work grows quickly with length)."""


class Key:
    """The keys derived from one secret, and its id."""

    def __init__(self, secret: str) -> None:
        if len(secret) < 16:
            raise ValueError("the secret key must be at least 16 characters")
        self.pseudonym_key = _derive(secret, b"pseudonym")
        self.aead = AESGCM(_derive(secret, b"seal"))
        self.invite_key = _derive(secret, b"invite")
        self.statistics_key = _derive(secret, b"statistics")
        self.kid = hmac.new(_derive(secret, b"key-id"), b"kid", hashlib.sha256).digest()[:KID_BYTES]

    @property
    def id(self) -> str:
        return self.kid.hex()


class Keyring:
    """The current key (everything new) and any retired ones (reading only)."""

    def __init__(self, secret: str, retired: Sequence[str] = ()) -> None:
        self.current = Key(secret)
        self.retired = [Key(old) for old in retired if old != secret]
        self._by_kid = {key.kid: key for key in (*self.retired, self.current)}

    def pseudonym(self, telegram_user_id: int) -> str:
        return hmac.new(self.current.pseudonym_key, f"user:{telegram_user_id}".encode(), hashlib.sha256).hexdigest()

    def tag(self, message: str) -> str:
        """An HMAC tag binding a button to the one person it was sent to."""
        return hmac.new(self.current.pseudonym_key, f"tag:{message}".encode(), hashlib.sha256).hexdigest()

    def invite_hash(self, code: str) -> str:
        return hmac.new(self.current.invite_key, code.strip().upper().encode(), hashlib.sha256).hexdigest()

    def statistics_tag(self, text: str) -> str:
        return self.tag_with(self.current, text)

    @staticmethod
    def tag_with(key: Key, text: str) -> str:
        """A statistics tag under ``key`` (a retired key's, to read cells it tagged)."""
        return hmac.new(key.statistics_key, text.encode(), hashlib.sha256).hexdigest()[:24]

    def seal(self, reach: int, bound_to: str) -> bytes:
        return self.seal_bytes(str(reach).encode(), bound_to)

    def unseal(self, sealed: bytes, bound_to: str) -> int:
        return int(self.unseal_bytes(sealed, bound_to).decode())

    def seal_bytes(self, plain: bytes, bound_to: str) -> bytes:
        nonce = os.urandom(NONCE_BYTES)
        return FORMAT + self.current.kid + nonce + self.current.aead.encrypt(nonce, plain, bound_to.encode())

    def unseal_bytes(self, sealed: bytes, bound_to: str) -> bytes:
        for key, body in self._candidates(sealed):
            try:
                return key.aead.decrypt(body[:NONCE_BYTES], body[NONCE_BYTES:], bound_to.encode())
            except InvalidTag:
                continue
        raise SealBroken("sealed data did not open")

    def sealed_under(self, sealed: bytes) -> str | None:
        """The id of the key that sealed ``sealed`` (None: sealed before key ids)."""
        if sealed[:1] == FORMAT and len(sealed) > 1 + KID_BYTES + NONCE_BYTES:
            return sealed[1 : 1 + KID_BYTES].hex()
        return None

    def _candidates(self, sealed: bytes) -> list[tuple[Key, bytes]]:
        if sealed[:1] == FORMAT:
            key = self._by_kid.get(sealed[1 : 1 + KID_BYTES])
            if key is not None:
                return [(key, sealed[1 + KID_BYTES :])]
        # Sealed before values carried a key id: nonce and ciphertext, under the key of then.
        return [(key, sealed) for key in (self.current, *self.retired)]
