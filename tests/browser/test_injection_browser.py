"""The exported map file in Chromium: a case title is shown as typed, and none of it runs.

The server-side checks of every output are in tests/test_injection.py; this one opens the
standalone export (offline, from a file) and hovers over the case.
"""

import pytest

pytestmark = pytest.mark.browser

# folium put the text into a JavaScript template literal: ${…} ran when the file opened.
TITLE = "ZQMK{{7*7}} ${(window.__zq=7*7)} <b>b</b> & 船房"


def test_exported_map_shows_a_template_title_literally_and_runs_none_of_it(
    chromium, browser_server, django_db_blocker, tmp_path
):
    from django.test import Client

    from accounts.models import User
    from accounts.scoping import territory_grid_ids
    from cases import services
    from cases.models import Category, Source
    from layers.models import Grid

    with django_db_blocker.unblock():
        # Committed, so deleted by browser_server at the end of the module.
        grid = Grid.objects.get(pk=territory_grid_ids(User.objects.get(username="wangge"))[0])
        point = grid.geom.point_on_surface
        services.case_register(
            source=Source.PATROL,
            category=Category.objects.filter(active=True).order_by("pk").first(),
            description="导出地图测试",
            title=TITLE,
            location=point,
        )
        client = Client()
        client.force_login(User.objects.get(username="zhihui"))
        box = f"{point.x - 0.001},{point.y - 0.001},{point.x + 0.001},{point.y + 0.001}"
        response = client.get("/map/export/wall.html", {"bbox": box})
    assert response.status_code == 200
    path = tmp_path / "export.html"
    path.write_bytes(response.content)

    context = chromium.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    errors, outside = [], []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: m.type == "error" and errors.append(m.text))
    page.route(
        "**/*",
        lambda route: (
            route.continue_()
            if route.request.url.startswith(("file:", "data:"))
            else (outside.append(route.request.url), route.abort())
        ),
    )
    try:
        page.goto(path.as_uri(), wait_until="load")
        assert page.evaluate("() => window.__zq") is None
        assert errors == [] and outside == []
        x, y = page.evaluate(
            """async ([lat, lon]) => {
                const map = Object.keys(window).filter(k => k.startsWith('map_'))
                    .map(k => window[k]).find(m => m instanceof L.Map);
                map.setView([lat, lon], 18, {animate: false});
                // The canvas renderer redraws (and hit-tests) after the next frame.
                await new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)));
                const p = map.latLngToContainerPoint([lat, lon]);
                const r = map.getContainer().getBoundingClientRect();
                return [r.left + p.x, r.top + p.y];
            }""",
            [point.y, point.x],
        )
        page.mouse.move(x, y)
        case_tooltip = page.locator(".leaflet-tooltip", has_text="ZQMK")
        case_tooltip.wait_for(timeout=10000)
        tooltip = case_tooltip.text_content()
        assert TITLE in tooltip
        assert page.locator(".leaflet-tooltip b").count() == 0
        assert "ZQMK49" not in page.evaluate("() => document.body.innerText")
        assert page.evaluate("() => window.__zq") is None
        assert errors == [] and outside == []
    finally:
        context.close()
