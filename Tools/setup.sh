#!/usr/bin/env bash
# Installs what SkyEdge needs on Debian/Ubuntu, only what is missing (safe to rerun).
# Swift itself is expected to be installed (https://www.swift.org/install/linux/).
set -euo pipefail

packages=(libcfitsio-dev libv4l-dev libopenblas-dev libmosquitto-dev mosquitto pkg-config libsqlite3-dev
          # openssl: skyhub provision and its test (certificates); mosquitto also brings mosquitto_passwd.
          openssl
          # ARM int8 kernels are cross-compiled and run under qemu by the CSkyKernels tests.
          gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user
          # SIMDe (headers only): the tests run the AVX-512 VNNI kernel's own zmm code on CPUs
          # without AVX-512 by building the kernel harness with it; never linked into SkyEdge.
          libsimde-dev)

missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if ((${#missing[@]})); then
    echo "setup: installing ${missing[*]}"
    sudo=""
    if [ "$(id -u)" != 0 ]; then sudo="sudo"; fi
    export DEBIAN_FRONTEND=noninteractive
    $sudo apt-get update -qq
    $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
    echo "setup: system packages present"
fi

# The broker is started by the tests and the demo on a free port; the packaged
# service on 1883 is not needed.
if ! command -v mosquitto >/dev/null && [ ! -x /usr/sbin/mosquitto ]; then
    echo "setup: mosquitto broker not found after install" >&2
    exit 1
fi

if ! command -v swift >/dev/null; then
    if [ -x /opt/swift/usr/bin/swift ]; then
        echo "setup: swift is at /opt/swift/usr/bin; add it to PATH" >&2
    else
        echo "setup: Swift 6 is required: https://www.swift.org/install/linux/" >&2
    fi
    exit 1
fi
swift --version 2>/dev/null | head -1
