"""The functional core shared by every recurrax model: types, returns, unrolls, runtimes."""
