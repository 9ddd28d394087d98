"""wallet-api: a wallet and ledger service with exact money on PostgreSQL."""

__version__ = "0.1.0"
