from django.core.management import call_command
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = (
        "Check the database, collect static files, and with --migrate/--demo migrate and load "
        "the demo district: the set-up steps of make run and make test in one process."
    )

    def add_arguments(self, parser):
        parser.add_argument("--migrate", action="store_true")
        parser.add_argument("--demo", action="store_true", help="migrate and load the demo")

    def handle(self, *args, **options):
        call_command("dbcheck")
        call_command("collectstatic", interactive=False, verbosity=0)
        if options["migrate"] or options["demo"]:
            call_command("migrate", interactive=False, verbosity=0)
        if options["demo"]:
            call_command("load_demo")
