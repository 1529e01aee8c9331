"""Mail: rendering text + HTML pairs, the outbox, and delivery by the worker."""
