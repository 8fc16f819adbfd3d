# MinIO's community edition ships as source only: build the same pinned version deploy/local/minio.sh builds.
FROM golang:1.26.8-bookworm AS build
ARG MINIO_VERSION=v0.0.0-20260212201848-7aac2a2c5b7c
RUN CGO_ENABLED=0 go install github.com/minio/minio@${MINIO_VERSION}

FROM debian:12.11-slim
COPY --from=build /go/bin/minio /usr/local/bin/minio
RUN useradd --create-home --uid 10002 minio && mkdir /data && chown minio /data
USER minio
EXPOSE 9000 9001
ENTRYPOINT ["minio"]
CMD ["server", "/data", "--console-address", ":9001"]
