"""Write the bad-input corpus (tests/badinput/corpus/*.json) from the families below.

    .venv/bin/python tests/badinput/make_corpus.py

The JSON files are the corpus (reviewed and committed); this script only saves typing.
Each entry: id, what (why it is bad), and how to send it: ``set``/``drop`` (changes to a
valid body), ``raw`` (the body as text), ``raw_b64`` (bytes), ``content_type``,
``headers``, ``params`` (query), ``path`` (URL parts), ``file`` (an upload).
"""

import base64
import json
from pathlib import Path

OUT = Path(__file__).resolve().parent / "corpus"

XSS = [
    "<script>alert(1)</script>",
    '"><img src=x onerror=alert(1)>',
    "javascript:alert(document.cookie)",
    "<svg/onload=alert(1)>",
    "{{7*7}}<iframe src=//evil>",
]
SQLI = [
    "' OR '1'='1",
    "1; DROP TABLE cases_case;--",
    "x' UNION SELECT password FROM accounts_user--",
    "1)) OR pg_sleep(5)--",
    "%' AND 1=CAST((SELECT version()) AS int)--",
]
BAD_NUMBERS = ["NaN", "nan", "Infinity", "-Infinity", "inf", "1e999", "0x1A", "", " ", "北纬25"]
OUTSIDE = [
    ([2.35, 48.85], "Paris"),
    ([-74.0, 40.7], "New York"),
    ([0.0, 0.0], "null island"),
    ([151.2, -33.9], "Sydney"),
    ([135.5, 34.7], "Osaka, outside China"),
]
SWAPPED = [([24.98, 102.67], "Kunming, lat/lon swapped"), ([39.9, 116.4], "Beijing, swapped")]
OUT_OF_RANGE = [([181, 24], "lon > 180"), ([102.6, 91], "lat > 90"), ([-200, -100], "both")]
BAD_CRS = ["epsg:99999", "gcj-03", "baidu", "EPSG:4326'--", "utm", "wgs84; DROP", "x" * 300]


