"""
Mainland China public holidays and make-up working days (调休), as seed data.

This module holds data only; the arithmetic lives in cases.workcalendar. Later
the calendar becomes a database table edited in the admin and seeded from
here, so every entry is a plain date with its festival name.

HOLIDAYS maps each day off (放假日, weekend days inside a holiday span included)
to its festival; MAKEUP_WORKDAYS maps each weekend day that is a working day
(调休上班日) to the festival it makes up for.

2026 (official)
    国务院办公厅关于2026年部分节假日安排的通知, dated 2025-11-04, published by
    Xinhua the same day; full text read in the Xinhua reprint at
    https://politics.gmw.cn/2025-11/04/content_38391083.htm and checked
    against other reprints. Cross-checked day by day against the 2026 data of
    the public datasets NateScarlet/holiday-cn and
    lanceliao/china-holiday-calender, which cite the gov.cn copies
    https://www.gov.cn/zhengce/content/202511/content_7047090.htm and
    https://www.gov.cn/zhengce/zhengceku/202511/content_7047091.htm.
    Note that in 2026 Mid-Autumn (9月25日-27日) and National Day (10月1日-7日)
    are two separate holidays, not one merged week.

2027 (PROVISIONAL)
    No 2027 notice could be found when this was written (2026-11). The 2027
    entries apply only the statutory rules of 《全国年节及纪念日放假办法》
    as amended on 2024-11-10: article 2 (元旦 1 day; 春节 4 days, 除夕 to 正月初三;
    清明 1; 劳动节 2, 5月1日-2日; 端午 1; 中秋 1; 国庆 3, 10月1日-3日) and
    article 6 (a statutory day on a Saturday or Sunday is made up on the next
    working day). The State Council notice will almost certainly lengthen
    the Spring Festival and National Day breaks and add make-up weekend days
    (调休); it must replace these entries (in the admin, once the calendar
    table exists) as soon as it is published.
    Lunar dates used: 除夕 2027-02-05, 春节 (正月初一) 2027-02-06,
    端午 2027-06-09, 中秋 2027-09-15; 清明 (solar term) 2027-04-05.
"""

from datetime import date, timedelta

# Years whose entries are derived from the statutory rules rather than taken
# from a published notice; callers can warn that deadlines there may move.
PROVISIONAL_YEARS = frozenset({2027})

SOURCES = {
    2026: (
        "国务院办公厅关于2026年部分节假日安排的通知（2025年11月4日）"
        " https://www.gov.cn/zhengce/content/202511/content_7047090.htm"
    ),
    2027: (
        "暂定：按《全国年节及纪念日放假办法》（2024年11月10日修订）第二条、第六条推算，"
        "须以国务院办公厅关于2027年部分节假日安排的通知为准并在后台修改"
        " / PROVISIONAL: derived from the statutory rules; replace with the"
        " State Council notice for 2027."
    ),
}

# (festival, first day off, last day off), inclusive, in the notice's order.
_HOLIDAY_SPANS = (
    # 2026, official.
    ("元旦", date(2026, 1, 1), date(2026, 1, 3)),
    ("春节", date(2026, 2, 15), date(2026, 2, 23)),
    ("清明节", date(2026, 4, 4), date(2026, 4, 6)),
    ("劳动节", date(2026, 5, 1), date(2026, 5, 5)),
    ("端午节", date(2026, 6, 19), date(2026, 6, 21)),
    ("中秋节", date(2026, 9, 25), date(2026, 9, 27)),
    ("国庆节", date(2026, 10, 1), date(2026, 10, 7)),
    # 2027, PROVISIONAL: statutory days plus article-6 make-up days only.
    ("元旦", date(2027, 1, 1), date(2027, 1, 1)),
    # 除夕 Fri 5th to 初三 Mon 8th; 初一/初二 fall on Sat/Sun -> Tue 9th, Wed 10th.
    ("春节", date(2027, 2, 5), date(2027, 2, 10)),
    ("清明节", date(2027, 4, 5), date(2027, 4, 5)),
    # 1st/2nd fall on Sat/Sun -> Mon 3rd, Tue 4th.
    ("劳动节", date(2027, 5, 1), date(2027, 5, 4)),
    ("端午节", date(2027, 6, 9), date(2027, 6, 9)),
    ("中秋节", date(2027, 9, 15), date(2027, 9, 15)),
    # 2nd/3rd fall on Sat/Sun -> Mon 4th, Tue 5th.
    ("国庆节", date(2027, 10, 1), date(2027, 10, 5)),
)

MAKEUP_WORKDAYS: dict[date, str] = {
    # 2026, official.
    date(2026, 1, 4): "元旦",
    date(2026, 2, 14): "春节",
    date(2026, 2, 28): "春节",
    date(2026, 5, 9): "劳动节",
    date(2026, 9, 20): "国庆节",
    date(2026, 10, 10): "国庆节",
    # 2027: none until the notice is published (see PROVISIONAL_YEARS).
}


def _expand(spans):
    """Return {day: festival} for every day of the inclusive spans."""
    days = {}
    for festival, first, last in spans:
        day = first
        while day <= last:
            days[day] = festival
            day += timedelta(days=1)
    return days


HOLIDAYS: dict[date, str] = _expand(_HOLIDAY_SPANS)
