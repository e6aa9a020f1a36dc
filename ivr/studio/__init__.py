"""Import Twilio Studio flow definitions as call plans (`ivr import studio`)."""
