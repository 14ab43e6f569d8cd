"""Who may use refscope's endpoints: loopback peers, or anyone with the token."""

from __future__ import annotations

import hmac
import ipaddress

__all__ = ["AccessPolicy", "is_loopback"]


def is_loopback(peer: str | None) -> bool:
    """Whether ``peer`` (an IP address as text) is a loopback address. Unknown or
    malformed peers (a Unix socket, a proxy header gone wrong) are not."""
    if not peer:
        return False
    text = peer.strip()
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    text = text.split("%", 1)[0]  # IPv6 zone index
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return False
    mapped = getattr(address, "ipv4_mapped", None)  # ::ffff:127.0.0.1
    if mapped is not None:
        address = mapped
    return address.is_loopback


def _bearer(authorization: str | None) -> str | None:
    if not authorization:
        return None
    scheme, _, credentials = authorization.strip().partition(" ")
    if scheme.lower() != "bearer":
        return None
    return credentials.strip() or None


class AccessPolicy:
    """Without a token, only loopback peers are served. With a token, every request must
    carry it (``Authorization: Bearer <token>`` or ``?token=<token>``), loopback ones too:
    behind a reverse proxy on the same host every peer looks like loopback."""

    __slots__ = ("_token",)

    def __init__(self, token: str | None = None) -> None:
        if token is not None:
            if not isinstance(token, str):
                raise TypeError(f"token must be a str or None, not {type(token).__name__}")
            if len(token) < 16:
                raise ValueError(
                    "token must be at least 16 characters (use secrets.token_urlsafe())"
                )
        self._token = token.encode("utf-8") if token is not None else None

    @property
    def requires_token(self) -> bool:
        return self._token is not None

    def check(
        self, peer: str | None, authorization: str | None, query_token: str | None
    ) -> str | None:
        """``None`` when the request may be served, else why it may not (for a 403)."""
        if self._token is None:
            if is_loopback(peer):
                return None
            return (
                "refscope endpoints answer loopback clients only; "
                "configure a token to serve other addresses"
            )
        presented = _bearer(authorization) or query_token
        if presented is not None and hmac.compare_digest(
            presented.encode("utf-8", "replace"), self._token
        ):
            return None
        return "refscope endpoints need a valid token (Authorization: Bearer or ?token=)"
