#!/bin/sh
# Writes the Vector512/256/128 instances of kernels.template.fs to stdout (splice.sh pastes them into
# ../FusedMlp.fs between the GENERATED markers). .NET's ISimdVector is internal, so one generic kernel over the
# three widths cannot be written; the three copies come from this one template instead.
d=$(dirname "$0")
for spec in "K512 Vector512 16" "K256 Vector256 8" "K128 Vector128 4"; do
  set -- $spec
  sed -e "s/KNAME/$1/g" -e "s/VEC/$2/g" -e "s/LANES/$3/g" "$d/kernels.template.fs"
done
