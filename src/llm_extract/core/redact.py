"""Scrubbing secrets out of text before it is stored, printed or rendered.

Servers echo request headers in error bodies and users put keys in URLs (`https://user:key@host`,
`?api-key=...`); both would otherwise reach out.jsonl, the manifest, eval reports, the review page and
the terminal. Everything that turns a server's words or a configured URL into output passes through here.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

MASK = "***"
_MIN_SECRET = 4  # shorter "secrets" (e.g. a placeholder key "x") would mask ordinary letters

# Credential-like names, in headers (`x-goog-api-key:`, `Ocp-Apim-Subscription-Key:`, `Cookie:`) and in query
# strings (`?subscription-key=`, `&auth_token=`, `X-Amz-Signature=`, `;SharedAccessKey=`, URL-encoded
# `api%2Dkey=`): any name that ends in one of these words. Whole words only: "monkey=1" is not a key, "apiKey",
# "accessToken" and "SharedAccessKey" (camelCase) are.
_SEPARATOR = r"(?:[-_.]|%2[dD]|%5[fF])"
_SECRET_WORD = (
    rf"(?i:authorization|api{_SEPARATOR}?key|key|token|secret|signature|sig|password|passwd|credential|cookie)"
)
_SECRET_NAME = rf"(?:[A-Za-z0-9]+{_SEPARATOR})*(?:[A-Za-z0-9]*[a-z0-9](?=[A-Z]))?{_SECRET_WORD}"
_HEADER_VALUE = re.compile(
    rf"(?<![A-Za-z0-9_-])({_SECRET_NAME})"
    r"(\\?['\"]?\s*:\s*\\?['\"]?)([^'\"\\\r\n,;}]+)"
)
_BEARER = re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]+")
_SK_KEY = re.compile(r"\bsk-[A-Za-z0-9_-]{6,}")
# `code=` is how Azure Functions pass their key; only as a query value (an error's "code: 500" is not a secret).
_QUERY_VALUE = re.compile(rf"(?<![A-Za-z0-9_-])({_SECRET_NAME}|code)\s*=\s*([^&#\s'\",;\\]+)")
_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/\s@'\"<>]+@")


def scrub_text(text: str, secrets: Iterable[str | None] = ()) -> str:
    """`text` with known secret values, bearer tokens, sk- keys, auth header values, key-like query values and
    URL credentials replaced by ***."""
    for secret in secrets:
        if secret and len(secret) >= _MIN_SECRET:
            text = text.replace(secret, MASK)
    text = _USERINFO.sub(rf"\1{MASK}@", text)
    text = _HEADER_VALUE.sub(rf"\1\2{MASK}", text)
    text = _BEARER.sub(rf"\1 {MASK}", text)
    text = _SK_KEY.sub(f"sk-{MASK}", text)
    return _QUERY_VALUE.sub(rf"\1={MASK}", text)


def scrub_optional(text: str | None, secrets: Iterable[str | None] = ()) -> str | None:
    """scrub_text for fields that may be None."""
    return None if text is None else scrub_text(text, secrets)


def scrub_url(url: str | None) -> str | None:
    """A URL fit for a manifest: `user:key@` and key-like query values masked, the rest (host, path) kept."""
    return scrub_optional(url)
