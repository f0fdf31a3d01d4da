#!/bin/sh
# Installs the Debian libraries Qt's offscreen and xcb platforms load, but only those that are missing,
# and only where we are allowed to (root with apt-get). Elsewhere it names what to install.
set -u
missing=""
have() { ldconfig -p 2>/dev/null | grep -q "$1"; }
have libEGL.so.1         || missing="$missing libegl1"
have libxkbcommon.so.0   || missing="$missing libxkbcommon0"
have libGL.so.1          || missing="$missing libgl1"
have libfontconfig.so.1  || missing="$missing libfontconfig1"
have libdbus-1.so.3      || missing="$missing libdbus-1-3"
[ -z "$missing" ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing Qt system libraries:$missing"
  apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null
else
  echo "Qt needs these system libraries:$missing (e.g. sudo apt-get install$missing)" >&2
fi
exit 0
