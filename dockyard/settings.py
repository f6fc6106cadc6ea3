import secrets
import socket
from pathlib import Path

from .env import env_bool, env_int, env_path, env_str

BASE_DIR = Path(__file__).resolve().parent.parent

# Everything a node keeps: content store, snapshots, containers, and by default the database.
DOCKYARD_ROOT = env_path("DOCKYARD_ROOT", "/var/lib/dockyard")
# Sockets and other short-lived files; short, since unix socket paths are capped at 108 bytes.
DOCKYARD_RUN_DIR = env_path("DOCKYARD_RUN_DIR", "/run/dockyard")
DOCKYARD_NODE = env_str("DOCKYARD_NODE", socket.gethostname())
DOCKYARD_ENGINE_SOCKET = env_path("DOCKYARD_ENGINE_SOCKET", str(DOCKYARD_RUN_DIR / "docker.sock"))
DOCKYARD_TASK_TIMEOUT = env_int("DOCKYARD_TASK_TIMEOUT", 120)
# The node agent serves streams on a unix socket in the run directory; with a host:port here it
# also serves other machines over TCP (each stream carries a token bound to this node), and
# DOCKYARD_AGENT_ADVERTISE names the host they reach it at when that differs.
DOCKYARD_AGENT_LISTEN = env_str("DOCKYARD_AGENT_LISTEN", "")
DOCKYARD_AGENT_ADVERTISE = env_str("DOCKYARD_AGENT_ADVERTISE", "")
# A control plane (DOCKYARD_CLUSTER=1) serves its Redis to joined nodes on this port. A joined
# node's agent accepts streams that carry this token, which the control plane gave it.
DOCKYARD_CLUSTER_REDIS_PORT = env_int("DOCKYARD_CLUSTER_REDIS_PORT", 6379)
DOCKYARD_NODE_STREAM_TOKEN = env_str("DOCKYARD_NODE_STREAM_TOKEN", "")
# The platform's own registry (host:port), where references without a domain go; registries
# in DOCKYARD_INSECURE_REGISTRIES (comma-separated) are spoken to over plain HTTP.
DOCKYARD_REGISTRY = env_str("DOCKYARD_REGISTRY", f"127.0.0.1:{env_int('DOCKYARD_PORT', 8000)}")
DOCKYARD_INSECURE_REGISTRIES = [
    r for r in env_str("DOCKYARD_INSECURE_REGISTRIES", "").split(",") if r
]
# Names this platform's bridges, veths, namespaces and nftables table; one per platform on a host.
DOCKYARD_NETWORK_PREFIX = env_str("DOCKYARD_NETWORK_PREFIX", "dockyard")


def _secret_key() -> str:
    key = env_str("DJANGO_SECRET_KEY", "")
    if key:
        return key
    path = DOCKYARD_ROOT / "secret_key"
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        path.parent.mkdir(parents=True, exist_ok=True)
        key = secrets.token_urlsafe(50)
        path.write_text(key)
        path.chmod(0o600)
        return key


SECRET_KEY = _secret_key()
DEBUG = env_bool("DJANGO_DEBUG", False)
ALLOWED_HOSTS = env_str("DJANGO_ALLOWED_HOSTS", "*").split(",")


def _dashboard_hosts() -> list[str]:
    """The host:port forms the dashboard is reached at: where the web process listens,
    and the loopback names of that port. Set DOCKYARD_ALLOWED_HOSTS for any other name."""
    host, port = env_str("DOCKYARD_HOST", "127.0.0.1"), env_int("DOCKYARD_PORT", 8000)
    names = {host, "localhost", "127.0.0.1", "[::1]"}
    if host in ("0.0.0.0", "::", ""):
        names |= {socket.gethostname(), socket.getfqdn()}
        names -= {"0.0.0.0", "::", ""}
    bracketed = {f"[{n}]" if ":" in n and not n.startswith("[") else n for n in names}
    return sorted(f"{name}:{port}" for name in bracketed)


# Websocket handshakes (the web terminal among them) must come from one of these: pages
# served from a container's published port on the same host are other origins, and a
# browser would otherwise let them open a visitor's terminal. Entries are host[:port];
# without a port they match the scheme's default port.
DOCKYARD_ALLOWED_HOSTS = [
    h.strip() for h in env_str("DOCKYARD_ALLOWED_HOSTS", "").split(",") if h.strip()
] or _dashboard_hosts()
CSRF_TRUSTED_ORIGINS = [o for o in env_str("DJANGO_CSRF_TRUSTED_ORIGINS", "").split(",") if o]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "channels",
    "accounts",
    "registry_app",
    "engine",
    "webui",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "dockyard.urls"
ASGI_APPLICATION = "dockyard.asgi.application"

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

_database_url = env_str("DATABASE_URL", "")
if _database_url.startswith(("postgres://", "postgresql://")):
    from urllib.parse import parse_qs, unquote, urlparse

    _u = urlparse(_database_url)
    # libpq's form for a unix socket: postgresql://user:pw@/db?host=/socket/dir&port=5432
    _query = {k: v[-1] for k, v in parse_qs(_u.query).items()}
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": _u.path.lstrip("/"),
            "USER": unquote(_u.username or ""),
            "PASSWORD": unquote(_u.password or ""),
            "HOST": _u.hostname or _query.get("host", ""),
            "PORT": str(_u.port or _query.get("port", "")),
        }
    }
