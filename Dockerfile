# Image for docker-compose.dev.yml: one image, one process per service (the platform's, and
# Debian's PostgreSQL and Redis). Build with the host's network where the daemon gives
# containers no egress: `docker build --network host .`
FROM debian:bookworm

ENV DEBIAN_FRONTEND=noninteractive \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1

RUN apt-get update \
    && apt-get install -y --no-install-recommends \
        ca-certificates python3 python3-venv npm \
        crun conmon busybox-static debootstrap nftables iproute2 skopeo procps \
        postgresql redis-server \
    && rm -rf /var/lib/apt/lists/*

# The site's own trust anchors (PEM text), e.g. a TLS-inspecting proxy's CA: pip and npm carry
# CA bundles of their own, so both are pointed at the system's, which holds these too.
ARG LOCAL_CA_CERTS=""
RUN if [ -n "$LOCAL_CA_CERTS" ]; then \
        printf '%s\n' "$LOCAL_CA_CERTS" > /usr/local/share/ca-certificates/local.crt \
        && update-ca-certificates; \
    fi
ENV PIP_CERT=/etc/ssl/certs/ca-certificates.crt \
    NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt

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
