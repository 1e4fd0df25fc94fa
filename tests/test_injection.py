"""Text users typed is data in every output: never template source, formula or markup.

Three classes of attack, each through every output that carries free text (case titles,
descriptions, notes, addresses, party, area, grid and category names, import file cells,
Open311 fields):

- template injection: branca/folium compile what a map element renders as a Jinja
  template, and folium's tooltips put text into JavaScript template literals. Payloads:
  ``{{7*7}}``, ``{% … %}``, ``{# … #}``, ``${7*7}``, backticks, an unclosed ``{{``, and
  the XSS and SQL payloads of tests/test_xss.py and tests/test_sql_injection.py. Every
  output shows them literally, answers no 5xx, and no executable ``<script>`` of a page
  holds them in any encoding (map data is a ``<script type="application/json">``
  element, read with textContent: gridmap.maps.DataLayer);
- spreadsheet formulas: a text cell starting with ``=``, ``+``, ``-``, ``@``, tab or CR.
  XLSX keeps it a string cell (data_type "s"); CSV prefixes it with ``'``; numbers stay
  numbers (gridmap.spreadsheets);
- markup in PDFs: reportlab's Paragraph parses its text; a name with ``<font>`` or an
  unclosed ``<b`` prints as typed.

Every payload carries the marker ``ZQMK``: an executable script that contains it holds
user text, and ``ZQMK49`` or ``ZQMKIF`` means a template evaluated it.
"""

import csv
import io
import json
import re
from xml.etree import ElementTree

import pytest
from django.core.cache import cache
from django.test import Client
from django.utils import timezone

from tests import test_authorisation_matrix as matrix
from tests.test_sql_injection import INJECTIONS
from tests.test_xss import IMG, SCRIPT, free_text_fields

MARK = "ZQMK"
TEMPLATE_PAYLOADS = [
    f"{MARK}{{{{7*7}}}}",  # ZQMK{{7*7}}
    f"{MARK}{{% if 1 %}}IF{{% endif %}}",
    f"{MARK}{{# comment #}}end",
    f"{MARK}${{7*7}}",  # ZQMK${7*7}: a JavaScript template literal's substitution
    f"{MARK}`${{7*7}}`",  # a backtick ends the template literal
    f"{MARK}{{{{ 7*",  # an unclosed "{{": a Jinja syntax error
    f"{MARK}{{%",
]
TEXT_PAYLOADS = [
    *TEMPLATE_PAYLOADS,
    f"{MARK}{IMG}",
    f"{MARK}{SCRIPT}",
    f"{MARK}{INJECTIONS[0]}",
    f"{MARK}{INJECTIONS[1]}",
]
# What a template or a browser would have made of them.
EVALUATED = (f"{MARK}49", f"{MARK}IF")
# Everything at once, for every free-text field (50 characters: the shortest name field).
ALL_IN_ONE = f"{MARK}{{{{7*7}}}}{{%if 1%}}IF{{%endif%}}${{7*7}}`{{#c#}}{{{{"

FORMULAS = [
    "=1+2",
    "+1+2",
    "-1+2",
    "@SUM(1+2)",
    "\t=1+2",
    "\r=1+2",
    '=HYPERLINK("http://example.invalid/?"&A2,"ZQMK")',
    "=cmd|' /C calc'!A0",
]
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")

MARKUP = [
    f'{MARK} <font color="red">red</font>',
    f"{MARK} <b",
    f"{MARK} a < b & c > d",
    f"{MARK} {{{{7*7}}}} </para>",
]

EXECUTABLE_SCRIPT = re.compile(r"<script(?![^>]*application/json)[^>]*>(.*?)</script>", re.S)
JSON_SCRIPT = re.compile(r'<script id="[^"]*" type="application/json">(.*?)</script>', re.S)


# --- helpers -------------------------------------------------------------------------------


