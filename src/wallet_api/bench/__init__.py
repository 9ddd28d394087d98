"""The load benchmark of the service: scenarios driven by wrk and pgbench, and their report."""
