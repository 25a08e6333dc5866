"""Settings for the compliance portal: one file, the environment decides what differs.

PORTAL_PROFILE picks the defaults: "prod" (the default, safe: every secret required,
secure cookies, HTTPS), "dev" (what `make run` uses) and "test" (what `make test` uses).
Every variable is listed and explained in .env.example and the README.

Grouped by concern, each setting defined once: profile, Django core, security, database,
cache, storage, logging, the portal's features, and Celery last (its beat schedule reads the
features' intervals).
"""

import logging
from pathlib import Path

import dj_database_url
from celery.schedules import crontab
from django.core.exceptions import ImproperlyConfigured
from whitenoise.compress import Compressor

from compliance_portal.env import env_bool, env_choice, env_int, env_list, env_secret, env_str
from compliance_portal.logging import logging_config

BASE_DIR = Path(__file__).resolve().parent.parent

# ================================================================ profile
PROFILE = env_choice("PORTAL_PROFILE", ("prod", "dev", "test"), default="prod")
IS_PROD = PROFILE == "prod"
# Local state (blobs, packs, mail, heartbeats, the witness file) lives under one directory.
VAR_DIR = Path(env_str("PORTAL_VAR_DIR", default=str(BASE_DIR / "var")))
# Demo data carries public passwords: the demo commands refuse to run without this.
PORTAL_DEMO_DATA = PROFILE != "prod"

# Off unless asked, in every profile: the `make run` demo shows the portal's own 403/404/500 pages
# (templates/403.html, 404.html, 500.html), not Django's debug page. DEBUG=true turns the debug pages on.
DEBUG = env_bool("DEBUG", default=False)

# ================================================================ security: secrets and hosts
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
    raise ImproperlyConfigured("ALLOWED_HOSTS is required in the prod profile")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", default=[])
# The portal's styled 403 page (JSON under /api/), not Django's bare one.
CSRF_FAILURE_VIEW = "compliance_portal.api.csrf_failure"

# Optional parts that add an app, a backend or a middleware below; their own settings are in their sections.
# Single sign-on through OpenID Connect (mozilla-django-oidc), off unless configured; see docs/operations.md.
PORTAL_OIDC_ENABLED = env_bool("PORTAL_OIDC_ENABLED", default=False)
# Read replicas (docs/deploy/README.md): only when PORTAL_DATABASE_replica_urls is set.
_replica_urls = env_list("PORTAL_DATABASE_REPLICA_URLS", default=[])
PORTAL_DATABASE_REPLICAS = [f"replica{i}" for i in range(1, len(_replica_urls) + 1)]
# Behind a TLS-terminating proxy (docker-compose, Kubernetes ingress) that sets X-Forwarded-Proto and -For.
_behind_proxy = env_bool("PORTAL_BEHIND_PROXY", default=False)

# ================================================================ Django core
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
    "axes",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "apps.accounts",
    "apps.inventory",
    "apps.dashboard",
    "apps.ledger",
    "apps.ingest",
    "apps.connectors",
    "apps.evidence",
    "apps.engagements",
    "apps.search",
    "apps.policy",
    "apps.approvals",
    "apps.exceptions",
    "apps.packs",
    "apps.retention",
    "apps.releases",
    "apps.attestations",
    # Demo data (`seed_demo`) and the scale generator (`generate_scale`) are tooling, not product:
    # the prod profile never installs them (tests/test_devtools_boundary.py).
    *([] if IS_PROD else ["devtools"]),
    *(["mozilla_django_oidc"] if PORTAL_OIDC_ENABLED else []),
]

