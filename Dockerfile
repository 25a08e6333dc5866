# One image for web, worker, beat and the ledger sequencer (docker-compose.yml picks the command).

# Browser assets from npm (the charts' Plotly bundle), pinned by package-lock.json; only the
# installed files reach the image, not npm itself.
FROM python:3.11-slim-bookworm AS assets
RUN apt-get update && apt-get install -y --no-install-recommends npm && rm -rf /var/lib/apt/lists/*
WORKDIR /assets
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund --loglevel=error

FROM python:3.11-slim-bookworm
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PORTAL_PROFILE=prod \
    PORTAL_VAR_DIR=/var/lib/portal PORTAL_STATIC_ROOT=/app/staticfiles
# WeasyPrint needs Pango; Graphviz lays out lineage graphs; openssl: scripts/init_secrets.py without cryptography.
RUN apt-get update && apt-get install -y --no-install-recommends \
        libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz0b fonts-dejavu-core fonts-liberation2 graphviz curl \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --create-home --uid 10001 portal \
    # The volume's mount point and what lives in it, owned by the user the processes run as: a named
    # volume copies this ownership on first use, so media, blobs, packs, the witness file, the beat
    # schedule and heartbeats are writable.
    && install -d -o portal -g portal -m 750 /var/lib/portal /var/lib/portal/media /var/lib/portal/witness \
        /var/lib/portal/blobs /var/lib/portal/packs /var/lib/portal/heartbeat
WORKDIR /app
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt
COPY . .
COPY --from=assets /assets/node_modules /app/node_modules
# collectstatic writes the hashed names only, with .br and .gz copies (settings.py, WhiteNoise).
# It loads the prod settings, which refuse to start without real secrets: give this step
# freshly generated throwaway ones (deleted in the same step, so in no layer) and services it never calls.
RUN python scripts/init_secrets.py --stdout --host build.invalid > /tmp/build.env \
    && set -a && . /tmp/build.env && set +a \
    && DATABASE_URL=postgres://build@127.0.0.1:1/build REDIS_URL=redis://127.0.0.1:1/0 \
       python manage.py collectstatic --no-input -v 0 \
    ; status=$? ; rm -f /tmp/build.env ; exit $status
USER portal
EXPOSE 8000
CMD ["gunicorn", "-c", "compliance_portal/gunicorn.conf.py", "--bind", "0.0.0.0:8000"]
