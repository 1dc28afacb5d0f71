"""GovPortal settings, read from the environment (see .env.example)."""

from pathlib import Path

import dj_database_url
from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured

from apps.core.env import env_bool, env_int, env_list, env_str

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("GOVPORTAL_VAR_DIR", str(BASE_DIR / "var")))

DEBUG = env_bool("DEBUG", False)

SECRET_KEY = env_str("SECRET_KEY")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("Set SECRET_KEY (or DEBUG=1 for local development).")
    SECRET_KEY = "dev-only-insecure-key-do-not-use-in-production"  # noqa: S105

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "testserver"] if DEBUG else [])
if not DEBUG and not ALLOWED_HOSTS:
    raise ImproperlyConfigured("Set ALLOWED_HOSTS (comma-separated) when DEBUG is off.")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    # Our apps come first so their management commands (flush) override Django's. They are in the README's layer
    # order: an app imports only from the apps above it (tests/core/test_import_graph.py checks).
    "apps.core",
    "apps.audit",
    "apps.accounts",
    "apps.inventory",
    "apps.gitsync",
    "apps.approvals",
    "apps.deployments",
    "apps.compliance",
    "apps.hooks",
    "apps.dashboard",
    "apps.demo",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "guardian",
    "django_celery_beat",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",  # outermost but one: every response gets the policy, error pages included
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "apps.core.middleware.RequestContextMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    # After sessions and auth, so its 400 page shows the navigation; before every view.
    "apps.core.middleware.InvalidInputMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "govportal.urls"
WSGI_APPLICATION = "govportal.wsgi.application"
ASGI_APPLICATION = "govportal.asgi.application"

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
                "apps.accounts.context_processors.roles",
                "apps.approvals.context_processors.waiting",
            ],
        },
    },
]

# Database: DATABASE_URL (PostgreSQL in production), else SQLite under var/.
DATABASES = {
    "default": dj_database_url.config(
        env="DATABASE_URL",
        default=f"sqlite:///{VAR_DIR / 'govportal.sqlite3'}",
        conn_max_age=env_int("DB_CONN_MAX_AGE", 60),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # IMMEDIATE transactions serialise writers up front, so audit appends never
    # deadlock on a lock upgrade; the timeout lets concurrent writers wait.
    DATABASES["default"]["OPTIONS"] = {"transaction_mode": "IMMEDIATE", "timeout": 20}
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test-govportal.sqlite3")}
elif DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # No JIT: it compiles a query whose estimated cost passes jit_above_cost, which is only ever a large scan here,
    # and the compiling cost more than it saved (the deployments matrix at 100k models: 575 ms with it, 304 without).
    # Kept after any options the URL or PGOPTIONS set (libpq reads PGOPTIONS only when no options are given).
    options = DATABASES["default"].setdefault("OPTIONS", {})
    given = options.get("options") or env_str("PGOPTIONS", "")
    options["options"] = f"{given} -c jit=off".strip()
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Cache: where every process counts API requests, sign-in failures and rejected webhooks. CACHE_URL=redis://HOST:
# 6379/N shares one cache between all web processes; unset, each process has its own memory cache (one process
# only, e.g. `make run`: with N gunicorn workers every limit below would be N limits).
CACHE_URL = env_str("CACHE_URL")
if CACHE_URL and not CACHE_URL.startswith(("redis://", "rediss://", "unix://")):
    raise ImproperlyConfigured(f"CACHE_URL must be a redis:// or rediss:// URL; got {CACHE_URL.split(':')[0]}://…")
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": CACHE_URL,
        "KEY_PREFIX": "govportal",
        # A cache that stops answering fails the request in seconds rather than hanging every worker.
        "OPTIONS": {"socket_connect_timeout": 5, "socket_timeout": 5},
    }
    if CACHE_URL
    else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "govportal"}
}
# Sign-in lockout: failures per username, and per client address, before sign-in is refused for the window.
LOGIN_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", 5)
LOGIN_IP_FAILURE_LIMIT = env_int("LOGIN_IP_FAILURE_LIMIT", 20)
LOGIN_LOCKOUT_SECONDS = env_int("LOGIN_LOCKOUT_SECONDS", 900)
# Webhook deliveries failing their signature check allowed per client address and minute before a 429.
WEBHOOK_REJECTION_LIMIT = env_int("WEBHOOK_REJECTION_LIMIT", 30)
if min(LOGIN_FAILURE_LIMIT, LOGIN_IP_FAILURE_LIMIT, LOGIN_LOCKOUT_SECONDS, WEBHOOK_REJECTION_LIMIT) < 1:
    raise ImproperlyConfigured("LOGIN_*_LIMIT, LOGIN_LOCKOUT_SECONDS and WEBHOOK_REJECTION_LIMIT must be 1 or more.")

AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "guardian.backends.ObjectPermissionBackend",
]
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "dashboard:home"
LOGOUT_REDIRECT_URL = "login"
GUARDIAN_RAISE_403 = False
ANONYMOUS_USER_NAME = None  # guardian: no anonymous object permissions (deny by default)

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "staticfiles"
if DEBUG:
    STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # WhiteNoise serves from finders in DEBUG; keep it quiet
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if not DEBUG
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}

# Client IPs: X-Forwarded-For is honoured only when the direct peer is one of these.
TRUSTED_PROXIES = env_list("TRUSTED_PROXIES")

# Security: production defaults; DEBUG relaxes only what breaks plain-HTTP localhost.
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if env_bool("BEHIND_TLS_PROXY", False) else None
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", not DEBUG)
SESSION_COOKIE_SECURE = not DEBUG
CSRF_COOKIE_SECURE = not DEBUG
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = not DEBUG
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", not DEBUG)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_AGE = env_int("SESSION_COOKIE_AGE", 8 * 3600)
SESSION_ENGINE = "apps.core.sessions"  # Django's database sessions, read with one plain statement a request
X_FRAME_OPTIONS = "DENY"
# Content-Security-Policy (django-csp): scripts, styles and images from the portal only, nothing inline anywhere (the
# admin and the API docs included: no 'unsafe-inline', no 'unsafe-eval'), no plugins, no framing, forms post here only.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],  # Bootstrap's icons are data: SVGs
        "object-src": [NONE],
        "base-uri": [SELF],
        "frame-ancestors": [NONE],
        "form-action": [SELF],
    },
}
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]  # load balancers probe over plain HTTP

REST_FRAMEWORK = {
    # A service token (CI) or the browser's session; everything else is anonymous and refused.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "apps.accounts.authentication.ServiceTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "EXCEPTION_HANDLER": "apps.core.api.exception_handler",
    "DEFAULT_PAGINATION_CLASS": "apps.core.api.PageNumberPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_FILTER_BACKENDS": [
        "django_filters.rest_framework.DjangoFilterBackend",
        "rest_framework.filters.SearchFilter",
        "rest_framework.filters.OrderingFilter",
    ],
    "DEFAULT_THROTTLE_CLASSES": ["apps.core.api.PrincipalRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {"principal": env_str("API_RATE_LIMIT", "1200/minute")},
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "GovPortal API",
    "DESCRIPTION": (
        "Model inventory, deployment approvals, Git repositories and the audit trail. Authenticate with a service "
        "token (`Authorization: Bearer gpt_...`) or a browser session. Errors are RFC 9457 problem details with a "
        "stable `code`."
    ),
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": "/api/v1",
    "COMPONENT_SPLIT_REQUEST": True,
    "SWAGGER_UI_DIST": "SIDECAR",  # vendored by drf-spectacular-sidecar: no CDN
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # One schema name per choice set, however many serializers use it.
    "ENUM_NAME_OVERRIDES": {
        "RiskTierEnum": "apps.inventory.models.RiskTier",
        "LifecycleEnum": "apps.inventory.models.Lifecycle",
        "SyncStatusEnum": "apps.gitsync.models.SyncStatus",
        "ExportStatusEnum": "apps.compliance.models.ExportStatus",
        "ExportFormatEnum": "apps.compliance.models.ExportFormat",
        "RequestStateEnum": "apps.approvals.models.RequestState",
        "StepStateEnum": "apps.approvals.models.StepState",
    },
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "apps.core.api.problem_responses_hook",
    ],
}

# Celery: no broker → tasks run in-process, synchronously. Celery still opens a producer for an in-process task; with
# no broker URL kombu would make that an AMQP connection to localhost and warn "No hostname was supplied". Its
# in-memory transport (named with a host, which it ignores) is what in-process means: nothing is sent anywhere.
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL")
CELERY_TASK_ALWAYS_EAGER = not CELERY_BROKER_URL
if CELERY_TASK_ALWAYS_EAGER:
    CELERY_BROKER_URL = "memory://localhost/"
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_RESULT_BACKEND = env_str("CELERY_RESULT_BACKEND")
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TIME_LIMIT = env_int("CELERY_TASK_TIME_LIMIT", 600)
CELERY_TIMEZONE = "UTC"
CELERY_BEAT_SCHEDULE = {
    "expire-deployment-requests": {
        "task": "apps.approvals.tasks.deployment_request_expire_due_task",
        "schedule": env_int("REQUEST_EXPIRY_SWEEP_SECONDS", 900),
    },
}