def _strings(value):
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def embedded_texts(page):
    """Return every string of the page's JSON data elements, decoded."""
    texts = []
    for raw in JSON_SCRIPT.findall(page):
        texts.extend(_strings(json.loads(raw)))
    return texts


def script_problems(page, where):
    """Return problems of a page: user text in executable scripts, or evaluated."""
    problems = []
    for script in EXECUTABLE_SCRIPT.findall(page):
        if MARK in script:
            at = script.index(MARK)
            problems.append(f"{where}: user text in an executable script: {script[at : at + 60]!r}")
            break
    for evaluated in EVALUATED:
        if evaluated in page:
            problems.append(f"{where}: a template evaluated the text ({evaluated!r})")
    return problems


def missing(payloads, texts, where):
    """Return a problem for each payload that no text contains literally."""
    return [
        f"{where}: {p!r} not shown as typed" for p in payloads if not any(p in t for t in texts)
    ]


def client_for(username):
    from accounts.models import User

    client = Client()
    client.force_login(User.objects.get(username=username))
    return client


def body(response):
    return matrix._body(response)


def worker_grids():
    from accounts.models import User
    from accounts.scoping import territory_grid_ids
    from layers.models import Grid

    ids = territory_grid_ids(User.objects.get(username="wangge"))
    return list(Grid.objects.filter(pk__in=ids).order_by("code"))


def new_case(grid, text, category=None, **kwargs):
    """Register a case in the grid with the text in its title, description and address."""
    from cases import services
    from cases.models import Category, Source

    case, _ = services.case_register(
        source=Source.PATROL,
        category=category or Category.objects.filter(active=True).order_by("pk").first(),
        description=text,
        title=text,
        address=text,
        location=grid.geom.point_on_surface,
        **kwargs,
    )
    return case


def bump_tiles():
    from gridmap import tiles

    tiles.bump(*tiles.DEPENDS["grids"], *tiles.DEPENDS["areas"])


@pytest.fixture
def fresh_cache(db):
    # The analysis is cached per data version, which a renamed grid does not change.
    cache.clear()
    yield
    cache.clear()


# --- the encoder of map data ---------------------------------------------------------------


def test_map_data_json_stays_data_under_jinja_in_html_and_in_scripts():
    from folium.template import Template

    from gridmap.maps import safe_json

    for payload in [*TEXT_PAYLOADS, ALL_IN_ONE, "a\u2028b\u2029c", "{{{x}}}", "\\{{x}}"]:
        value = {"name": payload, "list": [payload]}
        text = safe_json(value)
        assert json.loads(text) == value
        # branca renders macro output once more as a Jinja template: it must not change.
        assert Template(text).render() == text, payload
        assert not re.search(r"[<>&\u2028\u2029]", text), payload


# --- template injection --------------------------------------------------------------------


