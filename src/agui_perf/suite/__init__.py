"""The AG-UI service suite: measure any AG-UI server through a real HTTP client.

A target is an ASGI app or app factory (`module:attr`, served by uvicorn on loopback in a
process of its own) or the URL of a server that is already running. For one run the suite
records every frame's arrival time and bytes (`client`), reads the SSE framing the way the
official TypeScript client does (`frames`), and sums it up as `figures.RunFigures`: time to
first event and to first content, inter-event gaps, duration, size, the longest silence
against the promised heartbeat, the protocol's ordering rules and the framing verdict.
`concurrency` holds many streams at once. `plugin` makes all of it a pytest plugin.

Nothing here imports the gate: the suite measures a service, the gate judges measurements.
"""
