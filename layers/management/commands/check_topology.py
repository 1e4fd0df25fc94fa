from django.core.management.base import BaseCommand

from layers import sql


class Command(BaseCommand):
    help = "Report overlaps between current grids and gaps inside communities, in m²."

    def add_arguments(self, parser):
        parser.add_argument("--min-area", type=float, default=1.0, help="ignore smaller (m²)")
        parser.add_argument("--community", action="append", help="limit to community codes")

    def handle(self, *args, **options):
        ids = None
        if options["community"]:
            from layers.models import Community

            ids = list(
                Community.objects.filter(code__in=options["community"]).values_list("pk", flat=True)
            )
        overlaps = sql.grid_overlaps(ids, options["min_area"])
        gaps = sql.community_gaps(ids, options["min_area"])
        for o in overlaps:
            self.stdout.write(
                f"重叠 overlap  {o['grids'][0]} × {o['grids'][1]}  {o['area_m2']:>12,.1f} m²  "
                f"@ {o['lon']}, {o['lat']}"
            )
        for g in gaps:
            self.stdout.write(
                f"空隙 gap      {g['community']} {g['name']}  {g['area_m2']:>12,.1f} m²  "
                f"@ {g['lon']}, {g['lat']}"
            )
        self.stdout.write(
            f"网格重叠 {len(overlaps)} 处，社区空隙 {len(gaps)} 处 / "
            f"{len(overlaps)} overlaps, {len(gaps)} gaps"
        )
