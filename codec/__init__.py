"""Data protection (PIPL): payloads that reach Temporal are encrypted, and decrypted only by us.

`keyring` holds the AES-256 keys (one active for encrypting, every listed one for decrypting),
`aes` the PayloadCodec, and `wiring` builds the client's data converter from the settings. This is a
library: the codec server that shows an operator the decrypted payloads is `api/codec_server.py`,
and its command `cli/codec_server.py`.
Nothing heavy is imported here, so `cyberins --help` stays fast.
"""
