from django.contrib.gis import admin

from gridmap.widgets import OfflineMapWidget


class MapAdmin(admin.GISModelAdmin):
    """Model admin whose geometry fields use the offline map widget."""

    gis_widget = OfflineMapWidget
