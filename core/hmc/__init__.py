"""Pure logic for HMC, VIOS and SR-IOV vNIC work: formats, parsers, renderers, command builders, planners.

Nothing here opens a socket or logs: every function turns text or values into models, or models into text.
"""
