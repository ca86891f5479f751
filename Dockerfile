# Polyvox, CPU only. Build: docker build -t polyvox .   Run: docker run -p 8000:8000 polyvox
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    POLYVOX_SERVER__HOST=0.0.0.0 \
    POLYVOX_SERVER__PORT=8000 \
    POLYVOX_DATA_DIR=/data \
    POLYVOX_LOGGING__FORMAT=json

# ffmpeg libraries come with PyAV's wheels; libgomp is needed by onnxruntime.
RUN apt-get update \
    && apt-get install -y --no-install-recommends libgomp1 curl \
    && rm -rf /var/lib/apt/lists/*

RUN useradd --create-home --uid 1000 polyvox \
    && mkdir -p /data && chown polyvox /data
WORKDIR /app
COPY pyproject.toml README.md LICENSE* ./
COPY src ./src
RUN pip install .

USER polyvox
VOLUME ["/data"]
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=120s \
    CMD curl -fsS http://127.0.0.1:8000/ready || exit 1
# SIGTERM lets in-flight streams finish for POLYVOX_LIMITS__SHUTDOWN_GRACE seconds, then exits 0.
STOPSIGNAL SIGTERM
CMD ["polyvox", "serve"]
