"""Settings for gridmap, read from the environment with safe defaults for a local run.

Environment variables:
    GRIDMAP_ENV        "local" (default) or "production"; production refuses unsafe defaults
    DATABASE_URL       postgis://user:password@host:port/name of the app's role (not a
                       superuser, owns nothing); default: gridmap_app in the project-local
                       cluster that scripts/pg.sh starts under var/pg
    DATABASE_OWNER_URL the same for the role that owns the schema and runs migrations;
                       default: gridmap_owner locally, else DATABASE_URL (one role)
    GRIDMAP_DB_ROLE    "owner" to run this process as the owner (migrations, admin
                       commands); default "app"
    SECRET_KEY         required in production; locally a key is generated into var/
    DEBUG              "1"/"true" to enable; default off
    ALLOWED_HOSTS      comma-separated; default 127.0.0.1,localhost
    PII_ENCRYPTION_KEY / PII_HMAC_KEY  base64 (32 bytes each); required in production
    BASEMAP            none (default), local, tianditu or osm; see gridmap/maps.py
    TIANDITU_KEY       key for the Tianditu basemap
    API_DOCS_PUBLIC    "1" to serve /api/schema/ and /api/docs/ to anonymous visitors
                       (default on locally, off in production)
    BULK_READ_WINDOW_SECONDS / BULK_READ_MAX_REQUESTS / BULK_READ_MAX_ROWS  the per-user
                       budget of bulk reads of personal data (see below)
    GRIDMAP_TEST_DB    name of the throwaway test database (default test_gridmap)
    CASES_SEPARATION_OF_DUTIES  "0" to let one person resolve and verify (default on)
    CASES_MAX_VISITORS          most person-visits of one petition (default 100)
"""

import base64
import hashlib
import os
import secrets
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from gridmap import geolibs

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"


def env_bool(name, default=False):
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name, default):
    value = os.environ.get(name)
    if not value:
        return default
    return [item.strip() for item in value.split(",") if item.strip()]


GRIDMAP_ENV = os.environ.get("GRIDMAP_ENV", "local")
if GRIDMAP_ENV not in {"local", "production"}:
    raise ImproperlyConfigured("GRIDMAP_ENV must be 'local' or 'production'.")
PRODUCTION = GRIDMAP_ENV == "production"

DEBUG = env_bool("DEBUG", False)


def _local_secret(name, nbytes):
    """Return a secret kept in var/ for local runs, creating it on first use."""
    path = VAR_DIR / name
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        VAR_DIR.mkdir(parents=True, exist_ok=True)
        value = base64.urlsafe_b64encode(secrets.token_bytes(nbytes)).decode()
        path.write_text(value)
        path.chmod(0o600)
        return value


def _required_secret(name, nbytes):
    value = os.environ.get(name)
    if value:
        return value
    if PRODUCTION:
        raise ImproperlyConfigured(f"{name} must be set in production.")
    return _local_secret(name.lower(), nbytes)


SECRET_KEY = _required_secret("SECRET_KEY", 48)


def _key_bytes(name):
    raw = _required_secret(name, 32)
    try:
        key = base64.urlsafe_b64decode(raw.encode())
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name} must be base64.") from exc
    if len(key) != 32:
        # Accept any passphrase, but always hand the ciphers a 32-byte key.
        key = hashlib.sha256(raw.encode()).digest()
    return key


PII_ENCRYPTION_KEY = _key_bytes("PII_ENCRYPTION_KEY")
PII_HMAC_KEY = _key_bytes("PII_HMAC_KEY")

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

