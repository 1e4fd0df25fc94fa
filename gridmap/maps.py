"""folium map builders that work on an intranet: every asset from our own static files.

folium keeps the CDN URLs of Leaflet, jQuery, Bootstrap and each plugin in class-level
lists (``default_js``/``default_css``). ``use_local_assets`` rewrites them once at start-up
(AppConfig.ready); a per-request change would leak into every later map in the process.

Text that users typed never reaches a folium element. branca renders every macro and
then compiles the output again as a Jinja template (``Element(output)``), so ``{{ … }}``
in a tooltip, a popup or GeoJSON data embedded with ``tojson`` would run on the server;
folium's tooltips also put text into JavaScript template literals and innerHTML. Layers
whose features carry names or titles are ``DataLayer``s: their data is a
``<script type="application/json">`` element written as is (``Markup``, never compiled),
encoded by ``safe_json`` so that it stays data under any of those readings, and
static/gridmap/maplayers.js builds their tooltips with textContent.
"""

import html
import json
import logging
import re
from urllib.parse import urlsplit

import folium
from branca.element import Element, MacroElement
from django.conf import settings
from django.templatetags.static import static
from folium import plugins
from folium.elements import JSCSSMixin
from folium.map import Layer
from folium.template import Template

log = logging.getLogger(__name__)

