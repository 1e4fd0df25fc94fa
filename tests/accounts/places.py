"""Records in four places, to test who sees what (used by the access tests of every app).

- A: the demo grid worker's first grid (船房 Chuanfang, in 福海 Fuhai street)
- B: a Chuanfang grid outside his territory
- C: a grid of 西丽园 Xiliyuan (in 马街 Majie street)
- D: a grid of another district altogether

Each place gets a person, a rental house, an organisation, a compound and a case with a
party, all carrying the marker ``ZZMARK-<place>`` in a free-text field, so that a page
or API answer can be searched for records it must not show.
"""

import itertools
from dataclasses import dataclass, field

from django.contrib.gis.geos import MultiPolygon, Point, Polygon
from django.utils import timezone

from gridmap import pii

_seq = itertools.count(1)

# role username -> (place inside its area, place outside it)
INSIDE_OUTSIDE = {
    "admin": ("A", "D"),
    "zhihui": ("A", "D"),
    "shouli": ("A", "D"),
    "fenxi": ("A", "D"),
    "majie": ("C", "A"),
    "chuanfang": ("A", "C"),
    "wangge": ("A", "B"),
    # A department handler has no area: "inside" is a case dispatched to its department.
    "renshe": ("A", "B"),
}
ROLES = list(INSIDE_OUTSIDE)


def marker(place):
    return f"ZZMARK-{place}"


def id_number(n):
    # A region (Beijing, Dongcheng) the demo district never uses, so a test person can
    # never collide with a generated resident's ID number.
    first17 = f"110101199001{n % 28 + 1:02d}{n % 1000:03d}"
    return first17 + pii.id_number_check_char(first17)


def _square(x0, y0, size):
    ring = ((x0, y0), (x0 + size, y0), (x0 + size, y0 + size), (x0, y0 + size), (x0, y0))
    return MultiPolygon(Polygon(ring), srid=4326)


@dataclass
class Place:
    name: str
    grid: object
    point: Point
    objects: dict = field(default_factory=dict)


def other_district_grid():
    """Return a current grid in a district of its own (far from Xishan)."""
    from layers.models import Community, District, Grid, Street

    district, _ = District.objects.get_or_create(
        code="530199", defaults={"name": "测试外区", "geom": _square(104.0, 26.0, 0.2)}
    )
    street, _ = Street.objects.get_or_create(
        code="530199001",
        defaults={"district": district, "name": "外区街道", "geom": _square(104.0, 26.0, 0.1)},
    )
    community, _ = Community.objects.get_or_create(
        code="530199001001",
        defaults={"street": street, "name": "外区社区", "geom": _square(104.0, 26.0, 0.05)},
    )
    grid, _ = Grid.objects.get_or_create(
        code="10530199001001000001",
        defaults={"community": community, "name": "外区网格", "geom": _square(104.0, 26.0, 0.01)},
    )
    return grid


def place_grids():
    """Return {place: grid} for A, B, C and D."""
    from accounts.models import User
    from layers.models import Grid

    territory = User.objects.get(username="wangge").grid_worker.grids.order_by("code")
    a = territory.first()
    b = (
        Grid.objects.current()
        .filter(community=a.community)
        .exclude(pk__in=territory.values("pk"))
        .order_by("code")
        .first()
    )
    c = Grid.objects.current().filter(community__name="西丽园社区").order_by("code").first()
    return {"A": a, "B": b, "C": c, "D": other_district_grid()}


def make_person(point, place, **kwargs):
    from layers.models import Person

    n = next(_seq) + 500
    number = id_number(n)
    phone = f"139{n:08d}"
    defaults = {
        "name": f"测{place}某{n}",
        "id_number_cipher": pii.encrypt(number),
        "id_number_digest": pii.digest(number),
        "id_number_masked": pii.mask_id_number(number),
        "phone_cipher": pii.encrypt(phone),
        "phone_digest": pii.digest(phone),
        "phone_masked": pii.mask_phone(phone),
        "kind": Person.Kind.FLOATING,
        "address": f"{marker(place)} 测试地址",
        "origin": "云南省",
        "location": point,
    }
    defaults.update(kwargs)
    person = Person.objects.create(**defaults)
    person.clear = {"id_number": number, "phone": phone, "name": defaults["name"]}
    return person


