#!/usr/bin/env bash
# `hashscan scan` against Debian's `yara` in one run, with ratios (issue 5):
#   - `hashscan scan -r --rules R DIR` vs `yara -r R DIR`, same rules, same directory: the
#     default pack's files on a few thousand mixed files, then on the same files plus ~100
#     archives of several kinds (which hashscan expands and yara does not), then
#     signature-base's gen_webshells.yar on that tree (from ../shared/corpus, or $CORPUS; the
#     script says so when it is absent); hashscan also looks every file and member up in a
#     100,000-entry SHA-256 list (text output: it computes the SHA-256 the list needs, not
#     the MD5 and SHA-1 only `--json` shows);
#   - throughput on one 1 GiB file with the default pack: random bytes, and benign text (PHP
#     and other source from the system, repeated); and on 3 MiB and 12 MiB random files,
#     under the pack's size bounds, where its patterns are searched (the pack's own speed);
#   - memory: peak RSS of hashscan scanning one small file with the default pack loaded.
#
#   bench/scan-vs-yara.sh          (RUNS=5 FILES=3000 bench/scan-vs-yara.sh; NO_BUILD=1 uses
#                                   the release binary as it is)
#
# Installs yara from Debian's packages if missing. Work files in $BENCH_DIR.
set -euo pipefail

cd "$(dirname "$0")/.."
RUNS=${RUNS:-5}
FILES=${FILES:-3000}
BENCH_DIR=${BENCH_DIR:-/tmp/hashscan-bench}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/hashscan-target}

if ! command -v yara >/dev/null 2>&1; then
  SUDO=; [ "$(id -u)" = 0 ] || SUDO=sudo
  $SUDO apt-get update -qq && $SUDO apt-get install -y -qq yara >/dev/null
fi
[ "${NO_BUILD:-}" = 1 ] || cargo build --release -p hashscan >&2
HS="$CARGO_TARGET_DIR/release/hashscan"
RULES=crates/detect/rules
mkdir -p "$BENCH_DIR"

# A few thousand mixed files: Python and shell sources, ELF binaries, compressed docs, and
# the project's own webshell samples, copied once.
MIXED="$BENCH_DIR/mixed-$FILES"
if [ ! -f "$MIXED/.done" ]; then
  rm -rf "$MIXED"; mkdir -p "$MIXED"
  i=0
  while IFS= read -r -d '' f; do
    i=$((i + 1)); cp "$f" "$MIXED/$i-$(basename "$f")" 2>/dev/null || true
    [ "$i" -ge "$FILES" ] && break
  done < <(find /usr/lib/python3* /usr/bin /usr/share/doc -type f -size -4M -print0 2>/dev/null | sort -z)
  cp -r crates/detect/tests/samples "$MIXED/samples" 2>/dev/null || true
  touch "$MIXED/.done"
fi
# The same files plus archives of several kinds and sizes built from them (issue 17): small
# zip/jar/war packages (wars hold jars), tar.gz/.bz2/.xz, single .gz files, 7z (when 7zz or 7z
# is installed), two ~30 MiB zips of binaries and a zip three levels deep. hashscan expands
# them; yara -r reads them as they are.
TREE="$BENCH_DIR/tree-$FILES"
if [ ! -f "$TREE/.done" ]; then
  rm -rf "$TREE"; mkdir -p "$TREE/archives"
  cp -r "$MIXED"/. "$TREE/plain"
  SEVENZ=$(command -v 7zz || command -v 7z || true)
  python3 - "$MIXED" "$TREE/archives" "$SEVENZ" <<'PY'
import io, os, random, subprocess, sys, tarfile, zipfile, gzip, tempfile
src, out, sevenz = sys.argv[1:]
rng = random.Random(17)
files = sorted(os.path.join(d, f) for d, _, fs in os.walk(src) for f in fs if not f.startswith("."))
small = [f for f in files if os.path.getsize(f) < 256 << 10]
big = [f for f in files if os.path.getsize(f) >= 256 << 10]
def pick(pool, n): return rng.sample(pool, min(n, len(pool)))
def zip_bytes(members, level=6):
    b = io.BytesIO()
    with zipfile.ZipFile(b, "w", zipfile.ZIP_DEFLATED, compresslevel=level) as z:
        for name, data in members: z.writestr(name, data)
    return b.getvalue()
def read(f):
    with open(f, "rb") as h: return h.read()