@pytest.fixture
def template_text(db, fresh_cache):
    """Put the payloads into cases, grids, the community, the street and Open311 cases."""
    from accounts.models import User
    from accounts.services import issue_api_token
    from cases.models import Category
    from layers.models import Grid

    mine = worker_grids()
    community = mine[0].community
    others = list(
        Grid.objects.current().filter(community=community).exclude(pk__in=[g.pk for g in mine])
    )
    # The grid worker's grids hold "{{7*7}}" and the unclosed "{{"; the others the rest.
    grid_names = [TEMPLATE_PAYLOADS[0], TEMPLATE_PAYLOADS[5]] + [
        p for p in TEXT_PAYLOADS if p not in (TEMPLATE_PAYLOADS[0], TEMPLATE_PAYLOADS[5])
    ]
    grids = mine + others[: len(grid_names) - len(mine)]
    for grid, name in zip(grids, grid_names, strict=True):
        Grid.objects.filter(pk=grid.pk).update(name=name)
    type(community).objects.filter(pk=community.pk).update(name=TEMPLATE_PAYLOADS[1])
    street = community.street
    type(street).objects.filter(pk=street.pk).update(name=TEMPLATE_PAYLOADS[3])
    Category.objects.filter(pk=Category.objects.filter(active=True).order_by("pk")[0].pk).update(
        name=TEMPLATE_PAYLOADS[2]
    )
    cases = [new_case(mine[0], payload) for payload in TEXT_PAYLOADS]
    # The 12345 hotline's partner system relays a citizen's text through Open311.
    _, key = issue_api_token(
        name="hotline",
        user=User.objects.get(username="shouli"),
        scopes=["cases:create", "cases:read"],
    )
    point = mine[0].geom.point_on_surface
    hotline = f"{MARK}{{{{7*7}}}} hotline"
    response = Client().post(
        "/open311/v2/requests.json",
        {
            "api_key": key,
            "service_code": Category.objects.filter(active=True).order_by("pk")[1].code,
            "lat": str(point.y),
            "long": str(point.x),
            "description": hotline,
            "address_string": hotline,
            "first_name": TEMPLATE_PAYLOADS[3][:20],
            "last_name": "王",
        },
    )
    assert response.status_code == 201, response.content
    bump_tiles()
    return {
        "grids": dict(zip(grid_names, grids, strict=True)),
        "mine": mine,
        "community": community,
        "cases": cases,
        "hotline": hotline,
        "hotline_number": response.json()[0]["service_request_id"],
        "open311_key": key,
    }


def _map_page(client, url, expected, where):
    response = client.get(url)
    if response.status_code != 200:
        return [f"{where}: {response.status_code}"]
    page = body(response).decode()
    return script_problems(page, where) + missing(expected, embedded_texts(page), where)


def test_template_payloads_stay_text_in_every_map_and_data_output(template_text):
    """Maps (pages and exports), tiles, GeoJSON, GeoPackage, Open311 and the REST API."""
    from layers.models import Grid

    grids = template_text["grids"]
    mine = [g.name for g in Grid.objects.filter(pk__in=[g.pk for g in template_text["mine"]])]
    zhihui, wangge, fenxi = (client_for(u) for u in ("zhihui", "wangge", "fenxi"))
    problems = []
    # Map exports: the case tooltips and the grid tooltips.
    problems += _map_page(
        zhihui,
        "/map/export/wall.html",
        [*TEXT_PAYLOADS, template_text["hotline"], *grids],
        "wall export",
    )
    problems += _map_page(
        wangge, "/map/export/territory.html", [*TEXT_PAYLOADS, *mine], "territory export"
    )
    # Map pages: the district overview (streets, communities, grids), the territory view,
    # the hot spot analysis (its tooltip's first line names the grid and its community).
    problems += _map_page(
        zhihui, "/", [*grids, TEMPLATE_PAYLOADS[1], TEMPLATE_PAYLOADS[3]], "home page"
    )
    problems += _map_page(wangge, "/map/territory/", mine, "territory page")
    community = template_text["community"]
    problems += _map_page(
        fenxi, f"/analysis/hotspots/?community={community.pk}", list(grids), "hotspot page"
    )
    problems += _data_outputs(template_text, zhihui, wangge)
    assert problems == []