EMAIL_BACKEND = env_str(
    "EMAIL_BACKEND",
    "django.core.mail.backends.console.EmailBackend" if DEBUG else "django.core.mail.backends.smtp.EmailBackend",
)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "govportal@localhost")
EMAIL_HOST = env_str("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)

# The portal's public address, for links in e-mails.
PORTAL_BASE_URL = env_str("PORTAL_BASE_URL", "http://127.0.0.1:8000")
GOVPORTAL_DEMO_PASSWORD = env_str("GOVPORTAL_DEMO_PASSWORD", "govportal-demo")
# Audit signing key (Ed25519, PEM): inline, or a file made by `manage.py audit_keygen`.
AUDIT_SIGNING_KEY = env_str("AUDIT_SIGNING_KEY", "")
AUDIT_SIGNING_KEY_FILE = env_str("AUDIT_SIGNING_KEY_FILE", "")
# Exports: where files are written, how long they are kept, and up to how many events stream directly.
AUDIT_EXPORT_DIR = Path(env_str("AUDIT_EXPORT_DIR", str(VAR_DIR / "exports")))
AUDIT_EXPORT_TTL_HOURS = env_int("AUDIT_EXPORT_TTL_HOURS", 24)
AUDIT_EXPORT_STREAM_LIMIT = env_int("AUDIT_EXPORT_STREAM_LIMIT", 50_000)
# How often (seconds) the beat scheduler signs a checkpoint of the audit chain head (skipped when unchanged).
AUDIT_CHECKPOINT_SECONDS = env_int("AUDIT_CHECKPOINT_SECONDS", 3600)
# Optional: a Git working tree outside the database where each checkpoint is also committed.
AUDIT_CHECKPOINT_GIT_DIR = env_str("AUDIT_CHECKPOINT_GIT_DIR", "")
CELERY_BEAT_SCHEDULE |= {
    "sign-audit-checkpoint": {
        "task": "apps.audit.tasks.checkpoint_sign_task",
        "schedule": AUDIT_CHECKPOINT_SECONDS,
    },
    # Defined in apps/compliance/tasks.py; it keeps the name it had in the audit app (beat and queues use it).
    "expire-audit-exports": {"task": "apps.audit.tasks.exports_expire_task", "schedule": 3600},
}
# Git sync: where bare mirrors are cached, the largest file a sync reads, how often beat syncs every repository,
# and how long a repository's sync lease lasts where PostgreSQL advisory locks are not available (SQLite).
GITSYNC_MIRROR_DIR = Path(env_str("GITSYNC_MIRROR_DIR", str(VAR_DIR / "git-mirrors")))
GITSYNC_MAX_FILE_BYTES = env_int("GITSYNC_MAX_FILE_BYTES", 1_048_576)
GITSYNC_INTERVAL_SECONDS = env_int("GITSYNC_INTERVAL_SECONDS", 900)
GITSYNC_LEASE_SECONDS = env_int("GITSYNC_LEASE_SECONDS", 900)
# A first sync writes new versions in bulk, of many models at once, this many a transaction: each transaction locks
# its models and appends to the audit chain once (at most 1,000, the inventory's batch limit).
GITSYNC_VERSIONS_PER_TRANSACTION = env_int("GITSYNC_VERSIONS_PER_TRANSACTION", 500)
# Local repositories (file:// or a server path) read the server's own disk: off unless an operator turns them on,
# and then only portal admins may register one (`make run` turns it on for the demo repository).
GITSYNC_ALLOW_LOCAL = env_bool("GITSYNC_ALLOW_LOCAL", False)
# Beat reads its schedule from the database, where CELERY_BEAT_SCHEDULE entries are rewritten at every start (so
# an admin edit to them would be reverted). The Git sync entry is created once, by migration gitsync 0002, and is
# edited in the admin (Periodic tasks) from then on: GITSYNC_INTERVAL_SECONDS is only its first interval.
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
# GitHub App (deployment protection rules)
# GitHub's REST API root (GitHub Enterprise Server: https://HOST/api/v3). The portal calls back only
# deployment_callback_urls under it, for the delivering repository: a signed delivery cannot point it elsewhere.
GITHUB_API_URL = env_str("GITHUB_API_URL", "https://api.github.com").rstrip("/")
# The App's installation token, sent as `Authorization: Bearer` when answering a run; never logged.
GITHUB_APP_INSTALLATION_TOKEN = env_str("GITHUB_APP_INSTALLATION_TOKEN", "")
GITHUB_API_TIMEOUT_SECONDS = env_int("GITHUB_API_TIMEOUT_SECONDS", 10)
# Rollouts: how long a worker holds a rollout before another may take it over (longer than a deploy can take).
ROLLOUT_LEASE_SECONDS = env_int("ROLLOUT_LEASE_SECONDS", 600)
# Deployment targets: beat looks every minute for targets whose own observation interval has passed.
CELERY_BEAT_SCHEDULE |= {
    "observe-deployment-targets": {"task": "apps.deployments.tasks.observe_due_targets_task", "schedule": 60},
}
CELERY_BEAT_SCHEDULE |= {
    "answer-github-deployment-gates": {"task": "apps.hooks.tasks.github_gates_answer_due_task", "schedule": 300},
}
# End GitHub App (deployment protection rules)
# Only the test suite sets this: lets `flush` empty the append-only audit table.
AUDIT_ALLOW_FLUSH = False

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        # In-process (eager) tasks would log a line each; workers keep their task logs.
        "celery.app.trace": {"level": "WARNING" if CELERY_TASK_ALWAYS_EAGER else "INFO"},
    },
}
