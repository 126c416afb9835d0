"""`chibo import members`: a roster file from the national member database, sent to the
members service in batches."""
