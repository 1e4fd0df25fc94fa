import subprocess
import sys
from pathlib import Path

from django.core.management import call_command

ROOT = Path(__file__).resolve().parent.parent


def test_system_check_reports_nothing_not_even_gdal_w001(capsys):
    from django.contrib.gis.gdal import GDAL_VERSION

    assert GDAL_VERSION >= (3, 9)
    call_command("check", fail_level="WARNING")
    assert "W001" not in capsys.readouterr().out


def test_time_zone_and_language():
    from django.conf import settings

    assert settings.TIME_ZONE == "Asia/Shanghai"
    assert settings.LANGUAGE_CODE == "zh-hans"
    assert ("en", "English") in settings.LANGUAGES


def test_wrong_database_url_gives_one_line_not_a_traceback():
    env = {"DATABASE_URL": "postgis://nobody@127.0.0.1:1/none", "PATH": "/usr/bin:/bin"}
    result = subprocess.run(
        [sys.executable, "manage.py", "dbcheck"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert "DATABASE_URL" in result.stderr


def test_non_postgis_database_url_is_refused_in_one_line():
    env = {"DATABASE_URL": "mysql://u@h/d", "PATH": "/usr/bin:/bin"}
    result = subprocess.run(
        [sys.executable, "manage.py", "migrate"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert "PostGIS" in result.stderr


def test_ci_runs_exactly_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    assert "make test" in readme and "make run" in readme
    assert "\nmake test\n" in ci
