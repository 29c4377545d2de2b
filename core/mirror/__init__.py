"""Pure logic of the offline package mirrors (apt, yum, pip): parsing, plans, rendering. No I/O here."""
