"""Service face: the live EMS, its API and dashboard, and protocol adapters (OpenADR, OCPP)."""
