#!/bin/sh
# Installs the Debian packages a target needs, only those missing.
# Usage: scripts/deps.sh PKG...   (does nothing for packages already installed)
missing=""
for p in "$@"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" != 0 ]; then
	echo "tunbatch: missing packages:$missing (install them as root, or run make as root)" >&2
	exit 1
fi
echo "tunbatch: installing$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null && apt-get install -y -qq --no-install-recommends $missing >/dev/null
