import time

from django.core.management.base import BaseCommand, CommandError

from fixtures import generator
from gridmap import dbroles
from layers.models import District


class Command(BaseCommand):
    help = (
        "Generate a synthetic district deterministically from a seed: --scale demo (the Xishan "
        "pilot) or --scale city (~10,000 grids, 200,000 rentals, 1,000,000 persons, 500,000 "
        "cases). Refuses to run when a district is already loaded, unless --replace."
    )

    def add_arguments(self, parser):
        parser.add_argument("--scale", choices=["demo", "city"], default="demo")
        parser.add_argument("--seed", type=int, default=530112)
        parser.add_argument(
            "--replace", action="store_true", help="delete all areas, layers and cases first"
        )

    def handle(self, *args, **options):
        # The generator TRUNCATEs and ANALYZEs: the owner's rights, not the app's.
        with dbroles.as_owner():
            self.load(**options)

    def load(self, **options):
        if District.objects.exists():
            if not options["replace"]:
                raise CommandError(
                    "a district is already loaded; use --replace to delete it and generate anew"
                )
            generator.clear()
        plan = (
            generator.city_plan(seed=options["seed"])
            if options["scale"] == "city"
            else generator.demo_plan(seed=options["seed"])
        )
        start = time.perf_counter()
        counts = generator.build(plan, progress=lambda m: self.stdout.write(f"  {m}"))
        self.stdout.write(
            f"gridmap: generated {options['scale']} district in "
            f"{time.perf_counter() - start:.1f} s: {counts}"
        )
