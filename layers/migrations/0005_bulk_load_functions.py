"""Bulk loads without owning the tables: two SECURITY DEFINER functions.

A bulk import drops a table's foreign keys and non-unique indexes and rebuilds them once
at the end (layers.sql.detach_secondary_indexes). Only a table's owner may do that, and
the app role owns nothing (gridmap/dbroles.py). These functions, owned by the owner, do it
for the bulk-loaded tables only, and keep the definitions in a table only the owner may
touch, so the app can neither run other DDL through them nor restore anything but what
was there. Both run inside the import's transaction: a failed import restores everything.
"""

from django.db import migrations

BULK_TABLES = "'layers_person'::regclass, 'layers_rentalhouse'::regclass, 'cases_case'::regclass"

FORWARD = f"""
CREATE TABLE layers_detachedindex (
    relid regclass NOT NULL,
    position integer NOT NULL,
    statement text NOT NULL,
    PRIMARY KEY (relid, position)
);

CREATE FUNCTION layers_bulk_detach(target regclass) RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
    r record;
    n integer := 0;
BEGIN
    IF target NOT IN ({BULK_TABLES}) THEN
        RAISE EXCEPTION 'bulk load not allowed on %', target USING ERRCODE = '42501';
    END IF;
    IF EXISTS (SELECT FROM layers_detachedindex WHERE relid = target) THEN
        RAISE EXCEPTION 'indexes of % are detached already', target;
    END IF;
    -- Indexes first, foreign keys after: the restore runs in this order.
    FOR r IN
        SELECT i.oid::regclass AS name, pg_get_indexdef(i.oid) AS definition
        FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid
        WHERE x.indrelid = target AND NOT x.indisunique
        ORDER BY i.relname
    LOOP
        n := n + 1;
        INSERT INTO layers_detachedindex VALUES (target, n, r.definition);
        EXECUTE format('DROP INDEX %s', r.name);
    END LOOP;
    FOR r IN
        SELECT conname, pg_get_constraintdef(oid) AS definition FROM pg_constraint
        WHERE conrelid = target AND contype = 'f'
        ORDER BY conname
    LOOP
        n := n + 1;
        INSERT INTO layers_detachedindex VALUES (
            target, n,
            format('ALTER TABLE %s ADD CONSTRAINT %I %s', target, r.conname, r.definition)
        );
        EXECUTE format('ALTER TABLE %s DROP CONSTRAINT %I', target, r.conname);
    END LOOP;
    RETURN n;
END
$$;

CREATE FUNCTION layers_bulk_restore(target regclass) RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
    r record;
    n integer := 0;
BEGIN
    IF target NOT IN ({BULK_TABLES}) THEN
        RAISE EXCEPTION 'bulk load not allowed on %', target USING ERRCODE = '42501';
    END IF;
    FOR r IN
        SELECT statement FROM layers_detachedindex WHERE relid = target ORDER BY position
    LOOP
        EXECUTE r.statement;
        n := n + 1;
    END LOOP;
    DELETE FROM layers_detachedindex WHERE relid = target;
    RETURN n;
END
$$;

REVOKE ALL ON FUNCTION layers_bulk_detach(regclass) FROM PUBLIC;
REVOKE ALL ON FUNCTION layers_bulk_restore(regclass) FROM PUBLIC;
"""

BACKWARD = """
DROP FUNCTION IF EXISTS layers_bulk_restore(regclass);
DROP FUNCTION IF EXISTS layers_bulk_detach(regclass);
DROP TABLE IF EXISTS layers_detachedindex;
"""


class Migration(migrations.Migration):
    dependencies = [("layers", "0004_drop_indexes_covered_by_composites")]

    operations = [migrations.RunSQL(FORWARD, BACKWARD)]
