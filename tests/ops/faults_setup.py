"""Run by tests/ops/test_faults.py in its own process against a throwaway cluster
(DATABASE_URL): migrate, then a category, an intake account with an API token, a district
account (the reminders' recipient) and overdue cases for the periodic jobs. Prints JSON.
"""

import datetime
import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "gridmap.settings")

import django  # noqa: E402

django.setup()

from django.contrib.gis.geos import Point  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.utils import timezone  # noqa: E402


def main(overdue):
    call_command("migrate", verbosity=0, interactive=False)
    from accounts.models import Role, User
    from accounts.services import issue_api_token
    from cases import services
    from cases.models import Category

    category = Category.objects.create(
        code="labour_wage", name="劳资纠纷", name_en="Wage dispute", limit_working_days=5
    )
    intake = User.objects.create(username="faults_intake", role=Role.INTAKE)
    User.objects.create(username="faults_district", role=Role.DISTRICT)
    _token, raw = issue_api_token(name="faults", user=intake, scopes=["cases:create"])
    past = timezone.now() - datetime.timedelta(days=40)
    for i in range(overdue):
        services.case_register(
            source="hotline_12345",
            category=category,
            description=f"overdue {i}",
            location=Point(102.66 + i * 1e-4, 24.97, srid=4326),
            reported_at=past,
        )
    # A logged-in browser of the command centre, for the pages during the outage.
    from django.conf import settings
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.sessions.backends.db import SessionStore

    viewer = User.objects.get(username="faults_district")
    session = SessionStore()
    session[SESSION_KEY] = str(viewer.pk)
    session[BACKEND_SESSION_KEY] = settings.AUTHENTICATION_BACKENDS[0]
    session[HASH_SESSION_KEY] = viewer.get_session_auth_hash()
    session.save()
    return {"token": raw, "session": session.session_key}


if __name__ == "__main__":
    print(json.dumps(main(int(sys.argv[1]))))
