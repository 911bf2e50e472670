"""The business rules of cyber-security insurance, free of any I/O framework.

Everything here is plain values and pure functions: the workflows call it to decide,
the activities call it to validate, and the tests exercise it without any server.
"""
