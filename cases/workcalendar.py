"""
Working-day arithmetic for case time limits (办理时限).

Pure Python, no database: a WorkCalendar is built from a set of days off and a
set of make-up working days (调休上班日). By default it takes the State Council
arrangements in cases.holidays_cn; later the same data comes from an
admin-edited table.

Rules (all in local time, Asia/Shanghai by default):

- A working day is Monday to Friday unless it is a holiday; Saturday and
  Sunday are working days only when they are make-up days.
- Day limits: the day a case starts is never counted (as for any period in
  民法典 art. 201: 开始的当日不计入). A limit of n working days ends at the end
  of the n-th working day after the start day, i.e. END_OF_DAY (23:59:59.999999)
  local time, so that anything done on the due day is on time. A case that
  starts on a non-working day therefore counts from the next working day,
  which is day 1.
- Hour limits (urgent matters) count office time only: OFFICE_HOURS on
  working days.
- Elapsed share (for the 75 % reminder) is measured in office time, so that
  day and hour limits are treated alike.

Every datetime must be timezone-aware; naive ones are refused rather than
guessed, because a server in UTC would shift deadlines by eight hours.
"""

import math
from bisect import bisect_right
from collections.abc import Iterable, Sequence
from datetime import date, datetime, time, timedelta, tzinfo
from decimal import Decimal
from itertools import islice
from numbers import Real
from zoneinfo import ZoneInfo

from cases import holidays_cn

TIME_ZONE = ZoneInfo("Asia/Shanghai")

# Kunming government office hours as given for the Xishan centres. Centres
# and seasons differ, so they are a constructor argument, not a fixed rule.
OFFICE_HOURS = (
    (time(8, 30), time(12, 0)),
    (time(14, 30), time(18, 0)),
)

# The instant a day limit expires: the last microsecond of the due day, so a
# case closed at any time on that day is on time. Displayed as 23:59:59.
END_OF_DAY = time(23, 59, 59, 999999)

# A year without a single working day can only be bad data; stop scanning
# instead of looping forever.
_MAX_IDLE_DAYS = 366


def _message(zh, en):
    return f"{zh} / {en}"


def _check_date(value, name):
    # datetime is a subclass of date; accepting it would silently compare
    # unequal to the calendar's dates.
    if isinstance(value, datetime) or not isinstance(value, date):
        raise TypeError(
            _message(
                f"{name} 必须是日期（date），而不是 {type(value).__name__}",
                f"{name} must be a date, not {type(value).__name__}.",
            )
        )


def _check_aware(value, name):
    if not isinstance(value, datetime):
        raise TypeError(
            _message(
                f"{name} 必须是带时区的时间（datetime），而不是 {type(value).__name__}",
                f"{name} must be a timezone-aware datetime, not {type(value).__name__}.",
            )
        )
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(
            _message(
                f"{name} 缺少时区信息（{value.isoformat()}），请使用带时区的时间，"
                f"例如 Asia/Shanghai",
                f"{name} is a naive datetime ({value.isoformat()}); pass a "
                f"timezone-aware one, e.g. in Asia/Shanghai.",
            )
        )


