"""Everything the payment leg says to a caller, by name, in each language it speaks (a session
names its language; operators override any prompt of the bridge's own `language` with its
`prompts` setting; `{names}` are filled in when spoken)."""

from __future__ import annotations

PROMPTS = {
    "intro": "Paying {amount} to {merchant}. Star cancels.",
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

# Welsh (cy-GB): the same names and `{names}`.
PROMPTS_CY = {
    "intro": "Rydych yn talu {amount} i {merchant}. I ganslo, pwyswch seren.",
    "number": "Rhowch rif eich cerdyn, yna pwyswch hash.",
    "expiry": "Rhowch y dyddiad dod i ben: 4 digid, y mis yna'r flwyddyn.",
    "code": "Rhowch y cod diogelwch {code_length} digid.",
    "postcode": "Rhowch y rhifau yn eich cod post bilio, yna pwyswch hash.",
    "confirm": "I dalu {amount} â'r cerdyn {brand} sy'n gorffen gyda {last4}, pwyswch 1. "
    "I ganslo, pwyswch 2.",
    # a session of amount zero verifies and saves a card for later payments: nothing is taken
    "verify_intro": "Rydych yn cadw cerdyn ar gyfer taliadau i {merchant} yn y dyfodol. "
    "Ni fydd arian yn cael ei gymryd nawr. I ganslo ar unrhyw adeg, pwyswch seren.",
    "verify_confirm": "I gadw'r cerdyn {brand} sy'n gorffen gyda {last4}, pwyswch 1. "
    "I ganslo, pwyswch 2.",
    "verify_success": "Diolch. Mae eich cerdyn {brand} sy'n gorffen gyda {last4} wedi'i gadw. "
    "Ni chymerwyd unrhyw arian. Eich cod cadarnhau yw {code}.",
    "no_input": "Mae'n ddrwg gennym, ni chlywsom ddim.",
    "success": "Mae eich taliad, sef {amount}, wedi llwyddo. Eich cod cadarnhau yw {code}.",
    "declined": "Mae'n ddrwg gennym, cafodd eich cerdyn ei wrthod ({reason}).",
    "another_card": "I roi cynnig ar gerdyn arall, pwyswch 1. I orffen, pwyswch 2.",
    "too_many": "Mae'n ddrwg gennym, ni allem gymryd manylion eich cerdyn.",
    "cancelled": "Mae eich taliad wedi'i ganslo. Nid oes unrhyw arian wedi'i gymryd.",
    "gateway_error": "Mae'n ddrwg gennym, ni allem brosesu eich taliad. "
    "Nid oes unrhyw arian wedi'i gymryd.",
    "gateway_unknown": "Mae'n ddrwg gennym, ni allem gadarnhau eich taliad. "
    "Peidiwch â thalu eto nes ein bod wedi'i wirio.",
    "not_found": "Mae'n ddrwg gennym, ni allem ddod o hyd i'ch taliad. Hwyl fawr.",
    "ended": "Mae'r taliad hwn eisoes wedi dod i ben.",
    "returning": "Rydym yn eich trosglwyddo'n ôl i'r prif wasanaeth.",
    # why an entry was refused (pci_bridge/cards.py names them)
    "invalid_number": "Nid yw'r rhif cerdyn hwnnw'n ddilys.",
    "brand_not_accepted": "Mae'n ddrwg gennym, nid ydym yn derbyn cardiau {brand}.",
    "expiry_format": "Rhowch y dyddiad dod i ben fel pedwar digid, dau i'r mis a dau i'r flwyddyn.",
    "invalid_expiry": "Nid yw'r dyddiad dod i ben hwnnw'n ddilys.",
    "expired": "Mae'r cerdyn hwnnw wedi dod i ben.",
    "code_length": "Mae'r cod diogelwch yn cynnwys {code_length} digid.",
    "invalid_postcode": "Nid yw'r cod post hwnnw'n ddilys.",
    "press_1_or_2": "Pwyswch 1 neu 2.",
    "too_long": "Mae'n ddrwg gennym, cymerodd hynny ormod o amser.",
    "no_reason": "ni roddwyd rheswm",  # a decline the gateway gave no reason for
    "unavailable": "Mae'n ddrwg gennym, nid yw'r gwasanaeth talu ar gael ar hyn o bryd.",
}

# By language (a tag's first part): the prompts the bridge speaks in it.
TRANSLATIONS = {"en": PROMPTS, "cy": PROMPTS_CY}


def speaks(language: str) -> bool:
    """Whether the bridge has prompts in `language` (a tag such as cy-GB)."""
    return language[:2].lower() in TRANSLATIONS
