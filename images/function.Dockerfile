# syntax=docker/dockerfile:1.7
# Template for a function's image: the function's folder on top of the Flint watchdog base image.
# Build with the function's folder as the context, e.g. for examples/hello:
#   docker build -f images/function.Dockerfile -t ghcr.io/flint-dev/flint-example-hello:0.1.0 examples/hello
# then set `spec.image` in the Function manifest to that tag. Copy this file into your function's
# folder to change it; a .dockerignore there keeps files (node_modules, .git) out of the image.
ARG FLINT_VERSION=0.1.0

# Production dependencies, when the folder has a package.json; nothing otherwise.
FROM node:20-bookworm-slim AS deps
WORKDIR /function
COPY . .
RUN if [ -f package-lock.json ]; then npm ci --omit=dev --ignore-scripts --no-audit --no-fund; \
    elif [ -f package.json ]; then npm install --omit=dev --ignore-scripts --no-audit --no-fund; fi

FROM ghcr.io/flint-dev/flint-watchdog:${FLINT_VERSION}
COPY --from=deps /function /function
