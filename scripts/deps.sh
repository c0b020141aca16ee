#!/usr/bin/env bash
# Install what cleat needs to build on Debian 12; with --test, also what its
# tests need (containerd only for its containerd-shim-runc-v2, the shim v2
# runtime-kata's tests drive; containerd itself never runs; the OCI specs'
# Go packages only for the JSON schemas they ship, which the e2e suites check
# every config.json and image document against; e2fsprogs and mount for the
# test snapshotter of ext4 images on loop devices: mkfs.ext4, debugfs,
# losetup; qemu-system-x86 for tests/guest/run-in-guest.sh, which boots
# Debian's own kernel under TCG for what this host's kernel lacks (the
# device-mapper thin-pool snapshotter), that kernel itself fetched by
# tests/guest/fetch-kernel.sh without installing it, xz-utils to unpack it
# for a faster boot, kmod for lsmod/modinfo in the guest, xfsprogs for the
# snapshotter's xfs option); with --package,
# also what building the Debian package and installing it into a fresh root
# (scripts/package-test.sh) need.
#
#   scripts/deps.sh [--test] [--package]
set -euo pipefail

build_deps=(
    gcc g++ cmake make pkg-config binutils
    libgrpc-dev protobuf-c-compiler libprotobuf-c-dev
    libltdl-dev libyaml-dev liblmdb-dev libsystemd-dev
    libjansson-dev libarchive-dev libisal-dev libzstd-dev zlib1g-dev libssl-dev libcurl4-openssl-dev libseccomp-dev
    libgpgme-dev
    runc containernetworking-plugins iptables ca-certificates
)
test_deps=(
    libcmocka-dev clang libclang-rt-14-dev clang-format
    docker-registry skopeo gpg gpgconf umoci busybox-static apache2-utils openssl iproute2 util-linux strace apparmor
    e2fsprogs mount isal
    qemu-system-x86 xz-utils kmod xfsprogs
    python3 python3-grpcio python3-grpc-tools python3-pytest python3-yaml groff-base
    containerd
    golang-github-opencontainers-specs-dev golang-github-opencontainers-image-spec-dev python3-jsonschema
)

# Building the .debs (debian/) and installing them into a debootstrapped root.
package_deps=(
    debhelper dpkg-dev debootstrap
)

pkgs=("${build_deps[@]}")
want_test=0
for arg in "$@"; do
    case "$arg" in
    --test)
        pkgs+=("${test_deps[@]}")
        want_test=1
        ;;
    --package) pkgs+=("${package_deps[@]}") ;;
    *)
        echo "usage: $0 [--test] [--package]" >&2
        exit 2
        ;;
    esac
done

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

# The guest tests' kernel: downloaded and unpacked once into
# /var/cache/cleat-tests/guest-kernel (a no-op when it is already there).
if ((want_test)); then
    "$(dirname "$0")/../tests/guest/fetch-kernel.sh" >/dev/null
fi
