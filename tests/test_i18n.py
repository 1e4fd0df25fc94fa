"""The pages speak Chinese by default and English after the language switch.

The switch in base.html posts to Django's set_language view, which sets the
django_language cookie; the tests switch the same way. The strings are English msgids
with Chinese in locale/zh_Hans (compiled at set-up), so a page with an untranslated
string shows English in zh-hans and a hard-coded Chinese string shows in English: each
page is checked both ways.
"""

import json
import re
from pathlib import Path

import pytest
from django.urls import reverse
from django.utils import translation

pytestmark = pytest.mark.django_db

CJK = re.compile(r"[\u4e00-\u9fff]")


def switch_to_english(client):
    response = client.post(reverse("set_language"), {"language": "en", "next": "/"})
    assert response.status_code == 302
    assert client.cookies["django_language"].value == "en"


def get(client, url, data=None):
    response = client.get(url, data or {})
    assert response.status_code == 200, (url, response.status_code)
    return response.content.decode()


def a_case_of(username):
    from cases.models import Case

    return (
        Case.objects.filter(
            assignments__worker__user__username=username,
            assignments__active=True,
            status__in=["dispatched", "in_progress"],
        )
        .order_by("pk")
        .first()
    )


def a_failed_import():
    from accounts.models import User
    from layers.models import ImportJob

    return ImportJob.objects.create(
        kind="persons",
        filename="人口.csv",
        status="failed",
        total_rows=3,
        processed_rows=3,
        error_count=2,
        errors=[[2, "经度", "坐标为空"], [3, "电话", "格式不对"]],
        notes=["说明"],
        created_by=User.objects.get(username="admin"),
    )


def a_person():
    from layers.models import Person

    return Person.objects.filter(grid__isnull=False).order_by("pk").first()


# (name, user, url, English strings, the same strings in Chinese)
PAGES = [
    (
        "case list",
        "zhihui",
        lambda: reverse("cases:list"),
        ["One-window intake", "Number or text", "Summary", "Time limit", "Petitions:"],
        ["一窗受理登记", "编号或内容", "摘要", "时限", "信访："],
    ),
    (
        "case detail",
        "zhihui",
        lambda: reverse("cases:detail", args=[a_case_of("wangge").pk]),
        ["Matter category", "Handling trail", "Parties", "Attachments", "Handlers"],
        ["事项类别", "办理轨迹", "当事人", "附件", "承办"],
    ),
    (
        "intake",
        "shouli",
        lambda: reverse("cases:new"),
        [
            "One-window intake",
            "Parties (phone and ID numbers are stored encrypted",
            "Find a rental house",
            "Accept at once and dispatch by the rules",
            "Applicant’s phone",
        ],
        [
            "一窗受理登记",
            "当事人（电话、身份证号加密保存",
            "查找出租房屋",
            "登记后立即受理",
            "申请人电话",
        ],
    ),
    (
        "phone list",
        "wangge",
        lambda: reverse("cases:mobile"),
        ["My tasks", "Report from patrol", "Grid worker</title>"],
        ["我的任务", "巡查上报", "网格员</title>"],
    ),
    (
        "phone case",
        "wangge",
        lambda: reverse("cases:mobile-case", args=[a_case_of("wangge").pk]),
        ["Open in a map app", "Case history", "Add a note or photos"],
        ["在地图应用中打开", "办理记录", "添加备注/照片"],
    ),
    (
        "reminders",
        "wangge",
        lambda: reverse("cases:notifications"),
        ["In-app reminders", "Mark all as read"],
        ["站内提醒", "全部标为已读"],
    ),
    (
        "hotspots",
        "fenxi",
        lambda: reverse("hotspots:page"),
        [
            "Analysis · hot spot analysis",
            "Export the Excel workbook",
            "Patrol priorities (by grid worker)",
            "Community risk index",
            "Risk index = ",
            "Hot and cold spot grids (Gi*)",
            "Number of grids",
        ],
        [
            "分析研判 · 热点分析",
            "导出 Excel 工作簿",
            "巡查优先级（按网格员）",
            "社区风险指数",
            "风险指数 = ",
            "热点与冷点网格（Gi*）",
            "网格数",
        ],
    ),
    (
        "import upload",
        "admin",
        lambda: reverse("layers:import"),
        ["Upload and import", "Recent imports", "as in the file (WGS84)"],
        ["上传并导入", "最近的导入", "文件自带（WGS84）"],
    ),
    (
        "import job",
        "admin",
        lambda: reverse("layers:import_job", args=[a_failed_import().pk]),
        ["Download the error report (CSV)", "2 errors in all", "Reason"],
        ["下载错误报告（CSV）", "共 2 处错误", "原因"],
    ),
    (
        "outside every grid",
        "zhihui",
        lambda: reverse("layers:unassigned"),
        ["Points outside every grid", "Correct the location", "Longitude"],
        ["未划入网格的点", "更正坐标", "经度"],
    ),
    (
        "export",
        "zhihui",
        lambda: reverse("layers:export"),
        ["Data export", "Exports are limited to your area"],
        ["数据导出", "导出范围限于您的辖区"],
    ),
    (
        "reveal",
        "zhihui",
        lambda: reverse("accounts:reveal", args=["person", a_person().pk]),
        ["Reveal the full personal data", "Every reveal is written to the audit log", "Name"],
        ["查看完整个人信息", "每次查看都会记入审计日志", "姓名"],
    ),
    (
        "audit log",
        "zhihui",
        lambda: reverse("accounts:audit_log"),
        ["Audit log", "reveals of personal data and exports", "User agent"],
        ["审计日志", "个人信息查看与导出记录", "终端"],
    ),
]


