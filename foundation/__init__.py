"""Helpers shared by the engine (`ivr`), the payment bridge (`pci_bridge`) and the demo
services (`demo`): databases, digits and card-number checks, phone numbers, money, bearer keys,
request limits, signatures and log redaction.

This package depends on nothing else of ours, so each of the three can use it without depending
on another (the import contracts in `.importlinter` enforce that).
"""
