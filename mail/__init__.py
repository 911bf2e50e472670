"""E-mail to the parties: an event rendered as a short message (render), sent over SMTP (smtp), and a
local SMTP sink that keeps what it receives as .eml files for development and tests (sink).

The notification core decides who hears of what and when; this package only writes and carries the
message, and puts nothing in it beyond the payload it is handed.
"""
