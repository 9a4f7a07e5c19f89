#!/usr/bin/env python3
"""What the browser downloads from a built site's pkg/ directory (`make bundle-size`).

Prints each file raw, gzip and brotli (the precompressed copies beside it), then per page the
WebAssembly a first visit of that page fetches over the wire with brotli: the main module plus
the page's chunks from the wasm-split manifest. The sign-in page is what a first visit loads.
"""

import glob
import json
import os
import sys

pkg = sys.argv[1] if len(sys.argv) > 1 else "target/site/pkg"


def size(path):
    return os.path.getsize(path) if os.path.exists(path) else 0


files = sorted(f for f in glob.glob(os.path.join(pkg, "*")) if not f.endswith((".br", ".gz")))
print(f"{'file':64} {'raw':>9} {'gzip':>9} {'brotli':>9}")
for f in files:
    print(f"{os.path.basename(f)[:64]:64} {size(f):9} {size(f + '.gz'):9} {size(f + '.br'):9}")

main = [f for f in glob.glob(os.path.join(pkg, "tollgate*.wasm")) if "split" not in f]
if len(main) != 1:
    sys.exit(f"expected one main module in {pkg}, found {main}")
base = size(main[0] + ".br")
print(f"\nmain module (brotli): {base} bytes")
manifests = glob.glob(os.path.join(pkg, "__wasm_split_manifest*.json"))
if manifests:
    pages = json.load(open(manifests[0]))
    for name, chunks in sorted(pages.items()):
        extra = sum(size(os.path.join(pkg, c + ".wasm.br")) for c in chunks)
        page = name.strip("_").split("_route_view")[0].replace("_", "-")
        print(f"first visit of the {page} page: {base + extra} bytes of WebAssembly ({len(chunks)} chunks)")
