"""Settings for the compliance portal: one file, the environment decides what differs.

PORTAL_PROFILE picks the defaults: "prod" (the default, safe: every secret required,
secure cookies, HTTPS), "dev" (what `make run` uses) and "test" (what `make test` uses).
Every variable is listed and explained in .env.example and the README.
"""

from pathlib import Path

import dj_database_url

from compliance_portal.env import env_bool, env_choice, env_int, env_list, env_secret, env_str

BASE_DIR = Path(__file__).resolve().parent.parent

# ---------------------------------------------------------------- profile
PROFILE = env_choice("PORTAL_PROFILE", ("prod", "dev", "test"), default="prod")
IS_PROD = PROFILE == "prod"

DEBUG = env_bool("DEBUG", default=PROFILE == "dev")
SECRET_KEY = env_secret(
    "SECRET_KEY",
    dev_default="dev-insecure-secret-key-only-for-make-run-and-make-test-0123456789",
    profile=PROFILE,
    min_length=50,
)
ALLOWED_HOSTS = env_list(
    "ALLOWED_HOSTS", default=[] if IS_PROD else ["127.0.0.1", "localhost", "testserver"]
)
if IS_PROD and not ALLOWED_HOSTS:
    from django.core.exceptions import ImproperlyConfigured

    raise ImproperlyConfigured("ALLOWED_HOSTS is required in the prod profile")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", default=[])

# ---------------------------------------------------------------- applications
INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_filters",
    "django_htmx",
    "template_partials",
    "apps.accounts",
    "apps.inventory",
    "apps.dashboard",
    "apps.ledger",
    "apps.ingest",
    "apps.evidence",
]

MIDDLEWARE = [
    "compliance_portal.logging.RequestIdMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
]

ROOT_URLCONF = "compliance_portal.urls"
WSGI_APPLICATION = "compliance_portal.wsgi.application"
ASGI_APPLICATION = "compliance_portal.asgi.application"

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
                "apps.dashboard.context_processors.navigation",
            ],
            "builtins": ["template_partials.templatetags.partials"],
        },
    },
]

# ---------------------------------------------------------------- database
DATABASES = {
    "default": dj_database_url.parse(
        env_str("DATABASE_URL")
        if IS_PROD
        else env_str("DATABASE_URL", default="postgres://portal@127.0.0.1:25432/portal"),
        conn_max_age=env_int("PORTAL_DB_CONN_MAX_AGE", default=60, minimum=0),
        conn_health_checks=True,
    )
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
if PROFILE == "test":
    # Only test connections may TRUNCATE the append-only ledger tables (pytest-django empties the
    # database between transactional tests); UPDATE and DELETE stay refused. See ledger migration 0002.
    DATABASES["default"]["OPTIONS"] = {"options": "-c portal.ledger_allow_truncate=on"}

# ---------------------------------------------------------------- redis, cache, celery
REDIS_URL = (
    env_str("REDIS_URL") if IS_PROD else env_str("REDIS_URL", default="redis://127.0.0.1:26379/0")
)
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": "portal",
    }
}

CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", default=REDIS_URL)
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_TASK_TIME_LIMIT = env_int("PORTAL_TASK_TIME_LIMIT", default=600, minimum=10)
CELERY_TASK_SOFT_TIME_LIMIT = CELERY_TASK_TIME_LIMIT - 5
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# A message not acknowledged within this time is redelivered; longer than any task.
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": CELERY_TASK_TIME_LIMIT * 2}
CELERY_BEAT_SCHEDULE = {
    # The `sequencer` process sequences within ~200 ms; this is the safety net if it is down.
    "ledger-integrate": {"task": "apps.ledger.tasks.ledger_integrate", "schedule": 5.0, "options": {"expires": 4}},
    "ledger-checkpoint": {
        "task": "apps.ledger.tasks.ledger_checkpoint",
        "schedule": env_int("PORTAL_LEDGER_CHECKPOINT_SECONDS", default=60, minimum=1),
        "options": {"expires": 55},
    },
    "sessions-clear": {
        "task": "apps.accounts.tasks.sessions_clear",
        "schedule": 3600.0,
        "options": {"expires": 3500},
    },
}

