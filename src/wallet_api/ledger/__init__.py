"""The money rules: amounts, operations and the errors they raise."""
