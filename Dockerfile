# Image for docker-compose.dev.yml: one image, one platform process per service.
FROM debian:bookworm

ENV DEBIAN_FRONTEND=noninteractive \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1

RUN apt-get update \
    && apt-get install -y --no-install-recommends \
        ca-certificates python3 python3-venv npm \
        crun conmon busybox-static debootstrap nftables iproute2 skopeo procps \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /srv/dockyard

# Python packages first, so a code change does not reinstall them.
COPY requirements.txt requirements-dev.txt ./
COPY scripts/setup.py scripts/setup.py
RUN python3 scripts/setup.py --only venv

COPY . .
RUN python3 scripts/setup.py --only npm

ENV PATH=/srv/dockyard/.venv/bin:$PATH \
    DOCKYARD_ROOT=/var/lib/dockyard \
    DOCKYARD_RUN_DIR=/run/dockyard

CMD ["python", "-m", "dockyard.launcher"]