@pytest.mark.parametrize(
    "user, url, english, chinese",
    [page[1:] for page in PAGES],
    ids=[page[0] for page in PAGES],
)
def test_the_page_is_chinese_by_default_and_english_after_the_switch(
    client, login, user, url, english, chinese
):
    login(user)
    address = url()
    html = get(client, address)
    assert 'lang="zh-hans"' in html
    for text in chinese:
        assert text in html, text
    switch_to_english(client)
    html = get(client, address)
    assert 'lang="en"' in html
    for text in english:
        assert text in html, text
    for text in chinese:
        assert text not in html, text


def test_the_case_list_tabs_and_headings_switch(client, login):
    login("zhihui")
    switch_to_english(client)
    html = get(client, reverse("cases:list"))
    for tab in ("Open", "To accept", "Overdue", "Not in any grid", "Handled by me", "All"):
        assert f">{tab}</a>" in html
    assert '<h1 class="h4 me-3 mb-0">Cases</h1>' in html
    assert "办理中" not in html and "我承办的" not in html


def test_the_case_page_names_the_actions_in_the_language_of_the_page(client, login):
    case = a_case_of("wangge")
    login("zhihui")
    html = get(client, reverse("cases:detail", args=[case.pk]))
    assert ">派遣</button>" in html
    switch_to_english(client)
    html = get(client, reverse("cases:detail", args=[case.pk]))
    assert ">Dispatch</button>" in html and ">派遣</button>" not in html
    assert "Handled at " in html and "级办理" not in html


def test_intake_messages_follow_the_language(client, login):
    from cases.models import Case, Category

    login("shouli")
    switch_to_english(client)
    grid_case = Case.objects.filter(grid__isnull=False).order_by("pk").first()
    data = {
        "source": "dispute",
        "category": Category.objects.get(code="wage").pk,
        "urgency": "normal",
        "description": "拖欠工资",
        "visitors": 1,
        "lon": "abc",
        "lat": f"{grid_case.location.y:.7f}",
        "crs": "wgs84",
        "applicant_phone": "12345",
    }
    html = client.post(reverse("cases:new"), data).content.decode()
    assert "coordinate is empty or not a number" in html and "坐标为空" not in html
    assert "phone number is not valid" in html and "电话号码格式不正确" not in html
    assert "A name is required with a phone or ID number" in html
    data.update(lon=f"{grid_case.location.x:.7f}", applicant_phone="", confirm="1")
    response = client.post(reverse("cases:new"), data, follow=True)
    html = response.content.decode()
    case = Case.objects.latest("pk")
    assert f"Registered {case.number}" in html and "已登记" not in html


def test_the_bilingual_half_follows_the_language():
    from cases.forms import in_language

    rating = (
        "满意度应为 满意 / 基本满意 / 不满意 / rating must be satisfied, basically or unsatisfied"
    )
    named = "附件“照片.exe”类型不允许 / the attachment '照片.exe' is not allowed"
    with translation.override("zh-hans"):
        assert in_language("坐标为空 / coordinate is empty") == "坐标为空"
        assert in_language(named) == "附件“照片.exe”类型不允许"
        assert in_language("只有中文") == "只有中文"
    with translation.override("en"):
        assert in_language("坐标为空 / coordinate is empty") == "coordinate is empty"
        assert in_language(rating) == "rating must be satisfied, basically or unsatisfied"
        assert in_language(named) == "the attachment '照片.exe' is not allowed"
        assert in_language("只有中文") == "只有中文"


