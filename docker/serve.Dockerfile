# The afx feature service (`afx serve`) with the CUDA backend: a multi-stage build on NVIDIA's CUDA images.
#   docker build -f docker/serve.Dockerfile -t afx-serve .
#   docker run --rm --gpus all -p 127.0.0.1:8080:8080 afx-serve      # then: curl localhost:8080/readyz
# or docker compose -f docker/compose.yaml up (token file, GPU reservation, drain period).
# Built on machines without a Docker engine: this file has not been built yet (see the README).
ARG CUDA_VERSION=12.8.1
ARG UBUNTU=ubuntu24.04

FROM nvidia/cuda:${CUDA_VERSION}-devel-${UBUNTU} AS build
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
WORKDIR /src
# The build packages come from scripts/deps, the list the README's commands install (versions: the Ubuntu
# release the base image pins).
COPY scripts/deps scripts/deps
RUN scripts/deps && rm -rf /var/lib/apt/lists/*
COPY . .
RUN cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DAFX_CUDA=ON -DAFX_BUILD_SERVE=ON \
      -DAFX_BUILD_TESTS=OFF -DAFX_BUILD_BENCH=OFF \
    && cmake --build build -j"$(nproc)" && cmake --install build --prefix /opt/afx
# The distribution packages that own the shared libraries afx links (libsndfile, soxr, kissfft,
# libmicrohttpd, jansson and theirs), found from the binary itself instead of hard-coded names; the CUDA
# libraries come with the runtime base image.
RUN for lib in $(ldd /opt/afx/bin/afx | awk '/=> \//{print $3}'); do \
      dpkg -S "$lib" 2>/dev/null || dpkg -S "$(realpath "$lib")" 2>/dev/null || true; \
    done | cut -d: -f1 | sort -u | grep -v -E '^(libc6|libgcc-s1|libstdc\+\+6|cuda-|libcu|libnv)' \
      > /opt/afx/runtime-packages && cat /opt/afx/runtime-packages

FROM nvidia/cuda:${CUDA_VERSION}-runtime-${UBUNTU}
COPY --from=build /opt/afx /opt/afx
RUN apt-get update \
    && xargs -a /opt/afx/runtime-packages env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin afx
ENV LD_LIBRARY_PATH=/opt/afx/lib
USER 10001
EXPOSE 8080
# SIGTERM drains in-flight requests (--drain-seconds, 30 by default), then the process exits 0.
STOPSIGNAL SIGTERM
ENTRYPOINT ["/opt/afx/bin/afx", "serve"]
CMD ["--host", "0.0.0.0", "--port", "8080", "--backend", "auto"]
