"""The call plan language: YAML source, fields, validation, the plan model and its JSON Schema."""
