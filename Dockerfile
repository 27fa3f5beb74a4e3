# syntax=docker/dockerfile:1

# viet-stt images.
#
#   CPU, the default (last) stage:   docker build -t viet-stt .
#   GPU, CUDA 12 + cuDNN 9:          docker build --target gpu -t viet-stt:gpu .
#
# Both run the service compiled to JavaScript (dist/, built here by `npm run build` as `npm start`
# builds it; no TypeScript loader, no sources and nothing of test/, bench/ or testkit/ in the
# image), and start node itself rather than npm, so that the SIGTERM of `docker stop` reaches the
# service, which then finishes its running jobs and exits. The model is not baked in: /app/models
# is a volume, filled on first start (the checkpoint is fetched from Hugging Face and converted to
# ONNX) unless MODEL_AUTO_FETCH=false. compose.yaml runs either image.
#
# The npm install is the one .ci/run does (test/docker/dockerfile.test.ts holds them together),
# so every CI run proves the lockfile installs as the image installs it.

# Base images; override with --build-arg (or pin a digest here for byte-identical rebuilds).
ARG NODE_IMAGE=node:24-bookworm-slim
ARG CUDA_IMAGE=nvidia/cuda:12.6.3-cudnn-runtime-ubuntu22.04

# -------------------------------------------------------------------------------------------
# node-base: Node.js 24 (LTS) on Debian bookworm. It installs both images' dependencies and gives
# the GPU image its node binary, so that both images run the very same Node.
FROM ${NODE_IMAGE} AS node-base

# -------------------------------------------------------------------------------------------
# deps: every dependency, dev ones included (the build needs TypeScript).
FROM node-base AS deps
WORKDIR /app
COPY package.json package-lock.json .npmrc ./
# .ci/run's install: the lockfile exactly, with package.json's allowScripts denying
# onnxruntime-node's install script (no CUDA download; npm 11.16 and newer read it).
RUN npm ci --no-audit --no-fund

# -------------------------------------------------------------------------------------------
# build: the service compiled into dist/ (every .ts of src/ and adapters/, and the upload page's
# files), by the same `npm run build` that `npm start` runs. Both images copy dist/ alone.
FROM deps AS build
COPY tsconfig.json tsconfig.build.json ./
COPY scripts ./scripts
COPY src ./src
COPY adapters ./adapters
RUN npm run build

# -------------------------------------------------------------------------------------------
# prod-deps: the CPU image's node_modules. Drop what the running service does not need: dev
# dependencies (TypeScript, tsx), onnxruntime's binaries for other platforms (~240 MB) and its
# execution providers beyond the CPU one (there only if an npm older than 11.16 ran its install
# script), and the npm-shipped ffmpeg (the image has Debian's, set in FFMPEG_PATH). Last, check
# that onnxruntime still loads.
FROM deps AS prod-deps
RUN npm prune --omit=dev --no-audit --no-fund \
    && find node_modules/onnxruntime-node/bin/napi-v6 -mindepth 2 -maxdepth 2 -type d ! -path "*/linux/$(node -p process.arch)" -exec rm -rf {} + \
    && rm -f node_modules/onnxruntime-node/bin/napi-v6/linux/*/libonnxruntime_providers_*.so \
    && rm -rf node_modules/@ffmpeg-installer/linux-* \
    && node -e "require('onnxruntime-node')"

# -------------------------------------------------------------------------------------------
# deps-gpu: the GPU image's node_modules. The same install, then onnxruntime-node's install
# script run as README.md's GPU section runs it (ONNXRUNTIME_NODE_INSTALL=cuda12): it
# downloads its CUDA 12 execution provider (libonnxruntime_providers_cuda.so and
# libonnxruntime_providers_shared.so, from NuGet's Microsoft.ML.OnnxRuntime.Gpu.Linux at
# onnxruntime's own version) next to its binding; it needs CUDA 12 and cuDNN 9 at run time.
# The build fails if that download does. The TensorRT provider it also brings is removed: it
# needs TensorRT, which the image does not have, and the service never asks for it.
FROM node-base AS deps-gpu
WORKDIR /app
COPY package.json package-lock.json .npmrc ./
RUN npm ci --no-audit --no-fund \
    && ONNXRUNTIME_NODE_INSTALL=cuda12 node node_modules/onnxruntime-node/script/install.js \
    && npm prune --omit=dev --no-audit --no-fund \
    && test -f node_modules/onnxruntime-node/bin/napi-v6/linux/x64/libonnxruntime_providers_cuda.so \
    && find node_modules/onnxruntime-node/bin/napi-v6 -mindepth 2 -maxdepth 2 -type d ! -path "*/linux/x64" -exec rm -rf {} + \
    && rm -f node_modules/onnxruntime-node/bin/napi-v6/linux/x64/libonnxruntime_providers_tensorrt.so \
    && rm -rf node_modules/@ffmpeg-installer/linux-*

