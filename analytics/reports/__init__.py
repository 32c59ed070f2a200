"""Margin reports: schedules, the runs that email them, and the email itself (SPEC §7)."""
