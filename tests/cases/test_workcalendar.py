"""Tests for the working-day calendar and its State Council holiday data."""

import random
import re
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from cases import holidays_cn
from cases.workcalendar import END_OF_DAY, OFFICE_HOURS, TIME_ZONE, WorkCalendar

SHANGHAI = ZoneInfo("Asia/Shanghai")
CAL = WorkCalendar()
FESTIVALS = {"元旦", "春节", "清明节", "劳动节", "端午节", "中秋节", "国庆节"}


def at(year, month, day, hour=0, minute=0, second=0):
    return datetime(year, month, day, hour, minute, second, tzinfo=SHANGHAI)


def end_of(year, month, day):
    return datetime.combine(date(year, month, day), END_OF_DAY, tzinfo=SHANGHAI)


def days(first, last):
    span = []
    while first <= last:
        span.append(first)
        first += timedelta(days=1)
    return span


def assert_bilingual(excinfo, *words):
    message = str(excinfo.value)
    assert re.search(r"[\u4e00-\u9fff]", message), message
    assert re.search(r"[A-Za-z]{4,}", message), message
    for word in words:
        assert word in message


# The data --------------------------------------------------------------------


def test_2026_holidays_match_the_state_council_notice():
    # 国务院办公厅关于2026年部分节假日安排的通知, items 一 to 七.
    expected = {}
    for festival, first, last in [
        ("元旦", date(2026, 1, 1), date(2026, 1, 3)),
        ("春节", date(2026, 2, 15), date(2026, 2, 23)),
        ("清明节", date(2026, 4, 4), date(2026, 4, 6)),
        ("劳动节", date(2026, 5, 1), date(2026, 5, 5)),
        ("端午节", date(2026, 6, 19), date(2026, 6, 21)),
        ("中秋节", date(2026, 9, 25), date(2026, 9, 27)),
        ("国庆节", date(2026, 10, 1), date(2026, 10, 7)),
    ]:
        expected.update(dict.fromkeys(days(first, last), festival))
    actual = {d: name for d, name in holidays_cn.HOLIDAYS.items() if d.year == 2026}
    assert actual == expected
    # 3 + 9 + 3 + 5 + 3 + 3 + 7 days off, as the notice counts them.
    assert len(actual) == 33


def test_2026_makeup_workdays_match_the_state_council_notice():
    actual = {d: name for d, name in holidays_cn.MAKEUP_WORKDAYS.items() if d.year == 2026}
    assert actual == {
        date(2026, 1, 4): "元旦",
        date(2026, 2, 14): "春节",
        date(2026, 2, 28): "春节",
        date(2026, 5, 9): "劳动节",
        date(2026, 9, 20): "国庆节",
        date(2026, 10, 10): "国庆节",
    }


def test_every_date_in_the_data_is_in_a_year_with_a_source():
    for d in [*holidays_cn.HOLIDAYS, *holidays_cn.MAKEUP_WORKDAYS]:
        assert d.year in holidays_cn.SOURCES, d


def test_every_holiday_span_lies_within_its_year():
    for festival, first, last in holidays_cn._HOLIDAY_SPANS:
        assert first.year == last.year, festival
        assert first <= last, festival


def test_each_year_has_the_seven_festivals_as_one_run_of_days():
    for year in holidays_cn.SOURCES:
        in_year = {d: n for d, n in holidays_cn.HOLIDAYS.items() if d.year == year}
        assert set(in_year.values()) == FESTIVALS, year
        for festival in FESTIVALS:
            run = sorted(d for d, n in in_year.items() if n == festival)
            assert run == days(run[0], run[-1]), (year, festival)


def test_no_date_is_both_a_holiday_and_a_makeup_workday():
    assert not set(holidays_cn.HOLIDAYS) & set(holidays_cn.MAKEUP_WORKDAYS)


def test_makeup_workdays_are_weekend_days_named_after_a_festival():
    for d, festival in holidays_cn.MAKEUP_WORKDAYS.items():
        assert d.weekday() >= 5, d
        assert festival in FESTIVALS, d


