"""JWTs for people: HS256 only (pinned here, never read from the token), `exp`, `iss`, `aud`, `jti`."""

from __future__ import annotations

import jwt

from leadvibe.ids import new_id

ALGORITHM = "HS256"


class TokenError(Exception):
    """The token is missing, malformed, expired, or not ours."""


class TokenService:
    """Issues and verifies session tokens; revocations are kept by the caller (store + in-memory set)."""

    def __init__(self, key: bytes, *, issuer: str, audience: str, ttl_seconds: float) -> None:
        self._key = key
        self.issuer = issuer
        self.audience = audience
        self.ttl_seconds = ttl_seconds

    def issue(self, member_id: str, org_id: str, now_ms: int) -> tuple[str, str, int]:
        """-> (token, jti, expires_at_ms)."""
        iat = now_ms // 1000
        exp = iat + int(self.ttl_seconds)
        jti = new_id("tok")
        # `iat_ms`: the issue time to the millisecond, which a password change (members.sessions_after) is
        # compared with: a session begun in the same second after it is not one to end.
        claims = {"sub": member_id, "org": org_id, "iat": iat, "iat_ms": now_ms, "nbf": iat - 5, "exp": exp,
                  "iss": self.issuer, "aud": self.audience, "jti": jti}
        return jwt.encode(claims, self._key, algorithm=ALGORITHM), jti, exp * 1000

    @staticmethod
    def issued_ms(claims: dict[str, object]) -> int:
        """When a verified token was issued, in epoch ms (a token from before `iat_ms` was added: its second)."""
        precise = claims.get("iat_ms")
        return precise if isinstance(precise, int) else int(claims["iat"]) * 1000  # type: ignore[call-overload]

    def verify(self, token: str) -> dict[str, object]:
        """Claims of a valid token, else TokenError. `alg` other than HS256 (incl. none) is refused."""
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise TokenError("malformed token") from None
        if header.get("alg") != ALGORITHM:
            raise TokenError("unsupported token algorithm")
        try:
            claims = jwt.decode(
                token, self._key, algorithms=[ALGORITHM], issuer=self.issuer, audience=self.audience,
                options={"require": ["exp", "iat", "iss", "aud", "sub", "jti"]},
            )
        except jwt.ExpiredSignatureError:
            raise TokenError("token expired") from None
        except jwt.PyJWTError:
            raise TokenError("invalid token") from None
        return claims