# Class name -> (js, css) as paths under static/. Plugins not listed here lose their remote
# assets (nothing may load from the internet); vendor them in scripts/vendor.sh to use them.
LOCAL_ASSETS = {
    # Leaflet alone: folium's other defaults (jQuery, Bootstrap, Font Awesome, awesome
    # markers: 0.47 MB) serve only folium.Icon markers, which no page uses; the pages that
    # extend base.html load Bootstrap themselves. A wall map parses them on every load.
    "Map": (
        [("leaflet", "vendor/leaflet/leaflet.js")],
        [("leaflet_css", "vendor/leaflet/leaflet.css")],
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
    "DataLayer": (
        [("gm-maplayers", "gridmap/maplayers.js")],
        [("gm-maplayers-css", "gridmap/maplayers.css")],
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
        control_scale=False,
        prefer_canvas=True,
        **kwargs,
    )
    MetricScale().add_to(fmap)
    fmap.get_root().header.add_child(
        Markup(
            "<style>.leaflet-container{background:%s}</style>" % ("#0b1620" if dark else "#eef1f4")
        )
    )
    add_basemap(fmap)
    if bounds:
        fmap.fit_bounds(bounds)
    return fmap


AREA_TOOLTIP = {
    "fields": ["name", "code"],
    "aliases": ["名称", "编码"],
    "className": "foliumtooltip",
}


def overview_map(areas):
    """Return the district overview: streets, communities and grids as outlined layers.

    `areas` is a dict of layer name -> (GeoJSON FeatureCollection, style). Only used for
    small reference layers (a district's grids); points come as vector tiles elsewhere.
    """
    fmap = base_map()
    bounds = None
    for name, (collection, style) in areas.items():
        DataLayer(collection, name=name, style=style, tooltip=AREA_TOOLTIP).add_to(fmap)
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


# --- wall map and territory view (vector tiles, composed here, drawn by static/gridmap) ---


class MetricScale(MacroElement):
    """A scale bar in metres and kilometres only (folium's shows miles and feet too)."""

    _template = Template(
        """
        {% macro script(this, kwargs) -%}
        L.control.scale({imperial: false}).addTo({{ this._parent.get_name() }});
        {%- endmacro %}
        """
    )

    def __init__(self):
        super().__init__()
        self._name = "MetricScale"


class MapInit(MacroElement):
    """Hand the map and its layers to our page script (static/gridmap/*.js) once drawn."""

    _template = Template(
        """
        {% macro script(this, kwargs) -%}
        {{ this.function }}({{ this._parent.get_name() }}, {
            {%- for key, layer in this.layers.items() %}
            {{ key|tojson }}: {{ layer.get_name() }},
            {%- endfor %}
        }, {{ this.config_json }});
        {%- endmacro %}
        """
    )

    def __init__(self, function, layers, config):
        super().__init__()
        self._name = "MapInit"
        self.function = function
        self.layers = layers
        self.config_json = safe_json(config)


# "{" that would open a Jinja tag, comment or expression: JSON has it only inside strings.
_JINJA_OPENER = re.compile(r"\{(?=[{%#])")


def safe_json(value):
    """Return JSON that stays data in HTML, in a <script>, and under a Jinja render.

    <, > and & as \\u escapes (no '</script>' or '<!--' break-out, as Django's
    json_script), U+2028/U+2029 escaped (line breaks to older JavaScript), and the "{" of
    "{{", "{%" and "{#" as \\u007b: branca compiles macro output again as a template.
    """
    text = json.dumps(value, ensure_ascii=False, default=str, separators=(",", ":"))
    text = (
        text.replace("<", "\\u003c")
        .replace(">", "\\u003e")
        .replace("&", "\\u0026")
        .replace("\u2028", "\\u2028")
        .replace("\u2029", "\\u2029")
    )
    return _JINJA_OPENER.sub(r"\\u007b", text)


class Markup(Element):
    """HTML of our own written into the page as is (folium.Element compiles it as Jinja)."""

    def __init__(self, text):
        super().__init__()
        self._name = "Markup"
        self.text = text

    def render(self, **kwargs):
        return self.text


def json_script(value, element_id):
    """Return a <script type="application/json"> element holding value (safe_json)."""
    return Markup(
        f'<script id="{html.escape(element_id)}" type="application/json">'
        f"{safe_json(value)}</script>"
    )


class DataLayer(JSCSSMixin, Layer):
    """A GeoJSON layer whose features come from a JSON element of the page.

    The FeatureCollection is written once as ``<script type="application/json">`` (see
    the module's docstring), so names and titles stay data; GM.dataLayer
    (static/gridmap/maplayers.js) reads it and builds the tooltips with textContent.

    - ``style``: the Leaflet path style of every feature (points are circle markers);
    - ``styles``: named styles, chosen per feature by its property ``s``;
    - ``tooltip``: ``{"fields": [...], "aliases": [...], "labels": bool}`` shows a table
      of properties (as folium's GeoJsonTooltip); without fields, the feature's property
      ``t`` (a text, or a list of lines); plus Leaflet tooltip options (sticky, className);
    - ``link``: a click sets this URL parameter to the feature's ``id`` (a drill-down).
    """

    _template = Template(
        """
        {% macro script(this, kwargs) -%}
        var {{ this.get_name() }} = GM.dataLayer({{ this.data_id|tojson }}, {{ this.options }});
        {%- endmacro %}
        """
    )

    def __init__(
        self,
        data,
        *,
        name=None,
        data_id=None,
        style=None,
        styles=None,
        tooltip=None,
        link=None,
        show=True,
        control=True,
    ):
        super().__init__(name=name, overlay=True, control=control, show=show)
        self._name = "DataLayer"
        self.data = data
        self.data_id = data_id or f"gm-data-{self._id}"
        self.options = safe_json(
            {"style": style or {}, "styles": styles or {}, "tooltip": tooltip, "link": link}
        )
        self._script = None

    def render(self, **kwargs):
        # Encoded once: parts() renders the figure, then each of its sections again.
        if self._script is None:
            self._script = json_script(self.data, self.data_id)
        self.get_root().html.add_child(self._script, name=self.data_id)
        super().render(**kwargs)


def vector_layer(layer, version, *, name, show=True, interactive=False, style="GM.style"):
    """Return a VectorGridProtobuf layer of /tiles/<layer>/… styled by our page script."""
    from django.urls import reverse

    from gridmap import tiles

    # VectorGrid puts the map zoom in {z} and ignores zoomOffset: {tz} is the tile zoom.
    url = reverse("map-tile", args=[layer, 0, 0, 0]).replace("/0/0/0.pbf", "/{tz}/{x}/{y}.pbf")
    styles = {
        "grids": ["grids"],
        "areas": ["streets", "communities"],
    }.get(layer, [layer])
    js_styles = ", ".join(f"{json.dumps(s)}: {style}.{s}" for s in styles)
    options = (
        "{"
        f'"v": {json.dumps(version)}, '
        '"rendererFactory": L.canvas.tile, '
        f'"interactive": {"true" if interactive else "false"}, '
        # 512-pixel tiles one zoom down: the same detail in a quarter of the requests.
        f'"tileSize": {tiles.TILE_SIZE}, '
        f'"tz": function (d) {{ return d.z + ({tiles.ZOOM_OFFSET}); }}, '
        f'"maxNativeZoom": {tiles.map_zoom(18)}, "maxZoom": 20, '
        '"getFeatureId": function (f) { return f.properties.id || f.properties.gid; }, '
        f'"vectorTileLayerStyles": {{{js_styles}}}'
        "}"
    )
    return plugins.VectorGridProtobuf(url + "?v={v}", name=name, options=options, show=show)


WALL_LAYERS = (
    # key, tile layer, name in the layer control, shown at start, clickable
    ("areas", "areas", "街道/社区 Streets & communities", True, False),
    ("grids", "grids", "网格 Grids", True, True),
    ("persons", "persons", "流动人口密度 Population density", False, True),
    ("rentals", "rentals", "出租房屋 Rental houses", False, True),
    ("workers", "workers", "网格员 Grid workers", False, True),
    ("cases", "cases", "案件 Cases", True, True),
)


def wall_map(bounds, versions, config):
    """Return the command-centre wall map: dark, full screen, every big layer as tiles."""
    # The page fits the bounds itself (static/gridmap/wall.js), leaving room for its panels.
    fmap = base_map(dark=True, zoom_control=False)
    config = {**config, "bounds": bounds}
    plugins.Fullscreen(position="topleft", title="全屏", title_cancel="退出全屏").add_to(fmap)
    # Fit the view before any tile layer is added: no tiles for folium's starting view.
    MapInit("GM.wall.fit", {}, {"bounds": bounds}).add_to(fmap)
    layers = {}
    for key, tile_layer, name, show, interactive in WALL_LAYERS:
        layer = vector_layer(
            tile_layer, versions[tile_layer], name=name, show=show, interactive=interactive
        )
        layer.add_to(fmap)
        layers[key] = layer
    folium.LayerControl(collapsed=False, position="topleft").add_to(fmap)
    MapInit("GM.wall.init", layers, config).add_to(fmap)
    return fmap


def territory_map(bounds, grids_geojson, versions, config):
    """Return the grid worker's map: his grids inline (a few), the rest as small tiles."""
    fmap = base_map(bounds=bounds, zoom_control=True)
    DataLayer(
        grids_geojson,
        name="我的网格 My grids",
        style={"color": "#c55a11", "weight": 3, "fillOpacity": 0.06},
        tooltip={
            "fields": ["name"],
            "labels": False,
            "sticky": False,
            "className": "foliumtooltip",
        },
    ).add_to(fmap)
    layers = {}
    for key, name, show in (
        ("persons", "人口密度 Population density", False),
        ("rentals", "出租房屋 Rental houses", True),
        ("cases", "我的案件 My cases", True),
    ):
        layer = vector_layer(key, versions[key], name=name, show=show, interactive=True)
        layer.add_to(fmap)
        layers[key] = layer
    folium.LayerControl(collapsed=True, position="topright").add_to(fmap)
    MapInit("GM.territory.init", layers, config).add_to(fmap)
    return fmap


# Grids of the export by open cases: (at least n, fill colour); fewer than 1 is grey.
SNAPSHOT_BREAKS = ((1, "#2b8a3e"), (3, "#f0b429"), (6, "#f08c00"), (11, "#e03131"))
SNAPSHOT_STYLES = {
    "0": {"fillColor": "#868e96", "fillOpacity": 0.05},
    **{str(n): {"fillColor": c, "fillOpacity": 0.45} for n, c in SNAPSHOT_BREAKS},
    "case": {"radius": 5, "color": "#1c7ed6", "weight": 1, "fillColor": "#4dabf7"},
    "overdue": {"radius": 8, "color": "#ffffff", "weight": 3, "fillColor": "#ff2d55"},
}


def _open_class(n):
    key = "0"
    for at_least, _colour in SNAPSHOT_BREAKS:
        if n >= at_least:
            key = str(at_least)
    return key


def snapshot_map(bounds, grids_geojson, cases, title, dark=False):
    """Return a map with its data embedded, for a standalone export (no tiles, no server).

    `grids_geojson` carries `open`/`overdue` properties; `cases` is a list of dicts with
    lon, lat, number, title, status_label, overdue (already limited and scoped).
    """
    fmap = base_map(bounds=bounds, dark=dark)
    for feature in grids_geojson.get("features", []):
        props = feature["properties"]
        props["s"] = _open_class(props.get("open", 0))
    DataLayer(
        grids_geojson,
        name="网格 Grids",
        style={"color": "#4a6b8a", "weight": 1},
        styles=SNAPSHOT_STYLES,
        tooltip={
            "fields": ["name", "open", "overdue"],
            "aliases": ["网格", "在办", "超期"],
            "className": "foliumtooltip",
        },
    ).add_to(fmap)
    points = {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "geometry": {"type": "Point", "coordinates": [c["lon"], c["lat"]]},
                "properties": {
                    "s": "overdue" if c["overdue"] else "case",
                    "t": f"{c['number']} {c['title']} · {c['status_label']}"
                    + (" · 超期" if c["overdue"] else ""),
                },
            }
            for c in cases
        ],
    }
    DataLayer(
        points,
        name="案件 Cases",
        style={"fill": True, "fillOpacity": 0.95},
        styles=SNAPSHOT_STYLES,
        tooltip={"sticky": True},
    ).add_to(fmap)
    fmap.get_root().html.add_child(
        Markup(
            '<div style="position:fixed;top:8px;left:50px;z-index:1000;background:#fff;'
            f'padding:4px 10px;font:16px sans-serif;border-radius:4px">{html.escape(title)}</div>'
        )
    )
    folium.LayerControl(collapsed=False).add_to(fmap)
    return fmap


