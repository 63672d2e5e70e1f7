"""What operators do, as functions: the CLI, the admin API, the account pages and the seed file all
call these, so a rule (what may be retired, what ends with a disabled user) is written once.

Each takes an open ``Database`` (or the ``Runtime``, where sessions end) and returns plain data;
a request that cannot be carried out raises ``OperatorError`` saying why and what to do.
"""
