#!/usr/bin/env bash
# Instructions per push, independent of what else the machine is doing: pushgate runs
# under callgrind for 10,000 and for 30,000 publishes; the difference divided by 20,000
# removes start-up and shutdown. Takes about 3 minutes.
set -euo pipefail
cd "$(dirname "$0")/../.."
command -v valgrind >/dev/null || apt-get install -y -q valgrind >/dev/null
[ -f build-bench/build.ninja ] || meson setup build-bench --buildtype=release >/dev/null
ninja -C build-bench pushgate tests/bench_component_load >/dev/null
dir=$(mktemp -d)
cat > "$dir/pushgate" <<EOS
#!/bin/sh
exec valgrind --tool=callgrind --log-file=$dir/valgrind.log --callgrind-out-file=$dir/cg.\$PG_N $PWD/build-bench/pushgate "\$@"
EOS
chmod +x "$dir/pushgate"
for n in 10000 30000; do
  PG_N=$n build-bench/tests/bench_component_load "$dir/pushgate" $n 0 2000 >/dev/null
done
total() {
  callgrind_annotate "$1" > "$1.txt" 2>/dev/null || true
  awk '/PROGRAM TOTALS/ {gsub(",","",$1); print $1; exit}' "$1.txt"
}
a=$(total "$dir/cg.10000"); b=$(total "$dir/cg.30000")
echo "instructions per push: $(( (b - a) / 20000 ))"
{ callgrind_annotate --inclusive=no --threshold=100 "$dir/cg.30000" 2>/dev/null || true; } | grep -E '^ *[0-9,]+ \(.*\['  \
  | awk '{gsub(",","",$1); n=$1; obj=$NF; sub(/.*\//,"",obj); sub(/\]$/,"",obj); sum[obj]+=n; all+=n}
         END {for (o in sum) printf "  %-28s %5.1f%%\n", o, 100*sum[o]/all}' | sort -k2 -rn | head -6
rm -rf "$dir"
