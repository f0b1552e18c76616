# syntax=docker/dockerfile:1.7
# Gantry's runner image for submissions in Node 20 (the base image's, also at /usr/bin/node as the
# language row runs it): the toolchain, Node, the runner bundle and an execute-only Node at
# /opt/gantry, as the Kubernetes Job template of kind `submission` (src/core/kubernetes-objects.ts)
# runs it. Its name is the language table's `image` (src/core/languages.ts); build from the
# repository root (deploy/README.md):
#   docker build -f deploy/runner/node.Dockerfile -t ghcr.io/gantry-dev/runner-node:20 .

# ---- shared: the runner bundle (the same in every runner Dockerfile; test/deploy checks) ----
FROM node:20.20.2-bookworm-slim AS bundle
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund --loglevel=error --ignore-scripts
COPY tsconfig.json ./
COPY src ./src
COPY scripts/build-runner-bundle.ts ./scripts/
RUN node --import tsx scripts/build-runner-bundle.ts /out
# ---- end shared ----

FROM node:20.20.2-bookworm-slim
LABEL dev.gantry.image="ghcr.io/gantry-dev/runner-node:20" \
      org.opencontainers.image.title="gantry-runner-node" \
      org.opencontainers.image.licenses="Apache-2.0"
RUN apt-get update \
    && apt-get install -y --no-install-recommends time \
    && rm -rf /var/lib/apt/lists/* \
    && ln -s /usr/local/bin/node /usr/bin/node

# ---- shared: the runner at the paths the Job template runs (the same in every runner Dockerfile) ----
# /opt/gantry/node is an execute-only copy of Node (root's, mode 0711): a process that execs a
# program it cannot read is non-dumpable, so submitted code of the same uid can read neither the
# runner's environment nor its memory (the expected outputs), nor ptrace it. /usr/bin/time and
# prlimit (util-linux) measure and limit each case.
COPY --from=bundle --chown=0:0 --chmod=0444 /out/gantry-runner.mjs /opt/gantry/gantry-runner.mjs
RUN install -o 0 -g 0 -m 0711 /usr/local/bin/node /opt/gantry/node \
    && test -x /usr/bin/time && test -x /usr/bin/prlimit \
    && mkdir -p /work && chown 65532:65532 /work
ENV HOME=/work TMPDIR=/tmp LANG=C.UTF-8
WORKDIR /work
USER 65532:65532
ENTRYPOINT ["/opt/gantry/node", "/opt/gantry/gantry-runner.mjs"]
# ---- end shared ----