MIDDLEWARE = [
    "compliance_portal.logging.RequestIdMiddleware",
    # Pins a browser that just wrote to the primary, before anything reads (compliance_portal/db_router.py).
    *(["compliance_portal.db_router.ReplicaRoutingMiddleware"] if PORTAL_DATABASE_REPLICAS else []),
    # Near the top: database-unreachable errors from any layer below become 503 + Retry-After.
    "compliance_portal.db_unavailable.DatabaseUnavailableMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # Webhook deliveries skip the browser middleware below (apps/ingest/middleware.py).
    "apps.ingest.middleware.IngestFastPathMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    # Django's, without the APPEND_SLASH redirect of API writes (compliance_portal/api.py).
    "compliance_portal.api.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "apps.accounts.middleware.SessionIdleTimeoutMiddleware",
    "apps.accounts.middleware.MfaRequiredMiddleware",
    "csp.middleware.CSPMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "apps.engagements.middleware.AuditorAccessLogMiddleware",
    # Last: axes turns a locked-out login attempt into its lockout response.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "compliance_portal.urls"
WSGI_APPLICATION = "compliance_portal.wsgi.application"
ASGI_APPLICATION = "compliance_portal.asgi.application"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

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
                "apps.accounts.context_processors.notifications",
            ],
            "builtins": ["template_partials.templatetags.partials"],
        },
    },
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# ---- API (DRF, drf-spectacular)
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    # DRF's parsers, with a JSON parser that answers 400 to deeply nested JSON (compliance_portal/api.py).
    "DEFAULT_PARSER_CLASSES": [
        "compliance_portal.api.JSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
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
    # Several models have a field called "kind" or "status", and the exception tier has the values of a
    # system's risk tier: name their OpenAPI enums explicitly, or the schema generator guesses and warns.
    "ENUM_NAME_OVERRIDES": {
        "ArtifactKindEnum": "apps.evidence.models.ArtifactKind",
        "UploadKindEnum": "apps.ingest.api.UPLOAD_KINDS",
        "RiskTierEnum": "apps.inventory.models.RiskTier",
        "ExceptionStatusEnum": "apps.exceptions.models.ExceptionRequest.Status",
        "ApprovalDecisionEnum": "apps.exceptions.models.Approval.Decision",
        "PackStatusEnum": "apps.packs.models.PackStatus",
        "PackStageEnum": "apps.packs.models.PackStage",
        "PackScopeKindEnum": "apps.packs.models.ScopeKind",
        "SignoffStatusEnum": "apps.releases.models.ReleaseSignoff.Status",
    },
    # The 503 that DatabaseUnavailableMiddleware answers while PostgreSQL is unreachable is part of every
    # API operation's schema.
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "compliance_portal.db_unavailable.schema_add_unavailable",
    ],
}

# ---- e-mail
# Outside prod, e-mails are written to files under var/mail/ (one per message), not to the console:
# printed, they were most of `make run`'s output.
EMAIL_BACKEND = env_str(
    "EMAIL_BACKEND",
    default="django.core.mail.backends.smtp.EmailBackend"
    if IS_PROD
    else "django.core.mail.backends.filebased.EmailBackend",
)
EMAIL_FILE_PATH = VAR_DIR / "mail"
EMAIL_HOST = env_str("EMAIL_HOST", default="localhost")
EMAIL_PORT = env_int("EMAIL_PORT", default=25, minimum=1)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER", default="")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD", default="")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", default=False)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", default="compliance-portal@localhost")
# Links in e-mails start with this (e.g. https://portal.example.org).
PORTAL_BASE_URL = env_str("PORTAL_BASE_URL", default="" if IS_PROD else "http://127.0.0.1:8000")

# ================================================================ security: sign-in, sessions, HTTPS, CSP
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
if PROFILE == "test":
    # A real hash costs ~0.6 s here and most tests log a user in; tests/accounts checks that the
    # other profiles keep Django's slow default.
    PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# Login throttling and lockout (django-axes) first, then SSO when it is on, then passwords.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    *(["apps.accounts.oidc.PortalOIDCBackend"] if PORTAL_OIDC_ENABLED else []),
    "django.contrib.auth.backends.ModelBackend",
]

SESSION_COOKIE_AGE = env_int("PORTAL_SESSION_AGE", default=8 * 3600, minimum=300)
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
# A session unused this long ends (the absolute limit is PORTAL_SESSION_AGE).
PORTAL_SESSION_IDLE_SECONDS = env_int("PORTAL_SESSION_IDLE_SECONDS", default=30 * 60, minimum=60)

# What `manage.py check --deploy` looks at.
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
if _behind_proxy:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
# /healthz is probed over plain HTTP by load balancers and compose health checks.
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
CSRF_COOKIE_HTTPONLY = True

# This many failures for a username from one address locks that pair out for PORTAL_LOCKOUT_MINUTES
# (a locked-out login gets 429).
AXES_FAILURE_LIMIT = env_int("PORTAL_LOGIN_FAILURE_LIMIT", default=5, minimum=1)
AXES_COOLOFF_TIME = env_int("PORTAL_LOCKOUT_MINUTES", default=15, minimum=1) / 60  # hours
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "accounts/locked_out.html"
AXES_IPWARE_PROXY_COUNT = 1 if _behind_proxy else 0
AXES_VERBOSE = False

# TOTP second factor (django-otp). Users of these roles must enrol and verify; the prod
# profile requires it of admins, risk owners and compliance officers (who map controls, open
# engagements and request packs). Anyone may enrol; whoever has a device verifies.
PORTAL_MFA_REQUIRED_ROLES = env_list(
    "PORTAL_MFA_REQUIRED_ROLES", default=["admin", "risk_owner", "compliance_officer"] if IS_PROD else []
)
OTP_TOTP_ISSUER = env_str("PORTAL_OTP_ISSUER", default="Compliance Portal")

