#!/usr/bin/env bash
# Sets up the machine (idempotent), builds, and runs the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x /opt/swift/usr/bin/swift ] && export PATH="$PATH:/opt/swift/usr/bin"
Tools/setup.sh
swift build --build-tests
# The tests find executables (skydiag, skyedge, skyhub) in the debug build folder.
swift test --skip-build "$@"
