"""The verbs of the app: each service applies a rule and records it in the same transaction."""
