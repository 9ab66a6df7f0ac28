# authlab as a container image: one static binary (CGO_ENABLED=0) on an empty
# base, run as an unprivileged user. No shell, no curl: container health
# checks run `authlab healthcheck URL`.
#
# With an image registry:   docker build -t authlab:local .
# Offline (no registry):    make compose-images
#   deploy/build-images.sh builds the binary on the host and builds the final
#   stage below (everything after its FROM line) from it, so the two images
#   are the same; the build stage is then never used.

ARG GO_VERSION=1.26
FROM golang:${GO_VERSION} AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags='-s -w' -o /out/authlab ./cmd/authlab \
	&& mkdir -m 1777 /out/tmp

# --- final stage: deploy/build-images.sh builds exactly this part ---
FROM scratch
# /authlab, and /tmp (mode 1777) for any file a command writes there.
COPY --from=build /out/ /
USER 65534:65534
ENTRYPOINT ["/authlab"]
CMD ["--help"]
