"""Developer tools: the `ivr` CLI, the Twilio simulator, scenario tests, plan graphs and
transcripts, the pytest plugin."""