else:
    _sqlite = env_path("DOCKYARD_DB", str(DOCKYARD_ROOT / "db.sqlite3"))
    _sqlite.parent.mkdir(parents=True, exist_ok=True)
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": _sqlite,
            # Several processes (web, gateway, worker, agent) write; wait instead of failing.
            "OPTIONS": {
                "timeout": 30,
                "transaction_mode": "IMMEDIATE",
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            },
        }
    }

# Request threads are reused (dockyard/asgi.py), so each keeps its connection between requests
# instead of opening one per request (about 1.4 ms); a broken one is noticed and replaced.
DATABASES["default"].update(CONN_MAX_AGE=60, CONN_HEALTH_CHECKS=True)

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True
STATIC_URL = "static/"
# Front-end libraries come from the npm registry (`npm ci` in scripts/setup.py) and are served
# straight from node_modules under static/vendor/.
_VENDOR = {
    "xterm": "@xterm/xterm",
    "xterm-addon-fit": "@xterm/addon-fit",
    "chart.js": "chart.js/dist",
}
STATICFILES_DIRS = [
    BASE_DIR / "static",
    *(
        (f"vendor/{name}", BASE_DIR / "node_modules" / path)
        for name, path in _VENDOR.items()
        if (BASE_DIR / "node_modules" / path).is_dir()
    ),
]
STATIC_ROOT = DOCKYARD_ROOT / "static"
LOGIN_URL = "/login/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/login/"
# A web terminal with no keystroke and no output for this long is closed.
DOCKYARD_TERMINAL_IDLE_TIMEOUT = env_int("DOCKYARD_TERMINAL_IDLE_TIMEOUT", 900)
# Unpacked size allowed for a build context, an image archive or an imported tar: a gzip bomb
# stops here instead of filling the disk.
DOCKYARD_MAX_ARCHIVE_BYTES = env_int("DOCKYARD_MAX_ARCHIVE_BYTES", 10 * 1024**3)
# The dashboard streams a file, or a directory as a tar, to the browser up to this many bytes
# (never holding it in memory); bigger ones are refused with a message pointing at docker cp.
DOCKYARD_DASHBOARD_MAX_DOWNLOAD = env_int("DOCKYARD_DASHBOARD_MAX_DOWNLOAD", 512 * 1024**2)
# Processes (and threads) a container may have when its request names no limit, so one
# tenant's fork bomb cannot take the host's pids; non-admins may only ask for less. 0: none.
DOCKYARD_DEFAULT_PIDS_LIMIT = env_int("DOCKYARD_DEFAULT_PIDS_LIMIT", 4096)
# A request without valid credentials may send at most this many body bytes (sign-in forms
# and token requests are far smaller); a larger one is refused before it is read.
DOCKYARD_ANONYMOUS_BODY_LIMIT = env_int("DOCKYARD_ANONYMOUS_BODY_LIMIT", 1024 * 1024)
# Password checks refused for a while after this many failures of one user name, or from one
# client address, within the window (seconds); see accounts/limits.py.
DOCKYARD_LOGIN_MAX_FAILURES = env_int("DOCKYARD_LOGIN_MAX_FAILURES", 10)
DOCKYARD_LOGIN_MAX_FAILURES_PER_ADDRESS = env_int("DOCKYARD_LOGIN_MAX_FAILURES_PER_ADDRESS", 50)
DOCKYARD_LOGIN_WINDOW = env_int("DOCKYARD_LOGIN_WINDOW", 300)
DOCKYARD_REGISTRY_TOKEN_TTL = env_int("DOCKYARD_REGISTRY_TOKEN_TTL", 300)
DOCKYARD_REGISTRY_DEFAULT_VISIBILITY = env_str("DOCKYARD_REGISTRY_DEFAULT_VISIBILITY", "private")

REDIS_URL = env_str("DOCKYARD_REDIS_URL", f"unix://{DOCKYARD_RUN_DIR}/redis.sock")

# Celery spells a redis unix socket `redis+socket://`; the channel layer takes `unix://`.
_CELERY_REDIS = (
    "redis+socket://" + REDIS_URL.removeprefix("unix://")
    if REDIS_URL.startswith("unix://")
    else REDIS_URL
)
CELERY_BROKER_URL = _CELERY_REDIS
CELERY_RESULT_BACKEND = _CELERY_REDIS
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_ACKS_LATE = False
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_ALWAYS_EAGER = env_bool("DOCKYARD_TASKS_EAGER", False)
# Tasks carry no priority; one list per queue (kombu's default keeps four, named with control
# characters) lets a joined node's Redis user be granted exactly its own queue's key.
CELERY_BROKER_TRANSPORT_OPTIONS = {"priority_steps": [0]}

CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        # redis-py 8 times out socket reads after 5 s by default, which breaks the layer's
        # blocking receive; channels_redis expects no client-side read timeout.
        "CONFIG": {
            "hosts": [{"address": REDIS_URL, "socket_timeout": None}],
            "capacity": 1000,
            "expiry": 60,
        },
    }
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"registry_handshakes": {"()": "registry_app.log_filters.RegistryHandshakes"}},
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {"django.request": {"filters": ["registry_handshakes"]}},
    "root": {"handlers": ["console"], "level": env_str("DOCKYARD_LOG_LEVEL", "WARNING")},
}

# Every Django process sends tasks through the platform's Celery app, so it is made with the
# settings; the launcher imports the `dockyard` package without it (see __init__.py).
from .celery import app as celery_app  # noqa: E402, F401
