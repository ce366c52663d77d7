#!/usr/bin/env bash
# samples/gallery: the shipped model's clips from prompts no training set used (4 a family: speech prompts say their
# words, music prompts follow a reference), each checked by duetto-sync when made; tested in headless Chromium by
# tests/joint/test_gallery_browser.py. Made 2026-12-06 with samples/duetto-tiny (12 of 12 pass; 1.8 MB).
#
#   recipes/gallery.sh
set -euo pipefail
HERE=$(cd "$(dirname "$0")/.." && pwd)
rm -rf "$HERE/samples/gallery"
duetto gallery --out "$HERE/samples/gallery" --per-family 4 --checkpoint duetto-tiny