def intake():
    out = []

    def add(what, **how):
        out.append({"id": f"intake-{len(out) + 1:03d}", "what": what, **how})

    add("malformed JSON: truncated", raw='{"source": "hotline_12345", "category": ')
    add("malformed JSON: trailing comma", raw='{"source": "hotline_12345",}')
    add("malformed JSON: single quotes", raw="{'source': 'hotline_12345'}")
    add("malformed JSON: not JSON", raw="source=hotline_12345&category=x")
    add("JSON array instead of object", raw="[1, 2, 3]")
    add("JSON string instead of object", raw='"hello"')
    add("JSON null", raw="null")
    add("empty body", raw="")
    add("NaN literal in JSON", raw_json_with="NaN")
    add("Infinity literal in JSON", raw_json_with="Infinity")
    add("-Infinity literal in JSON", raw_json_with="-Infinity")
    add("number overflowing to inf", raw_json_with="1e999")
    add("body in GBK while claiming UTF-8", encoding="gbk")
    add("body in UTF-16 while claiming UTF-8", encoding="utf-16")
    add(
        "body in Latin-1 with invalid UTF-8 bytes",
        raw_b64=base64.b64encode(
            b'{"source": "hotline_12345", "description": "\xe9\xe8\xff"}'
        ).decode(),
    )
    add("lone surrogate escape", raw='{"source": "hotline_12345", "description": "\\ud800"}')
    add("XML body with JSON content type", raw="<case><source>x</source></case>")
    add("unsupported content type", content_type="text/plain", raw="hello")
    add("huge body (6 MB description)", huge=6 * 1024 * 1024)
    add("description longer than 5000 characters", set={"description": "长" * 5001})
    add("deeply nested JSON", raw="[" * 5000 + "]" * 5000)
    for field in ("source", "category", "description"):
        add(f"missing {field}", drop=[field])
    add("missing location and rental house", drop=["location"])
    for field, value in [
        ("source", 123),
        ("source", None),
        ("source", ["hotline_12345"]),
        ("source", "fax"),
        ("category", 7),
        ("category", {"code": "x"}),
        ("category", "no_such_category"),
        ("description", None),
        ("description", ""),
        ("description", "   "),
        ("description", ["a"]),
        ("urgency", "yesterday"),
        ("urgency", 1),
        ("visitors", "many"),
        ("visitors", 0),
        ("visitors", -5),
        ("visitors", 10**12),
        ("visitors", 1.5),
        ("title", "题" * 121),
        ("address", "址" * 201),
        ("parties", "张三"),
        ("parties", [{"name": ""}]),
        ("parties", [{"phone": "123"}]),
        ("parties", [{"name": "张三", "phone": "12345"}]),
        ("parties", [{"name": "张三", "id_number": "110101199003070000"}]),
        ("parties", [{"name": "张三", "role": "king"}]),
        ("auto_dispatch", "perhaps"),
        ("rental_house", "NO-SUCH-HOUSE"),
        ("crs", ["wgs84"]),
        ("crs", None),
    ]:
        add(
            f"wrong value: {field}={json.dumps(value, ensure_ascii=False)[:40]}", set={field: value}
        )
    for value in BAD_NUMBERS:
        add(
            f"coordinate {value!r} as string",
            set={"location": {"type": "Point", "coordinates": [value, 24.98]}},
        )
    for coords, what in OUTSIDE + SWAPPED + OUT_OF_RANGE:
        add(f"coordinates: {what}", set={"location": {"type": "Point", "coordinates": coords}})
    for geom, what in [
        ({"type": "LineString", "coordinates": [[102.6, 24.9], [102.7, 25.0]]}, "a line"),
        (
            {"type": "Polygon", "coordinates": [[[102.6, 24.9], [102.7, 24.9], [102.6, 24.9]]]},
            "an unclosed polygon",
        ),
        ({"type": "Point"}, "a point without coordinates"),
        ({"type": "Point", "coordinates": []}, "empty coordinates"),
        ({"type": "Point", "coordinates": [102.6]}, "one coordinate"),
        ({"type": "Point", "coordinates": [102.6, 24.9, 1, 2]}, "four coordinates"),
        ({"type": "Point", "coordinates": [[102.6, 24.9]]}, "nested coordinates"),
        ({"type": "Point", "coordinates": [True, False]}, "booleans"),
        ({"type": "Point", "coordinates": [None, None]}, "nulls"),
        ({"type": "Feature", "geometry": None}, "a feature without geometry"),
        ({"type": "GeometryCollection", "geometries": []}, "an empty collection"),
        ("POINT(102.6 24.9)", "WKT instead of GeoJSON"),
        ("0101000020E6100000", "hex WKB instead of GeoJSON"),
        ([102.6, 24.9], "a bare coordinate pair"),
    ]:
        add(f"invalid geometry: {what}", set={"location": geom})
    add(
        "GeoJSON with a foreign crs member (EPSG:3857) and degree coordinates",
        set={
            "location": {
                "type": "Point",
                "coordinates": [102.6, 24.9],
                "crs": {"type": "name", "properties": {"name": "EPSG:3857"}},
            }
        },
    )
    for name in BAD_CRS:
        add(f"bad CRS name {name[:30]!r}", set={"crs": name})
    for s in XSS:
        add(f"XSS in category: {s[:30]}", set={"category": s})
        add(f"XSS in source: {s[:30]}", set={"source": s})
    for s in SQLI:
        add(f"SQL injection in category: {s[:30]}", set={"category": s})
        add(f"SQL injection in crs: {s[:30]}", set={"crs": s})
        add(f"SQL injection in rental house: {s[:30]}", set={"rental_house": s, "location": None})
    add("Idempotency-Key longer than 80 characters", headers={"Idempotency-Key": "k" * 81})
    return out


def open311():
    out = []

    def add(what, **how):
        out.append({"id": f"open311-{len(out) + 1:03d}", "what": what, **how})

    add("no service_code", drop=["service_code"])
    add("unknown service_code", set={"service_code": "no_such"})
    add("no location at all", drop=["lat", "long"])
    add("lat without long", drop=["long"])
    for value in BAD_NUMBERS:
        add(f"lat {value!r}", set={"lat": value})
    for coords, what in OUTSIDE + SWAPPED + OUT_OF_RANGE:
        add(f"coordinates: {what}", set={"long": str(coords[0]), "lat": str(coords[1])})
    for name in BAD_CRS[:5]:
        add(f"bad crs {name[:30]!r}", set={"crs": name})
    for s in XSS[:3] + SQLI[:3]:
        add(f"hostile service_code {s[:30]!r}", set={"service_code": s})
    add("description too long", set={"description": "长" * 5001})
    add("unknown urgency attribute", set={"attribute[urgency]": "yesterday"})
    add("invalid api_key", set={"api_key": "gm_nope"})
    add("SQL injection as api_key", set={"api_key": SQLI[0]})
    add("email not an email", set={"email": "not-an-email"})
    add("unknown address_id", drop=["lat", "long"], set={"address_id": "NO-SUCH"})
    return out