class WorkCalendar:
    """Working days and office hours of a governance centre."""

    def __init__(
        self,
        holidays: Iterable[date] | None = None,
        makeup_workdays: Iterable[date] | None = None,
        *,
        tz: tzinfo = TIME_ZONE,
        office_hours: Sequence[tuple[time, time]] = OFFICE_HOURS,
        end_of_day: time = END_OF_DAY,
    ):
        if holidays is None:
            holidays = holidays_cn.HOLIDAYS
        if makeup_workdays is None:
            makeup_workdays = holidays_cn.MAKEUP_WORKDAYS
        self.holidays = frozenset(holidays)
        self.makeup_workdays = frozenset(makeup_workdays)
        for day in self.holidays | self.makeup_workdays:
            _check_date(day, "holidays / makeup_workdays")
        clash = sorted(self.holidays & self.makeup_workdays)
        if clash:
            days = ", ".join(d.isoformat() for d in clash)
            raise ValueError(
                _message(
                    f"以下日期既是放假日又是调休上班日：{days}",
                    f"These days are both a holiday and a make-up working day: {days}.",
                )
            )
        self.tz = tz
        self.office_hours = self._check_office_hours(office_hours)
        self.end_of_day = end_of_day
        # Only these two kinds change the plain Monday-Friday count; sorted
        # for bisection in working_days_between().
        self._weekday_holidays = sorted(d for d in self.holidays if d.weekday() < 5)
        self._weekend_makeups = sorted(d for d in self.makeup_workdays if d.weekday() >= 5)
        self.covered_years = frozenset(d.year for d in self.holidays | self.makeup_workdays)

    @staticmethod
    def _check_office_hours(office_hours):
        periods = tuple((opens, closes) for opens, closes in office_hours)
        previous_close = None
        for opens, closes in periods:
            if not (isinstance(opens, time) and isinstance(closes, time)):
                raise TypeError(
                    _message(
                        "办公时间必须是 (time, time) 的序列",
                        "office_hours must be a sequence of (time, time) pairs.",
                    )
                )
            if opens.tzinfo is not None or closes.tzinfo is not None:
                raise ValueError(
                    _message(
                        "办公时间应为本地时间，不带时区",
                        "office_hours must be naive local times.",
                    )
                )
            if not opens < closes or (previous_close is not None and opens < previous_close):
                raise ValueError(
                    _message(
                        "办公时间段必须按时间先后排列、互不重叠且开始早于结束",
                        "office_hours periods must be in order, must not "
                        "overlap, and must open before they close.",
                    )
                )
            previous_close = closes
        if not periods:
            raise ValueError(
                _message(
                    "至少需要一个办公时间段",
                    "office_hours needs at least one period.",
                )
            )
        return periods

    def covers(self, d: date) -> bool:
        """Return True if the calendar has holiday data for the year of d."""
        _check_date(d, "d")
        return d.year in self.covered_years

    def local_date(self, moment: datetime) -> date:
        """Return the calendar date of an aware datetime in local time."""
        _check_aware(moment, "moment")
        return moment.astimezone(self.tz).date()

    def is_working_day(self, d: date) -> bool:
        """Return True if d is a working day."""
        _check_date(d, "d")
        if d in self.holidays:
            return False
        if d.weekday() >= 5:
            return d in self.makeup_workdays
        return True

    def _working_days_from(self, day):
        """Yield the working days from the given day on, in order."""
        idle = 0
        while True:
            if self.is_working_day(day):
                idle = 0
                yield day
            else:
                idle += 1
                if idle > _MAX_IDLE_DAYS:
                    raise ValueError(
                        _message(
                            f"{day.isoformat()} 之前一年多没有工作日，请检查节假日数据",
                            f"No working day in over a year before "
                            f"{day.isoformat()}; check the holiday data.",
                        )
                    )
            day += timedelta(days=1)

    def next_working_day(self, d: date) -> date:
        """Return the first working day strictly after d."""
        _check_date(d, "d")
        return next(self._working_days_from(d + timedelta(days=1)))

    def add_working_days(self, start: datetime, n: int) -> datetime:
        """
        Return the deadline n working days after start.

        The start day itself is not counted: the deadline is the end
        (end_of_day, local time) of the n-th working day after the local date
        of start. n=0 means "the same day": the end of the start day, or of
        the next working day if the start day is not one.
        """
        _check_aware(start, "start")
        if isinstance(n, bool) or not isinstance(n, int):
            raise TypeError(
                _message(
                    f"工作日天数必须是整数，而不是 {n!r}",
                    f"The number of working days must be an integer, not {n!r}.",
                )
            )
        if n < 0:
            raise ValueError(
                _message(
                    f"工作日天数不能为负数（{n}）",
                    f"The number of working days must not be negative ({n}).",
                )
            )
        day = self.local_date(start)
        if n == 0:
            due = next(self._working_days_from(day))
        else:
            days_after = self._working_days_from(day + timedelta(days=1))
            due = next(islice(days_after, n - 1, None))
        return datetime.combine(due, self.end_of_day, tzinfo=self.tz)

    def _office_periods(self, day):
        """Return the aware (opens, closes) office periods of a working day."""
        return [
            (
                datetime.combine(day, opens, tzinfo=self.tz),
                datetime.combine(day, closes, tzinfo=self.tz),
            )
            for opens, closes in self.office_hours
        ]

    def add_working_hours(self, start: datetime, hours: float) -> datetime:
        """
        Return the moment when the given office hours have passed since start.

        Only office_hours on working days count; a start outside them counts
        from the next opening. A limit that runs out exactly at a closing time
        returns that closing time, not the next opening. hours=0 returns start
        (in local time).
        """
        _check_aware(start, "start")
        if isinstance(hours, bool) or not isinstance(hours, (Real, Decimal)):
            raise TypeError(
                _message(
                    f"小时数必须是数字，而不是 {hours!r}",
                    f"The number of hours must be a number, not {hours!r}.",
                )
            )
        hours = float(hours)
        if not math.isfinite(hours) or hours < 0:
            raise ValueError(
                _message(
                    f"小时数必须是非负的有限数（{hours}）",
                    f"The number of hours must be finite and not negative ({hours}).",
                )
            )
        cursor = start.astimezone(self.tz)
        remaining = timedelta(hours=hours)
        if not remaining:
            return cursor
        for day in self._working_days_from(cursor.date()):
            for opens, closes in self._office_periods(day):
                if cursor >= closes:
                    continue
                begin = max(cursor, opens)
                available = closes - begin
                if remaining <= available:
                    return begin + remaining
                remaining -= available
                cursor = closes

    def working_days_between(self, a: date, b: date) -> int:
        """
        Return the number of working days after a, up to and including b.

        That is the count over the half-open interval (a, b], so that
        working_days_between(start, add_working_days(start, n)) == n for
        n >= 1. It is negative when b is before a (days overdue, say).
        """
        _check_date(a, "a")
        _check_date(b, "b")
        if b < a:
            return -self.working_days_between(b, a)

        def weekdays_through(day):
            # date(1, 1, 1) is a Monday with ordinal 1.
            weeks, rest = divmod(day.toordinal(), 7)
            return weeks * 5 + min(rest, 5)

        def listed_in(days):
            return bisect_right(days, b) - bisect_right(days, a)

        return (
            weekdays_through(b)
            - weekdays_through(a)
            - listed_in(self._weekday_holidays)
            + listed_in(self._weekend_makeups)
        )

    def working_time_between(self, a: datetime, b: datetime) -> timedelta:
        """
        Return the office time between two aware datetimes as a timedelta.

        Negative when b is before a.
        """
        _check_aware(a, "a")
        _check_aware(b, "b")
        if b < a:
            return -self.working_time_between(b, a)
        total = timedelta()
        last = self.local_date(b)
        for day in self._working_days_from(self.local_date(a)):
            if day > last:
                break
            for opens, closes in self._office_periods(day):
                overlap = min(closes, b) - max(opens, a)
                if overlap > timedelta():
                    total += overlap
        return total

    def elapsed_fraction(self, start: datetime, deadline: datetime, now: datetime) -> float:
        """
        Return the share of the time limit used at now, from 0.0 to 1.0.

        Measured in office time (working days' office hours), for day and hour
        limits alike: 0.0 before start, 1.0 from deadline on. Office time can
        run out before the deadline itself (a day limit ends at midnight, the
        office closes at 18:00), so 1.0 does not mean overdue; compare now
        with deadline for that. If no office time lies between start and
        deadline, the whole allowance counts as used from start on.
        """
        _check_aware(start, "start")
        _check_aware(deadline, "deadline")
        _check_aware(now, "now")
        if deadline < start:
            raise ValueError(
                _message(
                    f"截止时间 {deadline.isoformat()} 早于开始时间 {start.isoformat()}",
                    f"The deadline {deadline.isoformat()} is before the start {start.isoformat()}.",
                )
            )
        if now < start:
            return 0.0
        if now >= deadline:
            return 1.0
        allowed = self.working_time_between(start, deadline)
        if not allowed:
            return 1.0
        return min(1.0, self.working_time_between(start, now) / allowed)