def make_case(point, place, **kwargs):
    from cases.models import Case, Category, Party

    n = next(_seq)
    defaults = {
        "number": f"T{timezone.now():%Y%m%d}{n:06d}",
        "source": "dispute",
        "category": Category.objects.order_by("pk").first(),
        "title": f"{marker(place)} 标题",
        "description": f"{marker(place)} 描述",
        "address": f"{marker(place)} 地址",
        "level": "grid",
        "reported_at": timezone.now(),
        "location": point,
    }
    defaults.update(kwargs)
    case = Case.objects.create(**defaults)
    phone = f"138{n:08d}"
    Party.objects.create(
        case=case,
        name=f"当{place}事{n}",
        phone_cipher=pii.encrypt(phone),
        phone_digest=pii.digest(phone),
        phone_masked=pii.mask_phone(phone),
    )
    return case


def case_children(case, place):
    """Return a consultation, an attachment and a reminder letter of the case."""
    from django.core.files.base import ContentFile

    from cases.models import Attachment, Consultation, Reminder

    now = timezone.now()
    attachment = Attachment(
        case=case, name=f"{marker(place)}.txt", content_type="text/plain", size=6, at=now
    )
    attachment.file.save(f"{marker(place)}.txt", ContentFile(b"ZZFILE"), save=True)
    return {
        "cases.consultation": Consultation.objects.create(case=case, convened_at=now),
        "cases.attachment": attachment,
        "cases.reminder": Reminder.objects.create(
            case=case, kind="letter", deadline=now, created_at=now, unit_name="测试"
        ),
    }


def build_places():
    """Create the records of the four places and return {place: Place}."""
    from cases.models import Assignment, HandlerUnit
    from layers.models import Compound, GridWorker, Organisation, RentalHouse

    places = {}
    for name, grid in place_grids().items():
        point = grid.geom.point_on_surface
        place = Place(name, grid, point)
        n = next(_seq)
        phone = f"137{n:08d}"
        place.objects = {
            "layers.person": make_person(point, name),
            "layers.rentalhouse": RentalHouse.objects.create(
                code=f"TEST-{name}-{n}",
                address=f"{marker(name)} 出租屋",
                landlord_name=f"房{name}东",
                landlord_phone_cipher=pii.encrypt(phone),
                landlord_phone_digest=pii.digest(phone),
                landlord_phone_masked=pii.mask_phone(phone),
                location=point,
            ),
            "layers.organisation": Organisation.objects.create(
                name=f"{marker(name)} 公司", kind="enterprise", location=point
            ),
            "layers.compound": Compound.objects.create(name=f"{marker(name)} 小区", location=point),
            "cases.case": make_case(point, name),
            "layers.grid": grid,
            "layers.community": grid.community,
            "layers.street": grid.community.street,
        }
        case = place.objects["cases.case"]
        place.objects["cases.party"] = case.parties.first()
        place.objects.update(case_children(case, name))
        worker = GridWorker.objects.filter(grids=grid).first()
        if worker is None:
            worker = GridWorker.objects.create(name=f"{marker(name)} 网格员")
            worker.grids.add(grid)
        place.objects["layers.gridworker"] = worker
        places[name] = place
    # The case of A is dispatched to the labour department (the demo department handler).
    unit, _ = HandlerUnit.objects.get_or_create(
        kind="department", department="labour", defaults={"name": "区人社局"}
    )
    Assignment.objects.create(
        case=places["A"].objects["cases.case"],
        role="lead",
        level="district",
        unit=unit,
        at=timezone.now(),
    )
    return places
