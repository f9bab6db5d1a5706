#!/bin/sh
# unit.layers: core/ depends one way. A file in one layer may include its own layer and
# the layers below it, never one above. Usage: check_layers.sh <repo root>
#
#   common < config < resp < route < request < net < pool < topology < pubsub < cache < client
#
# route/ sits below request/ because a Request carries its routing facts (CommandInfo,
# slot, split); route/ itself is pure functions over bytes and needs nothing above resp/.
set -u
root=${1:?usage: check_layers.sh <repo root>}
order="common config resp route request net pool topology pubsub cache client"

rank() {
  i=0
  for l in $order; do
    [ "$l" = "$1" ] && { echo $i; return; }
    i=$((i + 1))
  done
  echo -1
}

status=0
files=$(find "$root/core" -name '*.h' -o -name '*.cpp' | sort)
[ -n "$files" ] || { echo "no sources under $root/core"; exit 1; }
for f in $files; do
  rel=${f#"$root/"}
  layer=$(echo "$rel" | cut -d/ -f2)
  from=$(rank "$layer")
  if [ "$from" -lt 0 ]; then
    echo "$rel: folder core/$layer/ is in no layer (add it to the order in $0)"
    status=1
    continue
  fi
  # Only quoted includes of core/ name our own layers; <...> are system and libraries.
  # shellcheck disable=SC2013  # an include path is one word
  for inc in $(sed -n 's|^[[:space:]]*#[[:space:]]*include[[:space:]]*"\(core/[^"]*\)".*|\1|p' "$f"); do
    to=$(rank "$(echo "$inc" | cut -d/ -f2)")
    if [ "$to" -lt 0 ] || [ "$to" -gt "$from" ]; then
      echo "$rel includes $inc: $layer/ may include only $(echo "$order" | cut -d' ' -f1-$((from + 1)))"
      status=1
    fi
  done
done
[ $status -eq 0 ] && echo "layers ok: $order"
exit $status