def test_2027_is_marked_provisional_and_has_no_makeup_days_yet():
    assert holidays_cn.PROVISIONAL_YEARS == {2027}
    assert "PROVISIONAL" in holidays_cn.SOURCES[2027]
    assert not [d for d in holidays_cn.MAKEUP_WORKDAYS if d.year == 2027]


@pytest.mark.parametrize(
    "day, festival",
    [
        (date(2027, 1, 1), "元旦"),
        (date(2027, 2, 5), "春节"),  # 除夕
        (date(2027, 2, 6), "春节"),  # 正月初一, a Saturday
        (date(2027, 2, 8), "春节"),  # 初三
        (date(2027, 4, 5), "清明节"),
        (date(2027, 5, 2), "劳动节"),
        (date(2027, 6, 9), "端午节"),
        (date(2027, 9, 15), "中秋节"),
        (date(2027, 10, 3), "国庆节"),
    ],
)
def test_2027_provisional_data_has_the_statutory_days(day, festival):
    assert holidays_cn.HOLIDAYS[day] == festival


@pytest.mark.parametrize(
    "made_up_on",
    [
        # 初一 and 初二 fall on Sat/Sun: made up after 初三 (Mon 8th).
        date(2027, 2, 9),
        date(2027, 2, 10),
        # 5月1日-2日 on Sat/Sun.
        date(2027, 5, 3),
        date(2027, 5, 4),
        # 10月2日-3日 on Sat/Sun.
        date(2027, 10, 4),
        date(2027, 10, 5),
    ],
)
def test_2027_statutory_days_on_a_weekend_are_made_up_on_the_next_workdays(
    made_up_on,
):
    assert made_up_on.weekday() < 5
    assert not CAL.is_working_day(made_up_on)


# is_working_day ---------------------------------------------------------------


@pytest.mark.parametrize(
    "day, working",
    [
        (date(2026, 3, 9), True),  # an ordinary Monday
        (date(2026, 3, 7), False),  # an ordinary Saturday
        (date(2026, 3, 8), False),  # an ordinary Sunday
        (date(2026, 10, 5), False),  # Monday in the National Day holiday
        (date(2026, 2, 16), False),  # 除夕, a Monday
        (date(2026, 2, 14), True),  # make-up Saturday before Spring Festival
        (date(2026, 2, 28), True),  # make-up Saturday after it
        (date(2026, 3, 1), False),  # the Sunday after that one is not
        (date(2026, 9, 20), True),  # make-up Sunday for National Day
        (date(2026, 10, 10), True),  # make-up Saturday for National Day
        (date(2026, 10, 11), False),
        (date(2026, 1, 4), True),  # make-up Sunday for New Year
        (date(2026, 9, 25), False),  # Mid-Autumn, a Friday
    ],
)
def test_is_working_day(day, working):
    assert CAL.is_working_day(day) is working


def test_is_working_day_refuses_a_datetime():
    with pytest.raises(TypeError) as excinfo:
        CAL.is_working_day(at(2026, 3, 9, 10))
    assert_bilingual(excinfo, "date")


def test_next_working_day_skips_the_national_day_week():
    assert CAL.next_working_day(date(2026, 9, 30)) == date(2026, 10, 8)
    assert CAL.next_working_day(date(2026, 10, 9)) == date(2026, 10, 10)


# add_working_days -------------------------------------------------------------


@pytest.mark.parametrize(
    "n, due",
    [
        (1, end_of(2026, 10, 8)),
        (2, end_of(2026, 10, 9)),
        # The make-up Saturday counts: three working days end on 10 October.
        (3, end_of(2026, 10, 10)),
        (4, end_of(2026, 10, 12)),
    ],
)
def test_case_registered_before_national_day_is_due_after_the_holiday(n, due):
    assert CAL.add_working_days(at(2026, 9, 30, 10), n) == due


