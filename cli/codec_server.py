"""`cyberins codec-server`: the codec server in production. Imports stay inside the command so
that `cyberins --help` does not load FastAPI or cryptography."""

from __future__ import annotations


def codec_server() -> None:
    """Serve the codec server for the Temporal UI and CLI until SIGINT or SIGTERM
    (CYBERINS_PAYLOAD_KEYS, CYBERINS_CODEC_TOKEN, CYBERINS_CODEC_HOST/PORT, CYBERINS_CODEC_CORS_ORIGINS)."""
    import asyncio
    import signal

    from api.codec_server import codec_app
    from api.server import serve_until
    from cli.errors import EXIT_BAD_INPUT, fail
    from cli.running import run_async
    from codec.wiring import payload_codec
    from settings import get_settings

    settings = get_settings()
    if settings.codec_token is None or not settings.codec_token.get_secret_value().strip():
        fail("set CYBERINS_CODEC_TOKEN: the token operators sign in with", EXIT_BAD_INPUT)
    try:
        codec = payload_codec(settings)
    except ValueError as error:
        fail(str(error), EXIT_BAD_INPUT)
    if codec is None:
        fail("set CYBERINS_PAYLOAD_KEYS: the keyring the workers encrypt payloads with", EXIT_BAD_INPUT)
    app = codec_app(settings, codec, settings.codec_token.get_secret_value().strip())

    async def serve() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        await serve_until(app, settings.codec_host, settings.codec_port, stop)

    run_async(serve())