GDAL_LIBRARY_PATH, GEOS_LIBRARY_PATH = geolibs.configure()

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.gis",
    "django.contrib.humanize",
    "rest_framework",
    "rest_framework_gis",
    "drf_spectacular",
    "django_filters",
    "accounts",
    "layers",
    "cases",
    "gridmap",
    "interop",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # 413 for bodies larger than input can be, before anything reads them (gridmap/guards.py).
    "gridmap.guards.RequestSizeLimitMiddleware",
    # Map data versions bumped by a request's saves: written once, after its transaction.
    "gridmap.middleware.DataVersionMiddleware",
    "gridmap.middleware.SecurityHeadersMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "gridmap.middleware.SessionIdleRefreshMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "gridmap.middleware.AuditExportMiddleware",
    # Bulk reads of personal data: audited, and rate-limited per user (accounts/bulk_reads.py).
    "gridmap.middleware.BulkReadMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Ops (gridmap/outage.py, gridmap/db_router.py): 503 on a database outage; replica reads.
    "gridmap.outage.DatabaseOutageMiddleware",
    "gridmap.db_router.ReplicaReadsMiddleware",
]

ROOT_URLCONF = "gridmap.urls"
WSGI_APPLICATION = "gridmap.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        # cases/hotspots is a package of the cases app, not an app: name its templates.
        "DIRS": [BASE_DIR / "templates", BASE_DIR / "cases" / "hotspots" / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.debug",
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]


def local_database_url(role, name="gridmap"):
    """Return the URL of a role's connection to the project-local cluster (scripts/pg.sh)."""
    port_file = VAR_DIR / "pg" / "port"
    port = port_file.read_text().strip() if port_file.exists() else "55432"
    return f"postgis://{role}@127.0.0.1:{port}/{name}"


def _database(url=None, name="DATABASE_URL"):
    url = url or os.environ.get("DATABASE_URL") or local_database_url("gridmap_app")
    try:
        config = dj_database_url.parse(url, conn_max_age=60, conn_health_checks=True)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name} is not a valid database URL: {exc}") from exc
    if config["ENGINE"] != "django.contrib.gis.db.backends.postgis":
        raise ImproperlyConfigured(
            f"{name} must be a PostGIS URL (postgis://user:password@host:port/name)."
        )
    config.setdefault("OPTIONS", {})["connect_timeout"] = 5
    config["TEST"] = {"NAME": os.environ.get("GRIDMAP_TEST_DB", "test_gridmap")}
    return config


# Two roles (README, "Database roles"): the app serves requests as a role that is no
# superuser, owns nothing and may only INSERT and SELECT the audit log; the owner runs the
# migrations (manage.py prepare). Without DATABASE_OWNER_URL one role does both.
GRIDMAP_DB_ROLE = os.environ.get("GRIDMAP_DB_ROLE", "app")
if GRIDMAP_DB_ROLE not in {"app", "owner"}:
    raise ImproperlyConfigured("GRIDMAP_DB_ROLE must be 'app' or 'owner'.")
if os.environ.get("DATABASE_OWNER_URL"):
    _owner_url = os.environ["DATABASE_OWNER_URL"]
elif os.environ.get("DATABASE_URL"):
    _owner_url = os.environ["DATABASE_URL"]
else:
    _owner_url = local_database_url("gridmap_owner")
DATABASE_APP = _database()
DATABASE_OWNER = _database(_owner_url, "DATABASE_OWNER_URL")
DATABASES = {"default": dict(DATABASE_OWNER if GRIDMAP_DB_ROLE == "owner" else DATABASE_APP)}

# A streaming replica (scripts/replica.sh) for tile and analysis reads: gridmap/db_router.py.
if os.environ.get("DATABASE_REPLICA_URL"):
    DATABASES["replica"] = _database(os.environ["DATABASE_REPLICA_URL"], "DATABASE_REPLICA_URL")
    DATABASES["replica"]["TEST"] = {"MIRROR": "default"}
