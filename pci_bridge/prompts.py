"""Everything the payment leg says to a caller, by name (operators override any of them with
the bridge's `prompts` setting; `{names}` are filled in when spoken)."""

from __future__ import annotations

PROMPTS = {
    "intro": "You are paying {amount} to {merchant}. Star cancels.",
    "number": "Enter your card number, then press hash.",
    "expiry": "Enter the expiry: 4 digits, month then year.",
    "code": "Enter the {code_length} digit security code.",
    "postcode": "Please enter the numbers in your billing postcode, followed by the hash key.",
    "confirm": "To pay {amount} with the {brand} ending {last4}, press 1. To cancel, press 2.",
    # a session of amount zero verifies and saves a card for later payments: nothing is taken
    "verify_intro": "You are saving a card for later payments to {merchant}. No money will be "
    "taken now. To cancel at any time, press star.",
    "verify_confirm": "To save the {brand} ending {last4}, press 1. To cancel, press 2.",
    "verify_success": "Thank you. Your {brand} ending {last4} is saved. No money was taken. "
    "Your confirmation code is {code}.",
    "no_input": "Sorry, we did not hear anything.",
    "success": "Your payment of {amount} was successful. Your confirmation code is {code}.",
    "declined": "Sorry, your card was declined ({reason}).",
    "another_card": "To try another card, press 1. To finish, press 2.",
    "too_many": "Sorry, we could not take your card details.",
    "cancelled": "Your payment has been cancelled. No money has been taken.",
    "gateway_error": "Sorry, we could not process your payment. No money has been taken.",
    "gateway_unknown": "Sorry, we could not confirm your payment. Please do not pay again "
    "until we have checked it.",
    "not_found": "Sorry, we could not find your payment. Goodbye.",
    "ended": "This payment has already ended.",
    "returning": "Returning you to the main service.",
    # why an entry was refused (pci_bridge/cards.py names them)
    "invalid_number": "That card number is not valid.",
    "brand_not_accepted": "Sorry, we do not accept {brand} cards.",
    "expiry_format": "Please enter the expiry date as four digits, two for the month and two "
    "for the year.",
    "invalid_expiry": "That expiry date is not valid.",
    "expired": "That card has expired.",
    "code_length": "The security code is {code_length} digits.",
    "invalid_postcode": "That postcode is not valid.",
    "press_1_or_2": "Please press 1 or 2.",
    "too_long": "Sorry, that took too long.",
    "no_reason": "no reason was given",  # a decline the gateway gave no reason for
    "unavailable": "Sorry, the payment service is not available right now.",
}
