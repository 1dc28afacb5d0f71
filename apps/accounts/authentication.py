"""DRF authentication by service token: `Authorization: Bearer gpt_...`. Sessions stay for the browser."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions

from .tokens import token_authenticate


class ServiceTokenAuthentication(authentication.BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).decode("latin-1")
        if not header:
            return None
        keyword, _, raw = header.partition(" ")
        if keyword.lower() != self.keyword.lower():
            return None
        token = token_authenticate(raw.strip())
        if token is None:
            raise exceptions.AuthenticationFailed("The token is unknown, expired or revoked.")
        user = token.account
        user.api_token = token  # permissions narrow this user to the token's scopes; Actor.of() names the token
        return user, token

    def authenticate_header(self, request):
        return f'{self.keyword} realm="api"'


class ServiceTokenScheme(OpenApiAuthenticationExtension):
    """How the OpenAPI schema describes service tokens."""

    target_class = "apps.accounts.authentication.ServiceTokenAuthentication"
    name = "serviceToken"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "bearer", "bearerFormat": "gpt_<prefix>_<secret>"}
