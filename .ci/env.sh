# Sourced by the test scripts: the cached tools come after the machine's own on PATH.
export PATH="$PATH:$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/cache/bin"
