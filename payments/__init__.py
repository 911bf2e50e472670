"""The insurer's payment system, an outside party: the gateway that sends payout instructions to it,
the wire models both sides share, and a bank simulator for tests and local runs."""
