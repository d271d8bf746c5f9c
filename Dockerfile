# One image for the API and the workers; the command picks the role (see docker-compose.yml).
#   docker build .                        the CPU image: torch's CPU build and onnxruntime
#                                         (the API, CPU workers)
#   docker build --build-arg GPU=1 .      the GPU image: torch's CUDA build and onnxruntime-gpu,
#                                         CUDA and cuDNN as wheels, no CPU onnxruntime; the host
#                                         needs only the NVIDIA driver and container toolkit
FROM python:3.11-slim
ARG GPU=0
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONUNBUFFERED=1 \
    GANFORGE_LOG_FORMAT=json GANFORGE_STATE_DIR=/data GANFORGE_ARTIFACTS_DIR=/artifacts
WORKDIR /app

# Dependencies first, from pyproject.toml alone, so a code change reuses this layer. The set is
# pyproject's dependencies with onnxruntime swapped for onnxruntime-gpu in the GPU image
# (docker/requirements.py), the client's own in place of the client; the projects then go in with
# --no-deps, since a plain `pip install .` would pull the CPU onnxruntime back beside onnxruntime-gpu.
COPY pyproject.toml ./
COPY clients/python/pyproject.toml clients/python/
COPY docker docker
RUN case "$GPU" in 0) device=cpu ;; 1) device=gpu ;; *) echo "GPU must be 0 or 1" >&2; exit 1 ;; esac \
 && python docker/requirements.py "$device" > /tmp/requirements.txt \
 && pip install -r /tmp/requirements.txt

COPY README.md ./
COPY service service
COPY workers workers
COPY models models
COPY training training
COPY clients/python clients/python
# The client (its own distribution, which the server requires) first, so `ganforge` (the CLI)
# works inside the image. The build fails here, not on the first job, if the wrong torch or
# ONNX Runtime came in (docker/check_image.py).
RUN pip install --no-deps ./clients/python . \
 && python docker/check_image.py "$GPU" \
 && ganforge --help > /dev/null

# Not root. Numeric, so Kubernetes' runAsNonRoot can verify it; it owns only the state and
# artifact folders (a new named volume mounted there takes this ownership).
RUN groupadd --gid 10001 ganforge \
 && useradd --uid 10001 --gid 10001 --create-home --shell /usr/sbin/nologin ganforge \
 && mkdir -p /data /artifacts && chown ganforge:ganforge /data /artifacts
USER 10001

EXPOSE 8000
# The API's liveness (the slim image has no curl); workers replace it with a Celery ping
# (docker-compose.yml).
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
  CMD ["python", "-c", "import os, urllib.request as r; r.urlopen('http://127.0.0.1:%s/health' % os.getenv('GANFORGE_PORT', '8000'), timeout=4)"]
CMD ["python", "-m", "service.api.app"]
