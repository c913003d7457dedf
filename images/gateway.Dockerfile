# syntax=docker/dockerfile:1.7
# The Flint gateway: `node dist/gateway/main.js` as user 10001, on a Node runtime with no shell.
# Build from the repository root:
#   docker build -f images/gateway.Dockerfile -t ghcr.io/flint-dev/flint-gateway:0.1.0 .
# (Not built in this repository's CI, which has no Docker; images/images.test.ts checks it by reading.)

# Compile the TypeScript, then keep only the production dependencies.
FROM node:20-bookworm-slim AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
COPY . .
RUN npx tsc -p tsconfig.build.json && npm prune --omit=dev --no-audit --no-fund --loglevel=error

# distroless: node and its libraries only; no shell, no package manager. Its entrypoint is node.
FROM gcr.io/distroless/nodejs20-debian12:nonroot
WORKDIR /app
ENV NODE_ENV=production
# package.json: the gateway reads its version from it.
COPY --from=build /src/package.json ./package.json
COPY --from=build /src/node_modules ./node_modules
COPY --from=build /src/dist ./dist
USER 10001:10001
EXPOSE 8080
CMD ["dist/gateway/main.js"]
