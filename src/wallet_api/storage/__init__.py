"""PostgreSQL: the engine and its pool, the queries, the migrations runner, the embedded server."""
