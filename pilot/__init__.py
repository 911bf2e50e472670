"""The pilot programme's submissions: rules checked against what is already stored, then stored."""