def named(fs, prefix): return [(f"{prefix}/{os.path.basename(f)}", read(f)) for f in fs]
for i in range(40):
    open(f"{out}/site-{i}.zip", "wb").write(zip_bytes(named(pick(small, rng.randint(5, 30)), f"site{i}")))
jars = []
for i in range(10):
    jar = zip_bytes([("META-INF/MANIFEST.MF", b"Manifest-Version: 1.0\n")] + named(pick(small, 20), "com/example"))
    jars.append(jar); open(f"{out}/lib-{i}.jar", "wb").write(jar)
for i in range(5):
    war = zip_bytes(named(pick(small, 10), "WEB-INF/jsp") + [(f"WEB-INF/lib/lib-{j}.jar", jars[(i + j) % 10]) for j in range(2)])
    open(f"{out}/app-{i}.war", "wb").write(war)
for kind, n in (("gz", 10), ("bz2", 5), ("xz", 5)):
    for i in range(n):
        with tarfile.open(f"{out}/pkg-{i}.tar.{kind}", f"w:{kind}") as t:
            for f in pick(small, 20): t.add(f, arcname=f"pkg{i}/{os.path.basename(f)}")
for i in range(10):
    f = pick(big or small, 1)[0]
    open(f"{out}/{os.path.basename(f)}-{i}.gz", "wb").write(gzip.compress(read(f)))
if sevenz:
    for i in range(10):
        with tempfile.TemporaryDirectory() as d:
            for f in pick(small, 20):
                open(os.path.join(d, os.path.basename(f)), "wb").write(read(f))
            subprocess.run([sevenz, "a", "-bd", "-y", os.path.abspath(f"{out}/bundle-{i}.7z"), "."], cwd=d, check=True, stdout=subprocess.DEVNULL)
else:
    print("no 7zz/7z: the tree has no 7z archives", file=sys.stderr)
for i in range(2):
    members, total = [], 0
    for f in rng.sample(big, len(big)) if big else []:
        if total >= 30 << 20: break
        members.append((f"bin/{os.path.basename(f)}", read(f))); total += os.path.getsize(f)
    open(f"{out}/bundle-big-{i}.zip", "wb").write(zip_bytes(members, 1))
inner = zip_bytes(named(pick(small, 10), "inner"))
middle = zip_bytes([("inner.zip", inner)] + named(pick(small, 5), "middle"))
open(f"{out}/nested.zip", "wb").write(zip_bytes([("middle.zip", middle)] + named(pick(small, 5), "outer")))
PY
  touch "$TREE/.done"
