from django.conf import settings
from django.contrib.gis.forms.widgets import OSMWidget


class OfflineMapWidget(OSMWidget):
    """The admin's OpenLayers map widget with local assets and no remote basemap."""

    template_name = "gis/openlayers-offline.html"
    default_lon = 102.63
    default_lat = 24.98
    default_zoom = 13

    class Media:
        # Replace, not extend, the parent's CDN assets.
        extend = False
        css = {"all": ("vendor/ol/ol.css", "gis/css/ol3.css")}
        js = ("vendor/ol/ol.js", "gis/js/OLMapWidget.js")

    def get_context(self, name, value, attrs):
        context = super().get_context(name, value, attrs)
        if settings.BASEMAP == "local":
            context["local_tiles_url"] = settings.LOCAL_TILES_URL
        return context
