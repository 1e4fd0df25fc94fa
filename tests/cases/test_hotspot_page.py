"""The hotspot analysis page: login, area scoping, the planted hot spot, bad parameters."""

import re

import pytest
from django.urls import reverse

from tests.test_pages import assert_no_outside_assets

pytestmark = pytest.mark.django_db

URL = "/analysis/hotspots/"


@pytest.fixture(autouse=True)
def fresh_cache():
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()


def test_url_is_analysis_hotspots():
    assert reverse("hotspots:page") == URL
    assert reverse("hotspots:xlsx").startswith(URL)
    assert reverse("hotspots:pdf").startswith(URL)


@pytest.mark.parametrize(
    "name", ["hotspots:page", "hotspots:data", "hotspots:xlsx", "hotspots:pdf"]
)
def test_anonymous_user_is_sent_to_login(client, name):
    response = client.get(reverse(name))
    assert response.status_code == 302
    assert response.url.startswith(reverse("login"))


def test_analyst_sees_the_district_map_tables_and_charts_offline(client, login):
    login("fenxi")
    response = client.get(URL)
    assert response.status_code == 200
    html = response.content.decode()
    assert "分析研判" in html
    assert "L.map(" in html or "folium-map" in html
    assert "vendor/chartjs/chart.umd.min.js" in html
    assert "gridmap/hotspots.js" in html
    assert 'id="hs-charts"' in html
    assert "风险指数 =" in html  # the formula is shown
    assert_no_outside_assets(html)


def test_planted_chuanfang_hot_spot_shows_on_the_page(client, login):
    login("fenxi")
    result = client.get(URL, {"start": "2025-12-01"}).context["result"]
    frame = result["grids"]
    hot = frame[frame["gi_bin"] > 0]
    assert len(hot) >= 2
    assert set(hot["community"]) == {"船房社区"}
    # The three planted grids are Chuanfang grids 1–3: at least one of them is hot.
    planted = frame[frame["name"].isin(["船房社区第1网格", "船房社区第2网格", "船房社区第3网格"])]
    assert (planted["gi_bin"] > 0).any()
    assert result["communities"].iloc[0]["community"] == "船房社区"


@pytest.mark.parametrize("layer", ["gi", "lisa", "kde", "emerging", "risk"])
def test_every_map_layer_renders(client, login, layer):
    login("zhihui")
    response = client.get(URL, {"layer": layer})
    assert response.status_code == 200, response.content.decode()[:2000]
    if layer == "kde":
        assert "data:image/png;base64" in response.content.decode()


def test_street_user_sees_only_his_street(client, login):
    user = login("majie")
    frame = client.get(URL).context["result"]["grids"]
    assert len(frame) > 0
    assert set(frame["street_id"]) == {user.street_id}


def test_community_user_sees_only_his_community(client, login):
    user = login("chuanfang")
    frame = client.get(URL).context["result"]["grids"]
    assert set(frame["community_id"]) == {user.community_id}


def test_street_user_cannot_open_another_street(client, login):
    from layers.models import Street

    user = login("majie")
    other = Street.objects.exclude(pk=user.street_id).first()
    response = client.get(URL, {"street": other.pk})
    assert response.status_code == 403
    assert "不在您的权限范围内" in response.content.decode()


def test_street_user_cannot_read_another_streets_data_or_report(client, login):
    from layers.models import Street

    user = login("majie")
    other = Street.objects.exclude(pk=user.street_id).first()
    assert client.get(reverse("hotspots:data"), {"street": other.pk}).status_code == 403
    assert client.get(reverse("hotspots:xlsx"), {"street": other.pk}).status_code == 403