def test_make_up_sunday_before_national_day_counts_as_a_working_day():
    # Friday 18 September + 1 working day is Sunday 20 September.
    assert CAL.add_working_days(at(2026, 9, 18, 10), 1) == end_of(2026, 9, 20)


def test_mid_autumn_2026_is_skipped():
    assert CAL.add_working_days(at(2026, 9, 24, 10), 1) == end_of(2026, 9, 28)


@pytest.mark.parametrize(
    "start, n, due",
    [
        # Friday before Spring Festival: the make-up Saturday is day 1 and
        # the first day back (Tuesday 24th) is day 2.
        (at(2026, 2, 13, 10), 1, end_of(2026, 2, 14)),
        (at(2026, 2, 13, 10), 2, end_of(2026, 2, 24)),
        (at(2026, 2, 12, 10), 5, end_of(2026, 2, 26)),
        # Registered during the holiday (a self-service kiosk on 除夕).
        (at(2026, 2, 16, 20), 1, end_of(2026, 2, 24)),
        (at(2026, 2, 16, 20), 0, end_of(2026, 2, 24)),
        # The make-up Saturday after the holiday.
        (at(2026, 2, 27, 10), 1, end_of(2026, 2, 28)),
        (at(2026, 2, 27, 10), 2, end_of(2026, 3, 2)),
    ],
)
def test_spring_festival_2026(start, n, due):
    assert CAL.add_working_days(start, n) == due


def test_start_on_a_weekend_counts_from_the_next_working_day():
    friday_night = CAL.add_working_days(at(2026, 3, 6, 23, 30), 1)
    saturday = CAL.add_working_days(at(2026, 3, 7, 10), 1)
    sunday = CAL.add_working_days(at(2026, 3, 8, 10), 1)
    assert friday_night == saturday == sunday == end_of(2026, 3, 9)


def test_zero_working_days_means_the_end_of_the_same_working_day():
    assert CAL.add_working_days(at(2026, 3, 9, 10), 0) == end_of(2026, 3, 9)
    assert CAL.add_working_days(at(2026, 3, 7, 10), 0) == end_of(2026, 3, 9)


def test_add_working_days_uses_the_local_date_of_the_start():
    # 17:00 UTC on Friday 13 February is 01:00 on the make-up Saturday in
    # Kunming: the start day is then the Saturday, which is not counted.
    assert CAL.add_working_days(datetime(2026, 2, 13, 17, 0, tzinfo=UTC), 1) == end_of(2026, 2, 24)
    assert CAL.add_working_days(datetime(2026, 2, 13, 15, 59, tzinfo=UTC), 1) == end_of(2026, 2, 14)


def test_deadline_is_in_shanghai_time_at_the_end_of_the_day():
    due = CAL.add_working_days(datetime(2026, 3, 9, 2, 0, tzinfo=UTC), 1)
    assert due.tzinfo == TIME_ZONE
    assert (due.hour, due.minute, due.second) == (23, 59, 59)
    assert due + timedelta(microseconds=1) == at(2026, 3, 11)


def test_add_working_days_refuses_a_naive_start():
    with pytest.raises(ValueError) as excinfo:
        CAL.add_working_days(datetime(2026, 3, 9, 10), 1)
    assert_bilingual(excinfo, "时区", "timezone")


def test_add_working_days_refuses_a_negative_count():
    with pytest.raises(ValueError) as excinfo:
        CAL.add_working_days(at(2026, 3, 9, 10), -1)
    assert_bilingual(excinfo, "负数", "negative")


@pytest.mark.parametrize("n", [1.5, True, "3", None])
def test_add_working_days_refuses_a_count_that_is_not_an_integer(n):
    with pytest.raises(TypeError) as excinfo:
        CAL.add_working_days(at(2026, 3, 9, 10), n)
    assert_bilingual(excinfo, "整数", "integer")


def test_add_working_days_refuses_a_date_as_start():
    with pytest.raises(TypeError) as excinfo:
        CAL.add_working_days(date(2026, 3, 9), 1)
    assert_bilingual(excinfo, "datetime")


