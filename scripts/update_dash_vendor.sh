#!/usr/bin/env bash
# Refreshes the dashboard's third-party front-end files (dash/static/vendor/) from the pinned
# npm packages below: the minified builds and their licenses, exactly as published. The
# dashboard serves them itself (login nodes often have no internet: no CDN). Change a version
# here, run this script, and commit the result with the new VERSIONS file.
set -euo pipefail
CYTOSCAPE=3.35.0
PLOTLY_BASIC=4.1.2
vendor="$(cd "$(dirname "$0")/.." && pwd)/dash/static/vendor"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cd "$work"
npm pack --silent "cytoscape@$CYTOSCAPE" "plotly.js-basic-dist-min@$PLOTLY_BASIC" >/dev/null
mkdir cytoscape plotly
tar xzf "cytoscape-$CYTOSCAPE.tgz" -C cytoscape
tar xzf "plotly.js-basic-dist-min-$PLOTLY_BASIC.tgz" -C plotly
install -m 644 cytoscape/package/dist/cytoscape.min.js "$vendor/cytoscape.min.js"
install -m 644 cytoscape/package/LICENSE "$vendor/cytoscape.LICENSE"
install -m 644 plotly/package/plotly-basic.min.js "$vendor/plotly-basic.min.js"
install -m 644 plotly/package/LICENSE "$vendor/plotly.LICENSE"
printf 'cytoscape %s cytoscape.min.js MIT\nplotly.js-basic-dist-min %s plotly-basic.min.js MIT\n' \
    "$CYTOSCAPE" "$PLOTLY_BASIC" > "$vendor/VERSIONS"
echo "vendor files refreshed in $vendor"