# Content Security Policy (django-csp): nothing inline runs; scripts and styles come from us.
# Plotly needs no 'unsafe-eval' for the chart types we draw (checked in Chromium by a test).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        # Plus the two <style> elements Plotly.js adds when it draws (an empty one it fills through
        # the CSSOM, and its fixed rules): pinned by hash, so no other inline style runs. A Plotly
        # upgrade that changes them shows up as a CSP violation in tests/browser.
        "style-src": [
            "'self'",
            "'sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU='",
            "'sha256-ji27qzEtxXZW+7dun6UwjHXJ18e6WAin1VvNtkzIE/o='",
        ],
        # style= attributes that scripts (Plotly, Swagger UI) set; no <style> element runs inline.
        "style-src-attr": ["'unsafe-inline'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'", "data:"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        "frame-ancestors": ["'none'"],
        "form-action": ["'self'"],
    }
}

if PORTAL_OIDC_ENABLED:
    OIDC_RP_CLIENT_ID = env_str("OIDC_RP_CLIENT_ID")
    OIDC_RP_CLIENT_SECRET = env_secret(
        "OIDC_RP_CLIENT_SECRET", dev_default=None, profile=PROFILE, check_strength=False  # the IdP's format
    )
    OIDC_RP_SIGN_ALGO = env_str("OIDC_RP_SIGN_ALGO", default="RS256")
    OIDC_OP_AUTHORIZATION_ENDPOINT = env_str("OIDC_OP_AUTHORIZATION_ENDPOINT")
    OIDC_OP_TOKEN_ENDPOINT = env_str("OIDC_OP_TOKEN_ENDPOINT")
    OIDC_OP_USER_ENDPOINT = env_str("OIDC_OP_USER_ENDPOINT")
    OIDC_OP_JWKS_ENDPOINT = env_str("OIDC_OP_JWKS_ENDPOINT")
    OIDC_RP_SCOPES = "openid email profile"
    # People are created and given roles in the portal; SSO only signs them in (matched by e-mail).
    OIDC_CREATE_USER = False
    OIDC_RENEW_ID_TOKEN_EXPIRY_SECONDS = 15 * 60

# ================================================================ database
_db_conn_max_age = env_int("PORTAL_DB_CONN_MAX_AGE", default=60, minimum=0)
# Server-side prepared statements for the few statements the code asks for by name
# (apps.ledger.services.prepared_cursor: the webhook accept's SELECT and INSERT, every ledger
# entry's INSERT), parsed and planned once per connection. Django leaves psycopg's
# prepare_threshold at None, which turns off `prepare=True` as well; a threshold no statement
# reaches prepares those and nothing else (Django's own queries keep their per-call plans). The
# price: psycopg now counts every statement it runs, 2.5-9 us of client CPU each (20,000 executes,
# three alternated runs), against ~0.4 ms of backend CPU saved per webhook accept.
# Off for a transaction-mode pooler that cannot carry prepared statements (docs/deploy/README.md).
PORTAL_DB_PREPARED_STATEMENTS = env_bool("PORTAL_DB_PREPARED_STATEMENTS", default=True)
_db_options = {"prepare_threshold": 2**31 - 1} if PORTAL_DB_PREPARED_STATEMENTS else {}
DATABASES = {
    "default": {
        **dj_database_url.parse(
            env_str("DATABASE_URL")
            if IS_PROD
            else env_str("DATABASE_URL", default="postgres://portal@127.0.0.1:25432/portal"),
            conn_max_age=_db_conn_max_age,
            conn_health_checks=True,
        ),
        "OPTIONS": {
            **_db_options,
            # Only test connections may TRUNCATE the append-only ledger tables (pytest-django empties the
            # database between transactional tests); UPDATE and DELETE stay refused. See ledger migration 0002.
            **({"options": "-c portal.ledger_allow_truncate=on"} if PROFILE == "test" else {}),
        },
    },
    # Replicas get the read-heavy pages' reads (compliance_portal/db_router.py); writes, transactions,
    # access decisions and the ledger stay on "default", the primary. Tests mirror them to the same database.
    **{
        alias: {
            **dj_database_url.parse(url, conn_max_age=_db_conn_max_age, conn_health_checks=True),
            "TEST": {"MIRROR": "default"},
        }
        for alias, url in zip(PORTAL_DATABASE_REPLICAS, _replica_urls, strict=True)
    },
}
DATABASE_ROUTERS = ["compliance_portal.db_router.ReplicaRouter"] if PORTAL_DATABASE_REPLICAS else []
# Seconds a browser reads only the primary after it POSTed (read-your-writes across the redirect).
PORTAL_DATABASE_REPLICA_PIN_SECONDS = env_int("PORTAL_DATABASE_REPLICA_PIN_SECONDS", default=10, minimum=1)

