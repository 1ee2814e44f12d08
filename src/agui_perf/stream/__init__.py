"""The AG-UI streaming core: events, SSE encoding, ordering rules, the SSE response and the app.

This half never imports `agui_perf.gate`.
"""
