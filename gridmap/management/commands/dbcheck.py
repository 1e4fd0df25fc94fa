from django.core.management.base import BaseCommand, CommandError
from django.db import OperationalError, connection


class Command(BaseCommand):
    help = "Check that the database answers and has PostGIS; one line either way."

    def handle(self, *args, **options):
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT postgis_lib_version()")
                version = cursor.fetchone()[0]
        except OperationalError as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else repr(exc)
            raise CommandError(f"cannot reach the database (check DATABASE_URL): {first}") from None
        except Exception as exc:  # noqa: BLE001 (e.g. PostGIS missing: say so in one line)
            first = str(exc).strip().splitlines()[0]
            raise CommandError(f"the database is not usable for gridmap: {first}") from None
        self.stdout.write(f"gridmap: database ok (PostGIS {version})")