# ================================================================ cache (Redis; Celery's broker too)
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

# ================================================================ storage: static files, media, evidence blobs
STATIC_URL = "static/"
STATIC_ROOT = Path(env_str("PORTAL_STATIC_ROOT", default=str(BASE_DIR / "var" / "static")))
STATICFILES_DIRS = [BASE_DIR / "static"]
STATICFILES_FINDERS = [
    "django.contrib.staticfiles.finders.FileSystemFinder",
    "django.contrib.staticfiles.finders.AppDirectoriesFinder",
    "apps.dashboard.staticfinders.PlotlyFinder",
]
# Static files are served compressed (brotli, gzip) in every profile that collects them: prod and
# dev (`make run` runs collectstatic) serve STATIC_ROOT; only the test profile, which never collects,
# serves straight from the finders.
WHITENOISE_USE_FINDERS = PROFILE == "test"
# ... and looks each file up when it is asked for: a Django test client builds its middleware for each test, and
# listing every static file of every finder there took 40-90 ms per client (minutes over the suite).
WHITENOISE_AUTOREFRESH = PROFILE == "test"
# Source maps (the API docs' bundles ship 7 MB of them) are fetched only by a browser's developer tools:
# compressing them took half of collectstatic's time, so they are served as they are.
WHITENOISE_SKIP_COMPRESS_EXTENSIONS = (*Compressor.SKIP_COMPRESS_EXTENSIONS, "map")
# Prod keeps only the hashed names: every page names its files through the manifest ({% static %}; nothing
# names a file under /static/ by hand), so the unhashed copies were never served, yet doubled the image's
# static files and collectstatic's compression time.
WHITENOISE_KEEP_ONLY_HASHED_FILES = IS_PROD

# Raw bodies, content-addressed by sha256: the local filesystem or any S3-compatible store.
PORTAL_EVIDENCE_STORAGE = env_choice("PORTAL_EVIDENCE_STORAGE", ("filesystem", "s3"), default="filesystem")
if PORTAL_EVIDENCE_STORAGE == "s3":
    # Credentials come the usual boto3 way: AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY or an instance role.
    # apps/ingest/storage_s3.py: every blob under object lock (mode, and retain-until = now + lock days;
    # empty lock days = the retention policy's shortest period); a bucket without object lock is refused.
    _evidence_storage = {
        "BACKEND": "apps.ingest.storage_s3.EvidenceS3Storage",
        "OPTIONS": {
            "object_lock_mode": env_choice("PORTAL_EVIDENCE_S3_LOCK_MODE", ("COMPLIANCE", "GOVERNANCE"),
                                           default="COMPLIANCE"),
            "object_lock_days": env_int("PORTAL_EVIDENCE_S3_LOCK_DAYS", default=None, minimum=1),
            "bucket_name": env_str("AWS_STORAGE_BUCKET_NAME"),
            "endpoint_url": env_str("AWS_S3_ENDPOINT_URL", default="") or None,
            "region_name": env_str("AWS_S3_REGION_NAME", default="") or None,
            "location": env_str("PORTAL_EVIDENCE_S3_PREFIX", default="blobs"),
            "default_acl": None,
            "querystring_auth": True,
        },
    }
else:
    _evidence_storage = {
        "BACKEND": "apps.ingest.blobs.BlobFileSystemStorage",
        "OPTIONS": {"location": env_str("PORTAL_EVIDENCE_ROOT", default=str(VAR_DIR / "blobs"))},
    }
STORAGES = {
    "default": {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": env_str("PORTAL_MEDIA_ROOT", default=str(BASE_DIR / "var" / "media"))},
    },
    "staticfiles": {
        # Prod adds hashed names (cache forever); elsewhere the names stay, so a template needs no
        # manifest entry before the next collectstatic. Both write .br and .gz copies.
        "BACKEND": (
            "whitenoise.storage.CompressedManifestStaticFilesStorage"
            if IS_PROD
            else "whitenoise.storage.CompressedStaticFilesStorage"
        )
    },
    "evidence": _evidence_storage,
}
# fsync every new blob (and its directory) before the 202: a crash cannot lose an accepted body.
# The test profile skips it for speed; tests/ingest/test_accept_path.py turns it on.
PORTAL_BLOB_FSYNC = env_bool("PORTAL_BLOB_FSYNC", default=PROFILE != "test")
# A raw body up to this size is committed with its receipt, in the accept's one statement, and moved
# into the blob store by its parse (or the receipt sweep): durable by the commit, with no file write
# and no fsync on the way to the 202 (apps.ingest.models.PendingBody). 0 writes every body first.
PORTAL_INLINE_BODY_MAX_BYTES = env_int("PORTAL_INLINE_BODY_MAX_BYTES", default=64 * 1024, minimum=0)
# Built evidence packs (ZIP) and their build directories; web and heavy workers must share it.
PORTAL_PACK_ROOT = Path(env_str("PORTAL_PACK_ROOT", default=str(VAR_DIR / "packs")))