# add_working_hours ------------------------------------------------------------


@pytest.mark.parametrize(
    "start, hours, due",
    [
        (at(2026, 3, 9, 9), 2, at(2026, 3, 9, 11)),
        # Across lunch: 11:00-12:00, then 14:30-15:30.
        (at(2026, 3, 9, 11), 2, at(2026, 3, 9, 15, 30)),
        # Running out exactly at noon is noon, not 14:30.
        (at(2026, 3, 9, 8, 30), 3.5, at(2026, 3, 9, 12)),
        (at(2026, 3, 9, 8, 30), 7, at(2026, 3, 9, 18)),
        # Registered during lunch, before opening, after closing.
        (at(2026, 3, 9, 12, 30), 1, at(2026, 3, 9, 15, 30)),
        (at(2026, 3, 9, 7), 1, at(2026, 3, 9, 9, 30)),
        (at(2026, 3, 9, 19), 1, at(2026, 3, 10, 9, 30)),
        # Overnight: one hour today, one tomorrow morning.
        (at(2026, 3, 9, 17), 2, at(2026, 3, 10, 9, 30)),
        # Two full days.
        (at(2026, 3, 9, 8, 30), 14, at(2026, 3, 10, 18)),
        # Over an ordinary weekend.
        (at(2026, 3, 6, 17), 2, at(2026, 3, 9, 9, 30)),
        (at(2026, 3, 7, 10), 1, at(2026, 3, 9, 9, 30)),
        # Into the make-up Saturday before Spring Festival, then past the
        # holiday.
        (at(2026, 2, 13, 17), 2, at(2026, 2, 14, 9, 30)),
        (at(2026, 2, 13, 17), 8, at(2026, 2, 14, 18)),
        (at(2026, 2, 13, 17), 9, at(2026, 2, 24, 9, 30)),
        # Over National Day.
        (at(2026, 9, 30, 16), 4, at(2026, 10, 8, 10, 30)),
        # Fractions of an hour.
        (at(2026, 3, 9, 11, 45), 0.5, at(2026, 3, 9, 14, 45)),
        (at(2026, 3, 9, 9), Decimal("1.25"), at(2026, 3, 9, 10, 15)),
    ],
)
def test_add_working_hours(start, hours, due):
    assert CAL.add_working_hours(start, hours) == due


def test_zero_working_hours_returns_the_start():
    assert CAL.add_working_hours(at(2026, 3, 7, 10), 0) == at(2026, 3, 7, 10)


def test_add_working_hours_answers_in_shanghai_time_for_any_input_zone():
    start = datetime(2026, 3, 9, 3, 0, tzinfo=UTC)  # 11:00 in Kunming
    due = CAL.add_working_hours(start, 2)
    assert due == at(2026, 3, 9, 15, 30)
    assert due.tzinfo == TIME_ZONE


@pytest.mark.parametrize("hours", [-1, -0.01, float("nan"), float("inf")])
def test_add_working_hours_refuses_negative_or_infinite_hours(hours):
    with pytest.raises(ValueError) as excinfo:
        CAL.add_working_hours(at(2026, 3, 9, 9), hours)
    assert_bilingual(excinfo, "hours")


@pytest.mark.parametrize("hours", ["2", None, True])
def test_add_working_hours_refuses_hours_that_are_not_a_number(hours):
    with pytest.raises(TypeError) as excinfo:
        CAL.add_working_hours(at(2026, 3, 9, 9), hours)
    assert_bilingual(excinfo, "number")


def test_add_working_hours_refuses_a_naive_start():
    with pytest.raises(ValueError) as excinfo:
        CAL.add_working_hours(datetime(2026, 3, 9, 9), 1)
    assert_bilingual(excinfo, "时区", "timezone")


# working_days_between ---------------------------------------------------------