DATABASE_ROUTERS = ["gridmap.db_router.PrimaryReplicaRouter"]
# After a write, the client reads from the primary for this long (replication lag).
REPLICA_PIN_SECONDS = float(os.environ.get("REPLICA_PIN_SECONDS", 10))
REPLICA_MAX_LAG_SECONDS = float(os.environ.get("REPLICA_MAX_LAG_SECONDS", 5))
REPLICA_LAG_CHECK_SECONDS = float(os.environ.get("REPLICA_LAG_CHECK_SECONDS", 2))
REPLICA_PATH_PREFIXES = tuple(env_list("REPLICA_PATH_PREFIXES", ["/tiles/", "/analysis/"]))
# /healthz: job workers count as dead after this long without a successful pass; with
# HEALTHZ_REQUIRE_JOBS (scripts/serve.sh sets it) /healthz then answers 503.
JOBS_STALE_SECONDS = int(os.environ.get("JOBS_STALE_SECONDS", 180))
HEALTHZ_REQUIRE_JOBS = env_bool("HEALTHZ_REQUIRE_JOBS", PRODUCTION)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Every geometry is stored in EPSG:4326 (WGS84 lon/lat). Official Chinese data comes in
# CGCS2000 (EPSG:4490), which differs from WGS84 by centimetres: it is accepted as is.
# GCJ-02 and BD-09 are converted on input (layers/crs.py).
STORAGE_SRID = 4326
# For distances and areas in metres: CGCS2000 / 3-degree Gauss-Kruger CM 102E.
METRIC_SRID = 4543

AUTH_USER_MODEL = "accounts.User"
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

AUTHENTICATION_BACKENDS = ["accounts.backends.ThrottledModelBackend"]

# Bulk reads of personal data (accounts/bulk_reads.py): lists of persons, rental houses and
# cases through the APIs and the admin. Each is audited; a user who made more than
# BULK_READ_MAX_REQUESTS of them, or was answered more than BULK_READ_MAX_ROWS rows, within
# the last BULK_READ_WINDOW_SECONDS gets 429 with Retry-After until older reads leave the
# window. QGIS pages an OGC API layer 1,000 features at a time: a city-scale street's
# 10,000 rental houses take 10 requests, and a street centre can load five such layers,
# or page 50,000 persons at the REST API's largest page, in ten minutes. Whole-area copies
# are what /layers/export/ is for (one audited download).
BULK_READ_WINDOW_SECONDS = int(os.environ.get("BULK_READ_WINDOW_SECONDS", 10 * 60))
BULK_READ_MAX_REQUESTS = int(os.environ.get("BULK_READ_MAX_REQUESTS", 600))
BULK_READ_MAX_ROWS = int(os.environ.get("BULK_READ_MAX_ROWS", 50_000))

# Log-in throttle (accounts.services): this many failures of one user name from one
# address within the window lock that pair for LOGIN_LOCK_SECONDS.
LOGIN_FAILURE_LIMIT = int(os.environ.get("LOGIN_FAILURE_LIMIT", 5))
LOGIN_FAILURE_WINDOW_SECONDS = int(os.environ.get("LOGIN_FAILURE_WINDOW_SECONDS", 15 * 60))
LOGIN_LOCK_SECONDS = int(os.environ.get("LOGIN_LOCK_SECONDS", 15 * 60))
# How many reverse proxies in front of the app append to X-Forwarded-For (0: none, trust
# REMOTE_ADDR only). Used for the client address of the throttle and the audit log.
TRUSTED_PROXY_COUNT = int(os.environ.get("TRUSTED_PROXY_COUNT", 1 if PRODUCTION else 0))

# Separation of duties (cases.selectors.duty_conflict): whoever resolved a case, and his
# handling unit, may not verify, call back or close it; its registering clerk may not
# verify it. On unless a deployment too small to staff it turns it off ("0").
CASES_SEPARATION_OF_DUTIES = env_bool("CASES_SEPARATION_OF_DUTIES", True)
# The most person-visits (人次) one petition may record (cases.selectors.intake_refusal).
CASES_MAX_VISITORS = int(os.environ.get("CASES_MAX_VISITORS", 100))

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 10},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# Sessions end after 30 minutes without activity.
SESSION_COOKIE_AGE = int(os.environ.get("SESSION_IDLE_SECONDS", 30 * 60))
# Idle expiry without a write per request: gridmap.middleware.SessionIdleRefreshMiddleware
# pushes the expiry forward at most once every SESSION_REFRESH_SECONDS.
SESSION_SAVE_EVERY_REQUEST = False
SESSION_REFRESH_SECONDS = 60
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"

