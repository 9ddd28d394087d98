"""Events: what the ledger committed, told to the rest of the company in commit order."""