# ---------------------------------------------------------------- auth, sessions
AUTH_USER_MODEL = "accounts.User"
LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "dashboard:home"
LOGOUT_REDIRECT_URL = "accounts:login"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 12},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
SESSION_COOKIE_AGE = env_int("PORTAL_SESSION_AGE", default=8 * 3600, minimum=300)
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"

# ---------------------------------------------------------------- security (check --deploy)
HTTPS = env_bool("PORTAL_HTTPS", default=IS_PROD)
SESSION_COOKIE_SECURE = HTTPS
CSRF_COOKIE_SECURE = HTTPS
SECURE_SSL_REDIRECT = env_bool("PORTAL_SSL_REDIRECT", default=HTTPS)
SECURE_HSTS_SECONDS = env_int("PORTAL_HSTS_SECONDS", default=31536000 if HTTPS else 0, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = HTTPS
SECURE_HSTS_PRELOAD = HTTPS
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
# Behind a TLS-terminating proxy (docker-compose, Kubernetes ingress) that sets this header.
if env_bool("PORTAL_BEHIND_PROXY", default=False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
# /healthz is probed over plain HTTP by load balancers and compose health checks.
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]

# ---------------------------------------------------------------- i18n, static, media
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(env_str("PORTAL_STATIC_ROOT", default=str(BASE_DIR / "var" / "static")))
STATICFILES_DIRS = [BASE_DIR / "static"]
STATICFILES_FINDERS = [
    "django.contrib.staticfiles.finders.FileSystemFinder",
    "django.contrib.staticfiles.finders.AppDirectoriesFinder",
    "apps.dashboard.staticfinders.PlotlyFinder",
]
# Outside prod, whitenoise serves straight from the finders (no collectstatic needed).
WHITENOISE_USE_FINDERS = not IS_PROD
STORAGES = {
    "default": {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": env_str("PORTAL_MEDIA_ROOT", default=str(BASE_DIR / "var" / "media"))},
    },
    "staticfiles": {
        "BACKEND": (
            "whitenoise.storage.CompressedManifestStaticFilesStorage"
            if IS_PROD
            else "django.contrib.staticfiles.storage.StaticFilesStorage"
        )
    },
}

# ---------------------------------------------------------------- email
EMAIL_BACKEND = env_str(
    "EMAIL_BACKEND",
    default="django.core.mail.backends.smtp.EmailBackend"
    if IS_PROD
    else "django.core.mail.backends.console.EmailBackend",
)
EMAIL_HOST = env_str("EMAIL_HOST", default="localhost")
EMAIL_PORT = env_int("EMAIL_PORT", default=25, minimum=1)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER", default="")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD", default="")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", default=False)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", default="compliance-portal@localhost")

# ---------------------------------------------------------------- API
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"]
    + (["rest_framework.renderers.BrowsableAPIRenderer"] if DEBUG else []),
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "compliance_portal.api.exception_handler",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Compliance Portal API",
    "DESCRIPTION": "Evidence ingestion and read-only query API of the compliance evidence portal.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    # Swagger UI from the drf-spectacular-sidecar package: no CDN at run time.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

# ---------------------------------------------------------------- logging
LOG_LEVEL = env_choice("PORTAL_LOG_LEVEL", ("DEBUG", "INFO", "WARNING", "ERROR"), default="INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "compliance_portal.logging.RequestIdFilter"}},
    "formatters": {
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": "%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s",
            "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
        }
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "json", "filters": ["request_id"]}
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        "celery": {"level": LOG_LEVEL},
    },
}

# ---------------------------------------------------------------- portal
PORTAL_DEMO_DATA = PROFILE != "prod"
VAR_DIR = Path(env_str("PORTAL_VAR_DIR", default=str(BASE_DIR / "var")))

