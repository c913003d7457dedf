# syntax=docker/dockerfile:1.7
# The Flint watchdog base image: every function image is built FROM it (images/function.Dockerfile),
# and the controller runs it in front of http-mode images that serve HTTP themselves.
# Entrypoint `node /flint/dist/watchdog/main.js`, working directory /function, user 10001.
# Build from the repository root:
#   docker build -f images/watchdog.Dockerfile -t ghcr.io/flint-dev/flint-watchdog:0.1.0 .
# (Not built in this repository's CI, which has no Docker; images/images.test.ts checks it by reading.)

# Compile the TypeScript, then keep only the production dependencies.
FROM node:20-bookworm-slim AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
COPY . .
RUN npx tsc -p tsconfig.build.json && npm prune --omit=dev --no-audit --no-fund --loglevel=error

# Not distroless: exec-mode functions run programs and scripts (`./shout.sh`), which want a shell and
# the usual tools. npm, npx, yarn and corepack are removed: a function image installs its
# dependencies in a build stage of its own.
FROM node:20-bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends tini \
 && rm -rf /var/lib/apt/lists/* \
    /usr/local/lib/node_modules/npm /usr/local/lib/node_modules/corepack \
    /usr/local/bin/npm /usr/local/bin/npx /usr/local/bin/corepack /usr/local/bin/yarn /usr/local/bin/yarnpkg /opt/yarn-*
ENV NODE_ENV=production
COPY --from=build /src/package.json /flint/package.json
COPY --from=build /src/node_modules /flint/node_modules
COPY --from=build /src/dist /flint/dist
# The function's files go here (COPY . /function); handler.entry and relative commands resolve here.
WORKDIR /function
# The same uid the controller runs function pods as (runAsUser 10001); the root filesystem is
# read-only there, /tmp is writable and HOME points at it.
USER 10001:10001
ENV HOME=/tmp
EXPOSE 8080
# tini as PID 1 reaps the orphans of exec-mode programs and passes SIGTERM on, so the watchdog drains.
ENTRYPOINT ["/usr/bin/tini", "--", "node", "/flint/dist/watchdog/main.js"]
