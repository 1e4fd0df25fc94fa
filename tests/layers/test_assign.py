import numpy as np
import pytest
import shapely

from layers import selectors, sql
from layers.importers.assign import NONE, AreaIndex
from layers.models import Grid
from tests import factories


@pytest.mark.django_db
def test_bulk_assignment_breaks_boundary_ties_like_the_single_point_lookup():
    grids = list(Grid.objects.current().filter(community__name="船房社区").order_by("code"))
    shapes = [shapely.from_wkb(bytes(g.geom.wkb)) for g in grids]
    # Points on shared edges and corners, where two or four grids meet.
    points = []
    for i, a in enumerate(shapes):
        for b in shapes[i + 1 :]:
            shared = a.intersection(b)
            if not shared.is_empty:
                points.append(shapely.get_coordinates(shared)[0])
                points.append(shapely.get_coordinates(shared.centroid)[0])
    points = np.array(points)
    assert len(points) > 40
    grid_ids, community_ids, _street = AreaIndex().assign(points[:, 0], points[:, 1])
    for (x, y), gid in zip(points, grid_ids, strict=True):
        assert gid == sql.locate(x, y)["grid"]["id"]
    assert set(community_ids) == {grids[0].community_id}


@pytest.mark.django_db
def test_points_outside_every_grid_keep_their_community_or_nothing():
    index = AreaIndex()
    grid, community, street = index.assign(np.array([102.30]), np.array([24.70]))
    assert grid[0] == NONE and community[0] == NONE and street[0] == NONE


@pytest.mark.django_db
def test_unassigned_list_shows_points_outside_every_grid(client, login):
    from layers.models import RentalHouse

    house = RentalHouse.objects.create(
        code="T-OUT", address="区外", location=factories.point(102.3, 24.7)
    )
    user = login("zhihui")
    assert house in selectors.unassigned(user, "rentals")
    body = client.get("/api/v1/unassigned", {"layer": "rentals"}).json()
    assert house.pk in [r["id"] for r in body["results"]]
    page = client.get("/layers/unassigned/?layer=rentals")
    assert page.status_code == 200 and "区外" in page.content.decode()
    # Fixing the location moves it into a grid.
    grid = Grid.objects.current().filter(community__name="船房社区").first()
    p = grid.geom.point_on_surface
    response = client.post(
        f"/layers/unassigned/rentals/{house.pk}/", {"lon": p.x, "lat": p.y, "crs": "wgs84"}
    )
    assert response.status_code == 302
    house.refresh_from_db()
    assert house.grid == grid


@pytest.mark.django_db
def test_the_unassigned_list_is_for_the_command_centre_only(client, login):
    login("wangge")
    assert client.get("/api/v1/unassigned").status_code == 403
    assert client.get("/layers/unassigned/").status_code == 403


@pytest.mark.django_db
def test_the_admin_filters_unassigned_points(client, login):
    from layers.models import RentalHouse

    RentalHouse.objects.create(
        code="T-ADM", address="区外管理", location=factories.point(102.3, 24.7)
    )
    login("admin")
    page = client.get("/admin/layers/rentalhouse/", {"in_grid": "no"})
    assert page.status_code == 200
    assert "T-ADM" in page.content.decode()


@pytest.mark.django_db
def test_saving_only_a_new_location_moves_the_record_to_its_new_grid():
    from layers.models import RentalHouse

    house = RentalHouse.objects.filter(grid__isnull=False).order_by("pk").first()
    other = Grid.objects.current().exclude(pk=house.grid_id).order_by("code").first()
    house.location = other.geom.point_on_surface
    house.save(update_fields=["location"])
    house.refresh_from_db()
    assert (house.grid_id, house.community_id) == (other.pk, other.community_id)


@pytest.mark.django_db
@pytest.mark.parametrize("neighbour", [False, True])
def test_outside_every_grid_a_record_takes_its_communitys_street(neighbour):
    """Where a community pokes out of its street (a digitising sliver), the point still
    belongs to the community's street: that street's centre must see the record."""
    from layers.models import RentalHouse

    street = factories.make_street(geom=factories.square(110.0, 30.0, 0.1), code="530112999")
    if neighbour:
        # The sliver lies inside another street, whose code sorts first.
        factories.make_street(geom=factories.square(110.1, 30.0, 0.1), code="530112990")
    community = factories.make_community(street, geom=factories.square(110.09, 30.0, 0.02))
    house = RentalHouse.objects.create(
        code="T-SLIVER", address="界外", location=factories.point(110.105, 30.005)
    )
    house.refresh_from_db()
    assert house.grid_id is None
    assert (house.community_id, house.street_id) == (community.pk, street.pk)
