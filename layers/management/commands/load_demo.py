from django.core.management.base import BaseCommand

from fixtures import accounts, generator
from gridmap import dbroles
from layers.models import District


class Command(BaseCommand):
    help = "Load the Xishan demo district and its demo accounts (once; a second run loads nothing)."

    def add_arguments(self, parser):
        parser.add_argument("--seed", type=int, default=530112)
        parser.add_argument("--no-accounts", action="store_true", help="skip the demo accounts")

    def handle(self, *args, **options):
        # The generator TRUNCATEs and ANALYZEs: the owner's rights, not the app's.
        with dbroles.as_owner():
            self.load(**options)

    def load(self, **options):
        if District.objects.filter(code=generator.DISTRICT_CODE).exists():
            self.stdout.write("gridmap: demo district already loaded")
        else:
            counts = generator.build(
                generator.demo_plan(seed=options["seed"]), progress=self._progress
            )
            self.stdout.write(f"gridmap: demo district loaded: {counts}")
        if not options["no_accounts"]:
            made = accounts.create_demo_accounts()
            if made:
                self.stdout.write(f"gridmap: demo accounts created: {', '.join(made)}")

    def _progress(self, message):
        self.stdout.write(f"  {message}")