# ================================================================ logging
# One format for every process (Django, Celery worker and beat, gunicorn): compliance_portal/logging.py.
# JSON lines with request and task ids, except in the dev profile, where `make run`'s console gets short
# text lines and stays quiet: warnings, errors, one line per page or API request, one per slow or failed task.
LOG_FORMAT = env_choice("PORTAL_LOG_FORMAT", ("json", "text"), default="text" if PROFILE == "dev" else "json")
LOG_LEVEL = env_choice("PORTAL_LOG_LEVEL", ("DEBUG", "INFO", "WARNING", "ERROR"), default="INFO")
LOG_QUIET = env_bool("PORTAL_LOG_QUIET", default=PROFILE == "dev")
LOGGING = logging_config(fmt=LOG_FORMAT, level=LOG_LEVEL, quiet=LOG_QUIET)
# Python warnings (a library's UserWarning) become log records in that format, not raw stderr text.
logging.captureWarnings(True)
# Requests under these paths get no access line (gunicorn): static files, in the quiet console.
PORTAL_ACCESS_LOG_SKIP = ("/static/", "/favicon.ico") if LOG_QUIET else ()
# A task that runs longer than this many seconds gets a line on portal.tasks (also in the quiet console).
PORTAL_SLOW_TASK_SECONDS = env_int("PORTAL_SLOW_TASK_SECONDS", default=1, minimum=0)

# ================================================================ portal features
# ---- ledger
# Ed25519 signing key for checkpoints, in the signed-note private key format
# (PRIVATE+KEY+<name>+<keyid>+<base64>); make one with `manage.py ledger_keygen NAME`.
PORTAL_LEDGER_SIGNING_KEY = env_secret(
    "PORTAL_LEDGER_SIGNING_KEY",
    dev_default="PRIVATE+KEY+compliance-portal.local/ledger+35dfc1dd+Absk6AauddQ9wFcctCtsMnDHfC7amvzB7jBYntFwdsMl",
    profile=PROFILE,
)
# Verifier keys of earlier signing keys, so checkpoints signed before a rotation still verify. Development
# trusts the earlier development key (named dev.compliance-portal.local, not after the origin) by default.
PORTAL_LEDGER_TRUSTED_KEYS = env_list(
    "PORTAL_LEDGER_TRUSTED_KEYS",
    default=[] if IS_PROD else ["dev.compliance-portal.local+a873788d+Ae0Co/6ssLnumQ1EzqkbGdvu2MBuBHQaB3RqKNGyBsZG"],
)
# The log's origin, the first line of every checkpoint. The signing key's name must be the origin (as the
# C2SP signed-note spec recommends): by default the origin IS the key's name; a different one stops start-up.
_ledger_key_name = PORTAL_LEDGER_SIGNING_KEY.split("+", 4)[2] if PORTAL_LEDGER_SIGNING_KEY.count("+") >= 4 else ""
PORTAL_LEDGER_ORIGIN = env_str("PORTAL_LEDGER_ORIGIN", default=_ledger_key_name or "compliance-portal.local/ledger")
if _ledger_key_name and _ledger_key_name != PORTAL_LEDGER_ORIGIN:
    raise ImproperlyConfigured(
        f"PORTAL_LEDGER_ORIGIN={PORTAL_LEDGER_ORIGIN!r} but the signing key is named {_ledger_key_name!r}: the key "
        f"name must be the log's origin (make one with `manage.py ledger_keygen {PORTAL_LEDGER_ORIGIN}`)"
    )