def filters():
    out = []

    def add(target, what, params=None, path=None, known_gap=None):
        entry = {"id": f"filter-{len(out) + 1:03d}", "target": target, "what": what}
        if known_gap:
            entry["known_gap"] = known_gap
        if params is not None:
            entry["params"] = params
        if path is not None:
            entry["path"] = path
        out.append(entry)

    for value in BAD_NUMBERS:
        add("locate", f"lon {value!r}", {"lon": value, "lat": "24.98"})
        add("duplicates", f"lon {value!r}", {"category": "CATEGORY", "lon": value, "lat": "24.98"})
    for coords, what in OUTSIDE + SWAPPED + OUT_OF_RANGE:
        add("locate", what, {"lon": str(coords[0]), "lat": str(coords[1])})
    for name in BAD_CRS:
        add("locate", f"crs {name[:30]!r}", {"lon": "102.67", "lat": "24.98", "crs": name})
    add("locate", "no parameters", {})
    add("duplicates", "no category", {"lon": "102.67", "lat": "24.98"})
    add("duplicates", "SQL injection as category", {"category": SQLI[1], "lon": "1", "lat": "1"})
    for key, value in [
        ("since", "yesterday"),
        ("since", "2026-13-45"),
        ("until", "2026-02-30"),
        ("since", SQLI[0]),
        ("by", "password"),
        ("by", XSS[0]),
        ("street", SQLI[1]),
        ("grid", "x" * 500),
        ("since", "2026-01-01T00:00:00'--"),
    ]:
        add("kpis", f"{key}={value[:30]!r}", {key: value})
    add("kpis", "until before since", {"since": "2026-05-01", "until": "2026-01-01"})
    for value in [
        "1,2,3",
        "a,b,c,d",
        "NaN,0,1,1",
        "0,0,1,inf",
        "200,0,201,1",
        "1,2,3,4,5",
        "102.7,25,102.6,24.9",
        SQLI[0],
    ]:
        add("ogc_items", f"bbox={value[:30]!r}", {"bbox": value})
    for value in ["-1", "abc", "1e9x", SQLI[0]]:
        add("ogc_items", f"limit={value!r}", {"limit": value})
        add("ogc_items", f"offset={value!r}", {"offset": value})
    for value in ["yesterday", "2026-13-01", "2026-01-01/../x", "2026-05-01/2026-01-01", XSS[0]]:
        add("ogc_items", f"datetime={value!r}", {"datetime": value})
    add("ogc_items", "f=exe", {"f": "exe"})
    for key, value in [
        ("start_date", "yesterday"),
        ("end_date", "2026-99-01"),
        ("status", "burning"),
        ("start_date", SQLI[3]),
    ]:
        add("open311_list", f"{key}={value[:30]!r}", {key: value})
    for layer, z, x, y, what in [
        ("grids", 25, 0, 0, "zoom above 24"),
        ("grids", 3, 99, 0, "x outside the zoom"),
        ("grids", 3, 0, 99, "y outside the zoom"),
        ("nosuch", 12, 3300, 1700, "unknown layer"),
        ("grids", 12, 999999999, 1, "huge x"),
    ]:
        add("tiles", what, path={"layer": layer, "z": z, "x": x, "y": y})
    for value in ["-1", "abc", "1.5", SQLI[0]]:
        add("live", f"since={value[:30]!r}", {"since": value})
    for key, value in [
        ("start", "2026-13-01"),
        ("end", "yesterday"),
        ("start", SQLI[0]),
        ("compare_start", XSS[0]),
        ("street", "abc"),
        ("grid", SQLI[1]),
        ("community", "1.5"),
    ]:
        add("hotspots", f"{key}={value[:30]!r}", {key: value})
    for value in ["1,2,3", "a,b,c,d", "NaN,0,1,1", SQLI[0]]:
        add("grids_api", f"bbox={value[:30]!r}", {"bbox": value})
    for key, value in [("layer", "passwords"), ("limit", "abc"), ("offset", "-x")]:
        add("unassigned", f"{key}={value!r}", {key: value})
    return out


