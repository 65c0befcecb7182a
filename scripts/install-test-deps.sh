#!/bin/sh
# Installs the third-party peers the tests run against, when they are missing. Safe to run repeatedly.
# Debian packages need root (or sudo); without either, the missing list is printed and the script fails.
set -e
DEB_PACKAGES="mosquitto mosquitto-clients python3-pymodbus python3-serial-asyncio socat dbus-daemon python3-grpcio python3-grpc-tools"

missing=""
for p in $DEB_PACKAGES; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
	echo "installing Debian packages:$missing"
	SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
	$SUDO apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $missing
fi

# The OPC-UA peer (node-opcua on Node 24 from the npm registry).
"$(dirname "$0")/install-opcua-peer.sh"
