import getpass

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from accounts import services
from accounts.models import ApiToken, User


def _os_user():
    """Return who runs the command, for the audit log (no signed-in user here)."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "?"


class Command(BaseCommand):
    help = (
        "Issue an API token for an external system, acting as a service account; "
        "the key is printed once."
    )

    def add_arguments(self, parser):
        parser.add_argument("name", help="what the token is for, e.g. 'hotline-12345'")
        parser.add_argument("--user", required=True, help="service account the token acts as")
        parser.add_argument(
            "--scope",
            action="append",
            required=True,
            choices=[code for code, _label in ApiToken.SCOPES],
            help="repeat for several scopes",
        )

    def handle(self, *args, **options):
        try:
            user = User.objects.get(username=options["user"], is_active=True)
        except User.DoesNotExist:
            raise CommandError(f"no active user {options['user']!r}") from None
        try:
            token, raw = services.issue_api_token(
                name=options["name"],
                user=user,
                scopes=options["scope"],
                via=f"manage.py issue_api_token ({_os_user()})",
            )
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from None
        self.stdout.write(f"token {token.prefix} for {user.username}: {raw}")
