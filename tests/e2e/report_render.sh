#!/usr/bin/env bash
# CTest report_render: BALLISTA SOURCE_DIR. Runs the cannon pipeline with a short MLP,
# then scripts/render-report on it (headless Chromium): exit 0 when every image of
# report.html loaded, 77 (skipped) when Chromium is missing, 1 otherwise.
set -euo pipefail
ballista=$1
source_dir=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$ballista" run "$source_dir/configs/cannon.yaml" --out "$work/run" --quiet --set models.mlp.epochs=20 >/dev/null
status=0
"$source_dir/scripts/render-report" "$work/run" "$work/screenshot.png" || status=$?
if ((status == 2)) && ! command -v chromium >/dev/null; then
  echo "report_render: skipped, chromium is not installed (scripts/setup --tests installs it)"
  exit 77
fi
if ((status != 0)); then
  exit 1
fi
# The screenshot is a real PNG of the page (signature), and not a blank one: the page's
# plots make it large.
head -c 8 "$work/screenshot.png" | od -An -tx1 | tr -d ' \n' | grep -qx '89504e470d0a1a0a'
size=$(stat -c %s "$work/screenshot.png")
echo "report_render: screenshot of $size bytes"
((size > 100000))
