"""Activities: every side effect of the workflows (database writes, the notification outbox)."""
