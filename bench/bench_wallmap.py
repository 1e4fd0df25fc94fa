"""
Benchmark the wall map's first render in headless Chromium on the city-scale district,
against the same view built the naive folium way (every layer embedded as GeoJSON).

Run from the repository root (uses gridmap_bench like bench_tiles.py):

    DJANGO_SETTINGS_MODULE=gridmap.settings .venv/bin/python bench/bench_wallmap.py

First render = from navigation start until the map is drawn: for the wall map, the grid
and case tile layers have loaded every visible tile and the KPI panel and feed are
filled; for the naive page, its load event plus the first animation frame after it.
Bytes transferred are what the page fetched before its first render (Resource Timing
transferSize: bodies as sent plus headers), without the front-end libraries
(/static/vendor/), which a browser caches once. Chromium is /usr/bin/chromium (never
downloaded); only 127.0.0.1 resolves, and any request to another host is reported.
"""

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.bench_tiles import bench_user, ensure_bench_db  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
    # Only loopback resolves: a page that asks for another host fails to load it.
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
]


def serve(extra_files):
    """Start a threaded WSGI server of the app (plus some static files); return its URL."""
    from socketserver import ThreadingMixIn
    from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

    from django.contrib.staticfiles.handlers import StaticFilesHandler
    from django.core.handlers.wsgi import WSGIHandler

    app = StaticFilesHandler(WSGIHandler())

    def wsgi(environ, start_response):
        path = environ.get("PATH_INFO", "")
        if path in extra_files:
            body = Path(extra_files[path]).read_bytes()
            start_response(
                "200 OK",
                [("Content-Type", "text/html; charset=utf-8"), ("Content-Length", str(len(body)))],
            )
            return [body]
        return app(environ, start_response)

    class Server(ThreadingMixIn, WSGIServer):
        daemon_threads = True

        def close_request(self, request):
            from django.db import connections

            connections.close_all()  # the request thread's own connections, as runserver
            super().close_request(request)

    class Quiet(WSGIRequestHandler):
        def log_message(self, *args):
            pass

    server = make_server("127.0.0.1", 0, wsgi, server_class=Server, handler_class=Quiet)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_port}", server


def session_cookie(user, base):
    from django.conf import settings
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.sessions.backends.db import SessionStore

    session = SessionStore()
    session[SESSION_KEY] = str(user.pk)
    session[BACKEND_SESSION_KEY] = settings.AUTHENTICATION_BACKENDS[0]
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    session.create()
    return {"name": settings.SESSION_COOKIE_NAME, "value": session.session_key, "url": base}


def naive_page(path):
    """Write the naive wall map (grids and open cases embedded as GeoJSON); return bytes."""
    from django.db import connection

    from cases.models import OPEN_STATUSES
    from gridmap import maps, sql_tiles

    grids = sql_tiles.grids_geojson(None)
    with connection.cursor() as cursor:
        cursor.execute(
            """SELECT json_build_object('type', 'FeatureCollection', 'features',
                   json_agg(json_build_object('type', 'Feature',
                       'geometry', ST_AsGeoJSON(location, 6)::json,
                       'properties', json_build_object('id', id, 'number', number,
                                                       'status', status))))
               FROM cases_case WHERE status = ANY(%s)""",
            [list(OPEN_STATUSES)],
        )
        cases = cursor.fetchone()[0]
    empty = {"type": "FeatureCollection", "features": []}
    fmap = maps.naive_wall_map(grids, cases, empty)
    fmap.fit_bounds([[24.9, 102.55], [25.1, 102.9]])
    fmap.save(str(path))
    return path.stat().st_size, len(grids["features"]), len(cases["features"] or [])