def _data_outputs(template_text, zhihui, wangge):
    """Return the problems of the outputs that carry the text as data."""
    import pyogrio

    from tests.maps.conftest import tile_of
    from tests.maps.mvt import decode

    problems = []
    grids = template_text["grids"]
    mine = template_text["mine"]
    point = mine[0].geom.point_on_surface
    # Vector tiles: grid names (zoom 15) and street and community names (zoom 12).
    texts = []
    for layer, z in (("grids", 15), ("areas", 12)):
        x, y = tile_of(point.x, point.y, z)
        response = zhihui.get(f"/tiles/{layer}/{z}/{x}/{y}.pbf")
        if response.status_code != 200:
            problems.append(f"tile {layer}: {response.status_code}")
            continue
        for features in decode(response.content).values():
            texts += [str(v) for f in features for v in f["properties"].values()]
    problems += missing([TEMPLATE_PAYLOADS[0], TEMPLATE_PAYLOADS[1]], texts, "tiles")
    # Layer exports as GeoJSON and GeoPackage.
    for layer, expected in (("grids", list(grids)), ("cases", TEXT_PAYLOADS)):
        response = zhihui.get("/layers/export/", {"layer": layer, "format": "geojson"})
        data = json.loads(body(response))
        texts = [t for f in data["features"] for t in _strings(f["properties"])]
        problems += missing(expected, texts, f"{layer}.geojson")
    response = wangge.get("/layers/export/", {"layer": "cases", "format": "gpkg"})
    frame = pyogrio.read_dataframe(io.BytesIO(body(response)))
    problems += missing(TEXT_PAYLOADS, list(frame["title"]), "cases.gpkg")
    # Open311 (JSON and XML) and the REST API.
    number, key = template_text["hotline_number"], template_text["open311_key"]
    response = zhihui.get(f"/open311/v2/requests/{number}.json", {"api_key": key})
    problems += missing([template_text["hotline"]], list(_strings(response.json())), "open311")
    response = zhihui.get(f"/open311/v2/requests/{number}.xml", {"api_key": key})
    texts = [e.text or "" for e in ElementTree.fromstring(response.content).iter()]
    problems += missing([template_text["hotline"]], texts, "open311.xml")
    for case in template_text["cases"][:3]:
        response = zhihui.get(f"/api/v1/cases/{case.pk}/")
        problems += missing([case.title], list(_strings(response.json())), "REST case")
    return problems


def test_template_payloads_in_every_free_text_field_break_no_page(
    db, settings, tmp_path, monkeypatch
):
    """Every GET route of the authorisation matrix, with the payloads in every field."""
    from cases.models import Callback, CaseEvent
    from layers import services
    from tests.accounts.places import build_places

    settings.MEDIA_ROOT = tmp_path / "media"
    cache.clear()
    places = build_places()
    for obj in places["A"].objects.values():
        fields = [
            f.name
            for f in free_text_fields(type(obj))
            if (f.max_length or 10_000) >= len(ALL_IN_ONE)
        ]
        if fields:
            type(obj).objects.filter(pk=obj.pk).update(**dict.fromkeys(fields, ALL_IN_ONE))
    case = places["A"].objects["cases.case"]
    now = timezone.now()
    CaseEvent.objects.create(
        case=case, action="note", to_status=case.status, note=ALL_IN_ONE, at=now
    )
    Callback.objects.create(case=case, rating="satisfied", note=ALL_IN_ONE, at=now)
    bump_tiles()
    problems = []
    for name in sorted(n for n in matrix.MATRIX if matrix.rule_for(n).method == "get"):
        rule = matrix.rule_for(name)
        obj = places["A"].objects[rule.obj] if rule.obj else None
        extra = rule.setup(places) if rule.setup else None
        url = matrix._url(name, rule, obj, extra)
        for username in ("zhihui", "wangge"):
            problems += _page_problems(client_for(username).get(url, rule.query), username, name)
    # Cells of an import file: the import's page and its error report.
    monkeypatch.setattr(services, "RUN_JOBS_INLINE", True)
    point = places["A"].point
    rows = f"姓名,身份证号,经度,纬度\n{ALL_IN_ONE},110101199001011237,{ALL_IN_ONE},{point.y}\n"
    admin = client_for("admin")
    upload = io.BytesIO(rows.encode())
    upload.name = "people.csv"
    admin.post("/layers/import/", {"kind": "persons", "file": upload, "crs": "wgs84"})
    from layers.models import ImportJob

    job = ImportJob.objects.latest("pk")
    assert job.error_count >= 1
    for url in (f"/layers/import/{job.pk}/", f"/layers/import/{job.pk}/errors.csv"):
        response = admin.get(url)
        problems += _page_problems(response, "admin", url)
        problems += missing([ALL_IN_ONE], [body(response).decode("utf-8")], url)
    cache.clear()
    assert problems == []


