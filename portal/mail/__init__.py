"""Email: a durable outbox written in its cause's transaction, sent over SMTP after the commit."""
