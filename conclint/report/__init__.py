"""Stage 7: formatters. They take the final diagnostics and compute nothing."""
