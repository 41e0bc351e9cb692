#!/bin/sh
# Replaces the lines between "// BEGIN GENERATED KERNELS" and "// END GENERATED KERNELS" in ../FusedMlp.fs
# with generate.sh's output. Edit kernels.template.fs, then run this.
set -e
d=$(dirname "$0")
f="$d/../FusedMlp.fs"
gen=$(mktemp)
"$d/generate.sh" > "$gen"
awk -v gen="$gen" '
  /\/\/ BEGIN GENERATED KERNELS/ { print; while ((getline line < gen) > 0) print line; skip = 1; next }
  /\/\/ END GENERATED KERNELS/ { skip = 0 }
  !skip { print }' "$f" > "$f.tmp" && mv "$f.tmp" "$f"
rm -f "$gen"
