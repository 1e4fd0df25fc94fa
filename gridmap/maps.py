"""folium map builders that work on an intranet: every asset from our own static files.

folium keeps the CDN URLs of Leaflet, jQuery, Bootstrap and each plugin in class-level
lists (``default_js``/``default_css``). ``use_local_assets`` rewrites them once at start-up
(AppConfig.ready); a per-request change would leak into every later map in the process.
"""

import logging
from urllib.parse import urlsplit

import folium
from django.conf import settings
from django.templatetags.static import static
from folium.elements import JSCSSMixin

log = logging.getLogger(__name__)

# Class name -> (js, css) as paths under static/. Plugins not listed here lose their remote
# assets (nothing may load from the internet); vendor them in scripts/vendor.sh to use them.
LOCAL_ASSETS = {
    "Map": (
        [
            ("leaflet", "vendor/leaflet/leaflet.js"),
            ("jquery", "vendor/jquery/jquery.min.js"),
            ("bootstrap", "vendor/bootstrap/bootstrap.bundle.min.js"),
            ("awesome_markers", "vendor/awesome-markers/leaflet.awesome-markers.min.js"),
        ],
        [
            ("leaflet_css", "vendor/leaflet/leaflet.css"),
            ("bootstrap_css", "vendor/bootstrap/bootstrap.min.css"),
            ("awesome_markers_font_css", "vendor/fontawesome/css/all.min.css"),
            ("awesome_markers_css", "vendor/awesome-markers/leaflet.awesome-markers.css"),
            ("awesome_rotate_css", "gridmap/leaflet.awesome.rotate.css"),
        ],
    ),
    "MarkerCluster": (
        [("markerclusterjs", "vendor/markercluster/leaflet.markercluster.js")],
        [
            ("markerclustercss", "vendor/markercluster/MarkerCluster.css"),
            ("markerclusterdefaultcss", "vendor/markercluster/MarkerCluster.Default.css"),
        ],
    ),
    "HeatMap": ([("leaflet-heat.js", "vendor/leaflet-heat/leaflet-heat.js")], []),
    "Fullscreen": (
        [("Control.Fullscreen.js", "vendor/fullscreen/Control.FullScreen.js")],
        [("Control.FullScreen.css", "vendor/fullscreen/Control.FullScreen.css")],
    ),
    "VectorGridProtobuf": (
        [("vectorGrid", "vendor/vectorgrid/Leaflet.VectorGrid.bundled.min.js")],
        [],
    ),
}

_configured = False


def _subclasses(cls):
    for sub in cls.__subclasses__():
        yield sub
        yield from _subclasses(sub)


def _is_remote(url):
    return bool(urlsplit(url).netloc)


def use_local_assets():
    """Point folium's asset lists at our static files; drop every remote URL left."""
    global _configured
    if _configured:
        return
    import folium.plugins  # noqa: F401  (register the plugin classes first)

    for cls in set(_subclasses(JSCSSMixin)):
        if cls.__name__ in LOCAL_ASSETS:
            js, css = LOCAL_ASSETS[cls.__name__]
            cls.default_js = [(name, static(path)) for name, path in js]
            cls.default_css = [(name, static(path)) for name, path in css]
            continue
        for attr in ("default_js", "default_css"):
            own = cls.__dict__.get(attr)
            if own and any(_is_remote(url) for _, url in own):
                setattr(cls, attr, [(n, u) for n, u in own if not _is_remote(u)])
    _configured = True


BASEMAPS = {
    "osm": ("https://tile.openstreetmap.org/{z}/{x}/{y}.png", "© OpenStreetMap"),
    "tianditu": (
        "https://t0.tianditu.gov.cn/vec_w/wmts?SERVICE=WMTS&REQUEST=GetTile&VERSION=1.0.0"
        "&LAYER=vec&STYLE=default&TILEMATRIXSET=w&FORMAT=tiles"
        "&TILEMATRIX={z}&TILEROW={y}&TILECOL={x}&tk=%s",
        "© 天地图",
    ),
}


def basemap_origin():
    """Return the origin of the configured basemap's tiles, or '' when local or none."""
    if settings.BASEMAP in BASEMAPS:
        parts = urlsplit(BASEMAPS[settings.BASEMAP][0])
        return f"{parts.scheme}://{parts.netloc}"
    return ""


def add_basemap(fmap):
    """Add the configured basemap; none by default, so the page works offline."""
    kind = settings.BASEMAP
    if kind == "local":
        folium.TileLayer(settings.LOCAL_TILES_URL, attr="本地底图", name="底图").add_to(fmap)
    elif kind == "tianditu":
        url, attr = BASEMAPS["tianditu"]
        folium.TileLayer(url % settings.TIANDITU_KEY, attr=attr, name="天地图").add_to(fmap)
    elif kind == "osm":
        url, attr = BASEMAPS["osm"]
        folium.TileLayer(url, attr=attr, name="OpenStreetMap").add_to(fmap)


def base_map(bounds=None, dark=False, **kwargs):
    """Return a folium map with no remote tiles, fitted to bounds ((s, w), (n, e))."""
    use_local_assets()
    fmap = folium.Map(
        location=kwargs.pop("location", [24.98, 102.63]),
        zoom_start=kwargs.pop("zoom_start", 12),
        tiles=None,
        control_scale=True,
        prefer_canvas=True,
        **kwargs,
    )
    fmap.get_root().header.add_child(
        folium.Element(
            "<style>.leaflet-container{background:%s}</style>" % ("#0b1620" if dark else "#eef1f4")
        )
    )
    add_basemap(fmap)
    if bounds:
        fmap.fit_bounds(bounds)
    return fmap


def overview_map(areas):
    """Return the district overview: streets, communities and grids as outlined layers.

    `areas` is a dict of layer name -> (GeoJSON FeatureCollection, style). Only used for
    small reference layers (a district's grids); points come as vector tiles elsewhere.
    """
    fmap = base_map()
    bounds = None
    for name, (collection, style) in areas.items():
        layer = folium.GeoJson(
            collection,
            name=name,
            style_function=lambda _f, style=style: style,
            tooltip=folium.GeoJsonTooltip(fields=["name", "code"], aliases=["名称", "编码"]),
        )
        layer.add_to(fmap)
        if collection.get("bbox"):
            w, s, e, n = collection["bbox"]
            bounds = [[s, w], [n, e]] if bounds is None else bounds
    folium.LayerControl(collapsed=False).add_to(fmap)
    if bounds:
        fmap.fit_bounds(bounds)
    return fmap


def parts(fmap):
    """Return the header, body and script of a folium map, to embed in our templates."""
    root = fmap.get_root()
    root.render()
    return {
        "header": root.header.render(),
        "html": root.html.render(),
        "script": root.script.render(),
    }