# ---------------------------------------------------------------- ledger
# Ed25519 signing key for checkpoints, in the signed-note private key format
# (PRIVATE+KEY+<name>+<keyid>+<base64>); make one with `manage.py ledger_keygen NAME`.
PORTAL_LEDGER_SIGNING_KEY = env_secret(
    "PORTAL_LEDGER_SIGNING_KEY",
    dev_default="PRIVATE+KEY+dev.compliance-portal.local+a873788d+AVZcEvCO3ZClc+GNeKCD1976MNenE59wTEYN+AW+Di5B",
    profile=PROFILE,
)
# Verifier keys of earlier signing keys, so checkpoints signed before a rotation still verify.
PORTAL_LEDGER_TRUSTED_KEYS = env_list("PORTAL_LEDGER_TRUSTED_KEYS", default=[])
PORTAL_LEDGER_ORIGIN = env_str("PORTAL_LEDGER_ORIGIN", default="compliance-portal.local/ledger")
# Every checkpoint is also appended here, outside the database (point it at other storage).
_witness = env_str("PORTAL_LEDGER_WITNESS_FILE", default=str(VAR_DIR / "ledger-checkpoints.jsonl"))
PORTAL_LEDGER_WITNESS_FILE = Path(_witness) if _witness != "off" else None

# ---------------------------------------------------------------- ingestion
# Fernet key(s) that encrypt webhook signing secrets at rest. A comma-separated list
# rotates: the first key encrypts, every key decrypts. Make one with
# `python -c "from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())"`.
PORTAL_SECRETS_KEY = env_secret(
    "PORTAL_SECRETS_KEY",
    dev_default="ZGV2LW9ubHktaW5zZWN1cmUtZmVybmV0LWtleS0zMmI=",
    profile=PROFILE,
)
# Largest request body an ingestion endpoint accepts (413 above it), checked before reading.
PORTAL_INGEST_MAX_BYTES = env_int("PORTAL_INGEST_MAX_BYTES", default=25 * 1024 * 1024, minimum=1024)
# Accepted requests per source and window ("<n>/<sec|min|hour>"); 429 above it.
PORTAL_INGEST_RATE = env_str("PORTAL_INGEST_RATE", default="6000/min")
# A receipt still queued this long is queued again (a lost Redis message delays, never drops).
PORTAL_RECEIPT_SWEEP_SECONDS = env_int("PORTAL_RECEIPT_SWEEP_SECONDS", default=300, minimum=10)
# fsync every new blob (and its directory) before the 202: a crash cannot lose an accepted body.
PORTAL_BLOB_FSYNC = env_bool("PORTAL_BLOB_FSYNC", default=True)
# Raw bodies, content-addressed by sha256: the local filesystem or any S3-compatible store.
PORTAL_EVIDENCE_STORAGE = env_choice("PORTAL_EVIDENCE_STORAGE", ("filesystem", "s3"), default="filesystem")
if PORTAL_EVIDENCE_STORAGE == "s3":
    # Credentials come the usual boto3 way: AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY or an instance role.
    STORAGES["evidence"] = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": env_str("AWS_STORAGE_BUCKET_NAME"),
            "endpoint_url": env_str("AWS_S3_ENDPOINT_URL", default="") or None,
            "region_name": env_str("AWS_S3_REGION_NAME", default="") or None,
            "location": env_str("PORTAL_EVIDENCE_S3_PREFIX", default="blobs"),
            "default_acl": None,
            "querystring_auth": True,
        },
    }
else:
    STORAGES["evidence"] = {
        "BACKEND": "apps.ingest.blobs.BlobFileSystemStorage",
        "OPTIONS": {"location": env_str("PORTAL_EVIDENCE_ROOT", default=str(VAR_DIR / "blobs"))},
    }
# Several models have a field called "kind": name their OpenAPI enums explicitly.
SPECTACULAR_SETTINGS["ENUM_NAME_OVERRIDES"] = {
    "ArtifactKindEnum": "apps.evidence.models.ArtifactKind",
    "UploadKindEnum": "apps.ingest.api.UPLOAD_KINDS",
}
CELERY_BEAT_SCHEDULE["receipt-sweep"] = {
    "task": "apps.ingest.tasks.receipt_sweep",
    "schedule": 60.0,
    "options": {"expires": 55},
}
