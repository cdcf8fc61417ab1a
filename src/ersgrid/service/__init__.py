"""Service face: the live EMS (control loop, REST API, dashboard, MQTT, storage), and the
protocol adapters (OpenADR VEN, OCPP CSMS).

Needs the ``service`` extra (``pip install ersgrid[service]``); the OpenADR VEN needs ``dr``.
"""
