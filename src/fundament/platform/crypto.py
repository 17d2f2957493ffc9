"""Keyed hashes and envelope encryption for personal values (AES-256-GCM, `cryptography`).

Each data subject gets a random data key; it is stored only wrapped (encrypted) under the
installation's master key. Destroying a subject's wrapped key — crypto-shredding — makes
every value encrypted under it unreadable, wherever copies of the ciphertext live.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

_NONCE = 12


def subject_hash(master: bytes, tenant_id: str, subject: str) -> bytes:
    """Keyed hash naming a subject in logs and events without revealing who it is."""
    return hmac.new(master, f"{tenant_id}\x00{subject}".encode(), hashlib.sha256).digest()


def new_data_key() -> bytes:
    return AESGCM.generate_key(bit_length=256)


def seal(key: bytes, plaintext: bytes, *, aad: bytes = b"") -> bytes:
    nonce = os.urandom(_NONCE)
    return nonce + AESGCM(key).encrypt(nonce, plaintext, aad)


def open_sealed(key: bytes, sealed: bytes, *, aad: bytes = b"") -> bytes:
    return AESGCM(key).decrypt(sealed[:_NONCE], sealed[_NONCE:], aad)


def wrap_key(master: bytes, data_key: bytes, *, context: bytes) -> bytes:
    return seal(hashlib.sha256(master).digest(), data_key, aad=context)


def unwrap_key(master: bytes, wrapped: bytes, *, context: bytes) -> bytes:
    return open_sealed(hashlib.sha256(master).digest(), wrapped, aad=context)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def unb64(text: str) -> bytes:
    return base64.b64decode(text)
