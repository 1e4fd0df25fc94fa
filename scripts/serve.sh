#!/usr/bin/env bash
# Production serving, one command: gunicorn web workers + periodic-job workers, static files
# from WhiteNoise (collected and pre-compressed), JSON logs on stdout, /healthz.
#
#   bash scripts/serve.sh            (or: make serve)
#
# Environment (besides the app's own, see gridmap/settings.py):
#   PORT / BIND          where gunicorn listens (default 127.0.0.1:8000; put nginx in front)
#   WEB_CONCURRENCY      gunicorn worker processes (default 2 × cores + 1)
#   GUNICORN_THREADS     threads per worker (default 1)
#   JOB_WORKERS          periodic-job worker processes (default 2; they share the work
#                        safely: SELECT … FOR UPDATE SKIP LOCKED + unique reminder rows)
#   JOB_INTERVAL         seconds between job passes (default 60)
#   LOG_FORMAT           json (default) or plain
#   SKIP_PREPARE=1       skip dbcheck + collectstatic + migrate (they are idempotent)
#   DATABASE_OWNER_URL   the schema owner's role, for the migrations only: unset before
#                        the workers start (README, "Database roles")
# Stop with Ctrl-C or SIGTERM: gunicorn finishes its requests, the job workers their pass.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
export DJANGO_SETTINGS_MODULE=gridmap.settings
export LOG_FORMAT=${LOG_FORMAT:-json}
export HEALTHZ_REQUIRE_JOBS=${HEALTHZ_REQUIRE_JOBS:-1}
export PYTHONUNBUFFERED=1
JOB_WORKERS=${JOB_WORKERS:-2}
JOB_INTERVAL=${JOB_INTERVAL:-60}

[ -x "$PY" ] || { echo "serve.sh: .venv missing: run 'make setup' first" >&2; exit 1; }
[[ "$JOB_WORKERS" =~ ^[0-9]+$ ]] || { echo "serve.sh: JOB_WORKERS must be a number" >&2; exit 1; }

if [ "${SKIP_PREPARE:-0}" != 1 ]; then
  # dbcheck (one clear line if the database is unreachable), collectstatic with WhiteNoise's
  # compressed storage (gzip + brotli files next to the originals), migrate.
  "$PY" manage.py prepare --migrate
fi
# Migrations ran as the schema owner; the web and job workers never need its credentials.
unset DATABASE_OWNER_URL

STOPPING=0
PIDS=()

# Run a command again whenever it dies, until serve.sh stops.
supervise() {
  local child=""
  trap '[ -n "$child" ] && kill -TERM "$child" 2>/dev/null; wait "$child" 2>/dev/null; exit 0' TERM INT
  while :; do
    "$@" &
    child=$!
    wait "$child" || true
    child=""
    echo "{\"level\":\"WARNING\",\"logger\":\"serve.sh\",\"msg\":\"restarting: $*\"}" >&2
    sleep 5
  done
}

stop_all() {
  [ "$STOPPING" = 1 ] && return
  STOPPING=1
  for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
}
trap stop_all TERM INT EXIT

for i in $(seq 1 "$JOB_WORKERS"); do
  # Background work: at a lower CPU priority than the web workers, so that a pass over
  # thousands of running cases does not hold up intakes on a busy machine.
  supervise nice -n 10 "$PY" manage.py run_jobs --interval "$JOB_INTERVAL" &
  PIDS+=($!)
done

.venv/bin/gunicorn -c scripts/gunicorn.conf.py gridmap.wsgi:application &
GUNICORN=$!
PIDS+=("$GUNICORN")
echo "{\"level\":\"INFO\",\"logger\":\"serve.sh\",\"msg\":\"serving\",\"gunicorn_pid\":$GUNICORN,\"job_workers\":$JOB_WORKERS}" >&2
# Gunicorn ending (a crash or a signal) ends the whole service: the supervisor restarts it.
wait "$GUNICORN" || true
