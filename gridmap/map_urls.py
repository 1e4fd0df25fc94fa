"""URLs of the map pages, their vector tiles and data (included from gridmap/urls.py)."""

from django.urls import path, register_converter

from gridmap import mapviews


class SignedIntConverter:
    """Match an integer as digits; range checks are the view's (a clear 400, not a 404)."""

    regex = "[0-9]{1,9}"

    def to_python(self, value):
        return int(value)

    def to_url(self, value):
        return str(value)


register_converter(SignedIntConverter, "tileint")

urlpatterns = [
    path("map/wall/", mapviews.wall, name="map-wall"),
    path("map/territory/", mapviews.territory, name="map-territory"),
    path(
        "tiles/<slug:layer>/<tileint:z>/<tileint:x>/<tileint:y>.pbf",
        mapviews.tile,
        name="map-tile",
    ),
    path("map/data/stats.json", mapviews.stats, name="map-stats"),
    path("map/data/live.json", mapviews.live, name="map-live"),
    path("map/data/grid/<int:grid_id>.json", mapviews.grid_detail, name="map-grid"),
    path("map/data/case/<int:case_id>.json", mapviews.case_detail, name="map-case"),
    path("map/data/case/<int:case_id>/dispatch/", mapviews.dispatch, name="map-dispatch"),
    path("map/export/<slug:view>.html", mapviews.export, name="map-export"),
]
