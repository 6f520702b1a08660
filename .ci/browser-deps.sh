#!/usr/bin/env bash
# Debian's Chromium and CJK fonts for the real-browser tests (Playwright cannot download
# its own browser here). Installs only what is missing; needs root, as on CI.
set -euo pipefail
missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
fc-list 2>/dev/null | grep -qi "Noto Sans CJK" || missing+=(fonts-noto-cjk)
if ((${#missing[@]})); then
    echo "installing ${missing[*]} for the browser tests"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq "${missing[@]}" >/dev/null
fi
