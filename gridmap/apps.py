from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class GridmapConfig(AppConfig):
    name = "gridmap"
    verbose_name = _("Grid management")

    def ready(self):
        from gridmap import maps

        # folium keeps its CDN lists on the classes: re-point them once, at start-up.
        maps.use_local_assets()

        from gridmap import tiles

        # Tile and summary caches follow the data: bump a version on every ORM write.
        tiles.connect_signals()
