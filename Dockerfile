# One image for web, worker, beat and the ledger sequencer (docker-compose.yml picks the command).
FROM python:3.11-slim-bookworm
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PORTAL_PROFILE=prod
# WeasyPrint needs Pango; Graphviz lays out lineage graphs.
RUN apt-get update && apt-get install -y --no-install-recommends \
        libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz0b fonts-dejavu-core fonts-liberation2 graphviz curl \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --create-home --uid 10001 portal
WORKDIR /app
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt
COPY . .
# collectstatic needs settings but no services: give it throwaway values for this step only.
RUN SECRET_KEY=build-only-not-a-secret-build-only-not-a-secret-0123456789 ALLOWED_HOSTS=build \
    DATABASE_URL=postgres://build@127.0.0.1:1/build REDIS_URL=redis://127.0.0.1:1/0 \
    PORTAL_LEDGER_SIGNING_KEY=PRIVATE+KEY+build.invalid+00000000+AQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA \
    PORTAL_STATIC_ROOT=/app/staticfiles python manage.py collectstatic --no-input -v 0
USER portal
EXPOSE 8000
CMD ["gunicorn", "-c", "compliance_portal/gunicorn.conf.py", "--bind", "0.0.0.0:8000", "--access-logfile", "-"]