# Seconds between signed checkpoints (beat signs one when the log grew).
PORTAL_LEDGER_CHECKPOINT_SECONDS = env_int("PORTAL_LEDGER_CHECKPOINT_SECONDS", default=60, minimum=1)
# /healthz answers 503 when the oldest entry waiting for the sequencer is older than this (the
# sequencer integrates within ~200 ms; beat's ledger-integrate every 5 s is the safety net)...
PORTAL_HEALTH_LEDGER_LAG_SECONDS = env_int("PORTAL_HEALTH_LEDGER_LAG_SECONDS", default=60, minimum=1)
# ...and when sequenced entries have waited longer than this for a checkpoint.
PORTAL_HEALTH_CHECKPOINT_LAG_SECONDS = env_int(
    "PORTAL_HEALTH_CHECKPOINT_LAG_SECONDS", default=max(300, 5 * PORTAL_LEDGER_CHECKPOINT_SECONDS), minimum=1
)
# Every checkpoint is also appended here, outside the database (point it at other storage).
_witness = env_str("PORTAL_LEDGER_WITNESS_FILE", default=str(VAR_DIR / "ledger-checkpoints.jsonl"))
PORTAL_LEDGER_WITNESS_FILE = Path(_witness) if _witness != "off" else None
# Checkpoints published outside the host, so that whoever controls the database cannot rewrite history
# unnoticed; each optional: one file per checkpoint in a directory (mount storage the database's
# administrators cannot write), and a POST of the signed note (text/plain) to a witness's HTTP endpoint.
# With S3 evidence storage, each checkpoint is also written under object lock to the evidence bucket
# (checkpoints/<origin>/<size>).
_witness_dir = env_str("PORTAL_LEDGER_WITNESS_DIR", default="")
PORTAL_LEDGER_WITNESS_DIR = Path(_witness_dir) if _witness_dir else None
PORTAL_LEDGER_WITNESS_URL = env_str("PORTAL_LEDGER_WITNESS_URL", default="")
if PORTAL_LEDGER_WITNESS_URL and not PORTAL_LEDGER_WITNESS_URL.startswith(("https://", "http://")):
    raise ImproperlyConfigured(f"PORTAL_LEDGER_WITNESS_URL={PORTAL_LEDGER_WITNESS_URL!r}: use an http(s) URL")

# ---- ingestion
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
# Sigstore trust root (Fulcio CAs, Rekor keys, CT logs), so provenance bundles verify offline: the
# public-good instance's trusted_root.json shipped in apps/ingest/sigstore/, or a file of your own (a
# private Sigstore, or a newer root fetched with `sigstore` / TUF out of band).
# A relative path is taken from the checkout (BASE_DIR), whatever the working directory.
PORTAL_SIGSTORE_TRUSTED_ROOT = str(BASE_DIR / env_str(
    "PORTAL_SIGSTORE_TRUSTED_ROOT", default="apps/ingest/sigstore/trusted_root.json"
))

# ---- connectors
# Seconds a connector waits for one answer from an MLflow server or a registry.
PORTAL_CONNECTOR_TIMEOUT = env_int("PORTAL_CONNECTOR_TIMEOUT", default=20, minimum=1)
# Longest wait between syncs of a failing source (the backoff doubles from one minute up to this).
PORTAL_CONNECTOR_BACKOFF_MAX = env_int("PORTAL_CONNECTOR_BACKOFF_MAX", default=6 * 3600, minimum=60)
# Registry notifications: at most one sync per repository per this many seconds, run at its end (debounce).
PORTAL_OCI_SYNC_DEBOUNCE = env_int("PORTAL_OCI_SYNC_DEBOUNCE", default=30, minimum=1)
# Seconds an MLflow webhook's X-MLflow-Timestamp may be off from our clock (older deliveries are refused).
PORTAL_MLFLOW_WEBHOOK_TOLERANCE = env_int("PORTAL_MLFLOW_WEBHOOK_TOLERANCE", default=300, minimum=10)
# The Graphviz `dot` program that lays out lineage graphs (Debian package graphviz).
PORTAL_GRAPHVIZ_DOT = env_str("PORTAL_GRAPHVIZ_DOT", default="dot")

# ---- policy
# Evidence of a kind counts as fresh on the dashboard when its latest item is at most this many days old.
PORTAL_POLICY_FRESH_DAYS = env_int("PORTAL_POLICY_FRESH_DAYS", default=30, minimum=1)
# Seconds between refreshes of today's coverage rollups (the dashboard reads only rollups).
PORTAL_POLICY_SNAPSHOT_SECONDS = env_int("PORTAL_POLICY_SNAPSHOT_SECONDS", default=600, minimum=30)
# How long the work that follows a parse (policy evaluation, the search index) waits, from the first
# receipt that asks for it, so the receipts parsed meanwhile share one run (apps/policy/services/pending.py,
# apps/search/content.py). Under a backlog they share it anyway; this is the saving at moderate rates,
# paid for in that much gate latency. The test profile does not wait (0): its workers run one test's
# parses at a time, and each teardown would wait out the delay.
PORTAL_AFTER_PARSE_DELAY_MS = env_int(
    "PORTAL_AFTER_PARSE_DELAY_MS", default=0 if PROFILE == "test" else 1000, minimum=0
)
# Time budget of one rule over one evaluation batch (up to 200 subjects); past it the rule's results
# in the batch fail with "evaluation exceeded its time budget of N ms" (apps/policy/engine/bounded.py).
PORTAL_POLICY_RULE_BUDGET_MS = env_int("PORTAL_POLICY_RULE_BUDGET_MS", default=5000, minimum=10)
# UTC hour of the nightly full evaluation of every rule over every subject.
PORTAL_POLICY_NIGHTLY_HOUR = env_int("PORTAL_POLICY_NIGHTLY_HOUR", default=2, minimum=0)