def _page_problems(response, username, name):
    if response.status_code >= 500:
        return [f"{username} {name}: {response.status_code}"]
    content_type = response.get("Content-Type", "")
    if response.status_code == 200 and re.search("html|json|xml|csv", content_type):
        text = body(response).decode("utf-8", errors="replace")
        return script_problems(text, f"{username} {name}")
    return []


# --- spreadsheet formulas ------------------------------------------------------------------


@pytest.fixture
def formula_text(db, fresh_cache):
    """Put one formula into each of several records of the grid worker's first grid."""
    from cases.models import Category
    from layers.models import Grid, RentalHouse
    from tests.accounts.places import make_person

    mine = worker_grids()
    Grid.objects.filter(pk=mine[0].pk).update(name=FORMULAS[0])
    Grid.objects.filter(pk=mine[1].pk).update(name=FORMULAS[6][:50])
    community = mine[0].community
    type(community).objects.filter(pk=community.pk).update(name=FORMULAS[1])
    type(community.street).objects.filter(pk=community.street_id).update(name=FORMULAS[3])
    categories = list(Category.objects.filter(active=True).order_by("pk")[: len(FORMULAS)])
    point = mine[0].geom.point_on_surface
    for payload, category in zip(FORMULAS, categories, strict=True):
        Category.objects.filter(pk=category.pk).update(name=payload[:50])
        new_case(mine[0], payload, category=category)
        make_person(point, "A", address=payload, origin=payload[:100], name=payload[:50])
        RentalHouse.objects.create(
            code=f"TEST-F-{category.pk}",
            address=payload,
            landlord_name=payload[:50],
            location=point,
        )
    return {"mine": mine, "community": community}


def xlsx_problems(content, where, expected):
    """Return problems of a workbook: formula cells, or expected payloads not as text."""
    from openpyxl import load_workbook

    problems = []
    book = load_workbook(io.BytesIO(content))
    values = []
    for sheet in book.worksheets:
        for row in sheet.iter_rows():
            for cell in row:
                if cell.data_type == "f":
                    problems.append(f"{where}: live formula {cell.value!r} in {sheet.title}")
                elif isinstance(cell.value, str):
                    values.append(cell.value)
    found = {v.replace("\n", "\r") for v in values} | set(values)
    problems += [f"{where}: {p!r} missing" for p in expected if p not in found]
    return problems


def csv_problems(text, where, expected):
    """Return problems of a CSV: text cells that would run, or payloads not as text."""
    problems = []
    cells = [cell for row in csv.reader(io.StringIO(text.lstrip("\ufeff"))) for cell in row]
    for cell in cells:
        if cell.startswith(FORMULA_START):
            try:
                float(cell)  # a negative number stays a number
            except ValueError:
                problems.append(f"{where}: live formula {cell!r}")
    problems += [f'{where}: {p!r} not as "\'{p}"' for p in expected if f"'{p}" not in cells]
    return problems


LAYER_EXPORTS = [
    (layer, fmt) for layer in ("grids", "rentals", "persons", "cases") for fmt in ("csv", "xlsx")
]


@pytest.mark.parametrize(("layer", "fmt"), LAYER_EXPORTS)
def test_layer_exports_hold_formulas_as_text(formula_text, layer, fmt):
    client = client_for("wangge")
    response = client.get("/layers/export/", {"layer": layer, "format": fmt})
    assert response.status_code == 200
    content = body(response)
    payloads = {
        "grids": [FORMULAS[0], FORMULAS[6][:50], FORMULAS[1], FORMULAS[3]],
        "rentals": [*FORMULAS, FORMULAS[1], FORMULAS[3]],
        "persons": [*FORMULAS, FORMULAS[1], FORMULAS[3]],
        "cases": [*FORMULAS, FORMULAS[1], FORMULAS[3]],
    }[layer]
    if fmt == "csv":
        problems = csv_problems(content.decode("utf-8"), f"{layer}.csv", payloads)
        rows = list(csv.DictReader(io.StringIO(content.decode("utf-8").lstrip("\ufeff"))))
        if "lon" in rows[0]:
            assert all(float(r["lon"]) and float(r["lat"]) for r in rows)  # numbers stay
    else:
        problems = xlsx_problems(content, f"{layer}.xlsx", payloads)
    assert problems == []


