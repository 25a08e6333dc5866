"""Input of the shared approval pages: step-up re-authentication."""

from django import forms


class ReauthForm(forms.Form):
    """Re-enter the password (and TOTP code, when enrolled) before deciding."""

    password = forms.CharField(widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}), strip=False)
    otp_token = forms.CharField(
        label="Authenticator code",
        required=False,
        max_length=12,
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric"}),
    )