# ---- exceptions
# Tier policy (risk matrix, maximum days and approval chain per tier) as a TOML file; empty
# means the shipped apps/exceptions/tier_policy.toml. Read on first use; restart to change.
PORTAL_EXCEPTION_POLICY_FILE = env_str("PORTAL_EXCEPTION_POLICY_FILE", default="")
# A sign-off (approve or reject) needs a password (and TOTP code, if enrolled) re-entered this recently.
PORTAL_EXCEPTION_REAUTH_MINUTES = env_int("PORTAL_EXCEPTION_REAUTH_MINUTES", default=5, minimum=1)
# Days before expiry when requester and owners are reminded (each lead time once).
_reminder_days = env_list("PORTAL_EXCEPTION_REMINDER_DAYS", default=["14", "7", "1"])
if not all(d.isdigit() and int(d) > 0 for d in _reminder_days):
    raise ImproperlyConfigured(f"PORTAL_EXCEPTION_REMINDER_DAYS={_reminder_days!r}: use whole days, e.g. 14,7,1")
PORTAL_EXCEPTION_REMINDER_DAYS = sorted({int(d) for d in _reminder_days}, reverse=True)
# Approvers are reminded of a request waiting this many hours (and again every as many hours); 0: never.
PORTAL_EXCEPTION_WAITING_REMINDER_HOURS = env_int("PORTAL_EXCEPTION_WAITING_REMINDER_HOURS", default=48, minimum=0)

# ---- retention, legal holds, data minimisation
# Retention schedules, redaction rules and the identifier detector (TOML); empty: the shipped
# apps/retention/retention_policy.toml.
PORTAL_RETENTION_POLICY_FILE = env_str("PORTAL_RETENTION_POLICY_FILE", default="")
# UTC hour of the daily disposal run (raw bodies past retention and not under legal hold).
PORTAL_RETENTION_DISPOSE_HOUR = env_int("PORTAL_RETENTION_DISPOSE_HOUR", default=3, minimum=0)

# ---- packs
# Ed25519 key that signs pack manifests (signed-note private key format: `manage.py ledger_keygen NAME`).
# Empty: packs are signed with the ledger's key (PORTAL_LEDGER_SIGNING_KEY).
PORTAL_PACK_SIGNING_KEY = env_str("PORTAL_PACK_SIGNING_KEY", default="")
# Verifier keys of earlier pack signing keys (rotation): still published in keys.json so old packs verify.
PORTAL_PACK_TRUSTED_KEYS = env_list("PORTAL_PACK_TRUSTED_KEYS", default=[])
# Hard time limit of one pack build, in seconds (the broker's visibility timeout is kept at twice this).
PORTAL_PACK_TIME_LIMIT = env_int("PORTAL_PACK_TIME_LIMIT", default=3600, minimum=60)
# A building worker renews its lease on the pack every third of this; a lapsed lease means the worker died.
PORTAL_PACK_LEASE_SECONDS = env_int("PORTAL_PACK_LEASE_SECONDS", default=60, minimum=3)
# Claims of one build before it is failed (a build that kills its worker, say out of memory, stops here).
PORTAL_PACK_MAX_ATTEMPTS = env_int("PORTAL_PACK_MAX_ATTEMPTS", default=3, minimum=1)
# Raw evidence embedded in the PDF (PDF/A-3 attachments) up to this many bytes in total; 0: none.
PORTAL_PACK_ATTACH_MAX_BYTES = env_int("PORTAL_PACK_ATTACH_MAX_BYTES", default=50 * 1024 * 1024, minimum=0)
# Table rows per PDF render chunk (about 35 a page): smaller chunks use less memory and spread better.
PORTAL_PACK_CHUNK_ROWS = env_int("PORTAL_PACK_CHUNK_ROWS", default=1200, minimum=20)

# ---- release sign-off
# Change classes and their sign-off chains (TOML); empty: the shipped apps/releases/release_policy.toml.
PORTAL_RELEASE_POLICY_FILE = env_str("PORTAL_RELEASE_POLICY_FILE", default="")