def test_working_days_between_counts_after_a_up_to_and_including_b():
    assert CAL.working_days_between(date(2026, 3, 9), date(2026, 3, 13)) == 4
    assert CAL.working_days_between(date(2026, 3, 9), date(2026, 3, 9)) == 0
    assert CAL.working_days_between(date(2026, 9, 30), date(2026, 10, 10)) == 3
    assert CAL.working_days_between(date(2026, 2, 13), date(2026, 2, 24)) == 2


def test_working_days_between_is_negative_when_b_is_before_a():
    assert CAL.working_days_between(date(2026, 10, 10), date(2026, 9, 30)) == -3


def test_working_days_between_agrees_with_counting_day_by_day():
    rng = random.Random(20261001)
    first = date(2025, 12, 1)
    for _ in range(300):
        a = first + timedelta(days=rng.randrange(800))
        b = a + timedelta(days=rng.randrange(120))
        counted = sum(CAL.is_working_day(a + timedelta(days=i)) for i in range(1, (b - a).days + 1))
        assert CAL.working_days_between(a, b) == counted, (a, b)


def test_working_days_between_inverts_add_working_days():
    for offset in range(0, 730, 3):
        start = at(2026, 1, 1, 10) + timedelta(days=offset)
        for n in (1, 3, 5, 15, 60):
            due = CAL.add_working_days(start, n)
            assert CAL.working_days_between(start.date(), due.date()) == n


# working_time_between and elapsed_fraction ------------------------------------


def test_working_time_between_counts_office_hours_only():
    assert CAL.working_time_between(at(2026, 3, 9), at(2026, 3, 10)) == timedelta(hours=7)
    # Friday 17:00 to Monday 09:30 holds two office hours.
    assert CAL.working_time_between(at(2026, 3, 6, 17), at(2026, 3, 9, 9, 30)) == timedelta(hours=2)
    assert CAL.working_time_between(at(2026, 10, 1), at(2026, 10, 8)) == timedelta()


def test_elapsed_fraction_of_a_day_limit_is_measured_in_office_time():
    start = at(2026, 3, 9, 10)  # Monday
    deadline = CAL.add_working_days(start, 1)
    assert deadline == end_of(2026, 3, 10)
    # Allowance: 5.5 office hours left on Monday + 7 on Tuesday = 12.5 h;
    # 75 % is 9.375 h, reached at 14:52:30 on Tuesday.
    assert CAL.elapsed_fraction(start, deadline, at(2026, 3, 10, 14, 52, 30)) == 0.75
    assert CAL.elapsed_fraction(start, deadline, at(2026, 3, 10, 14, 52)) < 0.75
    # Monday evening: 5.5 of 12.5 hours.
    assert CAL.elapsed_fraction(start, deadline, at(2026, 3, 9, 20)) == 5.5 / 12.5


def test_elapsed_fraction_of_an_hour_limit_stops_over_lunch():
    start = at(2026, 3, 9, 11)
    deadline = CAL.add_working_hours(start, 2)
    assert CAL.elapsed_fraction(start, deadline, at(2026, 3, 9, 12, 30)) == 0.5
    assert CAL.elapsed_fraction(start, deadline, at(2026, 3, 9, 14, 30)) == 0.5
    assert CAL.elapsed_fraction(start, deadline, at(2026, 3, 9, 15)) == 0.75


def test_elapsed_fraction_does_not_move_during_the_holiday():
    start = at(2026, 9, 30, 10)
    deadline = CAL.add_working_days(start, 3)
    on_first = CAL.elapsed_fraction(start, deadline, at(2026, 10, 1, 9))
    on_last = CAL.elapsed_fraction(start, deadline, at(2026, 10, 7, 17))
    assert 0 < on_first == on_last < 0.5


def test_elapsed_fraction_is_zero_before_start_and_one_from_deadline():
    start = at(2026, 3, 9, 10)
    deadline = CAL.add_working_days(start, 2)
    assert CAL.elapsed_fraction(start, deadline, at(2026, 3, 8)) == 0.0
    assert CAL.elapsed_fraction(start, deadline, start) == 0.0
    assert CAL.elapsed_fraction(start, deadline, deadline) == 1.0
    assert CAL.elapsed_fraction(start, deadline, at(2026, 4, 1)) == 1.0


