"""Built-in emitters: where finished telemetry goes (EMF, X-Ray, OpenTelemetry, memory, sinks).

Imports: nothing. Each emitter module imports its third-party package (orjson,
opentelemetry, aws-xray-sdk) inside its factory, and the core reaches the modules by name
through ``obskit._pipeline``'s factory table, never by importing this package.
"""
