"""What several services use: the organisation tree through time, the roll, score
sheets, the catalogue of escalation rules, Vietnamese text, and the events each service
publishes (the contracts between them)."""
