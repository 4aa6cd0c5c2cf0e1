"""Weekly and monthly supervisor reports (SPEC §9): period parsing, data, charts, rendering."""
