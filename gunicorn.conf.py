"""gunicorn settings for production: ``gunicorn -c gunicorn.conf.py wsgi:app``.

Every value can be overridden on the command line (``--workers 4``) or by the environment
variables named below. The registry's scheduler does not run inside gunicorn: run one
``registry scheduler`` process beside it (README "Production").
"""

import multiprocessing
import os

bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")
# Sync workers: each request is short and database-bound. Two per CPU (plus one) keeps a CPU
# busy while another worker waits on the database; PostgreSQL's pool is per worker
# (REGISTRY_DB_POOL_SIZE), so workers × pool size must stay under max_connections.
workers = int(os.environ.get("GUNICORN_WORKERS", multiprocessing.cpu_count() * 2 + 1))
worker_class = "sync"
# A request slower than this is killed and logged: the slowest answers (a stats or as_of
# list on 100,000 carriers) take well under a second.
timeout = int(os.environ.get("GUNICORN_TIMEOUT", 30))
# On SIGHUP or SIGTERM, workers finish the requests they hold for up to this long: a reload
# (``kill -HUP <master pid>``) starts new workers with the new code, then retires the old.
graceful_timeout = int(os.environ.get("GUNICORN_GRACEFUL_TIMEOUT", 30))
keepalive = 5
# Recycle workers now and then (jittered so they do not restart together): bounds the
# growth of any per-process cache.
max_requests = int(os.environ.get("GUNICORN_MAX_REQUESTS", 10_000))
max_requests_jitter = max_requests // 10
# The app logs one JSON line per request itself (registry.requestlog); gunicorn's own
# access log would repeat it.
accesslog = None
errorlog = "-"
loglevel = os.environ.get("GUNICORN_LOG_LEVEL", "info")
# The app is built in each worker (not preloaded): no database connection is shared
# across a fork.
preload_app = False
