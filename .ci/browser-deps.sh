#!/usr/bin/env bash
# Debian's Chromium, CJK and emoji fonts for the real-browser tests (Playwright cannot download
# its own browser here). Installs only what is missing; needs root, as on CI.
set -euo pipefail
missing=()
for pkg in chromium fonts-noto-cjk fonts-noto-color-emoji; do
    status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
    [[ "$status" == "install ok installed" ]] || missing+=("$pkg")
done
if ((${#missing[@]})); then
    echo "installing ${missing[*]} for the browser tests"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq "${missing[@]}" >/dev/null
fi
