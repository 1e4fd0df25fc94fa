from django.core.management.base import BaseCommand
from django.db import connection, transaction

from gridmap import dbroles


class Command(BaseCommand):
    help = (
        "Grant the app's database role its rights on the owner's schema (run as the owner, "
        "after migrating: manage.py prepare does both)."
    )

    def handle(self, *args, **options):
        if not dbroles.separate_roles():
            self.stdout.write("gridmap: one database role for app and owner; nothing to grant")
            return
        with dbroles.as_owner(), transaction.atomic(), connection.cursor() as cursor:
            dbroles.grant_app_role(cursor, dbroles.app_role())
        self.stdout.write(f"gridmap: database role {dbroles.app_role()} granted its rights")
