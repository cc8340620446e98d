# fileset-ingest runtime image: the compiled CLI and the SQL migrations.
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY bin ./bin
COPY sql ./sql
# npm ci builds (prepare): tsc, then the embedded database seed (scripts/pglite-seed.ts).
COPY scripts/pglite-seed.ts ./scripts/
RUN npm ci --no-audit --no-fund && npm prune --omit=dev

FROM node:20-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production FILESET_DATA_DIR=/data
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
COPY bin ./bin
COPY sql ./sql
# The workers run as node: their data volume must be theirs to write.
RUN mkdir -p /data && chown node:node /data
VOLUME /data
USER node
ENTRYPOINT ["node", "/app/bin/fileset-ingest.js"]
CMD ["--help"]
