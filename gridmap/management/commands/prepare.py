from django.core.management import call_command
from django.core.management.base import BaseCommand

from gridmap import dbroles


class Command(BaseCommand):
    help = (
        "Check the database, collect static files, and with --migrate/--demo migrate and load "
        "the demo district: the set-up steps of make run and make test in one process. "
        "Migrations and the demo run as the schema owner; the app role is granted its rights."
    )

    def add_arguments(self, parser):
        parser.add_argument("--migrate", action="store_true")
        parser.add_argument("--demo", action="store_true", help="migrate and load the demo")

    def handle(self, *args, **options):
        with dbroles.as_owner():
            call_command("dbcheck")
        call_command("collectstatic", interactive=False, verbosity=0)
        if options["migrate"] or options["demo"]:
            with dbroles.as_owner():
                call_command("migrate", interactive=False, verbosity=0)
                call_command("dbgrants", verbosity=0)
        if options["demo"]:
            with dbroles.as_owner():
                call_command("load_demo")
        call_command("dbcheck", app_role=True)
