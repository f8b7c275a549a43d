# Multi-stage build of the sequencer node: a static binary (cgo on, for the
# fast secp256k1 of go-ethereum, linked statically) on a distroless,
# non-root base.
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
# netgo, osusergo: Go's own DNS resolver and user lookup, not glibc's,
# which a static binary cannot load (distroless has no glibc).
RUN CGO_ENABLED=1 go build -trimpath -tags netgo,osusergo \
      -ldflags '-s -w -linkmode external -extldflags "-static"' \
      -o /out/sequencer ./cmd/sequencer

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/sequencer /usr/local/bin/sequencer
USER nonroot:nonroot
WORKDIR /data
# JSON-RPC + /metrics + /healthz, libp2p, and a cluster voter's Raft port.
EXPOSE 24444 24445 24446
VOLUME ["/data"]
ENTRYPOINT ["/usr/local/bin/sequencer"]
CMD ["run", "--datadir", "/data", "--rpc-addr", "0.0.0.0:24444", "--p2p-addr", "/ip4/0.0.0.0/tcp/24445"]