def measure(browser, base, cookie, path, kind, timeout_s=120):
    """Load a page in a fresh context; return (seconds, bytes excl. libs, lib bytes, requests,
    outside hosts asked for).

    Nothing intercepts the requests (Playwright's routing costs a driver round trip per
    request and would be measured too): Chromium's host resolver only knows 127.0.0.1, and a
    passive listener records any request to another host. Sizes come from the page's own
    Resource Timing entries (transferSize: bodies as sent plus headers).
    """
    context = browser.new_context(viewport={"width": 1920, "height": 1080})
    context.add_cookies([cookie])
    page = context.new_page()
    outside = []
    page.on(
        "request",
        lambda r: None if r.url.startswith((base, "data:", "blob:")) else outside.append(r.url),
    )
    page.goto(base + path, wait_until="commit", timeout=timeout_s * 1000)
    if kind == "wall":
        page.wait_for_function(
            """() => {
                if (!(window.GM && GM.ready && GM.wall.layers)) return false;
                if (document.getElementById('kpi-open').textContent === '–') return false;
                const done = key => {
                    const l = GM.wall.layers[key];
                    return Object.values(l._tiles || {}).every(t => t.loaded);
                };
                const busy = ['grids', 'cases', 'areas'].some(k => !done(k) ||
                    Object.keys(GM.wall.layers[k]._tiles || {}).length === 0);
                if (busy) return false;
                window.__rendered = window.__rendered || performance.now();
                return true;
            }""",
            timeout=timeout_s * 1000,
            polling=50,
        )
    else:
        page.wait_for_load_state("load", timeout=timeout_s * 1000)
        page.evaluate(
            "() => new Promise(r => requestAnimationFrame(() =>"
            " { window.__rendered = performance.now(); r(); }))"
        )
    rendered = page.evaluate("() => window.__rendered")
    page.wait_for_timeout(300)
    entries = page.evaluate(
        """() => performance.getEntriesByType('navigation')
                 .concat(performance.getEntriesByType('resource'))
                 .map(e => [e.name, e.transferSize, e.startTime])"""
    )
    # What the first render needed: everything asked for before it was drawn.
    entries = [(url, size) for url, size, start in entries if start <= rendered]
    total = sum(size for _u, size in entries)
    libs = sum(size for u, size in entries if "/static/vendor/" in u)
    context.close()
    return rendered / 1000.0, total - libs, libs, len(entries), outside


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--server",
        choices=("gunicorn", "threaded"),
        default="gunicorn",
        help="serve the wall map with scripts/serve.sh (as deployed) or in this process",
    )
    args = parser.parse_args()
    ensure_bench_db()
    os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    import django

    django.setup()
    from playwright.sync_api import sync_playwright

    from gridmap import tiles

    user = bench_user()
    tmp = Path(tempfile.mkdtemp(prefix="gridmap-bench-"))
    naive_path = tmp / "naive.html"
    t0 = time.perf_counter()
    naive_bytes, n_grids, n_cases = naive_page(naive_path)
    naive_build = time.perf_counter() - t0
    base, server = serve({"/bench/naive.html": naive_path})
    cookie = session_cookie(user, base)
    # The wall map is measured as deployed: scripts/serve.sh (gunicorn workers) on the
    # same database. The naive page is a static file: the in-process server hands it out.
    wall_base, gunicorn = base, None
    if args.server == "gunicorn":
        database_url = os.environ["DATABASE_URL"]
        from bench.bench_load import free_port, start_server, stop_server

        os.environ["DATABASE_URL"] = database_url  # bench_load points it at its own database
        from django.core.management import call_command

        call_command("collectstatic", interactive=False, verbosity=0)  # WhiteNoise serves these
        port = free_port()
        # Web workers only: a periodic job's pass over 500,000 cases is not part of a first
        # render, and would only add noise to it.
        gunicorn = start_server(
            port,
            str(ROOT / "var" / "bench_wallmap_server.log"),
            0,
            database_url,
            {"JOB_WORKERS": "0", "HEALTHZ_REQUIRE_JOBS": "0"},
        )
        wall_base = f"http://127.0.0.1:{port}"
    from gridmap import map_selectors

    cold_all = "wall, nothing cached (tiles, KPIs)"
    cold_tiles = "wall, tiles not cached (KPIs fresh, as the walls' polling keeps them)"
    warm = "wall, tiles cached"
    results = {cold_all: [], cold_tiles: [], warm: [], "naive": []}
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            for _ in range(args.runs):
                tiles.tile_cache().clear()  # the shared cache: tiles and KPI results
                results[cold_all].append(measure(browser, wall_base, cookie, "/map/wall/", "wall"))
                tiles.tile_cache().clear()
                map_selectors.kpis(user)  # what a wall's poll computes every 15 s
                results[cold_tiles].append(
                    measure(browser, wall_base, cookie, "/map/wall/", "wall")
                )
                results[warm].append(measure(browser, wall_base, cookie, "/map/wall/", "wall"))
            for _ in range(max(1, args.runs - 1)):
                results["naive"].append(
                    measure(browser, base, cookie, "/bench/naive.html", "naive", timeout_s=300)
                )
            browser.close()
    finally:
        server.shutdown()
        if gunicorn is not None:
            stop_server(*gunicorn)
    print(
        f"\n### Wall map first render — headless Chromium 1920×1080, "
        f"{n_grids:,} grids, {n_cases:,} open cases\n"
    )
    print("| page | first render s (median) | transferred excl. libs | libs | requests |")
    print("|---|---:|---:|---:|---:|")
    for name, runs in results.items():
        secs = statistics.median(r[0] for r in runs)
        data = statistics.median(r[1] for r in runs)
        libs = statistics.median(r[2] for r in runs)
        reqs = statistics.median(r[3] for r in runs)
        print(f"| {name} | {secs:.2f} | {data / 1e6:.2f} MB | {libs / 1e6:.2f} MB | {reqs:.0f} |")
        outside = {u for r in runs for u in r[4]}
        if outside:
            print(f"| ⚠ requests to other hosts from {name} | {len(outside)} | | | |")
    print(
        f"\nTargets: wall map ≤ 2 s and ≤ 1.5 MB excluding libraries. The naive page is the "
        f"same view with the grids and open cases embedded as GeoJSON by folium "
        f"({naive_bytes / 1e6:.1f} MB of HTML, built in {naive_build:.1f} s)."
    )


if __name__ == "__main__":
    main()
