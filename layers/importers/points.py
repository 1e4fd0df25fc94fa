"""Import point layers from CSV/XLSX: rental houses, persons and cases.

The pipeline per chunk of rows, all vectorised: resolve the headers (Chinese or English),
parse and check coordinates in the declared CRS and convert them to EPSG:4326, validate
the values (ID numbers per GB 11643, phones...), drop rows with errors into the report,
assign grids with an STRtree, then upsert on the natural key: new rows go to the table
with COPY, existing ones through a staging table and one UPDATE (only when different).
Everything runs in one transaction: all or nothing unless partial=True.
"""

import hashlib

import numpy as np
import pandas as pd
import shapely
from django.db import connection
from django.utils import timezone

from gridmap.copy import bytea_hex, copy_frame, reserve_ids
from layers import crs as crs_module
from layers import sql
from layers.importers import columns as cols
from layers.importers import values
from layers.importers.assign import NONE


def _ewkb(lon, lat):
    return shapely.to_wkb(
        shapely.set_srid(shapely.points(lon, lat), 4326), hex=True, include_srid=True
    )


def _ids_or_null(ids):
    return pd.array(np.where(ids == NONE, None, ids), dtype="Int64")


class PointLayer:
    """What differs between point layers: columns, validation and the natural key."""

    kind = ""
    table = ""
    key = ""  # the natural-key column of the table
    compare = ()  # columns whose change makes an update

    # A load that adds at least this many rows, and a quarter of the table, rebuilds the
    # secondary indexes once at the end instead of updating them row by row.
    BULK_MIN_ROWS = 200_000

    def __init__(self, *, crs, report, index, now=None):
        self.detached = None
        self.bulk = False
        self.crs = crs_module.parse_crs(crs)
        self.report = report
        self.index = index
        self.now = now or timezone.now()
        self.seen_keys = np.array([], dtype=object)
        self.seen_rows = np.array([], dtype=np.int64)

    # -- shared steps --------------------------------------------------------------------

    def coordinates(self, chunk, found, rows):
        """Return (lon, lat, ok) in EPSG:4326; record every bad coordinate."""
        lon_raw = chunk[found["lon"]].to_numpy(dtype=object)
        lat_raw = chunk[found["lat"]].to_numpy(dtype=object)
        lon = crs_module.parse_float_array(lon_raw)
        lat = crs_module.parse_float_array(lat_raw)
        empty = ~(np.isfinite(lon) & np.isfinite(lat))
        lon2, lat2 = crs_module.to_storage(
            np.where(empty, 0, lon), np.where(empty, 0, lat), self.crs
        )
        lon2[empty] = np.nan
        lat2[empty] = np.nan
        codes = np.asarray(crs_module.check_coordinates(lon2, lat2))
        bad = codes != crs_module.OK
        for i in np.flatnonzero(bad):
            column = cols.label("lon") + "/" + cols.label("lat")
            self.report.error(
                rows[i],
                column,
                f"{crs_module.PROBLEM_MESSAGES[codes[i]]}: ({lon_raw[i]!r}, {lat_raw[i]!r})",
            )
        return lon2, lat2, ~bad

    def text(self, chunk, found, name, default=""):
        if name not in found:
            return np.full(len(chunk), default, dtype=object)
        return values.normalize_text(chunk[found[name]]).to_numpy(dtype=object)

    def required_text(self, chunk, found, name, rows, max_length):
        s = self.text(chunk, found, name)
        empty = s == ""
        for i in np.flatnonzero(empty):
            self.report.error(rows[i], cols.label(name), "必填项为空 / required value is empty")
        too_long = np.array([len(v) > max_length for v in s], dtype=bool)
        for i in np.flatnonzero(too_long):
            self.report.error(
                rows[i],
                cols.label(name),
                f"超过 {max_length} 个字 / longer than {max_length} characters",
            )
        return s, ~(empty | too_long)

    def dedupe(self, keys, rows, ok, column):
        """Reject a natural key seen earlier in the file (first occurrence wins)."""
        k = np.asarray(keys, dtype=object)
        idx = np.flatnonzero(ok)
        if not len(idx):
            return ok
        chunk_keys = k[idx]
        frame = pd.DataFrame({"key": chunk_keys, "row": rows[idx]})
        first_in_chunk = ~frame.duplicated("key", keep="first").to_numpy()
        first_row = frame.groupby("key", sort=False)["row"].transform("first").to_numpy()
        earlier = (
            dict(zip(self.seen_keys, self.seen_rows, strict=True)) if len(self.seen_keys) else {}
        )
        dup = ~first_in_chunk
        if earlier:
            in_earlier = np.array([key in earlier for key in chunk_keys], dtype=bool)
            first_row = np.where(in_earlier, [earlier.get(key, 0) for key in chunk_keys], first_row)
            dup |= in_earlier
        for j in np.flatnonzero(dup):
            self.report.error(
                rows[idx[j]],
                column,
                f"与第 {first_row[j]} 行重复 / duplicate of row {first_row[j]}",
            )
        ok = ok.copy()
        ok[idx[dup]] = False
        keep = idx[~dup]
        self.seen_keys = np.concatenate([self.seen_keys, k[keep]])
        self.seen_rows = np.concatenate([self.seen_rows, rows[keep]])
        return ok

    def areas(self, lon, lat):
        grid, community, street = self.index.assign(lon, lat)
        return {
            "grid_id": _ids_or_null(grid),
            "community_id": _ids_or_null(community),
            "street_id": _ids_or_null(street),
        }

    # -- writing -------------------------------------------------------------------------

    def write(self, frame):
        """Upsert a prepared frame on the natural key; return (inserted, updated, unchanged)."""
        if frame.empty:
            return 0, 0, 0
        existing = sql.existing_ids(self.table, self.key, frame[self.key].tolist())
        is_old = frame[self.key].map(existing.__contains__).to_numpy(dtype=bool)
        new = frame[~is_old]
        inserted = updated = 0
        now = self.now.isoformat()
        if len(new):
            if self.bulk and self.detached is None:
                self.detached = sql.detach_secondary_indexes(self.table)
            new = self.before_insert(new.copy())
            new["created_at"] = now
            new["updated_at"] = now
            copy_frame(self.table, new)
            inserted = len(new)
        old = frame[is_old].copy()
        if len(old):
            old = self.before_update(old)
            old["id"] = old[self.key].map(existing).astype(np.int64)
            stage = f"stage_{self.kind}"
            sql.create_stage(self.table, stage, list(old.columns))
            copy_frame(stage, old)
            updated = sql.update_from_stage(self.table, stage, list(old.columns), self.compare)
            with connection.cursor() as cursor:
                cursor.execute(f"DROP TABLE {stage}")
        return inserted, updated, len(old) - updated

    def before_insert(self, frame):
        return frame

    def before_update(self, frame):
        return frame

    def plan(self, expected_rows):
        """Choose the bulk path for a load that adds a large share of the table."""
        self.bulk = expected_rows >= max(
            self.BULK_MIN_ROWS, sql.table_rows_estimate(self.table) // 4
        )

    def finish(self):
        if self.detached:
            sql.restore(self.detached)
            self.detached = None


