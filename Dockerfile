# One image holds every synq binary; docker-compose.yml picks one per
# service with `command`. The build is reproducible: pinned toolchain,
# -trimpath, no build id, no VCS stamp, static binaries.
#
# It needs BuildKit (RUN --mount caches) and a registry (golang,
# distroless). No "# syntax=" line: it would make BuildKit pull its
# frontend image; the built-in frontend reads this file. Without a
# registry, `make images-offline` builds the same image from binaries built
# on the host (deploy/offline/images.sh; docs/compose.md).
ARG GO_VERSION=1.26.8

FROM golang:${GO_VERSION}-bookworm AS build
WORKDIR /src
ENV CGO_ENABLED=0 GOFLAGS="-trimpath -buildvcs=false" GOTOOLCHAIN=local
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    go build -ldflags="-s -w -buildid=" -o /out/ \
      ./cmd/scheduler ./cmd/executor ./cmd/ctl ./cmd/notion-emulator ./cmd/helpdesk
# The data directory volumes mount on (the emulator's): it must exist in
# the image and belong to nonroot (uid 65532), or a new volume is created
# root-owned and the nonroot process cannot write it.
RUN mkdir -p /data

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/ /usr/local/bin/
COPY --from=build --chown=65532:65532 /data /data
USER nonroot:nonroot
ENTRYPOINT []
CMD ["/usr/local/bin/scheduler"]
