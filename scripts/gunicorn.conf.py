"""Gunicorn settings for scripts/serve.sh (all from the environment).

BIND (default 127.0.0.1:$PORT, PORT 8000), WEB_CONCURRENCY (worker processes, default
2 × cores + 1), GUNICORN_THREADS (threads per worker, default 1: sync workers),
GUNICORN_TIMEOUT (s, default 60), ACCESS_LOG (1/0, default 1), LOG_FORMAT (json|plain).
"""

import multiprocessing
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # for gridmap.logging.JsonFormatter in the master process
chdir = str(ROOT)

bind = os.environ.get("BIND") or f"127.0.0.1:{os.environ.get('PORT', '8000')}"
workers = int(os.environ.get("WEB_CONCURRENCY") or multiprocessing.cpu_count() * 2 + 1)
threads = int(os.environ.get("GUNICORN_THREADS") or 1)
worker_class = "gthread" if threads > 1 else "sync"
timeout = int(os.environ.get("GUNICORN_TIMEOUT") or 60)
graceful_timeout = 30
keepalive = 5
backlog = 2048
# Recycle workers now and then so that a slow leak never grows for weeks.
max_requests = 20000
max_requests_jitter = 2000
# Behind one reverse proxy on the same machine (TRUSTED_PROXY_COUNT in settings).
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
proc_name = "gridmap-web"
# Load Django once in the master: workers fork ready (fast boot, shared memory). Django
# opens no database connection at import, so no connection is shared across the fork.
preload_app = True
# Several instances may run on one machine: no shared control socket in $HOME.
control_socket_disable = True

accesslog = "-" if os.environ.get("ACCESS_LOG", "1") not in ("0", "false", "no") else None
errorlog = "-"
loglevel = os.environ.get("GUNICORN_LOG_LEVEL", "info")
# %(M)s: request time in milliseconds.
access_log_format = '%(h)s "%(r)s" %(s)s %(B)s %(M)sms "%(a)s"'

if os.environ.get("LOG_FORMAT", "json") == "json":
    logconfig_dict = {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": "gridmap.logging.JsonFormatter"}},
        "handlers": {
            "console": {
                "class": "logging.StreamHandler",
                "formatter": "json",
                "stream": "ext://sys.stdout",
            }
        },
        "root": {"handlers": ["console"], "level": "INFO"},
        "loggers": {
            "gunicorn.error": {"handlers": ["console"], "level": "INFO", "propagate": False},
            "gunicorn.access": {"handlers": ["console"], "level": "INFO", "propagate": False},
        },
    }


def when_ready(server):
    """Import the URL conf (and with it every view) in the master, before the fork."""
    try:
        from django.urls import get_resolver

        get_resolver().url_patterns  # noqa: B018 (the import is the point)
    except Exception:  # noqa: BLE001 (a broken view module shows on its first request)
        server.log.exception("could not import the URL conf before forking")