class RentalLayer(PointLayer):
    kind = "rentals"
    table = "layers_rentalhouse"
    key = "code"
    compare = (
        "address",
        "landlord_name",
        "landlord_phone_digest",
        "rooms",
        "tenant_count",
        "overcrowded",
        "three_in_one",
        "fire_hazard",
        "last_inspected",
        "location",
        "grid_id",
    )

    def prepare(self, chunk, found, rows):
        r = self.report
        code, ok = self.required_text(chunk, found, "code", rows, 40)
        address, ok2 = self.required_text(chunk, found, "address", rows, 200)
        ok &= ok2
        lon, lat, ok3 = self.coordinates(chunk, found, rows)
        ok &= ok3
        phone, perr = (
            values.phones(chunk[found["landlord_phone"]])
            if "landlord_phone" in found
            else (
                np.full(len(chunk), "", dtype=object),
                np.full(len(chunk), "", dtype=object),
            )
        )
        for i in np.flatnonzero(perr != ""):
            r.error(rows[i], cols.label("landlord_phone"), perr[i])
        ok &= perr == ""
        rooms, bad = self._int(chunk, found, "rooms", rows, default=1, minimum=1)
        ok &= ~bad
        tenants, bad = self._int(chunk, found, "tenant_count", rows, default=0, minimum=0)
        ok &= ~bad
        flags = {}
        for flag in ("overcrowded", "three_in_one", "fire_hazard"):
            if flag in found:
                flags[flag], bad = values.booleans(chunk[found[flag]], flag, r, rows)
                ok &= ~bad
            elif flag == "overcrowded":
                flags[flag] = tenants > rooms * 2
            else:
                flags[flag] = np.zeros(len(chunk), dtype=bool)
        if "last_inspected" in found:
            inspected, bad = values.dates(chunk[found["last_inspected"]], "last_inspected", r, rows)
            ok &= ~bad
        else:
            inspected = np.full(len(chunk), None, dtype=object)
        landlord = self.text(chunk, found, "landlord_name")
        ok = self.dedupe(code, rows, ok, cols.label("code"))
        sel = np.flatnonzero(ok)
        phone = phone[sel]
        frame = pd.DataFrame(
            {
                "code": code[sel],
                "address": address[sel],
                "landlord_name": [v[:50] for v in landlord[sel]],
                "landlord_phone_cipher": bytea_hex(values.encrypt(phone)),
                "landlord_phone_digest": [d or "" for d in values.digests(phone)],
                "landlord_phone_masked": values.mask_phones(phone),
                "rooms": rooms[sel],
                "tenant_count": tenants[sel],
                "overcrowded": flags["overcrowded"][sel],
                "three_in_one": flags["three_in_one"][sel],
                "fire_hazard": flags["fire_hazard"][sel],
                "last_inspected": inspected[sel],
                "location": _ewkb(lon[sel], lat[sel]),
                **self.areas(lon[sel], lat[sel]),
            }
        )
        return frame

    def _int(self, chunk, found, name, rows, default, minimum):
        if name not in found:
            return np.full(len(chunk), default, dtype=np.int64), np.zeros(len(chunk), bool)
        return values.integers(
            chunk[found[name]], cols.label(name), self.report, rows, default, minimum
        )


