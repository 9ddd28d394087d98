# `docker build .` gives the service image (the last stage, `runtime`).
# `docker build --target test .` gives the same image with the dev tools and the test suite.

# What both final images share: the interpreter settings and the unprivileged user `wallet`
# (uid 10001). USER names it by number so that a runtime can verify it is not root.
FROM python:3.11-slim AS base
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PATH=/opt/venv/bin:$PATH
RUN groupadd --gid 10001 wallet \
    && useradd --uid 10001 --gid wallet --no-create-home --home-dir /app \
        --shell /usr/sbin/nologin wallet \
    && install -d -o wallet -g wallet /app
WORKDIR /app

# The package and its dependencies in a virtualenv; the source stays in this stage. The
# virtualenv gets no pip or setuptools of its own (the base image's pip installs into it): the
# service needs neither, and they are a fifth of its size.
FROM python:3.11-slim AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1
WORKDIR /src
# The dependencies exactly as locked (`make lock`), each file checked against its hash; a layer
# of their own, rebuilt only when the lock changes. No embedded PostgreSQL: DATABASE_URL names
# the database.
COPY requirements/service.txt requirements/
RUN python -m venv --without-pip /opt/venv \
    && pip --python /opt/venv/bin/python install --require-hashes -r requirements/service.txt
# pyproject.toml names README.md as the package's readme: the build fails without it.
COPY pyproject.toml README.md LICENSE ./
COPY src ./src
RUN pip --python /opt/venv/bin/python install --no-deps .

# The same virtualenv with the development set, as locked (pytest, httpx, ruff, mypy, ...).
FROM build AS build-test
COPY requirements/dev.txt requirements/
RUN pip --python /opt/venv/bin/python install --require-hashes -r requirements/dev.txt

# The test suite, run against the PostgreSQL named by WALLET_TEST_DATABASE_URL.
FROM base AS test
COPY --from=build-test /opt/venv /opt/venv
COPY --chown=wallet:wallet . /app
USER 10001:10001
CMD ["python", "-m", "pytest", "-q"]

# The service. Migrations run at start through `serve`; DATABASE_URL names the database.
FROM base AS runtime
COPY --from=build /opt/venv /opt/venv
# The commit the image was built from, for the wallet_build_info metric:
# docker build --build-arg REVISION=$(git rev-parse --short HEAD) .
ARG REVISION=unknown
ENV WALLET_BUILD_REVISION=$REVISION
LABEL org.opencontainers.image.title="wallet-api" \
      org.opencontainers.image.licenses="MIT" \
      org.opencontainers.image.revision=$REVISION
USER 10001:10001
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/health/live', timeout=2)"]
CMD ["wallet-api", "serve", "--host", "0.0.0.0", "--port", "8000"]