def actions():
    out = []

    def add(what, action, body=None, raw=None):
        entry = {"id": f"action-{len(out) + 1:03d}", "what": what, "action": action}
        if body is not None:
            entry["body"] = body
        if raw is not None:
            entry["raw"] = raw
        out.append(entry)

    add("unknown action", "explode", {})
    add("SQL injection as action", "accept'--", {})
    add("version as text", "accept", {"version": "one"})
    add("version negative", "accept", {"version": -1})
    add("stale version", "accept", {"version": 999999})
    add("refuse without reason", "refuse", {"reason": ""})
    add("callback rating unknown", "callback", {"rating": "ecstatic"})
    add("merge into no case", "merge", {"into": "XS00000000"})
    add("dispatch to no such worker", "dispatch", {"worker": 999999999})
    add("dispatch worker as text", "dispatch", {"worker": "wangge"})
    add("note too long", "accept", {"note": "长" * 2001})
    add("malformed JSON", "accept", raw='{"version": ')
    add("NaN version", "accept", raw='{"version": NaN}')
    return out


def uploads():
    csv_gbk = "编码,名称\n1,西山区\n".encode("gbk")
    return [
        {
            "id": "upload-001",
            "target": "import",
            "what": "oversized file (over MAX_UPLOAD_BYTES)",
            "file": {"name": "rentals.csv", "size": 300_000},
            "form": {"kind": "rentals"},
        },
        {
            "id": "upload-002",
            "target": "import",
            "what": "an executable named .csv",
            "file": {"name": "rentals.csv", "b64": base64.b64encode(b"MZ\x90\x00" * 64).decode()},
            "form": {"kind": "rentals"},
        },
        {
            "id": "upload-003",
            "target": "import",
            "what": "wrong extension",
            "file": {"name": "rentals.exe", "b64": base64.b64encode(b"a,b\n1,2\n").decode()},
            "form": {"kind": "rentals"},
        },
        {
            "id": "upload-004",
            "target": "import",
            "what": "unknown kind",
            "file": {"name": "x.csv", "b64": base64.b64encode(b"a,b\n1,2\n").decode()},
            "form": {"kind": "nuclear"},
        },
        {
            "id": "upload-005",
            "target": "import",
            "what": "bad CRS name",
            "file": {"name": "x.csv", "b64": base64.b64encode(b"a,b\n1,2\n").decode()},
            "form": {"kind": "rentals", "crs": "epsg:99999"},
        },
        {
            "id": "upload-006",
            "target": "import",
            "what": "empty file",
            "file": {"name": "x.csv", "b64": ""},
            "form": {"kind": "rentals"},
        },
        {
            "id": "upload-007",
            "target": "import",
            "what": "a zip that is not a shapefile",
            "file": {"name": "x.zip", "b64": base64.b64encode(b"PK\x03\x04garbage").decode()},
            "form": {"kind": "rentals"},
        },
        {
            "id": "upload-008",
            "target": "attachment",
            "what": "oversized attachment",
            "file": {"name": "photo.jpg", "size": 300_000},
        },
        {
            "id": "upload-009",
            "target": "attachment",
            "what": "an HTML file as a photo",
            "file": {
                "name": "photo.jpg",
                "b64": base64.b64encode(b"<html><script>alert(1)</script></html>").decode(),
            },
        },
        {
            "id": "upload-010",
            "target": "attachment",
            "what": "an executable as a PDF",
            "file": {"name": "letter.pdf", "b64": base64.b64encode(b"MZ\x90\x00" * 64).decode()},
        },
        {
            "id": "upload-011",
            "target": "attachment",
            "what": "GBK text as a photo",
            "file": {"name": "a.png", "b64": base64.b64encode(csv_gbk).decode()},
        },
    ]


if __name__ == "__main__":
    OUT.mkdir(exist_ok=True)
    total = 0
    for name, entries in [
        ("intake", intake()),
        ("open311", open311()),
        ("filters", filters()),
        ("actions", actions()),
        ("uploads", uploads()),
    ]:
        (OUT / f"{name}.json").write_text(
            json.dumps(entries, ensure_ascii=False, indent=1) + "\n", encoding="utf-8"
        )
        total += len(entries)
        print(f"{name}: {len(entries)}")
    print(f"total: {total}")