KIND_VALUES = {
    "registered": "registered",
    "户籍": "registered",
    "户籍人口": "registered",
    "常住": "registered",
    "常住人口": "registered",
    "本地": "registered",
    "floating": "floating",
    "流动": "floating",
    "流动人口": "floating",
    "外来": "floating",
    "暂住": "floating",
    "": "floating",
}


class PersonLayer(PointLayer):
    kind = "persons"
    table = "layers_person"
    key = "id_number_digest"
    compare = (
        "name",
        "phone_digest",
        "kind",
        "household_no",
        "address",
        "origin",
        "arrival_date",
        "residence_permit",
        "rental_house_id",
        "location",
        "grid_id",
    )

    def prepare(self, chunk, found, rows):
        r = self.report
        name, ok = self.required_text(chunk, found, "name", rows, 50)
        number, nerr = values.id_numbers(chunk[found["id_number"]])
        for i in np.flatnonzero(nerr != ""):
            r.error(rows[i], cols.label("id_number"), nerr[i])
        ok &= nerr == ""
        lon, lat, ok3 = self.coordinates(chunk, found, rows)
        ok &= ok3
        if "phone" in found:
            phone, perr = values.phones(chunk[found["phone"]])
            for i in np.flatnonzero(perr != ""):
                r.error(rows[i], cols.label("phone"), perr[i])
            ok &= perr == ""
        else:
            phone = np.full(len(chunk), "", dtype=object)
        kind_raw = pd.Series(self.text(chunk, found, "kind")).str.lower()
        kind = kind_raw.map(KIND_VALUES).to_numpy(dtype=object)
        for i in np.flatnonzero(pd.isna(kind)):
            r.error(
                rows[i],
                cols.label("kind"),
                f"人口类型应为 户籍/流动 / kind must be registered or floating: {kind_raw[i]!r}",
            )
            ok[i] = False
        if "arrival_date" in found:
            arrival, bad = values.dates(chunk[found["arrival_date"]], "arrival_date", r, rows)
            ok &= ~bad
        else:
            arrival = np.full(len(chunk), None, dtype=object)
        if "residence_permit" in found:
            permit, bad = values.booleans(
                chunk[found["residence_permit"]], "residence_permit", r, rows
            )
            ok &= ~bad
        else:
            permit = np.zeros(len(chunk), dtype=bool)
        rental_ids = np.full(len(chunk), NONE, dtype=np.int64)
        if "rental_house_code" in found:
            codes = self.text(chunk, found, "rental_house_code")
            wanted = sorted({c for c in codes if c})
            known = sql.existing_ids("layers_rentalhouse", "code", wanted) if wanted else {}
            for i, c in enumerate(codes):
                if not c:
                    continue
                if c in known:
                    rental_ids[i] = known[c]
                else:
                    r.error(
                        rows[i],
                        "房屋编号 rental_house_code",
                        f"找不到出租房屋 {c} / no rental house with code {c}",
                    )
                    ok[i] = False
        ok = self.dedupe(number, rows, ok, cols.label("id_number"))
        sel = np.flatnonzero(ok)
        number = number[sel]
        phone = phone[sel]
        frame = pd.DataFrame(
            {
                "name": name[sel],
                "id_number_cipher": bytea_hex(values.encrypt(number)),
                "id_number_digest": values.digests(number),
                "id_number_masked": values.mask_ids(number),
                "phone_cipher": bytea_hex(values.encrypt(phone)),
                "phone_digest": [d or "" for d in values.digests(phone)],
                "phone_masked": values.mask_phones(phone),
                "kind": kind[sel],
                "household_no": [v[:20] for v in self.text(chunk, found, "household_no")[sel]],
                "address": [v[:200] for v in self.text(chunk, found, "address")[sel]],
                "origin": [v[:100] for v in self.text(chunk, found, "origin")[sel]],
                "arrival_date": arrival[sel],
                "residence_permit": permit[sel],
                "registered_with_police": True,
                "rental_house_id": _ids_or_null(rental_ids[sel]),
                "location": _ewkb(lon[sel], lat[sel]),
                **self.areas(lon[sel], lat[sel]),
            }
        )
        return frame


