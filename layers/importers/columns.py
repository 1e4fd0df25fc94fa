"""Column headers as they come: Chinese or English, with or without spaces and units."""

import re
import unicodedata

from layers.importers.report import ImportFailed

LON = ("lon", "经度", "longitude", "lng", "long", "x", "经度坐标")
LAT = ("lat", "纬度", "latitude", "y", "纬度坐标")

COLUMNS = {
    "persons": {
        "name": ("name", "姓名", "名字", "人员姓名"),
        "id_number": (
            "id_number",
            "身份证号",
            "身份证号码",
            "公民身份号码",
            "证件号码",
            "身份证",
            "idnumber",
            "idno",
            "idcard",
        ),
        "phone": ("phone", "联系电话", "电话", "手机", "手机号", "手机号码", "mobile", "tel"),
        "kind": ("kind", "人口类型", "人员类型", "类型", "类别", "type"),
        "address": ("address", "地址", "现住址", "居住地址", "住址"),
        "household_no": ("household_no", "户号", "householdno"),
        "origin": ("origin", "籍贯", "户籍地", "户籍地址", "来源地"),
        "arrival_date": ("arrival_date", "来昆日期", "到达日期", "抵达日期", "来本地日期"),
        "residence_permit": ("residence_permit", "居住证", "是否办理居住证"),
        "rental_house_code": ("rental_house_code", "房屋编号", "出租房编号", "house_code"),
        "lon": LON,
        "lat": LAT,
    },
    "rentals": {
        "code": ("code", "房屋编号", "房屋编码", "编号", "house_code"),
        "address": ("address", "地址", "房屋地址", "详细地址"),
        "landlord_name": ("landlord_name", "房东", "房东姓名", "出租人", "landlord"),
        "landlord_phone": ("landlord_phone", "房东电话", "房东联系电话", "联系电话", "phone"),
        "rooms": ("rooms", "房间数", "间数", "房间数量"),
        "tenant_count": ("tenant_count", "租住人数", "承租人数", "租户数", "tenants"),
        "overcrowded": ("overcrowded", "群租", "是否群租"),
        "three_in_one": ("three_in_one", "三合一", "是否三合一"),
        "fire_hazard": ("fire_hazard", "消防隐患", "是否有消防隐患"),
        "last_inspected": ("last_inspected", "检查日期", "最近检查日期", "最近检查"),
        "lon": LON,
        "lat": LAT,
    },
    "cases": {
        "number": ("number", "案件编号", "事件编号", "编号"),
        "category": ("category", "类别", "事项类别", "事件类别", "类型"),
        "source": ("source", "来源", "事件来源"),
        "title": ("title", "标题"),
        "description": ("description", "描述", "内容", "问题描述", "事项内容", "事件描述"),
        "address": ("address", "地址", "事发地址", "发生地址"),
        "urgency": ("urgency", "紧急程度"),
        "reported_at": (
            "reported_at",
            "登记时间",
            "上报时间",
            "受理时间",
            "发生时间",
            "reportedat",
            "date",
        ),
        "lon": LON,
        "lat": LAT,
    },
    "areas": {
        "code": ("code", "编码", "代码", "区划代码", "编号"),
        "name": ("name", "名称"),
        "kind": ("kind", "类型", "社区类型"),
    },
    "grids": {
        "code": ("code", "网格编码", "网格编号", "编码", "编号"),
        "name": ("name", "网格名称", "名称"),
        "community_code": ("community_code", "社区编码", "社区代码", "所属社区编码"),
    },
}

REQUIRED = {
    "persons": ("name", "id_number", "lon", "lat"),
    "rentals": ("code", "address", "lon", "lat"),
    "cases": ("category", "description", "reported_at", "lon", "lat"),
    "areas": ("code", "name"),
    "grids": ("code", "name"),
}

LABELS = {
    "name": "姓名 name",
    "id_number": "身份证号 id_number",
    "phone": "联系电话 phone",
    "lon": "经度 lon",
    "lat": "纬度 lat",
    "code": "编号 code",
    "address": "地址 address",
    "category": "类别 category",
    "description": "描述 description",
    "reported_at": "登记时间 reported_at",
    "landlord_phone": "房东电话 landlord_phone",
    "rooms": "房间数 rooms",
    "tenant_count": "租住人数 tenant_count",
    "kind": "类型 kind",
    "geometry": "几何 geometry",
    "community_code": "社区编码 community_code",
}


def _key(header):
    text = unicodedata.normalize("NFKC", str(header)).strip().lower()
    # Units and notes in brackets ("经度(WGS84)", "房间数（间）") do not change the meaning.
    text = re.sub(r"[(\[（【].*?[)\]）】]", "", text)
    return re.sub(r"[\s_\-*:：]", "", text)


def resolve(kind, headers):
    """Return {canonical name: header in the file}; raise ImportFailed if a required one lacks."""
    wanted = COLUMNS[kind]
    index = {}
    for canonical, aliases in wanted.items():
        for alias in aliases:
            index.setdefault(_key(alias), canonical)
    found = {}
    for header in headers:
        canonical = index.get(_key(header))
        if canonical and canonical not in found:
            found[canonical] = header
    missing = [c for c in REQUIRED[kind] if c not in found]
    if missing:
        names = "、".join(LABELS.get(c, c) for c in missing)
        raise ImportFailed(f"缺少必需的列：{names} / missing required columns: {names}")
    return found


def label(column):
    return LABELS.get(column, column)
