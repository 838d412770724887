"""Tuneforge settings: one module, driven by environment variables (see .env.example)."""

from __future__ import annotations

import os
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from llm_platform.env import env_bool, env_int, env_list, env_paths, env_secret, env_str

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("TUNEFORGE_VAR_DIR", str(BASE_DIR / "var"))).resolve()

DEBUG = env_bool("DEBUG", False)
SECRET_KEY = env_secret("SECRET_KEY")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY is required unless DEBUG=true (see .env.example)")
    SECRET_KEY = "insecure-development-key-set-SECRET_KEY-in-production"  # noqa: S105

# Encrypts secrets stored in the database (knowledge-base endpoint keys); SECRET_KEY when unset.
# Set it before rotating SECRET_KEY, or stored secrets become unreadable.
SECRETS_ENCRYPTION_KEY = env_secret("SECRETS_ENCRYPTION_KEY")

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])
SITE_URL = env_str("SITE_URL", "http://127.0.0.1:8000").rstrip("/")

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "channels",
    "django_rq",
    "llm_platform",
    "gpu_workers",
    "datasets_app",
    "training_app",
    "serving_app",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "llm_platform.tenancy.CurrentOrganizationMiddleware",
    "llm_platform.actor.ActorMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "llm_platform.middleware.BadInputMiddleware",
]

ROOT_URLCONF = "llm_platform.urls"
WSGI_APPLICATION = "llm_platform.wsgi.application"
ASGI_APPLICATION = "llm_platform.asgi.application"

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
                "llm_platform.tenancy.organization_context",
                "llm_platform.portal.navigation.navigation",
            ],
        },
    },
]

# --- Database: SQLite under var/ unless DATABASE_URL names another (PostgreSQL in production) ---
DATABASES = {
    "default": dj_database_url.parse(
        env_str("DATABASE_URL", f"sqlite:///{VAR_DIR / 'tuneforge.sqlite3'}"),
        conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 0),
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL: readers never wait for the writer, nor the writer for readers. Transactions take the write
    # lock when they begin (IMMEDIATE), so two of them never deadlock upgrading a read; a statement waits
    # up to SQLITE_BUSY_TIMEOUT for the lock, then fails (and the writers that must not fail retry).
    DATABASES["default"]["OPTIONS"] = {
        "timeout": env_int("SQLITE_BUSY_TIMEOUT", 5),
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL",
    }
    # A file, not memory, so test workers in other processes see the same test database.
    # Named per process so two test runs on one machine do not share (and break) one file.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / f"test-{os.getpid()}.sqlite3")}
# Workers, the serving supervisor and the usage flush retry a write that a locked or unreachable
# database refused for this long (llm_platform.db.retrying) before they give up on it.
DATABASE_RETRY_SECONDS = env_int("DATABASE_RETRY_SECONDS", 60)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis: queues and the channel layer. Unset -> an embedded redis-server on a socket in var/ ---
EMBEDDED_REDIS_DIR = VAR_DIR / "redis"
REDIS_URL = env_str("REDIS_URL", "")
EMBEDDED_REDIS = not REDIS_URL
if EMBEDDED_REDIS:
    REDIS_URL = f"unix://{EMBEDDED_REDIS_DIR / 'redis.sock'}?db=0"

RQ_QUEUES = {"default": {"URL": REDIS_URL, "DEFAULT_TIMEOUT": 7 * 24 * 3600}}
RQ_SHOW_ADMIN_LINK = True

# channels_redis waits for messages with BZPOPMIN blocking 5 s; redis-py 8 reads every reply with a 5 s socket
# timeout by default, so an idle socket's wait raced the timeout and dropped the connection every 5 s.
# Reads must outlast the blocking wait.
CHANNEL_LAYER_SOCKET_TIMEOUT = 30
CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        "CONFIG": {
            "hosts": [{"address": REDIS_URL, "socket_timeout": CHANNEL_LAYER_SOCKET_TIMEOUT}],
            "prefix": env_str("CHANNEL_LAYER_PREFIX", "tuneforge"),
        },
    }
}

