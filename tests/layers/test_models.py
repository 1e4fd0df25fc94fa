import pytest
from django.db import IntegrityError, transaction

from layers.models import Grid, Person, RentalHouse
from tests import factories


@pytest.mark.django_db
def test_grid_cannot_exist_without_a_community():
    with pytest.raises(IntegrityError), transaction.atomic():
        Grid.objects.create(code="1" * 20, name="孤儿网格", geom=factories.square(103, 24))


@pytest.mark.django_db
def test_current_grid_codes_are_unique():
    grid = factories.make_grid()
    with pytest.raises(IntegrityError), transaction.atomic():
        factories.make_grid(community=grid.community, code=grid.code)


@pytest.mark.django_db
def test_a_redrawn_grid_keeps_its_code_in_history():
    grid = factories.make_grid()
    Grid.objects.filter(pk=grid.pk).update(valid_to="2026-01-01T00:00:00+08:00")
    redrawn = factories.make_grid(community=grid.community, code=grid.code, version=2)
    assert Grid.objects.current().get(code=grid.code) == redrawn
    assert Grid.objects.filter(code=grid.code).count() == 2


@pytest.mark.django_db
def test_grid_codes_have_twenty_digits():
    with pytest.raises(IntegrityError), transaction.atomic():
        factories.make_grid(code="10530112")


@pytest.mark.django_db
def test_street_and_community_codes_are_unique():
    street = factories.make_street()
    with pytest.raises(IntegrityError), transaction.atomic():
        factories.make_street(code=street.code)
    community = factories.make_community(street=street)
    with pytest.raises(IntegrityError), transaction.atomic():
        factories.make_community(street=street, code=community.code)


@pytest.mark.django_db
def test_a_saved_point_gets_its_grid_community_and_street():
    grid = Grid.objects.current().get(name="船房社区第1网格")
    centre = grid.geom.centroid
    house = RentalHouse.objects.create(code="TEST-1", address="船房测试1号", location=centre)
    assert house.grid == grid
    assert house.community == grid.community
    assert house.street == grid.community.street
    assert house.street.name == "福海街道"


@pytest.mark.django_db
def test_a_moved_point_is_reassigned():
    first = Grid.objects.current().get(name="船房社区第1网格")
    other = Grid.objects.current().get(name="红星社区第1网格")
    house = RentalHouse.objects.create(code="TEST-2", address="x", location=first.geom.centroid)
    house.location = other.geom.centroid
    house.save()
    house.refresh_from_db()
    assert house.grid == other
    assert house.community.name == "红星社区"


@pytest.mark.django_db
def test_a_point_outside_every_grid_is_kept_without_a_grid():
    house = RentalHouse.objects.create(
        code="TEST-3", address="区外", location=factories.point(100.0, 20.0)
    )
    house.refresh_from_db()
    assert house.grid is None and house.community is None and house.street is None


@pytest.mark.django_db
def test_a_point_on_a_shared_boundary_goes_to_the_grid_with_the_smaller_code():
    a = Grid.objects.current().get(name="船房社区第1网格")
    b = Grid.objects.current().get(name="船房社区第2网格")
    shared = a.geom.intersection(b.geom)
    assert shared.length > 0
    house = RentalHouse.objects.create(code="TEST-4", address="界上", location=shared.centroid)
    assert house.grid == min(a, b, key=lambda g: g.code)


@pytest.mark.django_db
def test_every_geometry_column_has_a_spatial_index():
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT f_table_name, f_geometry_column FROM geometry_columns g
            WHERE f_table_schema = 'public' AND NOT EXISTS (
                SELECT 1 FROM pg_indexes i
                WHERE i.tablename = g.f_table_name AND i.indexdef ILIKE '%%USING gist%%'
                  AND i.indexdef ILIKE '%%' || g.f_geometry_column || '%%')
            """
        )
        assert cursor.fetchall() == []


@pytest.mark.django_db
def test_person_personal_data_is_not_stored_in_clear():
    from django.db import connection

    from gridmap import pii

    person = Person.objects.filter(kind="floating").first()
    clear = pii.decrypt(bytes(person.id_number_cipher))
    assert pii.validate_id_number(clear) == clear
    assert person.id_number_masked == pii.mask_id_number(clear)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM layers_person WHERE position(%s in "
            "concat_ws('|', name, id_number_masked, encode(id_number_cipher, 'escape'), "
            "id_number_digest, address)) > 0",
            [clear],
        )
        assert cursor.fetchone()[0] == 0
    assert Person.objects.get(id_number_digest=pii.digest(clear)) == person