_ASSET_RE = re.compile(
    r'<script src="(?P<js>[^"]+)"></script>|<link rel="stylesheet" href="(?P<css>[^"]+)"\s*/?>'
)


def _static_text(url):
    from django.contrib.staticfiles import finders

    path = url.split("?", 1)[0]
    prefix = static("")
    if not path.startswith(prefix):
        return None
    found = finders.find(path[len(prefix) :])
    if not found:
        return None
    with open(found, encoding="utf-8") as fh:
        return fh.read()


def standalone_html(fmap):
    """Return the map as one HTML file with every local JS/CSS file inlined (works offline).

    folium renders `<script src>`/`<link href>` tags for its assets; each one that points at
    our static files is replaced by the file's contents. Fonts and images referenced by
    the CSS (icons) are left out: the export draws circles and polygons only.
    """
    page = fmap.get_root().render()

    def inline(match):
        url = match.group("js") or match.group("css")
        text = _static_text(url)
        if text is None:
            return "" if _is_remote(url) else match.group(0)
        if match.group("js"):
            return "<script>{}</script>".format(text.replace("</script", "<\\/script"))
        # Drop url(...) references to fonts and images: they would not resolve offline.
        text = re.sub(r"url\((?!data:)[^)]*\)", "none", text)
        return "<style>{}</style>".format(text.replace("</style", "<\\/style"))

    return _ASSET_RE.sub(inline, page)


def naive_wall_map(grids_geojson, cases_geojson, rentals_geojson):
    """Return the wall map built the naive folium way: every layer embedded as GeoJSON.

    Only for the benchmark (bench/bench_wallmap.py), to compare with the tiled wall map,
    on its generated data: folium.GeoJson compiles its data as a Jinja template, so this
    map must never be served with names users typed (see DataLayer).
    """
    fmap = base_map(dark=True)
    folium.GeoJson(grids_geojson, name="网格").add_to(fmap)
    folium.GeoJson(
        rentals_geojson,
        name="出租房屋",
        marker=folium.CircleMarker(radius=3, color="#63e6be"),
    ).add_to(fmap)
    folium.GeoJson(
        cases_geojson,
        name="案件",
        marker=folium.CircleMarker(radius=5, color="#ff922b"),
    ).add_to(fmap)
    folium.LayerControl().add_to(fmap)
    return fmap
