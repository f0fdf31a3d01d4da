#!/bin/sh
# Installs the Debian libraries Qt's offscreen platform loads (tests, benchmarks) and, with the argument
# "gui", those its xcb platform loads on an X11 desktop (since Qt 6.5 it will not start without
# libxcb-cursor0) -- but only those that are missing, and only where we are allowed to (root with apt-get).
# Elsewhere it names what to install.
set -u
missing=""
have() { ldconfig -p 2>/dev/null | grep -q "$1"; }
have libEGL.so.1         || missing="$missing libegl1"
have libxkbcommon.so.0   || missing="$missing libxkbcommon0"
have libGL.so.1          || missing="$missing libgl1"
have libfontconfig.so.1  || missing="$missing libfontconfig1"
have libdbus-1.so.3      || missing="$missing libdbus-1-3"
if [ "${1:-}" = gui ]; then
  have libxcb-cursor.so.0       || missing="$missing libxcb-cursor0"
  have libxcb-icccm.so.4        || missing="$missing libxcb-icccm4"
  have libxcb-keysyms.so.1      || missing="$missing libxcb-keysyms1"
  have libxcb-image.so.0        || missing="$missing libxcb-image0"
  have libxcb-render-util.so.0  || missing="$missing libxcb-render-util0"
  have libxcb-shape.so.0        || missing="$missing libxcb-shape0"
  have libxcb-randr.so.0        || missing="$missing libxcb-randr0"
  have libxcb-xkb.so.1          || missing="$missing libxcb-xkb1"
  have libxkbcommon-x11.so.0    || missing="$missing libxkbcommon-x11-0"
  have libX11-xcb.so.1          || missing="$missing libx11-xcb1"
fi
[ -z "$missing" ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "==> installing the Qt system libraries that are missing (apt-get):$missing"
  apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q $missing
else
  echo "Qt needs these system libraries:$missing (e.g. sudo apt-get install$missing)" >&2
fi
exit 0
