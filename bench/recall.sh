#!/usr/bin/env bash
# Recall of the default rule pack on the development set of web shells, and the third-party
# pack (signature-base) through hashscan and through libyara, in one run:
#
#   bench/recall.sh                 (NO_BUILD=1 bench/recall.sh: use the release binary as is)
#   CORPUS=/path/to/corpus bench/recall.sh
#
# The corpus is ../shared/corpus beside the checkout (webshells-dev/ and
# third-party-rules/signature-base/gen_webshells.yar); without it the script says so and exits
# 0. Every file of webshells-dev with a script extension is a web shell, so a file that
# hashscan calls clean is a miss. Recall is printed per language (by extension; `x.asp.txt`
# counts as `asp`) and overall, then every missed file.
#
# The third-party pack is run through `hashscan scan --no-default-rules --rules PACK` and,
# when Debian's `yara` is installed, through `yara -r PACK`: the two must flag the same
# files (a matching rule is never reported clean, whatever the pack's score scale).
set -euo pipefail

cd "$(dirname "$0")/.."
CORPUS=${CORPUS:-../shared/corpus}
DEV="$CORPUS/webshells-dev"
PACK="$CORPUS/third-party-rules/signature-base/gen_webshells.yar"
if [ ! -d "$DEV" ]; then
  echo "recall: no development corpus at $DEV (the shared corpus is not beside this checkout); nothing to measure"
  exit 0
fi
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/hashscan-target}
if [ "${NO_BUILD:-}" != 1 ]; then
  cargo build --release -p hashscan >&2
fi
HS="$CARGO_TARGET_DIR/release/hashscan"
[ -x "$HS" ] || { echo "recall: $HS is missing (build it, or unset NO_BUILD)" >&2; exit 2; }

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
# Exit status 1 means "something found": expected here.
"$HS" scan -r --json "$DEV" >"$WORK/default.jsonl" 2>"$WORK/default.err" || [ $? -le 2 ]
if [ -f "$PACK" ]; then
  "$HS" scan -r --json --no-default-rules --rules "$PACK" "$DEV" >"$WORK/third.jsonl" \
    2>"$WORK/third.err" || [ $? -le 2 ]
  if command -v yara >/dev/null 2>&1; then
    yara -r "$PACK" "$DEV" >"$WORK/yara.txt" 2>"$WORK/yara.err" || true
  fi
fi

python3 - "$DEV" "$WORK" "$PACK" <<'PY'
import collections, json, os, sys

dev, work, pack = sys.argv[1:4]

def language(path):
    parts = os.path.basename(path).lower().split(".")
    exts = [p for p in parts[1:] if p not in ("txt",)]
    return exts[-1] if exts else "(none)"

def samples():
    out = []
    for d, _, files in os.walk(dev):
        for f in files:
            if f.lower().endswith(".md"):
                continue  # the collection's own README
            out.append(os.path.normpath(os.path.join(d, f)))
    return sorted(out)

def reports(name):
    path = os.path.join(work, name)
    out = {}
    if not os.path.exists(path):
        return None
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line:
                r = json.loads(line)
                out[os.path.normpath(r["path"])] = r
    return out

files = samples()
ours = reports("default.jsonl")
total = collections.Counter()
found = collections.Counter()
missed = []
for f in files:
    lang = language(f)
    total[lang] += 1
    r = ours.get(f)
    if r and r["verdict"] in ("suspicious", "malicious"):
        found[lang] += 1
    else:
        missed.append(f)

print(f"default pack on {dev}: {len(files)} files")
print(f"  {'language':10} {'found':>5} / {'files':<5} recall")
for lang in sorted(total, key=lambda l: (-total[l], l)):
    print(f"  {lang:10} {found[lang]:5} / {total[lang]:<5} {100 * found[lang] / total[lang]:5.1f}%")
n = sum(found.values())
print(f"  {'all':10} {n:5} / {len(files):<5} {100 * n / len(files):5.1f}%")
if missed:
    print(f"missed ({len(missed)}):")
    for f in missed:
        print(f"  {os.path.relpath(f, dev)}")

third = reports("third.jsonl")
if third is None:
    print(f"third-party pack: {pack} not found, skipped")
    sys.exit(0)
flagged = {p for p, r in third.items() if r["verdict"] in ("suspicious", "malicious")}
matched = {p for p, r in third.items() if r.get("hits")}
clean_matches = sorted(matched - flagged)
print(f"third-party pack ({os.path.basename(pack)}) through hashscan: {len(flagged)} files flagged"
      f", {len(matched)} with a matching rule, {len(clean_matches)} of those reported clean")
for p in clean_matches:
    print(f"  matched but clean: {os.path.relpath(p, dev)}")
yara_out = os.path.join(work, "yara.txt")
if not os.path.exists(yara_out):
    print("libyara: `yara` is not installed (apt-get install yara), comparison skipped")
    sys.exit(0)
by_yara = set()
with open(yara_out) as f:
    for line in f:
        rule, _, path = line.rstrip("\n").partition(" ")
        if path:
            by_yara.add(os.path.normpath(path))
print(f"third-party pack through libyara (yara -r): {len(by_yara)} files flagged")
only_hs = sorted(flagged - by_yara)
only_yara = sorted(by_yara - flagged)
if not only_hs and not only_yara:
    print("  hashscan and libyara flag the same files")
for p in only_hs:
    print(f"  flagged by hashscan only: {os.path.relpath(p, dev)}")
for p in only_yara:
    print(f"  flagged by libyara only: {os.path.relpath(p, dev)}")
PY
