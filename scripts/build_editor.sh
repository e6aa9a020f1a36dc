#!/usr/bin/env bash
# Build the console's plan editor (ivr/console/static/editor.js) from ivr/console/editor/ with
# CodeMirror 6 from the npm registry, bundled by esbuild. The built file is committed, so
# serving the console needs neither Node.js nor a network. Run after changing the editor or to
# take newer CodeMirror releases within the pinned ranges.
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp ivr/console/editor/package.json "$work/"
cp ivr/console/editor/editor.js "$work/"
(cd "$work" && npm install --silent --no-audit --no-fund >/dev/null)
"$work/node_modules/.bin/esbuild" "$work/editor.js" --bundle --minify --format=iife \
  --target=es2020 --legal-comments=eof --outfile=ivr/console/static/editor.js
{
  echo "Third-party code bundled in editor.js (built by scripts/build_editor.sh), with its licenses."
  for dir in "$work"/node_modules/codemirror "$work"/node_modules/@codemirror/* \
      "$work"/node_modules/@lezer/* "$work"/node_modules/style-mod "$work"/node_modules/crelt \
      "$work"/node_modules/w3c-keyname "$work"/node_modules/@marijn/*; do
    [ -f "$dir/package.json" ] || continue
    (cd "$dir" && node -p 'const p = require("./package.json"); `\n== ${p.name} ${p.version} (${p.license})`')
    [ -f "$dir/LICENSE" ] && cat "$dir/LICENSE"
  done
} > ivr/console/static/editor.LICENSES.txt
echo "built ivr/console/static/editor.js ($(wc -c < ivr/console/static/editor.js) bytes)"
