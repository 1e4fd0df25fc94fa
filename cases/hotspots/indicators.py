"""Per-grid indicators of hotspot analysis, computed in PostGIS (cases.hotspots.sql).

Definitions (the same in the page, the workbook and the PDF):

- ``cases``: cases reported in the period (Beijing dates, both ends included) that match
  the category and source filters; merged duplicate reports are not counted.
- ``population``: actual population, registered residents plus floating population.
- ``case_rate_per_1000``: cases per 1,000 of the actual population; NaN for a grid
  without residents (a market, a park), where a rate means nothing.
- ``rental_density``: rental houses per km² of the grid (area in EPSG:4543 metres).
- ``floating_ratio``: floating ÷ registered population; with no registered resident the
  floating population is divided by 1, so that the ratio stays finite.
- ``tenants_per_room``: overcrowding (群租), tenants ÷ rooms of the grid's rental houses;
  0 without rental rooms.
- ``unregistered_tenants``: persons not registered as tenants with the police.
- ``overdue_share``: overdue ÷ counted cases; a case is overdue when it was resolved after
  its deadline or is still unresolved after it now; NaN without cases.
"""

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
from django.conf import settings
from django.utils import timezone

from cases.hotspots import sql

BEIJING = ZoneInfo("Asia/Shanghai")

COUNT_COLUMNS = [
    "area_km2",
    "registered",
    "floating",
    "unregistered_tenants",
    "rentals",
    "rooms",
    "tenants",
    "cases",
    "overdue",
]

INDICATOR_LABELS_ZH = {
    "cases": "案件数",
    "population": "实有人口",
    "registered": "户籍人口",
    "floating": "流动人口",
    "rentals": "出租房屋",
    "case_rate_per_1000": "案件发生率（每千人）",
    "rental_density": "出租房屋密度（户/平方千米）",
    "floating_ratio": "流动人口与户籍人口之比",
    "tenants_per_room": "每间出租房租住人数",
    "unregistered_tenants": "未登记租户数",
    "overdue": "超期案件数",
    "overdue_share": "超期案件占比",
    "area_km2": "面积（平方千米）",
}


@dataclass(frozen=True)
class Period:
    """A period of Beijing calendar dates, both ends included."""

    start: date
    end: date

    def __post_init__(self):
        if self.end < self.start:
            raise ValueError("结束日期不能早于开始日期 / The end date is before the start date.")

    @property
    def days(self):
        return (self.end - self.start).days + 1

    def bounds(self):
        """Return the period as [start, end) aware datetimes (Beijing midnight)."""
        start = datetime.combine(self.start, time.min, tzinfo=BEIJING)
        end = datetime.combine(self.end + timedelta(days=1), time.min, tzinfo=BEIJING)
        return start, end

    def previous(self):
        """Return the period of the same length just before this one."""
        return Period(self.start - timedelta(days=self.days), self.start - timedelta(days=1))

    def weeks(self):
        """Return the Mondays of every week the period touches, oldest first."""
        first = self.start - timedelta(days=self.start.weekday())
        return [first + timedelta(weeks=k) for k in range((self.end - first).days // 7 + 1)]

    def label(self):
        return f"{self.start:%Y-%m-%d} 至 {self.end:%Y-%m-%d}"


def derive(frame):
    """Add the ratio indicators to a frame of counts (per grid or per area)."""
    out = frame.copy()
    for column in COUNT_COLUMNS:
        out[column] = pd.to_numeric(out[column]).astype(float)
    out["population"] = out["registered"] + out["floating"]
    with np.errstate(divide="ignore", invalid="ignore"):
        out["case_rate_per_1000"] = np.where(
            out["population"] > 0, out["cases"] * 1000.0 / out["population"], np.nan
        )
        out["rental_density"] = np.where(
            out["area_km2"] > 0, out["rentals"] / out["area_km2"], np.nan
        )
        out["floating_ratio"] = out["floating"] / np.maximum(out["registered"], 1.0)
        out["tenants_per_room"] = np.where(out["rooms"] > 0, out["tenants"] / out["rooms"], 0.0)
        out["overdue_share"] = np.where(out["cases"] > 0, out["overdue"] / out["cases"], np.nan)
    return out


def grid_indicators(*, grid_ids, period, category_id=None, source=None, now=None):
    """Return the indicators of the given current grids, one row per grid (index: id)."""
    start, end = period.bounds()
    rows = sql.grid_indicator_rows(
        grid_ids=grid_ids,
        start=start,
        end=end,
        now=now or timezone.now(),
        metric_srid=settings.METRIC_SRID,
        category_id=category_id,
        source=source,
    )
    frame = pd.DataFrame(rows, columns=sql.GRID_INDICATOR_COLUMNS).set_index("id")
    frame.index.name = "grid"
    return derive(frame)


def aggregate(frame, by):
    """Return the indicators summed over an area level: ``by`` is community or street."""
    key = f"{by}_id"
    names = frame.groupby(key)[by].first()
    sums = frame.groupby(key)[COUNT_COLUMNS].sum()
    sums[by] = names
    sums["grids"] = frame.groupby(key).size()
    if by == "community":
        sums["community_kind"] = frame.groupby(key)["community_kind"].first()
        sums["street"] = frame.groupby(key)["street"].first()
    return derive(sums)


def weekly_cube(*, grid_ids, period, category_id=None, source=None):
    """Return cases per grid (rows, in ``grid_ids`` order) and week (columns, Mondays).

    Weeks are ISO weeks in Beijing time (date_trunc('week', … AT TIME ZONE
    'Asia/Shanghai')); the first and last weeks may be partly outside the period.
    """
    start, end = period.bounds()
    rows = sql.weekly_case_rows(
        grid_ids=grid_ids, start=start, end=end, category_id=category_id, source=source
    )
    weeks = period.weeks()
    cube = pd.DataFrame(0.0, index=pd.Index(list(grid_ids), name="grid"), columns=weeks)
    if rows:
        counts = pd.DataFrame(rows, columns=["grid", "week", "cases"])
        table = counts.pivot_table(index="grid", columns="week", values="cases", aggfunc="sum")
        table = table.reindex(index=cube.index, columns=weeks).fillna(0.0)
        cube = table.astype(float)
    return cube


def case_points(*, grid_ids, period, category_id=None, source=None):
    """Return an (n, 2) array of the counted cases in EPSG:4543 metres."""
    start, end = period.bounds()
    rows = sql.case_points(
        grid_ids=grid_ids,
        start=start,
        end=end,
        metric_srid=settings.METRIC_SRID,
        category_id=category_id,
        source=source,
    )
    return np.asarray(rows, dtype=float).reshape(-1, 2)


def case_bins(*, grid_ids, period, xmin, ymax, cell, category_id=None, source=None):
    """Return the counted cases binned on square cells: (x, y) cell centres and counts.

    Feeding these to ``stats.kernel_density(..., weights=counts)`` with the same origin
    and cell size gives exactly its binned estimate of the individual cases.
    """
    start, end = period.bounds()
    rows = sql.case_bins(
        grid_ids=grid_ids,
        start=start,
        end=end,
        metric_srid=settings.METRIC_SRID,
        xmin=xmin,
        ymax=ymax,
        cell=cell,
        category_id=category_id,
        source=source,
    )
    bins = np.asarray(rows, dtype=float).reshape(-1, 3)
    xy = np.column_stack([xmin + (bins[:, 0] + 0.5) * cell, ymax - (bins[:, 1] + 0.5) * cell])
    return xy, bins[:, 2]
