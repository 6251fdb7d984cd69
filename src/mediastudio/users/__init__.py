"""People who sign in to the dashboard: users, passwords, web sessions, CSRF tokens."""