def test_drill_down_from_district_to_street_to_community_to_grid(client, login):
    from layers.models import Community, Grid

    login("zhihui")
    drill = client.get(URL).context["drill"]
    assert drill["level"] == "street"
    chuanfang = Community.objects.get(name="船房社区")
    response = client.get(URL, {"street": chuanfang.street_id})
    assert response.context["drill"]["level"] == "community"
    response = client.get(URL, {"community": chuanfang.pk})
    drill = response.context["drill"]
    assert drill["level"] == "grid"
    assert [t["name"] for t in drill["trail"]][-2:] == [chuanfang.street.name, "船房社区"]
    grid = Grid.objects.current().filter(community=chuanfang).first()
    response = client.get(URL, {"community": chuanfang.pk, "grid": grid.pk})
    assert response.context["grid_detail"]["code"] == grid.code
    assert "网格详情" in response.content.decode()


def test_compare_two_periods(client, login):
    login("fenxi")
    response = client.get(
        URL,
        {
            "start": "2026-06-01",
            "end": "2026-11-27",
            "compare_start": "2025-12-01",
            "compare_end": "2026-05-31",
        },
    )
    assert response.status_code == 200
    compare = response.context["result"]["compare"]
    assert compare is not None
    assert (compare["change"] == compare["cases"] - compare["cases_before"]).all()
    assert "周期对比" in response.content.decode()


def test_patrol_priorities_list_the_hot_grids_per_worker(client, login):
    login("fenxi")
    response = client.get(URL, {"start": "2025-12-01"})
    patrol = response.context["patrol"]
    frame = response.context["result"]["grids"]
    with_hot = [w for w in patrol if w["grids"]]
    assert with_hot
    for worker in with_hot:
        for grid in worker["grids"]:
            row = frame.loc[grid["grid_id"]]
            assert row["gi_bin"] > 0 or row["emerging"] > 0
        levels = [g["level"] for g in worker["grids"]]
        assert levels == sorted(levels, key=["一级", "二级", "三级"].index)


def test_risk_weights_change_the_formula_and_the_index(client, login):
    login("fenxi")
    response = client.get(URL, {"w_rental_density": "1", "w_case_rate_per_1000": "0"})
    assert response.status_code == 200
    result = response.context["result"]
    assert result["weights"]["rental_density"] == 1.0
    assert "1 × 出租房屋密度" in result["formula"]
    frame = result["grids"]
    top = frame["rental_density"].idxmax()
    assert frame.loc[top, "risk_index"] == pytest.approx(1.0)


@pytest.mark.parametrize(
    "params, message",
    [
        ({"start": "2026-13-45"}, "开始日期格式不正确"),
        ({"start": "yesterday"}, "开始日期格式不正确"),
        ({"start": "2026-05-01", "end": "2026-04-01"}, "早于开始日期"),
        ({"start": "1990-01-01", "end": "1990-02-01"}, "不能早于 2000-01-01"),
        ({"start": "2020-01-01", "end": "2026-01-01"}, "不能超过 3 年"),
        ({"compare_start": "2026-01-01"}, "对比期须同时填写"),
        ({"category": "no-such-thing"}, "未知的事项类别"),
        ({"source": "fax"}, "未知的案件来源"),
        ({"layer": "<script>"}, "未知的地图图层"),
        ({"w_rental_density": "abc"}, "权重必须是数字"),
        ({"w_rental_density": "-1"}, "不能为负数"),
        ({"w_rental_density": "nan"}, "权重必须是数字"),
        ({"w_rental_density": "inf"}, "权重必须是数字"),
        (
            {f"w_{k}": "0" for k in ["case_rate_per_1000", "rental_density", "floating_ratio"]},
            "至少要有一个大于 0",
        ),
        ({"street": "x"}, "街道编号必须是整数"),
        ({"community": "999999"}, "不在您的权限范围内"),
    ],
)
def test_bad_parameters_answer_a_clear_chinese_message(client, login, params, message):
    login("fenxi")
    if message == "至少要有一个大于 0":
        params = {**params, "w_tenants_per_room": "0", "w_unregistered_tenants": "0"}
        params["w_overdue_share"] = "0"
    response = client.get(URL, params)
    assert response.status_code in (400, 403)
    html = response.content.decode()
    assert message in html
    assert "<script>" not in re.sub(r"<script[^>]*>.*?</script>", "", html, flags=re.S)
    data = client.get(reverse("hotspots:data"), params)
    assert data.status_code in (400, 403)
    assert any(message in m for m in data.json()["errors"])