def test_the_kpi_workbook_holds_formulas_as_text(formula_text):
    client = client_for("wangge")
    response = client.get("/kpis/export.xlsx", {"by": "grid"})
    assert response.status_code == 200
    expected = [FORMULAS[0], *(p[:50] for p in FORMULAS)]
    assert xlsx_problems(response.content, "kpis.xlsx", expected) == []


def test_the_hotspot_workbook_holds_formulas_as_text_and_numbers_as_numbers(formula_text):
    from openpyxl import load_workbook

    community = formula_text["community"]
    client = client_for("zhihui")
    response = client.get("/analysis/hotspots/report.xlsx", {"community": community.pk})
    assert response.status_code == 200
    problems = xlsx_problems(response.content, "hotspots.xlsx", [FORMULAS[0], FORMULAS[1]])
    assert problems == []
    sheet = load_workbook(io.BytesIO(response.content))["网格指标与热点"]
    z = [row[16] for row in sheet.iter_rows(min_row=2) if row[16].value is not None]
    assert sheet.cell(1, 17).value == "Gi* z 值"
    assert any(c.value < 0 for c in z) and all(c.data_type == "n" for c in z)


def test_the_import_error_report_holds_formulas_as_text():
    from layers.importers.report import ImportReport

    report = ImportReport()
    for n, payload in enumerate(FORMULAS, start=1):
        report.error(n, payload, payload)  # a column or a reason quoting a file's cell
    assert csv_problems(report.errors_csv(), "errors.csv", FORMULAS) == []


# --- markup in PDFs ------------------------------------------------------------------------


def _squeeze(text):
    return re.sub(r"\s+", "", text)


def test_markup_in_names_prints_as_typed_in_pdfs(db, fresh_cache, pdf_text):
    """The reminder letter and the hotspot report (whose title is the area's name)."""
    from cases.models import Category, Reminder

    mine = worker_grids()
    community = mine[0].community
    category = Category.objects.filter(active=True).order_by("pk").first()
    Category.objects.filter(pk=category.pk).update(name=MARKUP[3])
    case = new_case(mine[0], MARKUP[0], category=category)
    type(case).objects.filter(pk=case.pk).update(address=MARKUP[1])
    reminder = Reminder.objects.create(
        case=case,
        kind="letter",
        deadline=timezone.now(),
        created_at=timezone.now(),
        unit_name=MARKUP[2],
    )
    client = client_for("zhihui")
    problems = []
    response = client.get(f"/cases/letters/{reminder.pk}.pdf")
    if response.status_code != 200:
        problems.append(f"letter: {response.status_code}")
    else:
        text = _squeeze(pdf_text(response.content))
        problems += [f"letter: {p!r} missing" for p in MARKUP if _squeeze(p) not in text]
    for payload in MARKUP:
        type(community).objects.filter(pk=community.pk).update(name=payload)
        cache.clear()
        response = client.get("/analysis/hotspots/report.pdf", {"community": community.pk})
        if response.status_code != 200:
            problems.append(f"hotspot report for {payload!r}: {response.status_code}")
            continue
        # The report's first line is its title: the area's name, then 矛盾纠纷热点分析研判报告.
        first = pdf_text(response.content).strip().splitlines()[0]
        if not _squeeze(first).startswith(_squeeze(payload)):
            problems.append(f"hotspot report title: {first!r} for {payload!r}")
    assert problems == []
