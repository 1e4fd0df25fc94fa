"""scripts/backup.sh and scripts/restore.sh: a full round trip on a scratch database."""

import os
import subprocess
from contextlib import closing

import pytest

from tests.ops import pgutil

ROOT = pgutil.ROOT

SCHEMA = """
CREATE EXTENSION IF NOT EXISTS postgis;
CREATE TABLE place (
    id bigserial PRIMARY KEY,
    name text NOT NULL,
    geom geometry(Point, 4326) NOT NULL
);
CREATE INDEX place_geom ON place USING gist (geom);
CREATE TABLE log (id bigserial PRIMARY KEY, at timestamptz NOT NULL DEFAULT now(), what text);
CREATE FUNCTION log_no_update() RETURNS trigger LANGUAGE plpgsql AS
  $$ BEGIN RAISE EXCEPTION 'append-only'; END $$;
CREATE TRIGGER log_append_only BEFORE UPDATE OR DELETE ON log
  FOR EACH ROW EXECUTE FUNCTION log_no_update();
INSERT INTO place (name, geom)
  SELECT '船房社区网格' || g, ST_SetSRID(ST_MakePoint(102.6 + g * 1e-4, 24.9 + g * 1e-4), 4326)
  FROM generate_series(1, 2000) g;
INSERT INTO log (what) SELECT 'event ' || g FROM generate_series(1, 500) g;
"""

FINGERPRINT = """
SELECT (SELECT count(*) FROM place), (SELECT md5(string_agg(name || ST_AsText(geom), ','
        ORDER BY id)) FROM place), (SELECT count(*) FROM log),
       (SELECT last_value FROM place_id_seq),
       (SELECT count(*) FROM pg_indexes WHERE indexname = 'place_geom'),
       (SELECT count(*) FROM pg_trigger WHERE tgname = 'log_append_only')
"""


def fingerprint(name):
    with closing(pgutil.connect(name)) as conn, conn.cursor() as cur:
        cur.execute(FINGERPRINT)
        return cur.fetchone()


def run(script, *args, db):
    env = {**os.environ, "DATABASE_URL": pgutil.url(db)}
    return subprocess.run(
        ["bash", str(ROOT / "scripts" / script), *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def scratch(tmp_path):
    source = pgutil.scratch_name("ops_backup_src")
    target = pgutil.scratch_name("ops_backup_dst")
    pgutil.create_db(source)
    with closing(pgutil.connect(source)) as conn, conn.cursor() as cur:
        cur.execute(SCHEMA)
    yield source, target
    pgutil.drop_db(source)
    pgutil.drop_db(target)


def test_backup_and_restore_round_trip_keeps_rows_indexes_sequences_and_triggers(scratch, tmp_path):
    source, target = scratch
    dump = tmp_path / "gridmap.dump"
    result = run("backup.sh", str(dump), db=source)
    assert result.returncode == 0, result.stderr
    assert dump.exists() and (tmp_path / "gridmap.dump.sha256").exists()

    result = run("restore.sh", str(dump), target, db=source)
    assert result.returncode == 0, result.stderr
    before, after = fingerprint(source), fingerprint(target)
    assert after == before
    assert after[0] == 2000 and after[2] == 500 and after[4] == 1 and after[5] == 1

    # The append-only trigger came back too.
    with closing(pgutil.connect(target)) as conn, conn.cursor() as cur:
        with pytest.raises(Exception, match="append-only"):
            cur.execute("DELETE FROM log")


def test_restore_refuses_an_existing_database_and_a_damaged_dump(scratch, tmp_path):
    source, _target = scratch
    dump = tmp_path / "gridmap.dump"
    assert run("backup.sh", str(dump), db=source).returncode == 0

    result = run("restore.sh", str(dump), source, db=source)
    assert result.returncode != 0
    assert "exists already" in result.stderr

    damaged = tmp_path / "damaged.dump"
    damaged.write_bytes(dump.read_bytes()[: dump.stat().st_size // 2])
    result = run("restore.sh", str(damaged), pgutil.scratch_name("ops_backup_bad"), db=source)
    assert result.returncode != 0
    assert "restore.sh:" in result.stderr and "Traceback" not in result.stderr

    (tmp_path / "gridmap.dump.sha256").write_text("0" * 64 + "  gridmap.dump\n")
    result = run("restore.sh", str(dump), pgutil.scratch_name("ops_backup_bad"), db=source)
    assert result.returncode != 0
    assert "checksum mismatch" in result.stderr