# --- Storage: local var/media by default; S3-compatible (MinIO, Ceph, AWS) with STORAGE_BACKEND=s3 ---
STORAGE_BACKEND = env_str("STORAGE_BACKEND", "local")
MEDIA_ROOT = Path(env_str("MEDIA_ROOT", str(VAR_DIR / "media"))).resolve()
MEDIA_URL = "/media/"
if STORAGE_BACKEND == "s3":
    _default_storage = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": env_str("S3_BUCKET"),
            "endpoint_url": env_str("S3_ENDPOINT_URL") or None,
            "region_name": env_str("S3_REGION") or None,
            "access_key": env_secret("S3_ACCESS_KEY_ID") or None,
            "secret_key": env_secret("S3_SECRET_ACCESS_KEY") or None,
            "location": env_str("S3_PREFIX", ""),
            "file_overwrite": False,
            "default_acl": None,
            "querystring_auth": True,
        },
    }
elif STORAGE_BACKEND == "local":
    _default_storage = {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": str(MEDIA_ROOT), "base_url": MEDIA_URL},
    }
else:
    raise ImproperlyConfigured(f"STORAGE_BACKEND must be 'local' or 's3', not {STORAGE_BACKEND!r}")
STORAGES = {
    "default": _default_storage,
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}

STATIC_URL = "/static/"
STATIC_ROOT = VAR_DIR / "static"
STATICFILES_DIRS = [BASE_DIR / "static"]
WHITENOISE_USE_FINDERS = DEBUG
# SQLite, the embedded Redis and collectstatic all write under var/: make sure it is there.
STATIC_ROOT.mkdir(parents=True, exist_ok=True)

# --- Models, uploads, training ---
MODEL_ROOTS = env_paths("MODEL_ROOTS", [VAR_DIR / "models"])
WORK_DIR = Path(env_str("WORK_DIR", str(VAR_DIR / "work"))).resolve()
MAX_UPLOAD_MB = env_int("MAX_UPLOAD_MB", 1024)
INLINE_INGEST_MAX_MB = env_int("INLINE_INGEST_MAX_MB", 20)
# A background-processed dataset unchanged this long with no live RQ job is queued again (the reconciler).
DATASET_STALL_SECONDS = env_int("DATASET_STALL_SECONDS", 120)
# Checkpoints are copied to storage as they are written, so a job resumes on any host.
CHECKPOINTS_IN_STORAGE = env_bool("CHECKPOINTS_IN_STORAGE", True)
MAX_LINE_KB = env_int("MAX_LINE_KB", 1024)
# A compressed upload (.jsonl.gz, .json.gz) is refused as soon as it unpacks to more than this many MB,
# or to more than MAX_COMPRESSION_RATIO times the compressed bytes read so far (judged after 1 MB).
MAX_UNPACKED_MB = env_int("MAX_UNPACKED_MB", MAX_UPLOAD_MB)
MAX_COMPRESSION_RATIO = env_int("MAX_COMPRESSION_RATIO", 100)

# --- Workers: heartbeats, leases, and how often a job whose worker died is retried ---
JOB_MAX_ATTEMPTS = env_int("JOB_MAX_ATTEMPTS", 3)
DEVICE_HEARTBEAT_SECONDS = env_int("DEVICE_HEARTBEAT_SECONDS", 5)
DEVICE_OFFLINE_AFTER_SECONDS = env_int("DEVICE_OFFLINE_AFTER_SECONDS", 30)
DEVICE_LEASE_SECONDS = env_int("DEVICE_LEASE_SECONDS", 60)
PLACEMENT_GRACE_SECONDS = env_int("PLACEMENT_GRACE_SECONDS", 10)
# Threads of a job on a CPU slot; 0: the host's cores but one, divided among its CPU slots.
CPU_SLOT_THREADS = env_int("CPU_SLOT_THREADS", 0)

DATA_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024
FILE_UPLOAD_TEMP_DIR = None

# Fair share: among queued jobs of one priority, organizations that used less device time lately go first.
FAIR_SHARE_WINDOW_HOURS = env_int("FAIR_SHARE_WINDOW_HOURS", 24)

