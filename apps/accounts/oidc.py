"""Single sign-on through OpenID Connect (on with PORTAL_OIDC_ENABLED; see docs/operations.md)."""

from mozilla_django_oidc.auth import OIDCAuthenticationBackend


class PortalOIDCBackend(OIDCAuthenticationBackend):
    """Signs in existing, active portal users matched by verified e-mail; roles stay the portal's."""

    def filter_users_by_claims(self, claims):
        email = claims.get("email")
        # Only an IdP that says it verified the address (a JSON true) vouches for it: a missing or
        # any other email_verified is unverified, or anyone who can set an e-mail there could sign in.
        if not email or claims.get("email_verified") is not True:
            return self.UserModel.objects.none()
        return self.UserModel.objects.filter(email__iexact=email, is_active=True)
