"""API tokens: high-entropy random strings of which only a SHA-256 hash is stored.

A slow password hash is not needed: the token carries 256 random bits, so its hash cannot be
brute-forced, and an indexed lookup by hash keeps authentication one query.
"""

from __future__ import annotations

import hashlib
import secrets

#: makes tokens recognisable in logs and secret scanners
TOKEN_PREFIX = "amtl_"


def generate_token() -> str:
    """A new random token (``amtl_`` + 43 URL-safe characters, 256 bits of entropy)."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    """The hex SHA-256 of a token, as stored in ``automtl_api_tokens.token_hash``."""
    if not token:
        raise ValueError("token: must be a non-empty string")
    return hashlib.sha256(token.encode("utf-8")).hexdigest()