LANGUAGE_CODE = "zh-hans"
LANGUAGES = [("zh-hans", "简体中文"), ("en", "English")]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "Asia/Shanghai"
USE_I18N = True
USE_TZ = True
USE_THOUSAND_SEPARATOR = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
MEDIA_ROOT = Path(os.environ.get("MEDIA_ROOT", VAR_DIR / "media"))
MEDIA_URL = "media/"

# Uploads: imports of city-scale files are large, but not unbounded.
MAX_UPLOAD_BYTES = int(os.environ.get("MAX_UPLOAD_BYTES", 200 * 1024 * 1024))
FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
DATA_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.SessionAuthentication",
        # External systems (the 12345 hotline): scoped API tokens, see accounts/authentication.py
        "accounts.authentication.ApiTokenAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_PAGINATION_CLASS": "gridmap.api.Pagination",
    "PAGE_SIZE": 100,
    "EXCEPTION_HANDLER": "gridmap.api.exception_handler",
}
# /api/schema/ and /api/docs/ for anonymous visitors: on locally, off by default in
# production, where they then need a signed-in user or a valid API token (interop/schema.py).
API_DOCS_PUBLIC = env_bool("API_DOCS_PUBLIC", not PRODUCTION)
SPECTACULAR_SETTINGS = {
    "TITLE": "gridmap API",
    "DESCRIPTION": "网格化管理系统接口 / Grid-management API",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # Swagger UI from static/vendor (npm), never from a CDN.
    "SWAGGER_UI_DIST": f"/{STATIC_URL}vendor/swagger-ui",
    "SWAGGER_UI_FAVICON_HREF": f"/{STATIC_URL}vendor/swagger-ui/favicon-32x32.png",
    # One name per choice set that several fields share (level and resolved_level, …).
    "ENUM_NAME_OVERRIDES": {
        "LevelEnum": "cases.models.Level",
        "HandlerRoleEnum": "cases.models.HandlerRole",
        "PartyRoleEnum": "cases.models.Party.Role",
        "TimeUnitEnum": "cases.models.TimeUnit",
    },
}

# Caches. Vector tiles and map summaries (gridmap/tiles.py) go to a file cache that every
# process on the machine shares; their keys carry the database, the data version and the
# viewer's area, so nothing needs flushing by hand.
CACHES = {
    "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
    "tiles": {
        "BACKEND": "gridmap.tiles.TileFileCache",
        "LOCATION": os.environ.get("TILE_CACHE_DIR", str(VAR_DIR / "cache" / "tiles")),
        "TIMEOUT": 3600,
        "OPTIONS": {"MAX_ENTRIES": 50000, "CULL_FREQUENCY": 4},
    },
}

BASEMAP = os.environ.get("BASEMAP", "none")
TIANDITU_KEY = os.environ.get("TIANDITU_KEY", "")
LOCAL_TILES_URL = os.environ.get("LOCAL_TILES_URL", "/static/tiles/{z}/{x}/{y}.png")

# Security headers. The CSP allows no outside origin except a configured basemap.
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
# No page is ever shown in a frame (the CSP says frame-ancestors 'none' as well).
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = PRODUCTION
SECURE_SSL_REDIRECT = PRODUCTION and env_bool("SECURE_SSL_REDIRECT", True)
SECURE_HSTS_SECONDS = 31536000 if PRODUCTION else 0
SECURE_HSTS_INCLUDE_SUBDOMAINS = PRODUCTION
SECURE_HSTS_PRELOAD = PRODUCTION
if PRODUCTION:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# LOG_FORMAT=json: one JSON object per line (gridmap/logging.py), as scripts/serve.sh runs.
LOG_FORMAT = os.environ.get("LOG_FORMAT", "plain")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
        "json": {"()": "gridmap.logging.JsonFormatter"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "json" if LOG_FORMAT == "json" else "plain",
        }
    },
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}