# --- the hotspot page: its labels in zh-hans are the analysis's own Chinese names -----------


def test_the_hotspot_labels_in_chinese_are_the_analysis_names():
    from cases.hotspots import forms, indicators, stats, views

    with translation.override("zh-hans"):
        assert {k: str(v) for k, v in views.GI_BIN_LABELS.items()} == stats.GI_BIN_LABELS_ZH
        assert {k: str(v) for k, v in views.LISA_LABELS.items()} == stats.LISA_LABELS_ZH
        assert {k: str(v) for k, v in views.EMERGING_LABELS.items()} == stats.EMERGING_LABELS_ZH
        assert {k: str(v) for k, v in views.RISK_LABELS.items()} == stats.RISK_INDICATORS
        indicator_labels = {k: str(v) for k, v in views.INDICATOR_LABELS.items()}
        assert indicator_labels == indicators.INDICATOR_LABELS_ZH
        assert [(k, str(views.LAYER_LABELS[k])) for k, _label in forms.LAYERS] == forms.LAYERS
        variables = [(k, str(views.VARIABLE_LABELS[k])) for k, _label in forms.VARIABLES]
        assert variables == forms.VARIABLES
        assert [str(label) for _n, label in views.PATROL_LEVELS.values()] == list(
            views.PATROL_LEVELS
        )
        changes = {k: str(v) for k, v in views.CHANGE_LABELS.items() if k}
        assert changes == {k: k for k in views.CHANGE_LABELS if k}
        weights = dict(forms.DEFAULT_WEIGHTS)
        assert views.formula_text(weights) == stats.formula_text(weights)
    with translation.override("en"):
        assert str(views.GI_BIN_LABELS[3]) == "Hot spot (99% confidence)"
        assert not CJK.search(views.formula_text(dict(forms.DEFAULT_WEIGHTS)))


def embedded_json(html, element_id):
    found = re.search(rf'<script id="{element_id}" type="application/json">(.*?)</script>', html)
    return json.loads(found.group(1))


def test_the_hotspot_map_tooltips_and_charts_follow_the_language(client, login):
    login("fenxi")
    html = get(client, reverse("hotspots:page"))
    tooltips = [f["properties"]["t"] for f in embedded_json(html, "hs-grid-data")["features"]]
    # Each tooltip is its lines: place, number of cases, class (shown with textContent).
    assert tooltips and all(re.fullmatch(r"案件 \d+ 件", t[1]) for t in tooltips)
    assert embedded_json(html, "hs-charts")["gi"]["labels"][0] == "热点（99% 置信度）"
    assert embedded_json(html, "hs-charts")["weekly"]["series"] == "案件数"
    switch_to_english(client)
    html = get(client, reverse("hotspots:page"))
    tooltips = [f["properties"]["t"] for f in embedded_json(html, "hs-grid-data")["features"]]
    assert tooltips and all(re.fullmatch(r"\d+ cases?", t[1]) for t in tooltips)
    assert embedded_json(html, "hs-charts")["gi"]["labels"][0] == "Hot spot (99% confidence)"
    assert embedded_json(html, "hs-charts")["weekly"]["series"] == "Number of cases"


def test_the_hotspot_form_errors_follow_the_language(client, login):
    login("fenxi")
    url = reverse("hotspots:page")
    html = client.get(url, {"compare_start": "2026-01-01"}).content.decode()
    assert "对比期须同时填写开始日期和结束日期（或都不填）。" in html
    assert "未知的地图图层“nope”。" in client.get(url, {"layer": "nope"}).content.decode()
    switch_to_english(client)
    html = client.get(url, {"compare_start": "2026-01-01"}).content.decode()
    assert "Enter both the start and the end date of the comparison period" in html
    assert "对比期须同时填写" not in html
    response = client.get(url, {"layer": "nope"})
    assert response.status_code == 400
    html = response.content.decode()
    assert "Map layer: Unknown map layer “nope”." in html
    assert "未知的地图图层" not in html and "地图图层：" not in html
    errors = client.get(reverse("hotspots:data"), {"start": "yesterday"}).json()["errors"]
    assert errors == [
        "Start date is not a valid date; enter it as year-month-day, e.g. 2026-03-01."
    ]
    html = client.get(url, {"start": "2026-05-01", "end": "2026-04-01"}).content.decode()
    assert "The period ends (2026-04-01) before it starts (2026-05-01)." in html
    assert "早于开始日期" not in html
    html = client.get(url, {"community": "999999"}).content.decode()
    assert "The selected community does not exist or is outside your area." in html
    assert "权限范围" not in html