# --- Serving: engines (vLLM in its own environment, or the built-in one); see serving_app/checks.py ---
_VLLM_VENV_PYTHON = BASE_DIR / ".venv-vllm" / "bin" / "python"
VLLM_PYTHON = env_str("VLLM_PYTHON") or (str(_VLLM_VENV_PYTHON) if _VLLM_VENV_PYTHON.exists() else "")
SERVING_DIR = Path(env_str("SERVING_DIR") or VAR_DIR / "serving").resolve()
SERVING_DEFAULT_ENGINE = env_str("SERVING_DEFAULT_ENGINE", "auto")
SERVING_DEVICE = env_str("SERVING_DEVICE", "cpu")
SERVING_MAX_MODEL_LEN = env_int("SERVING_MAX_MODEL_LEN", 0)
_memory_share = env_str("SERVING_GPU_MEMORY_UTILIZATION")
try:
    SERVING_GPU_MEMORY_UTILIZATION = float(_memory_share) if _memory_share else None
except ValueError as exc:
    raise ImproperlyConfigured("SERVING_GPU_MEMORY_UTILIZATION must be a fraction such as 0.9") from exc
SERVING_DTYPE = env_str("SERVING_DTYPE", "auto")
SERVING_MAX_LORA_RANK = env_int("SERVING_MAX_LORA_RANK", 16)
SERVING_MAX_LORAS = env_int("SERVING_MAX_LORAS", 4)
SERVING_CPU_KVCACHE_GB = env_int("SERVING_CPU_KVCACHE_GB", 1)
SERVING_START_TIMEOUT = env_int("SERVING_START_TIMEOUT", 900)
SERVING_IDLE_SECONDS = env_int("SERVING_IDLE_SECONDS", 60)
# How long a request for a fine-tuned ``ft:`` model waits while its adapter loads (then 503 + Retry-After).
SERVING_LOAD_WAIT_SECONDS = env_int("SERVING_LOAD_WAIT_SECONDS", 60)
SERVING_MAX_RESTARTS = env_int("SERVING_MAX_RESTARTS", 5)

# --- Auth and sessions ---
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# --- Teams: invitations, sign-up, the audit log's retention; email is off unless a backend is named ---
INVITATION_TTL_HOURS = env_int("INVITATION_TTL_HOURS", 72)
SIGNUP_ENABLED = env_bool("SIGNUP_ENABLED", False)
AUDIT_RETENTION_DAYS = env_int("AUDIT_RETENTION_DAYS", 365)
EMAIL_BACKEND = env_str("EMAIL_BACKEND", "django.core.mail.backends.dummy.EmailBackend")
EMAIL_HOST = env_str("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = env_secret("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "tuneforge@localhost")

# --- Security: strict by default outside DEBUG; SECURE_SSL_REDIRECT off behind a TLS proxy ---
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if env_bool("BEHIND_TLS_PROXY") else None
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", not DEBUG)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", not DEBUG)
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", False)
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", False)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", False)
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"

# --- REST API ---
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "llm_platform.api.authentication.ApiKeyAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["llm_platform.api.permissions.TenantPermission"],
    "DEFAULT_PARSER_CLASSES": [
        "llm_platform.api.parsers.SafeJSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_PAGINATION_CLASS": "llm_platform.api.pagination.Pagination",
    "PAGE_SIZE": 50,
    "EXCEPTION_HANDLER": "llm_platform.api.errors.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "llm_platform.api.schema.AutoSchema",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Tuneforge API",
    "DESCRIPTION": "Datasets, training jobs, devices and deployments of one organization.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # Several models have a "status" or a "kind": each choice set gets a name of its own.
    "ENUM_NAME_OVERRIDES": {
        "DatasetStatusEnum": "datasets_app.models.DatasetStatus",
        "DatasetKindEnum": "datasets_app.models.DatasetKind",
        "JobStatusEnum": "training_app.models.JobStatus",
        "StageEnum": "training_app.trainer.spec.STAGES",
        "JobStageEnum": "training_app.models.STAGE_CHOICES",
        "MemberRoleEnum": "llm_platform.models.Role",
        "KeyRoleEnum": [("member", "Read and write"), ("viewer", "Read only")],
        "GivenRoleEnum": "llm_platform.members.ASSIGNABLE_CHOICES",
    },
    # The OpenAI-compatible gateway is served outside DRF: its paths are added from one description.
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "serving_app.gateway.openapi.add_gateway",
    ],
}

LANGUAGE_CODE = "en-us"
TIME_ZONE = env_str("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}
