#!/usr/bin/env bash
# Debian's Chromium, CJK and emoji fonts for the real-browser tests (Playwright cannot download
# its own browser here), and nginx for the test that runs deploy/nginx/console.conf in front of
# two console processes (tests/browser/test_nginx_proxy.py; Debian's `nginx` is the smallest
# package with the http map, upstream hash, proxy and ssl modules the config uses; the test
# runs its own nginx as a child process, it needs no nginx service). Installs only what is
# missing; needs root, as on CI.
set -euo pipefail
missing=()
for pkg in chromium fonts-noto-cjk fonts-noto-color-emoji nginx; do
    status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
    [[ "$status" == "install ok installed" ]] || missing+=("$pkg")
done
if ((${#missing[@]})); then
    echo "installing ${missing[*]} for the browser tests"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq "${missing[@]}" >/dev/null
fi
