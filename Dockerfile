# Millrace in an empty image: one static binary, nothing else.
#
#   docker build -t millrace .
#   docker run -p 4567:4567 -v millrace-data:/data millrace
#
# docs/running.md ("Containers") explains the volume, the user, the health
# check and the settings. tests/container/run.sh runs the same build in an
# empty root directory, as this image's user, in CI.

ARG GO_VERSION=1.26

FROM golang:${GO_VERSION} AS build
WORKDIR /src
# Modules first, so that a source change does not download them again.
COPY go.mod go.sum ./
RUN go mod download
COPY . .
# Nothing in Millrace needs cgo (Pebble falls back to pure-Go zstd), so the
# binary is static and runs without a libc or a dynamic loader.
ARG VERSION=
RUN CGO_ENABLED=0 go build -trimpath \
	-ldflags="-s -w -X github.com/millrace/millrace/internal/cli.Version=${VERSION}" \
	-o /out/millrace ./cmd/millrace
# scratch has no shell to create the data directory in, so it is made here,
# owned by the user the server runs as.
RUN mkdir -p /out/data && chown 65532:65532 /out/data && chmod 0700 /out/data

FROM scratch
COPY --from=build /out/millrace /millrace
COPY --from=build --chown=65532:65532 /out/data /data
# A numeric user: scratch has no /etc/passwd to look a name up in.
USER 65532:65532
# Settings as environment variables rather than flags in CMD: `docker run
# IMAGE --in-memory` then keeps listening on every interface, `docker run
# -e MILLRACE_LISTEN=...` takes effect (a flag would override it), and
# `millrace health` reads the same address.
ENV MILLRACE_LISTEN=0.0.0.0:4567 \
	MILLRACE_DATA_DIR=/data
VOLUME /data
EXPOSE 4567
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 \
	CMD ["/millrace", "health"]
ENTRYPOINT ["/millrace"]
CMD ["serve"]
