# qualityapi: migrates, then serves on :8000. SQLite in /data by default; set
# QUALITYAPI_DATABASE_URL=postgresql+asyncpg://... for PostgreSQL.
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY src ./src
RUN pip install --no-cache-dir --prefix=/install .

FROM python:3.11-slim
# The release's commit, for qualityapi_build_info: docker build --build-arg COMMIT=$(git rev-parse HEAD)
ARG COMMIT=unknown
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    QUALITYAPI_BUILD_COMMIT=$COMMIT \
    QUALITYAPI_HOST=0.0.0.0 \
    QUALITYAPI_PORT=8000 \
    QUALITYAPI_LOG_FORMAT=json \
    QUALITYAPI_MIGRATIONS_DIR=/app/migrations \
    QUALITYAPI_DATABASE_URL=sqlite+aiosqlite:////data/qualityapi.db
COPY --from=build /install /usr/local
WORKDIR /app
COPY migrations ./migrations
RUN useradd --system --uid 10001 --home-dir /app qualityapi \
    && mkdir -p /data && chown qualityapi /data
USER qualityapi
VOLUME ["/data"]
EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
    CMD python -c "import os,urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/readyz' % os.environ.get('QUALITYAPI_PORT','8000'), timeout=2)" || exit 1
# `serve` runs the migrations first (--migrate is the default), then uvicorn.
CMD ["qualityapi", "serve"]
