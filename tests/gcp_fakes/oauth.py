"""Google's OAuth 2.0 token endpoint, faked: `gcloud auth login`, `application-default login`
and a service-account key's token exchange.

gcloud's console flow (no browser here) prints the consent URL, reads the code the user pastes
and exchanges it at `auth/token_host` (https://developers.google.com/identity/protocols/oauth2/
native-app#exchange-authorization-code). This fake answers an authorization code or a refresh
token with an access token, a refresh token and an ID token naming `email` (gcloud reads the
account from it; nobody verifies its signature here). A service-account key (`service_account_key`)
is exchanged as https://developers.google.com/identity/protocols/oauth2/service-account#authorizingrequests
says: grant type `urn:ietf:params:oauth:grant-type:jwt-bearer`, an `assertion` JWT signed with
the key, whose `iss` is the account, `aud` "https://oauth2.googleapis.com/token" (wherever the
key's `token_uri` sends it) and `scope` the scopes asked for; the fake verifies the signature
with the key's public part. Any other grant is refused. oauthlib
refuses a token endpoint over plain http unless OAUTHLIB_INSECURE_TRANSPORT=1 is set.
"""

from __future__ import annotations

import base64
import json
from urllib.parse import parse_qs

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from google.auth import exceptions, jwt

from tests.gcp_fakes.server import Refused, Request, Service, route

JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
AUDIENCE = "https://oauth2.googleapis.com/token"


def refused(code: str, description: str) -> Refused:
    return Refused(400, f"{code}: {description}", {"error": code, "error_description": description})


def segment(value: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()


class OAuth(Service):
    """The token endpoint; `email` is the account every login signs in as."""

    def __init__(self, email: str = "you@example.com") -> None:
        super().__init__(api="oauth")
        self.email = email
        self.public_keys: dict[str, bytes] = {}  # service account -> its key's public part (PEM)
        self.scopes: list[str] = []  # the scopes of each service-account token issued

    def service_account_key(self, email: str, project: str, token_uri: str) -> dict:
        """A new key of `email`, in the JSON form IAM's keys.create returns (what a user's
        GOOGLE_APPLICATION_CREDENTIALS names), its `token_uri` this endpoint."""
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.public_keys[email] = key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        private = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        return {
            "type": "service_account",
            "project_id": project,
            "private_key_id": "0" * 40,
            "private_key": private.decode(),
            "client_email": email,
            "client_id": "1",
            "token_uri": token_uri,
        }

    def _assertion(self, assertion: str) -> dict:
        """The assertion's claims, once its signature, issuer, audience and scope hold."""
        issuer = jwt.decode(assertion, verify=False).get("iss", "")
        if issuer not in self.public_keys:
            raise refused("invalid_grant", f"no key of {issuer!r}")
        try:
            claims = jwt.decode(assertion, certs=self.public_keys[issuer], audience=AUDIENCE)
        except (exceptions.GoogleAuthError, ValueError) as error:
            raise refused("invalid_grant", str(error)) from error
        if not claims.get("scope"):
            raise refused("invalid_scope", "the assertion asks for no scope")
        return claims

    @route("POST", r"/token")
    def token(self, request: Request) -> dict:
        form = {k: v[-1] for k, v in parse_qs(request.body.decode()).items()}
        grant = form.get("grant_type")
        if grant == JWT_BEARER:
            self.scopes.append(self._assertion(form.get("assertion", ""))["scope"])
            return {"access_token": "ya29.local-sa", "expires_in": 3600, "token_type": "Bearer"}
        if grant not in {"authorization_code", "refresh_token"}:
            raise refused("unsupported_grant_type", repr(grant))
        if not form.get("client_id"):
            raise refused("invalid_request", "no client_id")
        if grant == "authorization_code" and not form.get("code"):
            raise refused("invalid_grant", "no code")
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
