"""Authentication backend that refuses log-ins while the user name is locked."""

from django.contrib.auth.backends import ModelBackend
from django.core.exceptions import PermissionDenied

from accounts import audit, services


class ThrottledModelBackend(ModelBackend):
    """ModelBackend that stops at a locked user name + address, even with the right password.

    Covers every password log-in (the login page, the admin); failures are counted by the
    user_login_failed signal (accounts/signals.py).
    """

    def authenticate(self, request, username=None, password=None, **kwargs):
        if username is None:
            username = kwargs.get(self.get_user_model_username_field())
        if username is not None and services.login_locked_until(username, audit.client_ip(request)):
            # PermissionDenied tells django.contrib.auth.authenticate to try no other backend.
            raise PermissionDenied("login locked")
        return super().authenticate(request, username=username, password=password, **kwargs)

    @staticmethod
    def get_user_model_username_field():
        from django.contrib.auth import get_user_model

        return get_user_model().USERNAME_FIELD
