"""Count failed log-ins and clear the count on success (the log-in throttle)."""

from django.contrib.auth.signals import user_logged_in, user_login_failed
from django.dispatch import receiver

from accounts import audit, services


@receiver(user_login_failed, dispatch_uid="accounts_login_failed")
def count_failure(sender, credentials, request=None, **kwargs):
    username = credentials.get("username")
    if username:
        services.login_failed(username=username, ip=audit.client_ip(request))


@receiver(user_logged_in, dispatch_uid="accounts_logged_in")
def clear_failures(sender, request, user, **kwargs):
    services.login_succeeded(username=user.get_username(), ip=audit.client_ip(request))
