"""Vectorised parsing and validation of column values, with the messages of gridmap.pii."""

import hashlib
import hmac
import unicodedata

import numpy as np
import pandas as pd

from gridmap import pii

_ID_WEIGHTS = np.array(pii.ID_WEIGHTS, dtype=np.int64)
_ID_CHECK = np.frombuffer(pii.ID_CHECK_CHARS.encode(), dtype=np.uint8)
_TRUE = {"1", "是", "有", "y", "yes", "true", "t", "√", "✓"}
_FALSE = {"", "0", "否", "无", "n", "no", "false", "f", "×"}


def normalize_text(series):
    """Return text values NFKC-normalised and stripped (full-width digits → ASCII)."""
    s = series.astype(str)
    nonascii = ~s.map(str.isascii, na_action="ignore").astype(bool)
    if nonascii.any():
        s = s.copy()
        s[nonascii] = s[nonascii].map(lambda v: unicodedata.normalize("NFKC", v))
    return s.str.strip()


def id_numbers(series):
    """Return (normalised ID numbers, error messages) for a column; "" where valid.

    Valid rows are checked in numpy; the few invalid ones go through
    pii.validate_id_number so that the messages are the same as everywhere else.
    """
    s = normalize_text(series).str.replace(r"\s+", "", regex=True).str.upper()
    ok = s.str.fullmatch(r"[0-9]{17}[0-9X]").fillna(False).to_numpy(dtype=bool).copy()
    values = s.to_numpy(dtype=object)
    if ok.any():
        good = np.array(values[ok].tolist(), dtype="U18")
        birth = pd.to_datetime(pd.Series(good).str[6:14], format="%Y%m%d", errors="coerce")
        today = pd.Timestamp(pii._today())
        birth_ok = (birth.notna() & (birth.dt.year >= 1900) & (birth <= today)).to_numpy()
        digits = np.frombuffer(good.astype("S18").tobytes(), dtype=np.uint8).reshape(-1, 18)
        body = digits[:, :17].astype(np.int64) - 48
        check_ok = _ID_CHECK[(body * _ID_WEIGHTS).sum(axis=1) % 11] == digits[:, 17]
        ok_idx = np.flatnonzero(ok)
        ok[ok_idx[~(birth_ok & check_ok)]] = False
    errors = np.full(len(values), "", dtype=object)
    for i in np.flatnonzero(~ok):
        try:
            values[i] = pii.validate_id_number(values[i])
        except pii.PIIError as exc:
            errors[i] = exc.message
    return values, errors


_MOBILE = r"1[3-9][0-9]{9}"


def phones(series):
    """Return (normalised phones or "", error messages) for an optional phone column."""
    s = normalize_text(series).str.replace(r"[\s\-\u2010-\u2015()]", "", regex=True)
    s = s.str.replace(r"^(?:\+86|0086)(?=1[3-9][0-9]{9}$)", "", regex=True)
    values = s.to_numpy(dtype=object)
    empty = (s == "").to_numpy()
    mobile = s.str.fullmatch(_MOBILE).fillna(False).to_numpy(dtype=bool)
    errors = np.full(len(values), "", dtype=object)
    for i in np.flatnonzero(~mobile & ~empty):
        try:
            values[i] = pii.validate_phone(values[i])
        except pii.PIIError as exc:
            errors[i] = exc.message
    return values, errors


def mask_ids(values):
    """Return pii.mask_id_number of valid 18-character ID numbers, vectorised."""
    s = pd.Series(values, dtype=object).astype(str)
    return (s.str[:6] + "********" + s.str[-4:]).to_numpy(dtype=object)


def mask_phones(values):
    """Return pii.mask_phone of normalised phones ("" stays ""), vectorised for mobiles."""
    s = pd.Series(values, dtype=object).astype(str)
    mobile = s.str.fullmatch(_MOBILE).fillna(False)
    out = (s.str[:3] + "****" + s.str[-4:]).where(mobile, "")
    other = (~mobile & (s != "")).to_numpy()
    res = out.to_numpy(dtype=object)
    for i in np.flatnonzero(other):
        res[i] = pii.mask_phone(values[i])
    return res


def digests(values):
    """Return pii.digest of each value (None for ""), with one-shot HMAC calls."""
    key = pii._hmac_key()
    mac = hmac.digest
    return [mac(key, v.encode(), hashlib.sha256).hex() if v else None for v in values]


def encrypt(values):
    """Return pii.encrypt_many of the values, None for ""."""
    return pii.encrypt_many([v if v else None for v in values])


def booleans(series, column, report, rows):
    """Return a bool array from 是/否, yes/no, 1/0...; record unknown values."""
    s = normalize_text(series).str.lower()
    true = s.isin(_TRUE).to_numpy()
    bad = ~(true | s.isin(_FALSE).to_numpy())
    for i in np.flatnonzero(bad):
        report.error(rows[i], column, f"不是 是/否 值 / not a yes/no value: {s.iloc[i]!r}")
    return true, bad


def integers(series, column, report, rows, default=0, minimum=0):
    """Return an int array; blank gives `default`; record non-numbers."""
    s = normalize_text(series)
    blank = (s == "").to_numpy()
    num = pd.to_numeric(s.where(~blank, str(default)), errors="coerce")
    bad = (num.isna() | (num < minimum) | (num != num.round())).to_numpy()
    for i in np.flatnonzero(bad):
        report.error(rows[i], column, f"不是有效的整数 / not a valid whole number: {s.iloc[i]!r}")
    return num.fillna(default).to_numpy().astype(np.int64), bad


def dates(series, column, report, rows):
    """Return ISO date strings or None; record unparseable values."""
    s = normalize_text(series).str.replace(r"[年月/.]", "-", regex=True).str.replace("日", "")
    blank = (s == "").to_numpy()
    parsed = pd.to_datetime(s.where(~blank, None), errors="coerce", format="mixed")
    bad = parsed.isna().to_numpy() & ~blank
    for i in np.flatnonzero(bad):
        report.error(rows[i], column, f"日期无法识别 / not a date: {series.iloc[i]!r}")
    out = parsed.dt.strftime("%Y-%m-%d").to_numpy(dtype=object)
    out[blank | bad] = None
    return out, bad