# ================================================================ Celery (worker, beat)
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
# A message not acknowledged within this time is redelivered: keep it well above the longest task and
# the longest pack build.
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": max(CELERY_TASK_TIME_LIMIT * 2, 2 * PORTAL_PACK_TIME_LIMIT),
}
# Pack builds and PDF chunks are heavy: their own queue, served by a worker of low concurrency.
CELERY_TASK_ROUTES = {
    "apps.packs.tasks.pack_build": {"queue": "heavy"},
    "apps.packs.tasks.pack_render_chunk": {"queue": "heavy"},
    "apps.packs.tasks.pack_sweep": {"queue": "default"},
}
# Celery keeps its hands off the root logger: the worker and beat log through LOGGING (celery.py).
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
# Beat touches var/heartbeat/beat on every tick, for its health check (compliance_portal/heartbeat.py).
CELERY_BEAT_SCHEDULER = "compliance_portal.celery:HeartbeatScheduler"
# Every periodic job, each expiring just under its interval so a late beat never queues two.
CELERY_BEAT_SCHEDULE = {
    # ledger: the `sequencer` process sequences within ~200 ms; this is the safety net if it is down.
    "ledger-integrate": {"task": "apps.ledger.tasks.ledger_integrate", "schedule": 5.0, "options": {"expires": 4}},
    "ledger-checkpoint": {
        "task": "apps.ledger.tasks.ledger_checkpoint",
        "schedule": PORTAL_LEDGER_CHECKPOINT_SECONDS,
        "options": {"expires": 55},
    },
    "sessions-clear": {
        "task": "apps.accounts.tasks.sessions_clear",
        "schedule": 3600.0,
        "options": {"expires": 3500},
    },
    # ingestion: re-queue receipts a lost message left behind; sync pull sources that are due.
    "receipt-sweep": {
        "task": "apps.ingest.tasks.receipt_sweep",
        "schedule": 60.0,
        "options": {"expires": 55},
    },
    "source-sync-due": {
        "task": "apps.ingest.tasks.source_sync_due",
        "schedule": 60.0,
        "options": {"expires": 55},
    },
    # search: index evidence whose after-commit index task was lost or gave up (apps.search.content).
    "search-reconcile": {
        "task": "apps.search.tasks.evidence_search_reconcile",
        "schedule": 60.0,
        "options": {"expires": 55},
    },
    # policy
    "policy-evaluate-nightly": {
        "task": "apps.policy.tasks.policy_evaluate_nightly",
        "schedule": crontab(hour=PORTAL_POLICY_NIGHTLY_HOUR, minute=17),
        "options": {"expires": 3600},
    },
    # Evaluation requests a lost wake-up left behind (apps.policy.services.pending); a no-op when none.
    "policy-evaluate-pending": {
        "task": "apps.policy.tasks.policy_evaluate_pending",
        "schedule": 60.0,
        "options": {"expires": 55},
    },
    "policy-coverage-snapshot": {
        "task": "apps.policy.tasks.coverage_snapshot",
        "schedule": float(PORTAL_POLICY_SNAPSHOT_SECONDS),
        "options": {"expires": PORTAL_POLICY_SNAPSHOT_SECONDS - 5},
    },
    # exceptions
    "exception-expire-due": {
        # At least every minute: an exception's results return to failing within a minute of its expiry.
        "task": "apps.exceptions.tasks.exception_expire_due",
        "schedule": 60.0,
        "options": {"expires": 55},
    },
    "exception-check-material-changes": {
        "task": "apps.exceptions.tasks.exception_check_material_changes",
        "schedule": 60.0,
        "options": {"expires": 55},
    },
    "exception-reminders": {
        "task": "apps.exceptions.tasks.exception_reminders_send",
        "schedule": 900.0,
        "options": {"expires": 880},
    },
    "exception-metrics-snapshot": {
        "task": "apps.exceptions.tasks.exception_metrics_snapshot",
        "schedule": 600.0,
        "options": {"expires": 590},
    },
    # retention
    "retention-dispose-due": {
        "task": "apps.retention.tasks.retention_dispose_due",
        "schedule": crontab(hour=PORTAL_RETENTION_DISPOSE_HOUR, minute=41),
        "options": {"expires": 3600},
    },
    # packs: fail or re-queue builds whose worker's lease lapsed.
    "pack-sweep": {
        "task": "apps.packs.tasks.pack_sweep",
        "schedule": 60.0,
        "options": {"expires": 55},
    },
    # engagements: the end date passes; overdue evidence requests are reminded hourly, each at most once
    # a day (a unique (request, day) row), so a missed or repeated run neither skips a day nor sends twice.
    "engagement-end-due": {
        "task": "apps.engagements.tasks.engagement_end_due",
        "schedule": 60.0,
        "options": {"expires": 55},
    },
    "evidence-request-remind-overdue": {
        "task": "apps.engagements.tasks.evidence_request_remind_overdue",
        "schedule": 3600.0,
        "options": {"expires": 3500},
    },
}
