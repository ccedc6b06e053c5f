#!/usr/bin/env bash
# Builds the Debian package the way the README says (dpkg-buildpackage -us -uc -b), from a
# copy of this tree so that the tree itself is left clean: the work tree as it is, without
# .git and build directories. Usage: build_deb.sh OUT
#   OUT/tree/pushgate_<version>_<arch>.deb   and the rest of dpkg-buildpackage's output (the
#                                            copy of the tree is deleted after the build)
#   OUT/build.log                            its output, and the time it took on the last line
#   OUT/status                               its exit status, written last (wait for this file)
# DEB_BUILD_OPTIONS defaults to "nocheck parallel=2": the suite runs the unit tests in its own
# sanitizer build, so the package's copy of them would only cost minutes.
set -uo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
out=${1:?usage: build_deb.sh OUT}
rm -rf "$out/tree" "$out/status"
mkdir -p "$out/tree/pushgate"
tar -C "$root" --exclude=./.git --exclude=./build --exclude='./build-*' --exclude=__pycache__ \
  --exclude=./debian/build --exclude=./debian/pushgate --exclude=./debian/.debhelper -cf - . \
  | tar -C "$out/tree/pushgate" -xf -
start=$(date +%s)
(cd "$out/tree/pushgate" &&
  DEB_BUILD_OPTIONS=${DEB_BUILD_OPTIONS:-nocheck parallel=2} nice -n 19 dpkg-buildpackage -us -uc -b) \
  >"$out/build.log" 2>&1 </dev/null
rc=$?
echo "build_deb.sh: dpkg-buildpackage exited $rc after $(($(date +%s) - start)) s" >>"$out/build.log"
rm -rf "$out/tree/pushgate"
echo "$rc" >"$out/status.tmp" && mv "$out/status.tmp" "$out/status"
exit "$rc"
