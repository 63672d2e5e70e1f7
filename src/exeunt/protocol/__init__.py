"""The protocol core: the rules of the specs exeunt implements, as plain functions (see README.md)."""
