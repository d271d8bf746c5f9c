# One image for the API and the workers; the command picks the role (see docker-compose.yml).
FROM python:3.11-slim
WORKDIR /app
ENV PIP_NO_CACHE_DIR=1 PYTHONUNBUFFERED=1 GANFORGE_LOG_FORMAT=json GANFORGE_STATE_DIR=/data
# The CPU wheel of torch keeps the image small. GPU workers build with GPU=1: onnxruntime-gpu
# replaces onnxruntime (both install the same `onnxruntime` module, so only one may stay).
ARG GPU=0
COPY pyproject.toml README.md ./
COPY service service
COPY workers workers
COPY models models
COPY training training
RUN pip install --extra-index-url https://download.pytorch.org/whl/cpu . \
 && if [ "$GPU" = "1" ]; then pip uninstall -y onnxruntime && pip install ".[gpu]"; fi
EXPOSE 8000
CMD ["python", "-m", "service.api.app"]
