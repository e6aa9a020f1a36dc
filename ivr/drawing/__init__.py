"""Plans drawn: Mermaid and DOT text, a layered layout, SVG and a self-contained HTML page (for
`ivr graph` and the console)."""
