# AeroGrid service image: `aerogrid serve` as a non-root user, configured by environment
# (DATABASE_URL, AEROGRID_*). Without DATABASE_URL it runs the embedded PostgreSQL in /data.
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY app ./app
COPY missions ./missions
COPY geofences ./geofences
COPY simulator ./simulator
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

FROM python:3.11-slim
# proj-data: the EGM96 geoid grid, for the WGS-84 ellipsoid heights of DJI .kmz exports.
# Not pinned (DL3008): the base image's Debian release fixes the package, and a pinned version
# disappears from the archive at the next point release and breaks the build.
# hadolint ignore=DL3008
RUN apt-get update && apt-get install -y --no-install-recommends proj-data && rm -rf /var/lib/apt/lists/*
RUN useradd --create-home --uid 10001 aerogrid && mkdir /data && chown aerogrid /data
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir /wheels/*.whl && rm -rf /wheels
USER 10001
ENV AEROGRID_HOST=0.0.0.0 AEROGRID_PORT=8000 AEROGRID_DATA_DIR=/data AEROGRID_LOG_JSON=true
EXPOSE 8000
VOLUME ["/data"]
HEALTHCHECK --interval=30s --timeout=3s CMD ["python", "-c", "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2).status == 200 else 1)"]
CMD ["aerogrid", "serve"]
