"""Data protection (PIPL): payloads that reach Temporal are encrypted, and decrypted only by us.

`keyring` holds the AES-256 keys (one active for encrypting, every listed one for decrypting),
`aes` the PayloadCodec, `wiring` builds the client's data converter from the settings, and `server`
is the codec server through which the Temporal UI and CLI show an operator the decrypted payloads.
Nothing heavy is imported here, so `cyberins --help` stays fast.
"""