def test_department_handler_without_area_gets_a_message_not_an_error(client, login):
    login("renshe")
    response = client.get(URL)
    assert response.status_code in (400, 403)
    assert "没有可分析的网格" in response.content.decode()


def test_data_endpoint_returns_grids_with_statistics(client, login):
    login("fenxi")
    payload = client.get(reverse("hotspots:data")).json()
    assert payload["grids"]
    first = payload["grids"][0]
    assert {
        "id",
        "code",
        "cases",
        "gi_z",
        "gi_bin",
        "lisa_cluster",
        "emerging",
        "risk_index",
    } <= set(first)
    assert payload["formula"].startswith("风险指数 =")


def test_results_are_cached_per_query_and_recomputed_when_data_changes(client, login):
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from cases.hotspots import service
    from cases.models import Case, Category
    from layers.models import Grid

    login("fenxi")
    first = client.get(URL, {"start": "2026-06-01"}).context["result"]
    assert first["cached"] is False
    again = client.get(URL, {"start": "2026-06-01"}).context["result"]
    assert again["cached"] is True
    # Other risk weights reuse the cached statistics.
    weighted = client.get(URL, {"start": "2026-06-01", "w_rental_density": "2"}).context["result"]
    assert weighted["cached"] is True
    grid = Grid.objects.current().order_by("code").first()
    before = first["grids"].loc[grid.pk, "cases"]
    Case.objects.create(
        location=grid.geom.point_on_surface,
        number="HTCACHE0000001",
        source="dispute",
        category=Category.objects.first(),
        description="缓存测试",
        level="community",
        reported_at=datetime(2026, 7, 1, 10, tzinfo=ZoneInfo("Asia/Shanghai")),
    )
    after = client.get(URL, {"start": "2026-06-01"}).context["result"]
    assert after["cached"] is False
    assert after["grids"].loc[grid.pk, "cases"] == before + 1
    assert service.CACHE_STATS["weights_hit"] >= 1


def test_weights_are_cached_per_grid_layer_version(db):
    from cases.hotspots import service
    from layers.models import Grid
    from tests.factories import make_grid, square

    ids = list(Grid.objects.current().order_by("id").values_list("id", flat=True))
    version = service.grid_layer_version()
    misses = service.CACHE_STATS["weights_miss"]
    graph = service.weights_for(ids)
    assert service.weights_for(ids) is not None
    assert service.CACHE_STATS["weights_miss"] == misses + 1
    assert graph.n == len(ids)
    make_grid(geom=square(103.5, 24.5))
    assert service.grid_layer_version() != version


def test_grid_worker_sees_only_his_grids_and_a_note_instead_of_statistics(client, login):
    from accounts.scoping import territory_grid_ids

    user = login("wangge")
    response = client.get(URL)
    assert response.status_code == 200
    result = response.context["result"]
    assert set(result["grids"].index) == set(territory_grid_ids(user))
    assert any("至少需要 3 个" in note for note in result["notes"])


def test_emerging_hot_spots_use_whole_weeks_only(client, login):
    login("fenxi")
    # 2026-06-03 is a Wednesday and 2026-09-25 a Friday: both edge weeks are cut.
    result = client.get(URL, {"start": "2026-06-03", "end": "2026-09-25"}).context["result"]
    assert any("完整的 15 个自然周" in note for note in result["notes"]), result["notes"]
    assert len(result["weekly"].columns) == 17


def test_grid_names_cannot_inject_markup_into_the_map(client, login):
    from layers.models import Community
    from tests.factories import make_grid, square

    chuanfang = Community.objects.get(name="船房社区")
    make_grid(
        community=chuanfang,
        code=f"10{chuanfang.code}999999",
        name="</script><b>x</b>",
        geom=square(102.9, 24.9),
    )
    login("fenxi")
    html = client.get(URL, {"community": chuanfang.pk}).content.decode()
    assert "<b>x</b>" not in html
    assert 'id="hs-grid-data" type="application/json"' in html
