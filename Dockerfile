# The mlserve runtime base image: a Python 3 base + the runtime's packages + the mlserve package.
# Serves any project mounted or copied at /app:
#   docker build -t mlserve-runtime .
#   docker run -p 8080:8080 -v "$PWD/my-project:/app" -e MLSERVE_API=my-api mlserve-runtime
# Where images cannot reach a package index, put wheels in .wheels/ first; they are then used
# instead of the index:  pip download -d .wheels -r mlserve/image/runtime-requirements.txt
# (`mlserve deploy` does not need this file: it renders a Dockerfile per project, see
# mlserve/image/dockerfile.py, with the same runtime packages and entrypoint.)
ARG BASE_IMAGE=python:3.11-slim
FROM ${BASE_IMAGE} AS packages
RUN python3 -m venv /opt/venv
COPY mlserve/image/runtime-requirements.txt .wheel[s] /tmp/packages/
RUN if ls /tmp/packages/*.whl >/dev/null 2>&1; then FROM_WHEELS="--no-index --find-links /tmp/packages"; fi; \
    /opt/venv/bin/pip install --no-cache-dir $FROM_WHEELS -r /tmp/packages/runtime-requirements.txt

FROM ${BASE_IMAGE}
ENV VIRTUAL_ENV=/opt/venv PATH=/opt/venv/bin:$PATH PYTHONPATH=/opt/mlserve \
    PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1
COPY --from=packages /opt/venv /opt/venv
COPY mlserve/ /opt/mlserve/mlserve/
WORKDIR /app
# Not root (numeric, as Kubernetes' runAsNonRoot needs); HOME holds the caches.
RUN mkdir -p /home/mlserve && chown 10001:10001 /home/mlserve
ENV MLSERVE_SPEC=/app/cortex.yaml MLSERVE_PORT=8080 MLSERVE_HOST=0.0.0.0 HOME=/home/mlserve MLSERVE_IN_IMAGE=1
USER 10001:10001
EXPOSE 8080
ENTRYPOINT ["python", "-m", "mlserve.runtime"]
