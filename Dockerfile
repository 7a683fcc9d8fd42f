# bluegreen-guard image: built from the workspace, run as a static-ish binary on
# distroless (glibc + CA certificates, no shell), as the nonroot user.
#   docker build -t bluegreen-guard .
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p bluegreen-guard \
 && cp target/release/bluegreen-guard /bluegreen-guard

FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /bluegreen-guard /usr/local/bin/bluegreen-guard
USER 65532:65532
EXPOSE 8443 8080
ENTRYPOINT ["/usr/local/bin/bluegreen-guard"]
