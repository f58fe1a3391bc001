# The simulator (feed + service + monitor) in one image: `docker compose up` runs it with Prometheus
# and Grafana (compose.yaml). Stage 1 compiles the fillsim Cython extension; stage 2 runs it with no
# compiler, as a non-root user, with every runtime file (orders.db, incidents.jsonl, quotes) in /data.
ARG PYTHON_VERSION=3.11

# ---------------------------------------------------------------- build: venv + in-place extension
FROM python:${PYTHON_VERSION}-bookworm AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /app
COPY pyproject.toml setup.py MANIFEST.in README.md requirements.txt ./
COPY fillsim/ fillsim/
COPY optsim/ optsim/
COPY static/ static/
COPY options_service.py mock_quote_feed.py monitor_poll.py incident_logger.py run_simulator.py ./
COPY runbook.md config.example.toml ./
# requirements.txt ends with `-e .`: the extension is built in place, next to the sources it belongs to
RUN pip install -r requirements.txt \
    && rm -rf build fillsim/*.c \
    && python -c "import fillsim, sys; sys.exit(fillsim.ENGINE != 'cython')"

# ---------------------------------------------------------------- runtime
FROM python:${PYTHON_VERSION}-slim-bookworm
RUN groupadd --system --gid 10001 optsim \
    && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin optsim \
    && mkdir /data \
    && chown 10001:10001 /data
COPY --from=build /opt/venv /opt/venv
COPY --from=build /app /app
ENV PATH=/opt/venv/bin:$PATH PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1
WORKDIR /app
USER 10001:10001
VOLUME ["/data"]
EXPOSE 8081
# liveness only (never the feed or the venues, which a drill breaks on purpose)
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8081/livez', timeout=2).status != 200)"]
ENTRYPOINT ["python", "run_simulator.py"]
# inside a container the service must listen beyond loopback for the published port to reach it
CMD ["--all", "--host", "0.0.0.0", "--data-dir", "/data"]