def test_elapsed_fraction_never_goes_back():
    start = at(2026, 2, 12, 16)
    deadline = CAL.add_working_days(start, 5)
    now = start - timedelta(hours=5)
    previous = 0.0
    while now < deadline + timedelta(days=1):
        fraction = CAL.elapsed_fraction(start, deadline, now)
        assert previous <= fraction <= 1.0
        previous = fraction
        now += timedelta(minutes=37)
    assert previous == 1.0


def test_elapsed_fraction_without_office_time_is_all_used_from_start():
    # Registered after closing with a same-day limit: no office time is left.
    start = at(2026, 3, 9, 19)
    deadline = CAL.add_working_days(start, 0)
    assert CAL.elapsed_fraction(start, deadline, at(2026, 3, 9, 18)) == 0.0
    assert CAL.elapsed_fraction(start, deadline, at(2026, 3, 9, 20)) == 1.0


def test_elapsed_fraction_refuses_a_deadline_before_the_start():
    with pytest.raises(ValueError) as excinfo:
        CAL.elapsed_fraction(at(2026, 3, 9), at(2026, 3, 8), at(2026, 3, 9))
    assert_bilingual(excinfo, "截止", "deadline")


def test_elapsed_fraction_refuses_a_naive_now():
    with pytest.raises(ValueError) as excinfo:
        CAL.elapsed_fraction(at(2026, 3, 9), at(2026, 3, 10), datetime(2026, 3, 9))
    assert_bilingual(excinfo, "now", "timezone")


# Building a calendar ----------------------------------------------------------


def test_default_calendar_covers_the_years_of_the_data():
    assert CAL.covers(date(2026, 6, 1))
    assert CAL.covers(date(2027, 6, 1))
    assert not CAL.covers(date(2028, 6, 1))


def test_calendar_without_data_uses_plain_weekdays():
    plain = WorkCalendar(holidays=[], makeup_workdays=[])
    assert plain.is_working_day(date(2026, 10, 1))
    assert not plain.is_working_day(date(2026, 10, 10))
    assert not plain.covers(date(2026, 10, 1))
    assert plain.add_working_days(at(2026, 9, 30, 10), 3) == end_of(2026, 10, 5)


def test_calendar_refuses_a_day_that_is_both_holiday_and_makeup_workday():
    with pytest.raises(ValueError) as excinfo:
        WorkCalendar(holidays=[date(2026, 10, 10)], makeup_workdays=[date(2026, 10, 10)])
    assert_bilingual(excinfo, "2026-10-10")


def test_calendar_refuses_datetimes_in_its_data():
    with pytest.raises(TypeError):
        WorkCalendar(holidays=[at(2026, 10, 1)], makeup_workdays=[])


@pytest.mark.parametrize(
    "office_hours",
    [
        [],
        [(time(12), time(8, 30))],
        [(time(14, 30), time(18)), (time(8, 30), time(12))],
        [(time(8, 30), time(15)), (time(14, 30), time(18))],
    ],
)
def test_calendar_refuses_office_hours_out_of_order(office_hours):
    with pytest.raises(ValueError):
        WorkCalendar(office_hours=office_hours)


def test_office_hours_are_configurable():
    assert OFFICE_HOURS == ((time(8, 30), time(12)), (time(14, 30), time(18)))
    nine_to_five = WorkCalendar(office_hours=[(time(9), time(17))])
    assert nine_to_five.add_working_hours(at(2026, 3, 9, 16), 2) == at(2026, 3, 10, 10)


def test_calendar_with_no_working_day_for_a_year_stops_with_an_error():
    closed = WorkCalendar(holidays=days(date(2030, 1, 1), date(2031, 3, 1)), makeup_workdays=[])
    with pytest.raises(ValueError) as excinfo:
        closed.add_working_days(at(2029, 12, 31, 10), 1)
    assert_bilingual(excinfo, "working day")
