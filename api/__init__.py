"""The HTTP door for insurers, security vendors and insured companies (issue 4, in progress)."""
