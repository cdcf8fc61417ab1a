"""The operations service: live control loop, REST API, dashboard, MQTT, storage, OCPP.

Needs the ``service`` extra (``pip install ersgrid[service]``).
"""