def test_the_meeting_report_stays_chinese_after_the_switch(client, login, pdf_text):
    login("fenxi")
    switch_to_english(client)
    text = pdf_text(client.get(reverse("hotspots:pdf"), {"layer": "gi"}).content)
    assert "热点分析研判报告" in text
    assert "不显著" in text  # the map legend
    assert "Not significant" not in text and "Hot spot (" not in text


def test_the_case_history_names_its_steps_in_the_page_language(client, login):
    from cases.models import Case

    login("zhihui")
    case = Case.objects.filter(events__action="accept").order_by("pk").first()
    url = reverse("cases:detail", args=[case.pk])
    page = get(client, url)
    assert "<td>登记</td>" in page and "<td>受理</td>" in page
    assert "<td>register</td>" not in page and "<td>accept</td>" not in page
    switch_to_english(client)
    page = get(client, url)
    assert "<td>register</td>" in page and "<td>accept</td>" in page
    assert "<td>受理</td>" not in page


# --- the catalogue: every msgid has its Chinese, none is a fuzzy guess ----------------------

CATALOGUE = Path(__file__).resolve().parent.parent / "locale/zh_Hans/LC_MESSAGES/django.po"


def po_entries(text):
    """Return the entries of a .po text as dicts (flags, msgctxt, msgid, msgstr, …).

    A keyword's string may run on over several quoted lines; the pieces are joined.
    Obsolete entries (#~) are left out: gettext does not use them.
    """
    entries, entry, key = [], None, None
    for line in text.splitlines() + [""]:
        line = line.strip()
        if not line:
            if entry is not None:
                entries.append(entry)
            entry, key = None, None
            continue
        if line.startswith("#~"):
            continue
        if entry is None:
            entry = {"flags": set(), "msgstr": {}}
        if line.startswith("#,"):
            entry["flags"] |= {flag.strip() for flag in line[2:].split(",")}
        elif line.startswith("#"):
            continue
        elif line.startswith('"'):
            piece = line[1:-1]
            if isinstance(key, int):
                entry["msgstr"][key] += piece
            else:
                entry[key] += piece
        else:
            keyword, _space, rest = line.partition(" ")
            found = re.fullmatch(r"msgstr\[(\d+)\]|msgstr", keyword)
            key = (int(found.group(1)) if found.group(1) else 0) if found else keyword
            if isinstance(key, int):
                entry["msgstr"][key] = rest[1:-1]
            else:
                entry[key] = rest[1:-1]
    return entries


def not_ready(entries):
    """Return the entries gettext would show in English: no msgstr, or a fuzzy one."""
    bad = []
    for entry in entries:
        header = entry.get("msgid") == "" and "msgctxt" not in entry
        empty = not entry["msgstr"] or not all(entry["msgstr"].values())
        if "fuzzy" in entry["flags"] or (empty and not header):
            bad.append((entry.get("msgctxt"), entry.get("msgid")))
    return bad


def test_the_catalogue_reader_finds_empty_and_fuzzy_entries():
    sample = "\n".join(
        [
            'msgid ""',
            'msgstr ""',
            '"Language: zh_Hans\\n"',
            "",
            "#: a.py:1",
            'msgid "Grid"',
            'msgstr "网格"',
            "",
            'msgid ""',
            '"A long text "',
            '"on two lines"',
            'msgstr ""',
            '""',
            "",
            "#, fuzzy, python-format",
            'msgid "%(n)s case"',
            'msgid_plural "%(n)s cases"',
            'msgstr[0] "%(n)s 件"',
            "",
            'msgctxt "patrol"',
            'msgid "Street"',
            'msgstr ""',
            '"街道"',
            "",
            '#~ msgid "Old"',
            '#~ msgstr ""',
        ]
    )
    entries = po_entries(sample)
    assert [e["msgid"] for e in entries] == [
        "",
        "Grid",
        "A long text on two lines",
        "%(n)s case",
        "Street",
    ]
    assert entries[4]["msgstr"] == {0: "街道"}
    assert not_ready(entries) == [(None, "A long text on two lines"), (None, "%(n)s case")]


def test_every_msgid_in_the_catalogue_has_its_chinese():
    text = CATALOGUE.read_text(encoding="utf-8")
    entries = po_entries(text)
    assert len(entries) == len(re.findall(r"^msgid ", text, re.M)) > 600
    assert not_ready(entries) == []