class CaseLayer(PointLayer):
    """Historical cases: registered with a category, a source and a report time."""

    kind = "cases"
    table = "cases_case"
    key = "idempotency_key"
    compare = ("description", "address", "title", "location", "grid_id", "category_id")

    SOURCE_VALUES = {
        "110": "police_110",
        "110非警务警情": "police_110",
        "非警务警情": "police_110",
        "信访": "petition",
        "来访": "petition",
        "来信": "petition",
        "矛盾纠纷": "dispute",
        "纠纷": "dispute",
        "网格巡查": "patrol",
        "巡查": "patrol",
        "网格员上报": "patrol",
        "12345": "hotline_12345",
        "12345热线": "hotline_12345",
        "热线": "hotline_12345",
        "自助": "self_service",
        "自助服务": "self_service",
    }
    URGENCY_VALUES = {
        "": "normal",
        "一般": "normal",
        "普通": "normal",
        "紧急": "urgent",
        "特急": "critical",
    }

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        from cases.models import Category, Source, Urgency

        self.categories = {}
        for c in Category.objects.all():
            self.categories[c.code.lower()] = c
            self.categories[c.name] = c
            if c.name_en:
                self.categories[c.name_en.lower()] = c
        self.sources = dict(self.SOURCE_VALUES)
        for value, label in Source.choices:
            self.sources[value] = value
            self.sources[str(label).lower()] = value
        self.urgencies = dict(self.URGENCY_VALUES)
        for value, _label in Urgency.choices:
            self.urgencies[value] = value

    def prepare(self, chunk, found, rows):
        r = self.report
        description, ok = self.required_text(chunk, found, "description", rows, 5000)
        lon, lat, ok3 = self.coordinates(chunk, found, rows)
        ok &= ok3
        cat_raw = self.text(chunk, found, "category")
        category = np.array(
            [self.categories.get(v) or self.categories.get(v.lower()) for v in cat_raw],
            dtype=object,
        )
        for i in np.flatnonzero(pd.isna(category)):
            r.error(
                rows[i], cols.label("category"), f"未知的类别 / unknown category: {cat_raw[i]!r}"
            )
            ok[i] = False
        src_raw = self.text(chunk, found, "source", default="dispute")
        source = np.array(
            [self.sources.get(v) or self.sources.get(v.lower()) for v in src_raw], dtype=object
        )
        for i in np.flatnonzero(pd.isna(source)):
            r.error(rows[i], "来源 source", f"未知的来源 / unknown source: {src_raw[i]!r}")
            ok[i] = False
        urg_raw = self.text(chunk, found, "urgency")
        urgency = np.array([self.urgencies.get(v.lower()) for v in urg_raw], dtype=object)
        for i in np.flatnonzero(pd.isna(urgency)):
            r.error(
                rows[i], "紧急程度 urgency", f"未知的紧急程度 / unknown urgency: {urg_raw[i]!r}"
            )
            ok[i] = False
        rep_raw = values.normalize_text(chunk[found["reported_at"]])
        reported = pd.to_datetime(
            rep_raw.str.replace(r"[年月/.]", "-", regex=True).str.replace("日", " "),
            errors="coerce",
            format="mixed",
        )
        if reported.dt.tz is None:
            reported = reported.dt.tz_localize(timezone.get_current_timezone(), ambiguous="NaT")
        bad = (reported.isna() | (reported > pd.Timestamp(self.now))).to_numpy()
        for i in np.flatnonzero(bad):
            r.error(
                rows[i],
                cols.label("reported_at"),
                f"时间无法识别或在未来 / not a time, or in the future: {rep_raw.iloc[i]!r}",
            )
        ok &= ~bad
        number_in = self.text(chunk, found, "number")
        title = self.text(chunk, found, "title")
        address = self.text(chunk, found, "address")
        # Without a case number, the row itself is the natural key.
        keys = np.array(
            [
                "import:"
                + (
                    n
                    if n
                    else hashlib.sha256(f"{c}|{t}|{x:.7f}|{y:.7f}|{d}".encode()).hexdigest()[:40]
                )
                for n, c, t, x, y, d in zip(
                    number_in, cat_raw, rep_raw, lon, lat, description, strict=True
                )
            ],
            dtype=object,
        )
        ok = self.dedupe(keys, rows, ok, cols.label("reported_at"))
        sel = np.flatnonzero(ok)
        frame = pd.DataFrame(
            {
                "idempotency_key": keys[sel],
                "number": number_in[sel],
                "source": source[sel],
                "category_id": [c.id for c in category[sel]],
                "limit_days": [c.limit_working_days for c in category[sel]],
                "urgency": urgency[sel],
                "title": [v[:120] for v in title[sel]],
                "description": description[sel],
                "address": [v[:200] for v in address[sel]],
                "visitors": 1,
                "status": "registered",
                "level": "community",
                "resolved_level": "",
                "difficult": False,
                "reported_at": [t.isoformat() for t in reported[sel]],
                "version": 1,
                "location": _ewkb(lon[sel], lat[sel]),
                **self.areas(lon[sel], lat[sel]),
            }
        )
        return frame

    def _deadlines(self, frame):
        """Return each new case's deadline, by the cases app's time-limit rules."""
        from cases import selectors as case_selectors
        from cases.services import compute_deadline

        calendar = case_selectors.work_calendar()
        by_id = {c.id: c for c in self.categories.values()}
        return [
            compute_deadline(by_id[cat], urg, pd.Timestamp(t).to_pydatetime(), calendar).isoformat()
            for t, cat, urg in zip(
                frame["reported_at"], frame["category_id"], frame["urgency"], strict=True
            )
        ]

    def before_insert(self, frame):
        ids = reserve_ids(self.table, len(frame))
        frame["id"] = ids
        stamp = pd.to_datetime(frame["reported_at"]).dt.tz_convert("Asia/Shanghai")
        generated = (
            "XS"
            + stamp.dt.strftime("%Y%m%d").to_numpy(dtype=object)
            + pd.Series(ids).astype(str).str.zfill(8).to_numpy(dtype=object)
        )
        frame["number"] = np.where(frame["number"] == "", generated, frame["number"])
        frame["deadline"] = self._deadlines(frame)
        self.new_case_ids = getattr(self, "new_case_ids", []) + list(
            zip(ids, frame["reported_at"], strict=True)
        )
        return frame.drop(columns=["limit_days"])

    def before_update(self, frame):
        return frame.drop(
            columns=[
                "limit_days",
                "number",
                "status",
                "level",
                "resolved_level",
                "visitors",
                "version",
            ]
        )

    def finish(self):
        """Give each new case the first step of its trail (registered, by import)."""
        super().finish()
        new = getattr(self, "new_case_ids", [])
        if new:
            copy_frame(
                "cases_caseevent",
                pd.DataFrame(
                    {
                        "case_id": [c for c, _ in new],
                        "action": "register",
                        "from_status": "",
                        "to_status": "registered",
                        "note": "批量导入 / imported",
                        "at": [t for _, t in new],
                    }
                ),
            )


LAYERS = {"rentals": RentalLayer, "persons": PersonLayer, "cases": CaseLayer}