fi
LIST="$BENCH_DIR/hashlist-100k.txt"
[ -f "$LIST" ] || python3 -c "
import hashlib
for i in range(100000): print(hashlib.sha256(str(i).encode()).hexdigest())" >"$LIST"
BIG="$BENCH_DIR/big-1024M.bin"
[ -f "$BIG" ] || head -c $((1024 << 20)) /dev/urandom >"$BIG"
# 1 GiB of benign text: source files of the system (PHP where there is any), repeated.
TEXT="$BENCH_DIR/text-1024M.txt"
if [ ! -f "$TEXT" ]; then
  seed="$BENCH_DIR/text-seed.txt"
  find /usr/share/php /usr/lib/python3* /usr/share/perl* -type f \( -name '*.php' -o -name '*.py' -o -name '*.pm' \) \
    -size -1024k -print0 2>/dev/null | head -z -n 4000 | xargs -0 cat >"$seed" 2>/dev/null || true
  [ -s "$seed" ] || cat crates/detect/tests/samples/benign/* >"$seed"
  # Doubled until it is 1 GiB or more, then cut.
  while [ "$(stat -c %s "$seed")" -lt $((1024 << 20)) ]; do
    cat "$seed" "$seed" >"$seed.2" && mv "$seed.2" "$seed"
  done
  head -c $((1024 << 20)) "$seed" >"$TEXT"
  rm -f "$seed"
fi
SMALL="$BENCH_DIR/random-3M.bin"
[ -f "$SMALL" ] || head -c $((3 << 20)) "$BIG" >"$SMALL"
MID="$BENCH_DIR/random-12M.bin"
[ -f "$MID" ] || head -c $((12 << 20)) "$BIG" >"$MID"
cat "$MIXED"/* "$BIG" "$TEXT" >/dev/null 2>&1 || true

THIRD_PARTY=${CORPUS:-../shared/corpus}/third-party-rules/signature-base/gen_webshells.yar
python3 - "$HS" "$RULES" "$MIXED" "$LIST" "$BIG" "$RUNS" "$TEXT" "$SMALL" "$MID" "$TREE" "$THIRD_PARTY" <<'PY'
import os, re, subprocess, sys, time
hs, rules, mixed, hashlist, big, runs, text, small_file, mid_file, tree, third_party = sys.argv[1:]
runs = int(runs)
rule_files = sorted(os.path.join(rules, f) for f in os.listdir(rules) if f.endswith(".yar"))

def timed(argv, ok=(0, 1)):
    t = time.perf_counter()
    p = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    assert p.returncode in ok, (argv, p.returncode, p.stderr[-500:])
    return time.perf_counter() - t

def median(xs):
    return sorted(xs)[len(xs) // 2]

def compare(label, rule_files, tree, default_pack=False):
    """hashscan scan -r vs yara -r on one tree with the same rule files, interleaved."""
    files = sum(len(fs) for _, _, fs in os.walk(tree))
    size = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(tree) for f in fs)
    ours_cmd = [hs, "scan", "-r", "--no-default-rules", "--hashdb", hashlist]
    for r in rule_files:
        ours_cmd += ["--rules", r]
    ours_cmd.append(tree)
    yara_cmd = ["yara", "-r", *rule_files, tree]
    ours, theirs = [], []
    for _ in range(runs):  # interleaved, so that noise hits both alike
        theirs.append(timed(yara_cmd))
        ours.append(timed(ours_cmd))
    y, h = median(theirs), median(ours)
    print(f"{label}: {files} files, {size / 2**20:.0f} MiB, {len(rule_files)} rule files")
    print(f"  yara -r:          {y:.3f} s (runs: {', '.join(f'{x:.3f}' for x in theirs)})")
    print(f"  hashscan scan -r: {h:.3f} s (runs: {', '.join(f'{x:.3f}' for x in ours)})"
          " + SHA-256 in a 100k hash list + archives expanded")
    ratio = h / y
    print(f"  ratio hashscan/yara = {ratio:.2f}  (target <= 0.6: {'PASS' if ratio <= 0.6 else 'FAIL'})")

compare("default pack, plain files", rule_files, mixed)
compare("default pack, plain files and archives", rule_files, tree)
if os.path.isfile(third_party):
    compare("signature-base gen_webshells.yar, plain files and archives", [third_party], tree)
else:
    print(f"{third_party} absent (../shared/corpus is not beside the checkout): "
          "the third-party pack is not compared")

def throughput(label, path, extra=()):
    mib = os.path.getsize(path) / 2**20
    # Exit status 2: the verdict is "unknown" (part of the file not scanned, e.g. under a
    # memory budget); the time still counts.
    # --json: the whole report, MD5, SHA-1 and SHA-256 included (text lines need fewer).
    xs = [timed([hs, "scan", "--json", "--max-scan-size", "1G", *extra, path], ok=(0, 1, 2))
          for _ in range(3)]
    t = median(xs)
    print(f"{label}: {t:.3f} s = {mib / t:.0f} MiB/s (runs: {', '.join(f'{x:.3f}' for x in xs)})")
    return t

note = subprocess.run([hs, "scan", "--max-scan-size", "1G", big], capture_output=True, text=True).stdout.strip()
print(f"1 GiB file, hashscan says: {note[:200]}")
b = throughput("1 GiB file, random bytes, default pack", big)
throughput("1 GiB file, random bytes, hashes only (no rules, the hash list)", big,
           ("--no-default-rules", "--hashdb", hashlist))
throughput("1 GiB file, benign text, default pack", text)
# Small files: the time is mostly the CLI's start-up (compiling the rules); the difference
# between the two lines is the pack's pattern search.
throughput("12 MiB file, random bytes, default pack (with start-up)", mid_file)
throughput("3 MiB file, random bytes, default pack (with start-up)", small_file)
throughput("3 MiB file, random bytes, hashes only (with start-up)", small_file,
           ("--no-default-rules", "--hashdb", hashlist))

def peak_rss(argv):
    p = subprocess.run(["/usr/bin/time", "-v", *argv], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    return int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", p.stderr).group(1)) / 1024
small = os.path.join(mixed, sorted(os.listdir(mixed))[0])
print(f"peak RSS, default pack loaded, one small file: {peak_rss([hs, 'scan', small]):.1f} MiB")
print(f"peak RSS, 1 GiB file (mapped: file pages of the page cache, not heap): {peak_rss([hs, 'scan', '--max-scan-size', '1G', big]):.1f} MiB")
PY
