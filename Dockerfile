# exeunt: the provider and its back-channel worker in one image.
# Build: docker build -t exeunt .   Run: see docker-compose.yml and the README's deployment section.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    EXEUNT_PORT=8000 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /build
COPY pyproject.toml README.md ./
COPY src ./src
COPY templates ./templates
COPY alembic ./alembic
RUN pip install --no-cache-dir . \
    && useradd --system --uid 10001 --home-dir /data --create-home exeunt \
    && rm -rf /build

# The embedded default keeps its SQLite file in the working directory; with PostgreSQL nothing is written here.
WORKDIR /data
USER 10001
EXPOSE 8000

# One check for both roles: the provider answers /healthz on EXEUNT_PORT; a worker container (no
# server listening) has written its heartbeat in the last 30 s.
HEALTHCHECK --interval=10s --timeout=3s --start-period=15s --retries=3 \
    CMD ["exeunt", "healthcheck"]

CMD ["exeunt", "serve", "--host", "0.0.0.0"]
