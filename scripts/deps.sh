#!/usr/bin/env bash
# Install what cleat needs to build (and, with --test, to run its tests) on Debian 12.
set -euo pipefail

build_deps=(
    gcc g++ cmake make pkg-config binutils
    libgrpc-dev protobuf-c-compiler libprotobuf-c-dev
    libltdl-dev libyaml-dev liblmdb-dev libsystemd-dev
    libjansson-dev libarchive-dev libisal-dev libzstd-dev zlib1g-dev libssl-dev libcurl4-openssl-dev libseccomp-dev
    runc containernetworking-plugins iptables ca-certificates
)
test_deps=(
    libcmocka-dev clang libclang-rt-14-dev
    docker-registry skopeo umoci busybox-static apache2-utils openssl iproute2 util-linux strace apparmor
    python3 python3-grpcio python3-grpc-tools python3-pytest python3-yaml groff-base
)

pkgs=("${build_deps[@]}")
if [[ "${1:-}" == "--test" ]]; then
    pkgs+=("${test_deps[@]}")
fi

missing=()
for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
    echo "installing: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
