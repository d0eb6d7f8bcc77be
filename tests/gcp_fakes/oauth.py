"""Google's OAuth 2.0 token endpoint, faked: `gcloud auth login` and `application-default login`.

gcloud's console flow (no browser here) prints the consent URL, reads the code the user pastes
and exchanges it at `auth/token_host` (https://developers.google.com/identity/protocols/oauth2/
native-app#exchange-authorization-code). This fake answers an authorization code or a refresh
token with an access token, a refresh token and an ID token naming `email` (gcloud reads the
account from it; nobody verifies its signature here), and refuses any other grant. oauthlib
refuses a token endpoint over plain http unless OAUTHLIB_INSECURE_TRANSPORT=1 is set.
"""

from __future__ import annotations

import base64
import json
from urllib.parse import parse_qs

from tests.gcp_fakes.server import Refused, Request, Service, route


def segment(value: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()


class OAuth(Service):
    """The token endpoint; `email` is the account every login signs in as."""

    def __init__(self, email: str = "you@example.com") -> None:
        super().__init__(api="oauth")
        self.email = email

    @route("POST", r"/token")
    def token(self, request: Request) -> dict:
        form = {k: v[-1] for k, v in parse_qs(request.body.decode()).items()}
        grant = form.get("grant_type")
        if grant not in {"authorization_code", "refresh_token"} or not form.get("client_id"):
            raise Refused(400, f"unsupported_grant_type or no client_id: {grant!r}")
        if grant == "authorization_code" and not form.get("code"):
            raise Refused(400, "invalid_grant: no code")
        claims = {
            "iss": "https://accounts.google.com",
            "aud": form["client_id"],
            "sub": "1",
            "email": self.email,
            "email_verified": True,
            "iat": 1_700_000_000,
            "exp": 4_100_000_000,
        }
        id_token = f"{segment({'alg': 'RS256', 'typ': 'JWT'})}.{segment(claims)}.c2lnbmF0dXJl"
        return {
            "access_token": "ya29.local-fake",
            "refresh_token": "1//local-fake",
            "id_token": id_token,
            "expires_in": 3600,
            "token_type": "Bearer",
        }
