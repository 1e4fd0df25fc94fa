"""Run the periodic jobs (time-limit reminders, letters, escalation) in a loop, or once."""

import logging
import signal
import time

from django.core.management.base import BaseCommand
from django.db import close_old_connections

from cases import jobs
from gridmap import health

log = logging.getLogger("cases.jobs")


class Command(BaseCommand):
    help = (
        "Run the periodic case jobs every --interval seconds (75 % reminders, reminder "
        "letters, escalation); --once runs one pass. Safe to run on several machines."
    )

    def add_arguments(self, parser):
        parser.add_argument("--once", action="store_true", help="run one pass and exit")
        parser.add_argument(
            "--interval", type=int, default=60, help="seconds between passes (default 60)"
        )

    def handle(self, *args, **options):
        if options["interval"] < 1:
            self.stderr.write("--interval 必须至少为 1 秒 / --interval must be at least 1 second")
            return
        if options["once"]:
            self.stdout.write(f"gridmap jobs: {jobs.run_once()}")
            return
        self._stop = False
        signal.signal(signal.SIGTERM, self._request_stop)
        signal.signal(signal.SIGINT, self._request_stop)
        self.stdout.write(f"gridmap jobs: running every {options['interval']} s")
        while not self._stop:
            close_old_connections()
            try:
                summary = jobs.run_once()
                if any(summary["time_limits"].values()):
                    self.stdout.write(f"gridmap jobs: {summary}")
                health.beat(ok=True)  # /healthz counts this worker as alive
            except Exception as exc:  # noqa: BLE001 (the loop outlives a database restart)
                log.exception("gridmap jobs: pass failed; retrying next interval")
                health.beat(ok=False, error=exc)
            finally:
                close_old_connections()
            slept = 0.0
            while not self._stop and slept < options["interval"]:
                time.sleep(0.5)
                slept += 0.5
        self.stdout.write("gridmap jobs: stopped")

    def _request_stop(self, signum, frame):
        self._stop = True
