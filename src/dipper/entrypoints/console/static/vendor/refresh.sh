#!/usr/bin/env bash
# Re-vendor the console's front-end assets from the npm registry.
# Bump the pinned versions below, run this script, then update README.md.
set -euo pipefail

HTMX_VERSION="2.0.11"
ECHARTS_VERSION="5.6.0"
PICO_VERSION="2.1.1"

VENDOR_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
WORK_DIR="$(mktemp -d)"
trap 'rm -rf "$WORK_DIR"' EXIT

# npm pack <spec> -> extract into $WORK_DIR/<name>/package
fetch() {
    local name="$1" spec="$2" tarball
    mkdir -p "$WORK_DIR/$name"
    tarball="$(cd "$WORK_DIR/$name" && npm pack --silent "$spec" | tail -n 1)"
    tar -xzf "$WORK_DIR/$name/$tarball" -C "$WORK_DIR/$name"
}

# copy <src> <dest>, failing if the source is missing or empty
copy() {
    local src="$1" dest="$2"
    if [[ ! -s "$src" ]]; then
        echo "error: missing or empty: $src" >&2
        exit 1
    fi
    mkdir -p "$(dirname "$dest")"
    cp "$src" "$dest"
}

fetch htmx "htmx.org@${HTMX_VERSION}"
fetch echarts "echarts@${ECHARTS_VERSION}"
fetch pico "@picocss/pico@${PICO_VERSION}"

rm -rf "$VENDOR_DIR/htmx" "$VENDOR_DIR/echarts" "$VENDOR_DIR/pico"

copy "$WORK_DIR/htmx/package/dist/htmx.min.js" "$VENDOR_DIR/htmx/htmx.min.js"
copy "$WORK_DIR/htmx/package/LICENSE"          "$VENDOR_DIR/htmx/LICENSE"

copy "$WORK_DIR/echarts/package/dist/echarts.min.js" "$VENDOR_DIR/echarts/echarts.min.js"
copy "$WORK_DIR/echarts/package/LICENSE"             "$VENDOR_DIR/echarts/LICENSE"
if [[ -f "$WORK_DIR/echarts/package/NOTICE" ]]; then
    copy "$WORK_DIR/echarts/package/NOTICE" "$VENDOR_DIR/echarts/NOTICE"
fi
# echarts' LICENSE points to licenses/LICENSE-d3 (BSD-3-Clause code embedded in the bundle).
if [[ -d "$WORK_DIR/echarts/package/licenses" ]]; then
    for lic in "$WORK_DIR/echarts/package/licenses"/*; do
        copy "$lic" "$VENDOR_DIR/echarts/licenses/$(basename "$lic")"
    done
fi

copy "$WORK_DIR/pico/package/css/pico.min.css" "$VENDOR_DIR/pico/pico.min.css"
if [[ -f "$WORK_DIR/pico/package/LICENSE.md" ]]; then
    copy "$WORK_DIR/pico/package/LICENSE.md" "$VENDOR_DIR/pico/LICENSE.md"
else
    copy "$WORK_DIR/pico/package/LICENSE" "$VENDOR_DIR/pico/LICENSE"
fi

echo "vendored htmx.org@${HTMX_VERSION}, echarts@${ECHARTS_VERSION}, @picocss/pico@${PICO_VERSION} into ${VENDOR_DIR}"
