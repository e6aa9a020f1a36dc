"""The call plan language: YAML source, typed fields, templates and formatters, the plan
model, and diagnostics. It knows no applet type and runs nothing."""
