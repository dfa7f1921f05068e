# txmon's container image: the worker (default) and the officers' console, one image.
#   docker build -t txmon:0.1.0 .
#   docker run --env-file .env txmon:0.1.0                 # a worker
#   docker run --env-file .env -p 8080:8080 txmon:0.1.0 console
# The Python install is deploy/python/install.sh, the very script `make install` and CI run:
# every package from requirements.lock with its hash, then txmon itself.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    TXMON_WEB_HOST=0.0.0.0 \
    TXMON_CONSOLE_HOST=0.0.0.0 \
    TXMON_DATA_DIR=/var/lib/txmon \
    TXMON_LOG_FORMAT=json

WORKDIR /opt/txmon
COPY pyproject.toml requirements.lock README.md ./
COPY deploy/python/ deploy/python/
COPY streams/ streams/
COPY rules/ rules/
COPY alerts/ alerts/
COPY store/ store/
COPY loadtest/ loadtest/
COPY ops/ ops/
RUN PYTHON=python3 bash deploy/python/install.sh /opt/txmon/.venv

RUN groupadd --system --gid 10001 txmon \
    && useradd --system --uid 10001 --gid txmon --home-dir /var/lib/txmon --no-create-home txmon \
    && install -d -o txmon -g txmon /var/lib/txmon
USER 10001:10001

EXPOSE 6066 8080
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s \
  CMD ["/opt/txmon/.venv/bin/python", "-c", "import os, urllib.request as u; u.urlopen('http://127.0.0.1:%s/health' % os.environ.get('TXMON_WEB_PORT', '6066'), timeout=3)"]
ENTRYPOINT ["/opt/txmon/.venv/bin/txmon"]
CMD ["worker", "--quiet"]
