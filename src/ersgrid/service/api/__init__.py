"""The REST API's routers, one module per resource; :func:`ersgrid.service.app.create_app`
puts them together."""