# -------------------------------------------------------------------------------------------
# gpu: NVIDIA's CUDA 12 runtime with cuDNN 9 on Ubuntu 22.04, Node 24 from node-base, ffmpeg
# from Ubuntu. Run it with the NVIDIA container toolkit (docker run --gpus all, or compose.yaml's
# gpu profile).
FROM ${CUDA_IMAGE} AS gpu
# ffmpeg, and a `node` user with the node image's uid and gid (1000), so that a models volume
# moves between the two images.
# hadolint ignore=DL3008
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ffmpeg \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --gid 1000 node \
    && useradd --uid 1000 --gid node --shell /bin/bash --create-home node
COPY --from=node-base /usr/local/bin/node /usr/local/bin/node
WORKDIR /app
COPY --from=deps-gpu /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
COPY bin ./bin
# The volumes' mount points, owned by the service's user: the first start writes the model and
# the store there (a fresh named volume takes this ownership). They must exist before VOLUME.
RUN mkdir -p /app/models /app/data && chown node:node /app/models && chown node:node /app/data
# NODE_ENV: production mode for the libraries that read it.
ENV NODE_ENV=production
# HOST: listen on every interface of the container (the service's default, made explicit).
# PORT: the HTTP port; EXPOSE below and compose.yaml's port mapping say the same.
ENV HOST=0.0.0.0 \
    PORT=8789
# MODEL_DIR: the model folder, inside the models volume; fetched and converted there on first
# start when empty (set MODEL_AUTO_FETCH=false to forbid that and bring the folder yourself).
ENV MODEL_DIR=/app/models/wav2vec2-base-vietnamese-160h
# DATA_DIR: the chats' settings and their opt-in history (SQLite), in a volume of its own so they
# outlive the container (set DATABASE_URL to keep them in PostgreSQL instead).
ENV DATA_DIR=/app/data
# FFMPEG_PATH: the distribution's ffmpeg installed above (the npm one is not in the image).
ENV FFMPEG_PATH=/usr/bin/ffmpeg
# DEVICE: cuda, so that a GPU that cannot be used stops the service at start with the reason,
# instead of running on CPU unnoticed (set DEVICE=auto to allow that fallback).
ENV DEVICE=cuda
# Every other setting (LOG_LEVEL, API_KEY, bot tokens, queue and limits) keeps the service's
# default; pass them with -e or an env file. README.md's settings table lists them all.
VOLUME ["/app/models", "/app/data"]
EXPOSE 8789
# Healthy once the service listens and answers /healthz (no curl in the image: node asks). The
# first start may spend minutes fetching and converting the model, hence the start period.
HEALTHCHECK --interval=30s --timeout=5s --start-period=10m --retries=3 \
    CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.PORT || 8789) + '/healthz', { signal: AbortSignal.timeout(4000) }).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
USER node
STOPSIGNAL SIGTERM
CMD ["node", "dist/src/main.js"]

# -------------------------------------------------------------------------------------------
# cpu: the default image, on node:24-bookworm-slim with Debian's ffmpeg.
FROM node-base AS cpu
# hadolint ignore=DL3008
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ffmpeg \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY --from=prod-deps /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
COPY bin ./bin
# The volumes' mount points, owned by the service's user (the node image's `node`, uid 1000): the
# first start writes the model and the store there (a fresh named volume takes this ownership).
# They must exist before VOLUME is declared.
RUN mkdir -p /app/models /app/data && chown node:node /app/models && chown node:node /app/data
# NODE_ENV: production mode for the libraries that read it.
ENV NODE_ENV=production
# HOST: listen on every interface of the container (the service's default, made explicit).
# PORT: the HTTP port; EXPOSE below and compose.yaml's port mapping say the same.
ENV HOST=0.0.0.0 \
    PORT=8789
# MODEL_DIR: the model folder, inside the models volume; fetched and converted there on first
# start when empty (set MODEL_AUTO_FETCH=false to forbid that and bring the folder yourself).
ENV MODEL_DIR=/app/models/wav2vec2-base-vietnamese-160h
# DATA_DIR: the chats' settings and their opt-in history (SQLite), in a volume of its own so they
# outlive the container (set DATABASE_URL to keep them in PostgreSQL instead).
ENV DATA_DIR=/app/data
# FFMPEG_PATH: Debian's ffmpeg installed above (the npm one is not in the image).
ENV FFMPEG_PATH=/usr/bin/ffmpeg
# DEVICE: cpu; this image has no CUDA files (use the gpu target for that).
ENV DEVICE=cpu
# Every other setting (LOG_LEVEL, API_KEY, bot tokens, queue and limits) keeps the service's
# default; pass them with -e or an env file. README.md's settings table lists them all.
VOLUME ["/app/models", "/app/data"]
EXPOSE 8789
# Healthy once the service listens and answers /healthz (no curl in the image: node asks). The
# first start may spend minutes fetching and converting the model, hence the start period.
HEALTHCHECK --interval=30s --timeout=5s --start-period=10m --retries=3 \
    CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.PORT || 8789) + '/healthz', { signal: AbortSignal.timeout(4000) }).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
USER node
STOPSIGNAL SIGTERM
CMD ["node", "dist/src/main.js"]
