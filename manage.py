#!/usr/bin/env python
"""Django's command-line utility for gridmap."""

import os
import sys


def main():
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "gridmap.settings")
    from django.core.exceptions import ImproperlyConfigured
    from django.core.management import execute_from_command_line
    from django.db.utils import OperationalError

    try:
        execute_from_command_line(sys.argv)
    except ImproperlyConfigured as exc:
        sys.exit(f"gridmap: configuration error: {exc}")
    except OperationalError as exc:
        # An unreachable or wrong DATABASE_URL: one line, not a traceback.
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else repr(exc)
        sys.exit(f"gridmap: cannot use the database (check DATABASE_URL): {first}")


if __name__ == "__main__":
    main()
