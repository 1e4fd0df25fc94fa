from django.core.management.base import BaseCommand, CommandError
from django.db import OperationalError, connection

from gridmap import dbroles


class Command(BaseCommand):
    help = "Check that the database answers and has PostGIS; one line either way."

    def add_arguments(self, parser):
        parser.add_argument(
            "--app-role",
            action="store_true",
            help="also say whether the app's role is a superuser or owns tables",
        )

    def handle(self, *args, **options):
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT postgis_lib_version()")
                version = cursor.fetchone()[0]
                report = dbroles.role_report(cursor) if options["app_role"] else None
        except OperationalError as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else repr(exc)
            raise CommandError(f"cannot reach the database (check DATABASE_URL): {first}") from None
        except Exception as exc:  # noqa: BLE001 (e.g. PostGIS missing: say so in one line)
            first = str(exc).strip().splitlines()[0]
            raise CommandError(f"the database is not usable for gridmap: {first}") from None
        if report is None:
            self.stdout.write(f"gridmap: database ok (PostGIS {version})")
            return
        superuser, owned = report
        role = connection.settings_dict["USER"]
        if superuser or owned:
            # Not fatal (a single-role deployment still works), but the audit log's
            # append-only rule is then only as strong as the application code.
            self.stderr.write(
                f"gridmap: WARNING: the app connects as {role}, which "
                + ("is a superuser" if superuser else f"owns {owned} tables, indexes or sequences")
                + "; set DATABASE_URL to a role that owns nothing (README, Database roles)"
            )
        else:
            self.stdout.write(f"gridmap: the app connects as {role}: no superuser, owns nothing")
