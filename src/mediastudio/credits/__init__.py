"""The credit ledger: append-only grants, reservations, captures and refunds."""
