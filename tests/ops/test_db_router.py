"""The primary/replica router and its middleware, without a real replica (see test_replica)."""

import time

import pytest
from django.contrib.sessions.models import Session
from django.db import OperationalError
from django.http import HttpResponse
from django.test import RequestFactory

from accounts.models import User
from cases.models import Case
from gridmap import db_router
from layers.models import Grid


@pytest.fixture
def replica(monkeypatch):
    """Pretend a healthy replica is configured."""
    monkeypatch.setattr(db_router, "configured", lambda: True)
    monkeypatch.setattr(db_router, "replica_usable", lambda: True)


def test_data_reads_go_to_the_replica_only_inside_replica_reads(replica):
    router = db_router.PrimaryReplicaRouter()
    assert router.db_for_read(Case) == "default"
    with db_router.replica_reads():
        assert router.db_for_read(Case) == "replica"
        assert router.db_for_read(Grid) == "replica"
        # Sessions, users and tokens always from the primary: a log-in is seen at once.
        assert router.db_for_read(User) == "default"
        assert router.db_for_read(Session) == "default"
        assert router.db_for_write(Case) == "default"
        with db_router.primary_reads():
            assert router.db_for_read(Case) == "default"
    assert router.db_for_read(Case) == "default"
    assert router.allow_migrate("replica", "cases") is False
    assert router.allow_migrate("default", "cases") is True


def test_replica_reads_works_as_a_decorator(replica):
    @db_router.replica_reads
    def where():
        return db_router.current_read_alias()

    assert where() == "replica"
    assert db_router.current_read_alias() == "default"


def test_without_a_configured_replica_everything_reads_from_the_primary():
    with db_router.replica_reads():
        assert db_router.current_read_alias() == "default"
        assert db_router.PrimaryReplicaRouter().db_for_read(Case) == "default"


def test_an_unusable_replica_sends_reads_to_the_primary(monkeypatch):
    monkeypatch.setattr(db_router, "configured", lambda: True)
    monkeypatch.setattr(db_router, "replica_usable", lambda: False)
    with db_router.replica_reads():
        assert db_router.current_read_alias() == "default"


def _middleware(status=200):
    return db_router.ReplicaReadsMiddleware(lambda request: HttpResponse(status=status))


def test_a_write_pins_the_client_to_the_primary_for_a_while(replica, settings):
    settings.REPLICA_PIN_SECONDS = 10
    rf = RequestFactory()
    response = _middleware()(rf.post("/api/v1/cases/"))
    until = float(response.cookies[db_router.PIN_COOKIE].value)
    assert time.time() + 9 < until <= time.time() + 10.5
    assert response.cookies[db_router.PIN_COOKIE]["httponly"]
    # A failed write (5xx) pins nothing; a read pins nothing.
    assert db_router.PIN_COOKIE not in _middleware(503)(rf.post("/x/")).cookies
    assert db_router.PIN_COOKIE not in _middleware()(rf.get("/tiles/grids/1/2/3.pbf")).cookies

    mw = _middleware()
    tile = "/tiles/grids/14/13000/7000.pbf"
    assert mw.use_replica(rf.get(tile))
    assert mw.use_replica(rf.get("/analysis/hotspots/data.json"))
    assert not mw.use_replica(rf.get("/cases/"))
    assert not mw.use_replica(rf.post(tile))
    pinned = rf.get(tile)
    pinned.COOKIES[db_router.PIN_COOKIE] = f"{until:.3f}"
    assert not mw.use_replica(pinned)
    expired = rf.get(tile)
    expired.COOKIES[db_router.PIN_COOKIE] = f"{time.time() - 1:.3f}"
    assert mw.use_replica(expired)
    garbage = rf.get(tile)
    garbage.COOKIES[db_router.PIN_COOKIE] = "<script>"
    assert mw.use_replica(garbage)


def test_a_failing_replica_makes_the_view_run_again_on_the_primary(replica, monkeypatch):
    monkeypatch.setattr(db_router, "_replica_is_down", lambda: True)
    calls = []

    def view(request):
        calls.append(db_router.current_read_alias())
        if len(calls) == 1:
            raise OperationalError("replica gone")
        return HttpResponse("ok")

    request = RequestFactory().get("/tiles/grids/1/2/3.pbf")
    response = _middleware().process_view(request, view, (), {})
    assert response.content == b"ok"
    assert calls == ["replica", "default"]
    assert request.read_from == "default"


def test_a_failing_primary_is_not_hidden_by_the_fallback(replica, monkeypatch):
    monkeypatch.setattr(db_router, "_replica_is_down", lambda: False)

    def view(request):
        raise OperationalError("primary gone")

    with pytest.raises(OperationalError):
        _middleware().process_view(RequestFactory().get("/tiles/a/1/2/3.pbf"), view, (), {})
