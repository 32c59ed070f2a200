"""Usage events, metering, usage/cost/margin analytics and margin reports."""
